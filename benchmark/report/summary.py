"""``summary.md`` / ``summary.tex`` and the terminal summary: one list of blocks, rendered as Markdown or LaTeX.

Content: the accuracy table; the attention alignment (the models' own attention vs the ground truth, per training
seed); per model the score tables (one per metric family; rows = methods), the model-level
metrics, average ranks and paired-test highlights (best method vs the others, Wilcoxon with Holm correction);
then notes (clips, confidence level, resamples, errors). With several training seeds every cell is the mean over
seeds of the per-seed mean over clips ± the SD across seeds (:mod:`stabn_bench.benchmark.report.seeds`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import pandas as pd

from stabn_bench.core import FAMILIES
from stabn_bench.metrics.catalog import GRANULARITIES, METRICS, headline_metrics
from stabn_bench.metrics.statistics import average_ranks, method_means, paired_tests
from stabn_bench.metrics.validity import STATUSES

from ..errors import DataError
from .files import MODEL_LEVEL_METHOD, Results
from .groups import is_control, method_order
from .seeds import read_seed_table, spread_view, summary_seeds
from .tables import (
    Cell, Table, best_mask, estimate_table, format_estimate, format_number, latex_escape, metric_header, sort_metrics,
    md_text, split_variant, to_latex, to_markdown, to_text,
)
from .agreement import agreement_sentence, agreement_table
from .validity import FOOTNOTE as VALIDITY_FOOTNOTE, failed_in_summary, in_domain_table, mark, passed_in_summary
from .validity import threshold_text
from .validity import thresholds_from_config, validity_table

#: the order of the metric families' tables and rank columns: the built-in families, then ``other`` (plug-ins)
FAMILY_ORDER = (*FAMILIES, "other")
ALPHA = 0.05
#: shown where a run has no localisation metric at all: its data set has no evidence masks or action windows
NO_GROUND_TRUTH = "no ground truth"


def ground_truth_note(metrics: Sequence[str], wanted: Sequence[str] | None = None) -> str | None:
    """``"pointing_game, ...: no ground truth ..."`` when no localisation metric was scored, else None.

    ``metrics``: the metrics present; ``wanted``: the localisation metrics to name (default: all of the catalog)."""
    if any(metric_family(m) == "localisation" for m in metrics):
        return None
    names = [m for m in (wanted if wanted is not None else METRICS) if metric_family(m) == "localisation"
             and split_variant(m)[1] is None]
    if not names:
        return None
    return f"{', '.join(names)}: {NO_GROUND_TRUTH} (the data set has no evidence masks or action windows)"


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[str]


Block = Union[Heading, Paragraph, Bullets, Table]


@dataclass
class ReportSettings:
    """Statistics settings, read from the run's ``config.yaml`` when present."""

    confidence: float = 0.95
    n_resamples: int = 1000
    seed: int = 0
    #: the granularity of the un-suffixed faithfulness metrics (``metrics.granularities[0]``), when known
    granularity: str | None = None

    @classmethod
    def from_config(cls, config: dict, source: str | Path = "config.yaml") -> "ReportSettings":
        """The settings of a run's ``config.yaml`` (``source`` names it in errors): every number is checked against
        its range, so a hostile or broken file is one line naming the file, the key and the range."""
        from ..config.schema import MAX_BOOTSTRAP_RESAMPLES, MAX_SEED

        metrics_cfg = config["metrics"] if isinstance(config.get("metrics"), dict) else {}
        granularities = metrics_cfg.get("granularities") or [None]
        granularity = granularities[0] if isinstance(granularities, list) else None
        return cls(n_resamples=config_int(metrics_cfg, "bootstrap_resamples", 1000, 1, MAX_BOOTSTRAP_RESAMPLES,
                                          source, "metrics."),
                   seed=config_int(config, "seed", 0, 0, MAX_SEED, source),
                   granularity=granularity if granularity in GRANULARITIES else None)


