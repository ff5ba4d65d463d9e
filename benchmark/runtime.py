"""Process-wide set-up: device choice, seeding, logging, mixed precision and atomic file writes (mixed
precision, :func:`atomic_path` and :func:`remove_stale_temporaries` defined in :mod:`stabn_bench.core`, which every
layer may import; the UTF-8 text and bytes writers built on them here)."""
from __future__ import annotations

import logging
import os
import random
import re
import tempfile
from pathlib import Path

import numpy as np
import torch

from stabn_bench.core import atomic_path, autocast, remove_stale_temporaries

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "autocast", "ensure_writable_dir", "is_safe_name",
           "remove_stale_temporaries", "seed_everything", "select_device", "setup_logging"]

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


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # only the project's own messages at INFO; third-party loggers (matplotlib, PIL, fontTools, ...) at WARNING
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("stabn_bench").setLevel(logging.DEBUG if verbose else logging.INFO)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` as UTF-8 (whatever the locale) through :func:`~stabn_bench.core.atomic_path`."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes | bytearray | memoryview) -> None:
    """Write ``data`` through :func:`~stabn_bench.core.atomic_path`."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
