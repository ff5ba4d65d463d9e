"""The vocabulary every layer shares; it imports nothing of the project, so anything may import it.

- errors: :class:`StabnBenchError` (and :class:`DataError`, :class:`CheckpointError`), :class:`ConfigError`;
- :class:`VideoModelOutput`, what every video model's forward pass returns; the method :data:`KINDS` and the
  metric :data:`FAMILIES`, each in its one order;
- :class:`Registry`, the one registry mechanism of methods, metrics and models (:func:`did_you_mean` for its errors);
- the results schema: the columns of the tables of a run folder and :data:`MODEL_LEVEL`;
- the plug-in loader: :func:`import_user_module` and :func:`load_entry_points`;
- :func:`atomic_path` (every output file is written under a temporary name and renamed; a full disk is one line),
  :func:`remove_stale_temporaries` (the temporaries a killed run left) and :func:`autocast`.

Layers (checked by ``tests/test_layers.py``): ``stabn_bench.core`` <- ``metrics``, ``baselines`` <-
``benchmark`` <- ``stabn_bench.api``; ``metrics`` and ``baselines`` never import ``benchmark``.
"""
from __future__ import annotations

import contextlib
import difflib
import errno
import hashlib
import importlib
import importlib.metadata
import importlib.util
import logging
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generic, Iterable, Iterator, Mapping, Optional, TypeVar

import torch

log = logging.getLogger("stabn_bench")

# ---------------------------------------------------------------------------------------------------- errors


class StabnBenchError(RuntimeError):
    """A user-facing failure (bad file, bad data, mismatch). The message is one line naming what is wrong."""


class DataError(StabnBenchError):
    """A data set, annotation or video file that cannot be used; the message names the path and the problem."""


class CheckpointError(StabnBenchError):
    """A checkpoint that does not fit the model asked for; the message names the mismatch."""


class ConfigError(ValueError):
    """A bad config file, key or value. The message is a single line fit for the terminal."""


# ---------------------------------------------------------------------------------------------- model output


@dataclass
class VideoModelOutput:
    """What ``model(clips)`` returns for clips of shape (N, C, T, H, W).

    Attributes:
        logits: (N, K) perception-branch logits: the model's prediction.
        attention_logits: (N, K) attention-branch logits (``abn``, ``stabn``), else None.
        spatial_attention: (N, T, h, w) spatial attention M_s in [0, 1], one map per frame, at feature
            resolution (h = H/16 for the paper's 224 -> 14); None for ``baseline``.
        temporal_attention: (N, T) temporal attention M_t in [0, 1], one weight per frame (``stabn`` only).
    """

    logits: torch.Tensor
    attention_logits: Optional[torch.Tensor] = None
    spatial_attention: Optional[torch.Tensor] = None
    temporal_attention: Optional[torch.Tensor] = None

    def heads(self) -> dict[str, torch.Tensor]:
        """Logits per head name: ``perception`` always, ``attention`` where the model has that branch."""
        out = {"perception": self.logits}
        if self.attention_logits is not None:
            out["attention"] = self.attention_logits
        return out


# -------------------------------------------------------------------------------------------- method kinds

#: the kinds (families) an explanation method declares, in the order every table, legend and figure lists them;
#: reports add ``other`` after them for a name no registered method has
KINDS = ("attention", "cam", "gradient", "perturbation", "control", "oracle")

#: the families of the built-in metrics, in the order the report's tables, ranks and the metric-agreement list
#: them (``model``: model-level metrics, one value per model and clip); a plug-in metric may name any other word
#: (default ``other``), listed after these
FAMILIES = ("faithfulness", "temporal", "localisation", "complexity", "robustness", "sanity", "model")

# ------------------------------------------------------------------------------------------------ registries

T = TypeVar("T")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices`` to ``word``, or ``""`` when none is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""


