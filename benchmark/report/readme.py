"""The results block of the project README, regenerated from a run folder (never written by hand).

The block lies between ``<!-- RESULTS:BEGIN -->`` and ``<!-- RESULTS:END -->``; it holds the run's accuracy
table, its headline score table and one figure copied next to the README (``docs/``).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from ..errors import StabnBenchError
from ..runtime import atomic_write_text
from .files import load_results
from .seeds import summary_seeds
from .summary import accuracy_table, explained_checkpoints_text, headline_table
from .tables import to_markdown

BEGIN, END = "<!-- RESULTS:BEGIN -->", "<!-- RESULTS:END -->"
#: the figure shown in the README
FIGURE = "curve_deletion.png"


def results_block(run_dir: Path, figure_link: str) -> str:
    """Markdown: what was run, its wall time, the accuracy table, the headline scores and the figure."""
    results = load_results(run_dir)
    summary_path = run_dir / "summary.csv"
    if not summary_path.is_file():
        raise StabnBenchError(f"{summary_path} is missing: run `stabn-bench run` (or `stabn-bench plot`) first")
    summary = pd.read_csv(summary_path, dtype={"model": str, "method": str, "metric": str})
    provenance = results.provenance or {}
    timings = provenance.get("timings_s", {})
    total = sum(v for k, v in timings.items() if ":" not in k)
    device = provenance.get("device", {})
    device_text = (f"{device.get('type', '?')} ({device.get('torch_threads', '?')} threads)"
                   if isinstance(device, dict) else str(device))
    lines = [
        f"Default run `{results.name}` (regenerated with `stabn-bench readme {run_dir}`): "
        f"{provenance.get('created', '?')}, commit `{provenance.get('git_commit', '?')}`, "
        f"device {device_text}, "
        f"wall time of the stages {total / 60:.1f} min "
        f"({', '.join(f'{k} {v:.0f} s' for k, v in timings.items() if ':' not in k)}).",
        "",
        *([explained, ""] if (explained := explained_checkpoints_text(run_dir)) else []),
        "**Accuracy** (test split)",
        "",
        to_markdown(accuracy_table(results.accuracy)),
        "",
    ]
    headline = headline_table(summary)
    if headline is not None:
        seeds = summary_seeds(summary)
        what = (f"mean over {seeds} training seeds of the per-seed mean over the explained test clips ± SD across "
                "seeds" if seeds > 1 else "mean ± 95% bootstrap CI half-width over the explained test clips")
        lines += [f"**Main scores** ({what}; bold = best per model and column; ↑/↓ = higher/lower is better)", "",
                  to_markdown(headline), ""]
    lines += [f"![Deletion curves of every method and model]({figure_link})", ""]
    return "\n".join(lines)


def update_readme(run_dir: str | Path, readme: str | Path = "README.md", figure_dir: str | Path = "docs") -> Path:
    """Replace the README's results block with the numbers of ``run_dir``; copy its figure into ``figure_dir``."""
    run_dir, readme, figure_dir = Path(run_dir), Path(readme), Path(figure_dir)
    text = readme.read_text() if readme.is_file() else ""
    if BEGIN not in text or END not in text:
        raise StabnBenchError(f"{readme} has no results block: add the lines {BEGIN} and {END} where it belongs")
    source = run_dir / "figures" / FIGURE
    if not source.is_file():
        raise StabnBenchError(f"{source} is missing: draw the figures with `stabn-bench plot {run_dir}`")
    figure_dir.mkdir(parents=True, exist_ok=True)
    target = figure_dir / f"{run_dir.name}-{FIGURE}"
    shutil.copyfile(source, target)
    link = target.resolve().relative_to(readme.resolve().parent).as_posix()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    atomic_write_text(readme, head + BEGIN + "\n" + results_block(run_dir, link) + END + tail)
    return readme
