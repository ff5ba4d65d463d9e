"""The vocabulary every layer shares; it imports nothing of the project, so anything may import it.

- errors: :class:`StabnBenchError` (and :class:`DataError`, :class:`CheckpointError`), :class:`ConfigError`;
- :class:`VideoModelOutput`, what every video model's forward pass returns; the method :data:`KINDS`;
- the results schema: the columns of the tables of a run folder and :data:`MODEL_LEVEL`;
- the plug-in loader: :func:`import_user_module` and :func:`load_entry_points`;
- :func:`atomic_path` (every output file is written under a temporary name and renamed) and :func:`autocast`.

Layers (checked by ``tests/test_layers.py``): ``stabn_bench.core`` <- ``metrics``, ``baselines`` <-
``benchmark`` <- ``stabn_bench.api``; ``metrics`` and ``baselines`` never import ``benchmark``.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

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


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``, on error removed.

    Use for every output file so that a killed run never leaves a half-written file under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix + ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600 files: give the final file the usual permissions
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (when enabled); a no-op on CPU."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