def config_int(section: dict, key: str, default: int, low: int, high: int, source: str | Path,
               prefix: str = "") -> int:
    """``section[key]`` as an int in [low, high] (``default`` when absent or null); else a :class:`DataError`
    naming ``source``, the key and the range."""
    value = section.get(key)
    if value is None:
        return default
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, float) and value.is_integer():
        number = int(value)
    if number is None or not low <= number <= high:
        raise DataError(f"{source}: {prefix}{key} = {str(value)[:40]!r}; must be an integer in [{low}, {high}]")
    return number


def metric_family(metric: str) -> str:
    info = METRICS.get(metric)
    return info.family if info else "other"


def method_metrics(scores: pd.DataFrame, metrics: Sequence[str] | None = None) -> list[str]:
    """Metrics scored per method (not model-level), in catalog order, unknown names last."""
    present = set(scores.loc[scores["method"] != MODEL_LEVEL_METHOD, "metric"].unique())
    if metrics is not None:
        present &= set(metrics)
    return sort_metrics(present)


def metric_groups(metrics: Sequence[str]) -> list[tuple[str, str | None, list[str]]]:
    """Split metrics into table groups ``(family, granularity or None, names)``: one per family, and one per extra
    granularity of the faithfulness metrics, so no table grows wider than a family."""
    groups: dict[tuple[str, str | None], list[str]] = {}
    for metric in sort_metrics(metrics):
        groups.setdefault((metric_family(metric), split_variant(metric)[1]), []).append(metric)
    order = sorted(groups, key=lambda k: (FAMILY_ORDER.index(k[0]) if k[0] in FAMILY_ORDER else len(FAMILY_ORDER),
                                          k[1] or ""))
    return [(family, granularity, groups[(family, granularity)]) for family, granularity in order]


def _with_sd(value: float, sd) -> str:
    """``"0.912 ± 0.013"`` (the SD across seeds) or just the value where there is no SD."""
    if sd is None or not np.isfinite(sd):
        return format_number(value)
    return f"{format_number(value)} ± {format_number(sd)}"


def accuracy_table(accuracy: pd.DataFrame) -> Table:
    """Rows = model / head; top-1 and top-5 with the best bold; clip counts. With several training seeds
    (``n_seeds`` > 1) the cells are the mean ± SD across seeds."""
    acc = accuracy.sort_values(["model", "head"], kind="stable").reset_index(drop=True)
    bold = best_mask(acc[["top1", "top5"]], directions={"top1": True, "top5": True})
    seeds = int(acc["n_seeds"].max()) if "n_seeds" in acc.columns and len(acc) else 1
    rows = []
    for i, r in acc.iterrows():
        clips = str(int(r["n_clips"])) if np.isfinite(r["n_clips"]) else "–"
        top1 = _with_sd(r["top1"], r.get("top1_sd")) if seeds > 1 else format_number(r["top1"])
        top5 = _with_sd(r["top5"], r.get("top5_sd")) if seeds > 1 else format_number(r["top5"])
        rows.append([Cell(r["model"]), Cell(r["head"]), Cell(top1, bool(bold.loc[i, "top1"])),
                     Cell(top5, bool(bold.loc[i, "top5"])), Cell(clips)])
    caption = "Top-1 / top-5 accuracy per model and head."
    if seeds > 1:
        caption = (f"Top-1 / top-5 accuracy per model and head: mean ± SD across {seeds} training seeds "
                   "(per-seed values in accuracy_seeds.csv).")
    return Table(["model", "head", "top-1 ↑", "top-5 ↑", "clips"], rows, caption=caption)


def estimate_text(settings: "ReportSettings", seeds: int) -> str:
    """What a table cell ``mean ± x`` means, for captions."""
    if seeds > 1:
        return (f"mean over {seeds} training seeds of the per-seed mean over clips ± SD across seeds")
    return f"mean ± half-width of the {int(settings.confidence * 100)}% bootstrap CI over clips"