class UnknownNameError(ValueError, LookupError):
    """A name no entry of a :class:`Registry` has; the message is one line listing the valid names."""


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One entry of a :class:`Registry`: the registered object, the module (``module.qualname``) that registered it,
    and the metadata a listing shows (kind, direction, family, ...)."""

    name: str
    obj: T
    source: str
    metadata: Mapping[str, Any]


def source_of(obj: Any) -> str:
    """``module.qualname`` of a function or class (the registering code, named in errors and listings)."""
    module = getattr(obj, "__module__", None) or type(obj).__module__
    qualname = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{module}.{qualname}"


class Registry(Generic[T]):
    """Names -> objects of one sort (explanation methods, metrics, models), in registration order, with metadata.

    The one registry mechanism of the project (after timm's ``_registry.py`` and torchvision's ``models/_api.py``):
    a leaf that imports nothing of the code that uses it. A name is registered once: a second object under a
    taken name is refused with a one-line ``ValueError`` naming the code that holds it, except that the same
    source (``module.qualname``) registering again, as a re-imported module does, replaces its own entry in place.
    ``get`` of an unknown name is a one-line :class:`UnknownNameError` listing the valid names::

        MODELS: Registry[Callable[..., nn.Module]] = Registry("model")

        @MODELS.decorator("baseline", description="the backbone alone")
        def baseline(num_classes): ...

        MODELS.get("baseline")        # the builder
        MODELS.names()                # ["baseline", ...], in registration order
        MODELS.describe()             # [{"name": "baseline", "description": ..., "source": ...}, ...]

    ``version`` counts the changes, so a table derived from a registry (the metric catalog) knows when to rebuild.
    """

    def __init__(self, what: str) -> None:
        #: what an entry is, for messages: ``method``, ``metric``, ``model``
        self.what = what
        self._entries: dict[str, Entry[T]] = {}
        self.version = 0

    def register(self, name: str, obj: T, *, source: Optional[str] = None, **metadata: Any) -> T:
        """Enter ``obj`` as ``name`` with ``metadata``; returns ``obj``. ``source`` defaults to the object's
        ``module.qualname``. A name that another source holds is a ``ValueError``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.what} name must be a non-empty text, got {name!r}")
        source = source if source is not None else source_of(obj)
        existing = self._entries.get(name)
        if existing is not None and existing.source != source:
            raise ValueError(f"{self.what} '{name}' is already registered by {existing.source}; choose another name")
        self._entries[name] = Entry(name, obj, source, dict(metadata))
        self.version += 1
        return obj

    def decorator(self, name: str, **metadata: Any) -> Callable[[T], T]:
        """``@registry.decorator(name, **metadata)``: :meth:`register` the decorated object, return it unchanged."""
        def decorate(obj: T) -> T:
            return self.register(name, obj, **metadata)
        return decorate

    def unregister(self, name: str) -> None:
        """Remove ``name`` (absent: nothing happens); for tests and interactive sessions."""
        if self._entries.pop(name, None) is not None:
            self.version += 1

    def get(self, name: str) -> T:
        """The object registered as ``name``; an unknown name is an :class:`UnknownNameError` listing the valid
        names (and the closest one)."""
        return self.entry(name).obj

    __getitem__ = get

    def find(self, name: str) -> Optional[T]:
        """The object registered as ``name``, or None."""
        entry = self._entries.get(name)
        return None if entry is None else entry.obj

    def entry(self, name: str) -> Entry[T]:
        """The :class:`Entry` of ``name`` (unknown: :class:`UnknownNameError`, as :meth:`get`)."""
        entry = self._entries.get(name)
        if entry is None:
            valid = ", ".join(self._entries) or "none"
            raise UnknownNameError(f"unknown {self.what} '{name}'; valid {self.what}s: {valid}"
                                   + did_you_mean(name, self._entries))
        return entry

    def names(self) -> list[str]:
        """Every name, in registration order."""
        return list(self._entries)

    def entries(self) -> list[Entry[T]]:
        """Every :class:`Entry`, in registration order."""
        return list(self._entries.values())

    def objects(self) -> list[T]:
        """Every registered object, in registration order."""
        return [entry.obj for entry in self._entries.values()]

    def describe(self) -> list[dict[str, Any]]:
        """One dictionary per entry, in registration order: ``name``, its metadata, ``source``."""
        return [{"name": e.name, **e.metadata, "source": e.source} for e in self._entries.values()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {len(self._entries)} entries)"

