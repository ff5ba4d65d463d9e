"""The results block of the project README, regenerated from a run folder (never written by hand).

The block lies between ``<!-- RESULTS:BEGIN -->`` and ``<!-- RESULTS:END -->``; it holds the run's accuracy
table, its headline score table and one figure copied next to the README (``docs/``).
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..errors import DataError, StabnBenchError
from ..runtime import atomic_write_bytes, atomic_write_text
from .files import load_results, safe_name
from .seeds import summary_seeds
from .summary import accuracy_table, explained_checkpoints_text, headline_table
from .tables import md_text, to_markdown

BEGIN, END = "<!-- RESULTS:BEGIN -->", "<!-- RESULTS:END -->"
#: the figure shown in the README
FIGURE = "curve_deletion.png"


def _number(value, path: Path, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or not 0 <= value < 1e9:
        raise DataError(f"{path}: '{key}' = {str(value)[:40]!r}; expected a number of seconds")
    return float(value)


def _code(value) -> str:
    """A provenance value shown in a code span: one line, no backticks, no HTML."""
    return md_text(str(value)).replace("`", "'")[:120]


def results_block(run_dir: Path, figure_link: str) -> str:
    """Markdown: what was run, its wall time, the accuracy table, the headline scores and the figure. Every name
    and value from the run folder is escaped (a name can neither break a table nor end the block)."""
    results = load_results(run_dir)
    summary_path = run_dir / "summary.csv"
    if not summary_path.is_file():
        raise StabnBenchError(f"{summary_path} is missing: run `stabn-bench run` (or `stabn-bench plot`) first")
    try:
        summary = pd.read_csv(summary_path, dtype={"model": str, "method": str, "metric": str})
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{summary_path}: cannot be parsed as CSV ({str(err)[:80]}); "
                        f"redraw it with `stabn-bench report {run_dir}`") from None
    provenance = results.provenance or {}
    source = run_dir / "provenance.json"
    timings = provenance.get("timings_s", {})
    if not isinstance(timings, dict):
        raise DataError(f"{source}: 'timings_s' is {type(timings).__name__}; expected an object of stage: seconds")
    stages = {str(k): _number(v, source, f"timings_s.{k}") for k, v in timings.items() if ":" not in str(k)}
    total = sum(stages.values())
    device = provenance.get("device", {})
    device_text = (f"{_code(device.get('type', '?'))} ({_code(device.get('torch_threads', '?'))} threads)"
                   if isinstance(device, dict) else _code(device))
    lines = [
        md_text(f"Default run `{_code(results.name)}` (regenerated with `stabn-bench readme {_code(run_dir)}`): "
                f"{_code(provenance.get('created', '?'))}, commit `{_code(provenance.get('git_commit', '?'))}`, "
                f"device {device_text}, "
                f"wall time of the stages {total / 60:.1f} min "
                f"({', '.join(f'{_code(k)} {v:.0f} s' for k, v in stages.items())})."),
        "",
        *([md_text(explained), ""] if (explained := explained_checkpoints_text(run_dir)) else []),
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
    lines += [f"![Deletion curves of every method and model]({md_text(figure_link)})", ""]
    block = "\n".join(lines)
    if BEGIN in block or END in block:  # cannot happen with escaped names; the README is never corrupted
        raise StabnBenchError(f"{run_dir}: the results block would hold a block marker; README left unchanged")
    return block


def check_markers(text: str, readme: Path) -> tuple[int, int]:
    """Positions of the one BEGIN and the one END marker of ``text``; a README with a missing, repeated or
    misordered marker is refused (one line naming it), so the command replaces exactly one block."""
    begins, ends = text.count(BEGIN), text.count(END)
    if begins == 0 or ends == 0:
        raise StabnBenchError(f"{readme} has no results block: add the lines {BEGIN} and {END} where it belongs")
    if begins != 1 or ends != 1:
        raise StabnBenchError(f"{readme}: the results block markers are unbalanced ({begins} x {BEGIN}, {ends} x "
                              f"{END}); keep exactly one of each and run the command again")
    start, end = text.index(BEGIN), text.index(END)
    if end < start:
        raise StabnBenchError(f"{readme}: {END} comes before {BEGIN}; put the block's markers in order")
    return start, end


def update_readme(run_dir: str | Path, readme: str | Path = "README.md", figure_dir: str | Path = "docs") -> Path:
    """Replace the README's one results block with the numbers of ``run_dir``; copy its figure into
    ``figure_dir``. Nothing is written unless the README has exactly one well-formed block."""
    run_dir, readme, figure_dir = Path(run_dir), Path(readme), Path(figure_dir)
    if not readme.is_file():
        raise StabnBenchError(f"{readme}: no such README file; give one with --readme")
    try:
        text = readme.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise StabnBenchError(f"{readme}: not UTF-8 text ({err.reason}); save it as UTF-8") from None
    start, end = check_markers(text, readme)
    source = run_dir / "figures" / FIGURE
    if not source.is_file():
        raise StabnBenchError(f"{source} is missing: draw the figures with `stabn-bench plot {run_dir}`")
    target = figure_dir / f"{safe_name(run_dir.resolve().name)}-{FIGURE}"
    block = results_block(run_dir, os.path.relpath(target.resolve(), readme.resolve().parent).replace(os.sep, "/"))
    figure_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, source.read_bytes())
    atomic_write_text(readme, text[:start] + BEGIN + "\n" + block + END + text[end + len(END):])
    return readme