def alignment_blocks(run_dir: Path) -> list:
    """The paper's question: rank correlation of each model's own attention with the ground truth, per seed and
    mean ± SD across seeds, beside the perception head's top-1 (``attention_alignment.csv``, ``accuracy_seeds.csv``)."""
    alignment = read_seed_table(run_dir, "attention_alignment")
    if alignment is None or alignment.empty:
        return []
    accuracy = read_seed_table(run_dir, "accuracy_seeds")
    top1 = {}
    if accuracy is not None and not accuracy.empty:
        perception = accuracy[accuracy["head"] == "perception"]
        top1 = {(r.model, int(r.seed)): float(r.top1) for r in perception.itertuples(index=False)}
    wide = alignment.pivot_table(index=["model", "seed"], columns="attention", values="spearman", aggfunc="mean")
    share = alignment.pivot_table(index=["model", "seed"], columns="attention", values="positive_share", aggfunc="mean")
    columns = ["model", "seed", "ρ(M_s, evidence) ↑", "clips ρ_s > 0", "ρ(M_t, window) ↑", "top-1 ↑"]
    rows = []

    def value(frame, key, column):
        return frame.loc[key, column] if column in frame.columns and key in frame.index else np.nan

    for model in sorted(set(alignment["model"])):
        keys = sorted(k for k in wide.index if k[0] == model)
        for key in keys:
            rows.append([Cell(model), Cell(str(key[1])), Cell(format_number(value(wide, key, "spatial"))),
                         Cell(format_number(value(share, key, "spatial"))),
                         Cell(format_number(value(wide, key, "temporal"))),
                         Cell(format_number(top1.get((model, int(key[1])), np.nan)))])
        if len(keys) > 1:
            def mean_sd(values):
                values = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
                if len(values) == 0:
                    return "–"
                return _with_sd(values.mean(), values.std(ddof=1) if len(values) > 1 else np.nan)

            rows.append([Cell(model), Cell("mean ± SD", True),
                         Cell(mean_sd([value(wide, k, "spatial") for k in keys]), True),
                         Cell(mean_sd([value(share, k, "spatial") for k in keys]), True),
                         Cell(mean_sd([value(wide, k, "temporal") for k in keys]), True),
                         Cell(mean_sd([top1.get((model, int(k[1])), np.nan) for k in keys]), True)])
    n_clips = int(alignment["n_clips"].max())
    blocks = [
        Heading(2, "Attention alignment"),
        Paragraph("Does the model's own attention point at the evidence, and weight the frames of the action? "
                  "Spearman rank correlation per test clip at the attention's native resolution: the spatial "
                  "attention M_s (frames × h × w) against the evidence mask area-pooled to the attention grid, over "
                  "the frames of the action window; the temporal attention M_t against the action window. Mean over "
                  f"up to {n_clips} test clips per training seed; 0 = no relation, 1 = same ranking, −1 = inverted. "
                  "'clips ρ_s > 0': share of clips whose M_s correlates positively with the evidence; top-1: "
                  "perception head on the test split."),
        Table(columns, rows, caption="Rank correlation of each model's own attention with the ground truth, per "
                                     "training seed (mean ± SD across seeds in bold)."),
    ]
    if top1:
        acc = pd.DataFrame([(m, s, v) for (m, s), v in top1.items()], columns=["model", "seed", "top1"])
        parts = []
        for model in ("stabn", "abn", "baseline"):
            values = acc.loc[acc["model"] == model, "top1"].to_numpy(float)
            if len(values):
                sd = f" ± {values.std(ddof=1):.3f}" if len(values) > 1 else ""
                parts.append(f"{model} {values.mean():.3f}{sd}")
        if parts:
            blocks.append(Paragraph("Test top-1 (perception head, mean ± SD across seeds): " + ", ".join(parts) + "."))
    return blocks


