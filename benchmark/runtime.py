"""Process-wide set-up: device choice, seeding, logging, mixed precision and atomic file writes."""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import random
import re
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

log = logging.getLogger("stabn_bench")


def select_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU. ``cuda`` without a GPU is a one-line error (exit code 1)."""
    from .errors import StabnBenchError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise StabnBenchError("config key 'device' = 'cuda' but no CUDA device is available; "
                              "use device=auto or device=cpu")
    return torch.device(name)


#: a name that may become a file or folder name: letters, digits and ``._+-``, not starting with a dot or dash
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def is_safe_name(name: object) -> bool:
    """True for names fit to be one path component (no separators, no ``..``, no leading dot, at most 100 chars)."""
    return (isinstance(name, str) and len(name) <= 100 and SAFE_NAME.fullmatch(name) is not None
            and ".." not in name)


def ensure_writable_dir(path: str | os.PathLike, what: str) -> Path:
    """Create ``path`` (and parents) if needed and check a file can be written in it; StabnBenchError otherwise.

    ``what`` names the setting the folder comes from (e.g. ``"config key 'output_dir'"``), for the message.
    """
    from .errors import StabnBenchError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise StabnBenchError(f"{what}: '{path}' is a file, not a folder; remove it or choose another folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise StabnBenchError(f"{what}: folder '{path}' is not writable ({err.strerror or err}); "
                              "choose a folder you can write to") from None
    return path


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices); optionally force deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (when enabled); a no-op on CPU."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # only the project's own messages at INFO; third-party loggers (matplotlib, PIL, fontTools, ...) at WARNING
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("stabn_bench").setLevel(logging.DEBUG if verbose else logging.INFO)


#: temporary files of :func:`atomic_path`: ``.<name>.<pid>-<random><suffix>.tmp`` beside the final file
_TEMPORARY = re.compile(r"^\..+\.(?P<pid>\d+)-[A-Za-z0-9_]{6,}(\.[^./]+)?\.tmp$")
#: errno values of a full disk or an exhausted quota
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _disk_full(path: Path, err: OSError) -> Exception:
    from .errors import StabnBenchError

    return StabnBenchError(f"'{path}': no space left on the device ({err.strerror or err}); free some space (or "
                           "choose another folder) and run the same command again: finished work is kept")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``, on error removed.

    The one writer of every file the project writes (tables, figures, checkpoints, state): a killed run never leaves
    a half-written file under the final name, and a full disk is one line naming ``path`` (a
    :class:`~stabn_bench.benchmark.errors.StabnBenchError`). The temporary file is named
    ``.<name>.<pid>-<random><suffix>.tmp``; one left behind by a killed process is removed by
    :func:`remove_stale_temporaries` when the run resumes.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=path.suffix + ".tmp", dir=path.parent)
    except OSError as err:
        if err.errno in _DISK_FULL:
            raise _disk_full(path, err) from None
        raise
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600 files: give the final file the usual permissions
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    except OSError as err:
        tmp_path.unlink(missing_ok=True)
        if err.errno in _DISK_FULL:
            raise _disk_full(path, err) from None
        raise
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` as UTF-8 (whatever the locale) through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's live process (or a PID we cannot ask about): leave its file alone
    return True


def remove_stale_temporaries(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Delete the temporary files of :func:`atomic_path` under ``folder`` whose writing process is gone (a killed
    run); files of live processes and every other file are left alone. Returns the removed paths."""
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    candidates = folder.rglob(".*.tmp") if recursive else folder.glob(".*.tmp")
    for path in candidates:
        match = _TEMPORARY.match(path.name)
        if match is None or path.is_symlink() or not path.is_file() or _alive(int(match.group("pid"))):
            continue
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            pass
    if removed:
        log.info("removed %d temporary file(s) of an interrupted run under %s", len(removed), folder)
    return removed