# ------------------------------------------------------------------------------------------- results schema

#: the method name of model-level rows (metrics of the model, not of an explanation) in scores.csv and curves.csv
MODEL_LEVEL = "-"

#: the tables of a run folder (docs/design.md section 6): file stem -> its columns, in order
RESULT_COLUMNS: dict[str, list[str]] = {
    "accuracy": ["model", "head", "top1", "top5", "n_clips"],
    "scores": ["model", "method", "metric", "clip_id", "value"],
    "curves": ["model", "method", "metric", "clip_id", "fraction", "score"],
    "temporal": ["model", "method", "clip_id", "frame", "importance", "in_window"],
    "errors": ["model", "method", "clip_id", "stage", "error"],
}

# ------------------------------------------------------------------------------------------- plug-in loader


def import_user_module(name_or_path: str, what: str, namespace: str) -> None:
    """Import a dotted module or a ``.py`` file once per process (a file under a name derived from its path).

    Only modules the user names on the command line or in the run's config (never one named in a checkpoint or a
    results folder) are imported; a failure is a one-line :class:`StabnBenchError` naming the module.
    """
    path = Path(name_or_path)
    try:
        if path.suffix == ".py" or path.is_file():
            if not path.is_file():
                raise StabnBenchError(f"{what} module file '{path}' does not exist")
            resolved = path.resolve()
            digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
            module_name = f"{namespace}.{resolved.stem}_{digest}"
            if module_name not in sys.modules:
                spec = importlib.util.spec_from_file_location(module_name, resolved)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                sys.modules[module_name] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    sys.modules.pop(module_name, None)
                    raise
        else:
            importlib.import_module(name_or_path)
    except StabnBenchError:
        raise
    except Exception as err:  # the user's code: report why in one line
        first = str(err).splitlines()[0] if str(err) else ""
        raise StabnBenchError(
            f"cannot import {what} module '{name_or_path}': {type(err).__name__}: {first} "
            "(give a dotted module name on the Python path or a path to a .py file)"
        ) from err


def load_entry_points(group: str, what: str) -> None:
    """Import every module of the entry-point ``group`` of the installed packages; a plugin that fails to import
    is logged as a warning (naming it as a ``what`` plugin) and skipped, so one broken package does not take the
    built-in methods and metrics down with it."""
    for entry_point in importlib.metadata.entry_points(group=group):
        try:
            entry_point.load()
        except Exception as err:  # noqa: BLE001  a third party's package: logged and skipped
            log.warning("%s plugin '%s' (%s) failed to load: %s: %s",
                        what, entry_point.name, entry_point.value, type(err).__name__, err)


# ------------------------------------------------------------------------------------------------ runtime


#: temporary files of :func:`atomic_path`: ``.<name>.<pid>-<random><suffix>.tmp`` beside the final file
_TEMPORARY = re.compile(r"^\..+\.(?P<pid>\d+)-[A-Za-z0-9_]{6,}(\.[^./]+)?\.tmp$")
#: errno values of a full disk or an exhausted quota
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _disk_full(path: Path, err: OSError) -> StabnBenchError:
    return StabnBenchError(f"'{path}': no space left on the device ({err.strerror or err}); free some space (or "
                           "choose another folder) and run the same command again: finished work is kept")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``, on error removed.

    The one writer of every file the project writes (tables, figures, checkpoints, state): a killed run never leaves
    a half-written file under the final name, and a full disk is one line naming ``path`` (a
    :class:`StabnBenchError`). The temporary file is named ``.<name>.<pid>-<random><suffix>.tmp``; one left behind
    by a killed process is removed by :func:`remove_stale_temporaries` when the run resumes.
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


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (when enabled); a no-op on CPU."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