def model_level_table(summary: pd.DataFrame, model: str) -> Table | None:
    """``summary``: as displayed (with several seeds, :func:`~benchmark.report.seeds.spread_view`)."""
    rows = summary[(summary["model"] == model) & (summary["method"] == MODEL_LEVEL_METHOD)]
    if rows.empty:
        return None
    cells = [[Cell(metric_header(r.metric)), Cell(format_estimate(r.mean, r.ci_low, r.ci_high)), Cell(str(r.n))]
             for r in rows.itertuples(index=False)]
    return Table(["metric", "value", "clips"], cells,
                 caption=f"Model-level metrics of {model} (frame-order sensitivity).")


def rank_table(scores: pd.DataFrame, model: str, metrics: Sequence[str], methods: Sequence[str],
               invalid: Sequence[str] = (), not_passed: Sequence[str] = ()) -> Table | None:
    """Average rank of each method over the metrics (1 = best), overall and per family; ``invalid`` metrics
    (failed the validity check) are left out; ``not_passed``: metrics the caller left out because they did not pass
    it (failed, unchecked or exempt), named in the caption."""
    left_out = sorted(set(invalid) & set(metrics))
    metrics = [m for m in metrics if m not in set(invalid)]
    if not metrics:
        return None
    methods = [m for m in methods if not is_control(m)]  # controls and oracles are references, not ranked
    ranks = average_ranks(method_means(scores, model, metrics).reindex(index=list(methods)))
    if ranks.empty or len(methods) < 2:
        return None
    ranked = [m for m in ranks.columns if m != "average_rank"]
    by_family = {f: [m for m in ranked if metric_family(m) == f] for f in FAMILY_ORDER}
    by_family = {f: cols for f, cols in by_family.items() if cols} if len({metric_family(m) for m in ranked}) > 1 else {}
    best = ranks["average_rank"].min()
    rows = []
    for method, r in ranks.iterrows():
        cells = [Cell(method), Cell(f"{r['average_rank']:.2f}", bool(np.isclose(r["average_rank"], best)))]
        cells += [Cell(f"{r[cols].mean():.2f}") for cols in by_family.values()]
        rows.append(cells)
    columns = ["method", "average rank"] + [f"{f} rank" for f in by_family]
    plural = "s" if len(ranked) != 1 else ""
    caption = f"Average rank of each method over {len(ranked)} metric{plural} (1 = best; controls and oracles not ranked)."
    if left_out:
        caption += f" Left out (failed the metric-validity check): {', '.join(left_out)}."
    if not_passed:
        caption += (" Only metrics that passed the metric-validity check are ranked; left out: "
                    f"{', '.join(not_passed)}.")
    return Table(columns, rows, caption=caption)


def paired_highlights(scores: pd.DataFrame, model: str, metrics: Sequence[str], methods: Sequence[str],
                      invalid: Sequence[str] = ()) -> Table | None:
    """Per metric: the best method, the runner-up, their difference and Holm-adjusted Wilcoxon p-value, and how
    many other methods the best one beats at p < 0.05."""
    if len(methods) < 2:
        return None
    rows = []
    all_means = method_means(scores, model, metrics)
    for metric in metrics:
        higher = METRICS[metric].higher_is_better if metric in METRICS else None
        if higher is None:
            continue
        tests = paired_tests(scores, metric, model, methods)
        if tests.empty:
            continue
        means = all_means[metric].reindex(methods).dropna()
        if len(means) < 2:
            continue
        ordered = means.sort_values(ascending=not higher, kind="stable")
        best, second = ordered.index[0], ordered.index[1]
        involving = tests[(tests["method_a"] == best) | (tests["method_b"] == best)]
        wins = involving[(involving["better"] == best) & (involving["p_holm"] < ALPHA)]
        vs_second = involving[(involving["method_a"] == second) | (involving["method_b"] == second)].iloc[0]
        p = vs_second["p_holm"]
        failed = metric in set(invalid)
        rows.append([Cell(mark(metric_header(metric), failed)), Cell(best), Cell(second),
                     Cell(f"{ordered.iloc[0] - ordered.iloc[1]:+.3f}"), Cell(f"{p:.3g}", bool(p < ALPHA) and not failed),
                     Cell(f"{len(wins)}/{len(involving)}")])
    if not rows:
        return None
    return Table(["metric", "best", "runner-up", "Δ", "p (Holm)", "beats"], rows,
                 caption=("Paired Wilcoxon signed-rank tests on shared clips, Holm-adjusted over all method pairs per "
                          f"metric; 'beats' = methods the best one is better than at p < {ALPHA}."))


def build_blocks(results: Results, summary: pd.DataFrame, settings: ReportSettings,
                 methods: Sequence[str] | None = None, metrics: Sequence[str] | None = None,
                 validity: pd.DataFrame | None = None) -> list[Block]:
    """The whole summary as blocks (the same for Markdown and LaTeX).

    ``validity``: ``metric_validity.csv`` (its section follows the accuracy); failed metrics are read from the
    summary's ``valid`` column (:func:`~benchmark.report.validity.with_valid_column`)."""
    scores = results.scores
    if methods is not None:
        scores = scores[scores["method"].isin([*methods, MODEL_LEVEL_METHOD])]
        summary = summary[summary["method"].isin([*methods, MODEL_LEVEL_METHOD])]
    seeds = summary_seeds(summary)
    estimate = estimate_text(settings, seeds)
    summary = spread_view(summary)  # several seeds: cells show the SD across seeds
    blocks: list[Block] = [
        Heading(1, f"stabn-bench results: {results.name}"),
        Paragraph(f"{estimate[0].upper()}{estimate[1:]}; best value per column in bold (↑ higher is better, "
                  "↓ lower is better)."),
    ]
    if not results.accuracy.empty:
        blocks += [Heading(2, "Accuracy"), accuracy_table(results.accuracy)]
    if validity is not None and not validity.empty:
        blocks += validity_blocks(validity, results.config, sorted(set(scores["model"].unique())))
    blocks += alignment_blocks(results.run_dir)
    metric_names = method_metrics(scores, metrics)
    agreement = agreement_table(scores)
    for model in sorted(set(scores["model"].unique())):
        blocks.append(Heading(2, f"Model: {model}"))
        in_domain = in_domain_table(summary, model)
        if in_domain is not None:
            blocks += [Heading(3, "In-domain deletion"), in_domain]
        model_scores = scores[scores["model"] == model]
        model_methods = method_order(set(model_scores["method"].unique()) - {MODEL_LEVEL_METHOD})
        model_metrics = [m for m in metric_names if m in set(model_scores["metric"].unique())]
        failed = failed_in_summary(summary, model)
        for family, granularity, names in metric_groups(model_metrics):
            if not model_methods:
                break
            title = f"{family.capitalize()} metrics"
            if granularity or (family == "faithfulness" and settings.granularity):
                title += f" ({granularity or settings.granularity} granularity)"
            caption = f"{title} of {model}: {estimate}; best per column in bold."
            if failed & set(names):
                caption += " " + VALIDITY_FOOTNOTE
            blocks += [Heading(3, title),
                       estimate_table(summary, model, names, model_methods, caption=caption, invalid=failed)]
        gt_note = ground_truth_note(metric_names) if model_methods else None
        if gt_note is not None:
            blocks += [Heading(3, "Localisation metrics"), Paragraph(gt_note)]
        level_table = model_level_table(summary, model)
        if level_table is not None:
            blocks += [Heading(3, "Model-level metrics"), level_table]
        main_metrics = [m for m in model_metrics if split_variant(m)[1] is None]  # one granularity: families weigh alike
        passed = passed_in_summary(summary, model)
        if passed is None:  # no validity check in this run: rank every metric that did not fail
            ranks = rank_table(model_scores, model, main_metrics, model_methods, invalid=sorted(failed))
        else:  # average ranks only over the metrics that passed the validity check
            ranks = rank_table(model_scores, model, [m for m in main_metrics if m in passed], model_methods,
                               not_passed=sorted(set(main_metrics) - passed))
        if ranks is not None:
            blocks += [Heading(3, "Average ranks"), ranks]
        elif passed is not None and main_metrics:
            blocks += [Heading(3, "Average ranks"),
                       Paragraph("No average rank: no metric passed the metric-validity check for this model.")]
        agreement_text = agreement_sentence(agreement, model, None if passed is None else sorted(passed))
        if agreement_text is not None:
            blocks += [Heading(3, "Metric agreement"), Paragraph(agreement_text)]
        highlights = paired_highlights(model_scores, model, main_metrics, model_methods, invalid=sorted(failed))
        if highlights is not None:
            blocks += [Heading(3, "Paired tests"), highlights]
    blocks += [Heading(2, "Notes"), Bullets(notes(results, summary, settings))]
    return blocks


def explained_checkpoints_text(run_dir: Path) -> str:
    """One line on which trained weights each model's explanations come from, read from ``checkpoints.csv``
    (written by ``stabn-bench run``); empty when the run folder has none."""
    path = Path(run_dir) / "checkpoints.csv"
    if not path.is_file():
        return ""
    try:
        return _explained_checkpoints_text(pd.read_csv(path))
    except pd.errors.EmptyDataError:
        return ""
    except (ValueError, TypeError, OverflowError, UnicodeDecodeError, pd.errors.ParserError) as err:
        text = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
        raise DataError(f"{path}: not a checkpoints table written by `stabn-bench run` ({text})") from None


def _explained_checkpoints_text(table: pd.DataFrame) -> str:
    if table.empty or not {"model", "checkpoint", "epoch"} <= set(table.columns):
        return ""
    texts: dict[str, list[tuple[str, str]]] = {}
    for row in table.itertuples(index=False):
        text = f"{row.checkpoint}.pt, epoch {int(row.epoch)}"
        if "epochs" in table.columns and pd.notna(row.epochs):
            text += f" of {int(row.epochs)}"
        if "best_epoch" in table.columns and pd.notna(row.best_epoch) and int(row.best_epoch) != int(row.epoch):
            text += f" (best validation top-1 at epoch {int(row.best_epoch)})"
        seed = str(int(row.seed)) if "seed" in table.columns and pd.notna(row.seed) else ""
        texts.setdefault(str(row.model), []).append((seed, text))
    parts = []
    for model, rows in texts.items():  # several training seeds: one text when they agree
        if len({text for _, text in rows}) == 1:
            parts.append(f"{model} {rows[0][1]}" + (f" ({len(rows)} seeds)" if len(rows) > 1 else ""))
        else:
            parts.append(f"{model} " + ", ".join(f"seed {seed}: {text}" for seed, text in rows))
    return "Explained checkpoints: " + "; ".join(parts) + "."


def validity_blocks(validity: pd.DataFrame, config: dict, models: Sequence[str]) -> list[Block]:
    """The "Metric validity" section: the pass rule with its thresholds, one table per model, the count of failures."""
    blocks: list[Block] = [Heading(2, "Metric validity"), Paragraph(threshold_text(thresholds_from_config(config)))]
    for model in [m for m in models if m in set(validity["model"])]:
        table = validity_table(validity, model)
        if table is not None:
            blocks += [Heading(3, f"Validity: {model}"), table]
    counts = validity["status"].value_counts()
    summary_text = ", ".join(f"{int(counts[s])} {s}" for s in STATUSES if s in counts)
    blocks.append(Paragraph(f"Model × metric checks: {summary_text}. {VALIDITY_FOOTNOTE}"))
    return blocks


def notes(results: Results, summary: pd.DataFrame, settings: ReportSettings) -> list[str]:
    items = []
    seeds = summary_seeds(summary)
    if seeds > 1:
        items.append(f"Training seeds: {seeds}; every model was trained, explained and scored once per seed. Cells: "
                     "mean over seeds of the per-seed mean over clips ± SD across seeds (ddof 1); summary.csv keeps the "
                     "bootstrap CI over clips of the per-clip means over seeds (ci_low, ci_high) and the seed spread "
                     "(seed_sd, seed_min, seed_max).")
    for model, group in summary.groupby("model"):
        n_min, n_max = int(group["n"].min()), int(group["n"].max())
        counts = f"{n_min}" if n_min == n_max else f"{n_min}–{n_max}"
        items.append(f"{model}: {counts} clips per score")
    items.append(f"Confidence intervals: {int(settings.confidence * 100)}% bootstrap (BCa; percentile where BCa is "
                 f"undefined), {settings.n_resamples} resamples, seed {settings.seed}.")
    items.append("Paired tests: Wilcoxon signed-rank (scipy.stats.wilcoxon) on the clips both methods scored, "
                 "Holm-adjusted over all method pairs of a model and metric"
                 + (" (per clip, the mean over seeds)." if seeds > 1 else "."))
    explained = explained_checkpoints_text(results.run_dir)
    if explained:
        items.append(explained)
    errors = results.errors
    if errors.empty:
        items.append("Errors: none.")
    else:
        by_stage = ", ".join(f"{stage}: {n}" for stage, n in errors.groupby("stage").size().items())
        plural = "s" if len(errors) != 1 else ""
        items.append(f"Errors: {len(errors)} failed evaluation{plural} ({by_stage}); see errors.csv.")
    return items


def render_markdown(blocks: Sequence[Block]) -> str:
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append("#" * block.level + " " + md_text(block.text))
        elif isinstance(block, Paragraph):
            parts.append(md_text(block.text))
        elif isinstance(block, Bullets):
            parts.append("\n".join(f"- {md_text(item)}" for item in block.items))
        else:
            parts.append(to_markdown(block))
    return "\n\n".join(parts) + "\n"


def render_latex(blocks: Sequence[Block]) -> str:
    """A standalone document (article, booktabs); each table is a float that can be copied into a paper, labelled
    from the headings above it (``tab:summary:<section>-<subsection>``), so labels do not move when tables are added.
    The per-table files of ``tables/`` (:mod:`.latex`) are the ones meant for a paper."""
    import re

    parts = ["% Written by stabn-bench. Tables need booktabs. One file per table: tables/ (main.tex includes them).\n"
             "\\documentclass{article}\n\\usepackage[margin=2cm]{geometry}\n\\usepackage{booktabs}\n"
             "\\begin{document}"]
    commands = {1: "section*", 2: "subsection*", 3: "subsubsection*"}
    headings: dict[int, str] = {}
    labels: set[str] = set()
    for block in blocks:
        if isinstance(block, Heading):
            headings = {k: v for k, v in headings.items() if k < block.level}
            headings[block.level] = block.text
            parts.append(f"\\{commands.get(block.level, 'paragraph')}{{{latex_escape(block.text)}}}")
        elif isinstance(block, Paragraph):
            parts.append(latex_escape(block.text))
        elif isinstance(block, Bullets):
            items = "\n".join(f"\\item {latex_escape(i)}" for i in block.items)
            parts.append(f"\\begin{{itemize}}\n{items}\n\\end{{itemize}}")
        else:
            name = "-".join(headings[k] for k in sorted(headings) if k > 1) or "table"
            label = base = "tab:summary:" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            k = 1
            while label in labels:
                k += 1
                label = f"{base}-{k}"
            labels.add(label)
            parts.append(to_latex(block, label=label))
    parts.append(r"\end{document}")
    return "\n\n".join(parts) + "\n"


def headline_table(summary: pd.DataFrame, metrics: Sequence[str] | None = None) -> Table | None:
    """Rows = model / method, columns = the headline metrics present (default: the registry's,
    :func:`stabn_bench.metrics.catalog.headline_metrics`); best per model and column marked."""
    metrics = headline_metrics() if metrics is None else metrics
    present = [m for m in metrics if m in set(summary["metric"].unique())]
    if not present:
        return None
    summary = spread_view(summary)  # several seeds: ± the SD across seeds
    rows = []
    for model in sorted(set(summary["model"].unique())):
        part = summary[(summary["model"] == model) & (summary["method"] != MODEL_LEVEL_METHOD)]
        methods = method_order(set(part["method"].unique()))
        table = estimate_table(part, model, present, methods, invalid=failed_in_summary(summary, model))
        rows += [[Cell(model)] + row for row in table.rows]
    # a dagger on a column whose metric failed for any model (the cells of the models where it failed are not bold)
    failed = failed_in_summary(summary)
    note = ground_truth_note(list(summary["metric"].unique()), metrics)
    caption = " ".join(text for text in (VALIDITY_FOOTNOTE if failed & set(present) else "", note or "") if text)
    return Table(["model", "method"] + [mark(metric_header(m), m in failed) for m in present], rows, caption=caption)


def format_terminal_summary(run_dir: str | Path, summary: pd.DataFrame | None = None) -> str:
    """Text printed at the end of a run: accuracy, the headline scores (best marked ``*``) and the report's path.

    ``summary``: a :func:`~benchmark.report.tables.summary_table` already computed (else computed from scores.csv
    with the run's settings; ``summary.csv`` is reused when present).
    """
    from .files import load_results
    from .seeds import seed_summary_table
    from .timing import stage_times_text

    results = load_results(run_dir)
    if summary is None:
        cached = Path(run_dir) / "summary.csv"
        if cached.exists():
            summary = pd.read_csv(cached, dtype={"model": str, "method": str, "metric": str}, keep_default_na=False,
                                  na_values={c: ["", "nan", "NaN"] for c in ("mean", "ci_low", "ci_high", "seed_sd",
                                                                               "seed_min", "seed_max")})
        else:
            settings = ReportSettings.from_config(results.config, results.run_dir / "config.yaml")
            summary = seed_summary_table(results.scores, settings.confidence, settings.n_resamples, settings.seed)
    parts = [f"stabn-bench results: {results.name}"]
    if not results.accuracy.empty:
        parts += ["", "Accuracy", to_text(accuracy_table(results.accuracy))]
    headline = headline_table(summary)
    if headline is not None:
        seeds = summary_seeds(summary)
        what = f"mean ± SD across {seeds} seeds" if seeds > 1 else "mean ± 95% CI half-width"
        parts += ["", f"Scores ({what}; * = best per model)", to_text(headline)]
    validity_path = Path(run_dir) / "metric_validity.csv"
    if validity_path.is_file():
        from .validity import DAGGER, read_validity

        counts = read_validity(run_dir)["status"].value_counts()
        text = ", ".join(f"{int(counts[s])} {s}" for s in STATUSES if s in counts)
        parts += ["", f"Metric validity (model × metric): {text}; {DAGGER} = failed, not ranked: see {validity_path}"]
    if not results.errors.empty:
        parts += ["", f"{len(results.errors)} method/clip evaluations failed: see {Path(run_dir) / 'errors.csv'}"]
    if isinstance(results.provenance, dict) and (times := stage_times_text(results.provenance)):
        from .timing import reused_work, total_minutes

        reused = reused_work(results.provenance)
        parts += ["", f"Stages: {total_minutes(results.provenance):.1f} min: {times}"
                  + (f"; reused work: {'; '.join(reused)}" if reused else "; nothing reused")]
    report = Path(run_dir) / "summary.md"
    parts += ["", f"Report: {report}" + ("" if report.exists() else " (not written yet)"),
              f"Figures: {Path(run_dir) / 'figures'}"]
    if (Path(run_dir) / "report.html").exists():
        parts.append(f"Paper tables: {Path(run_dir) / 'tables'}; everything in one page: {Path(run_dir) / 'report.html'}")
    return "\n".join(parts)
