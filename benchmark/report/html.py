"""``report.html``: the whole report of a run in one self-contained file (no network, no server).

Sections: run facts; accuracy; per model a sortable score table (bold and daggers as in the LaTeX tables,
:mod:`.latex`); the metric-validity table (when ``metric_validity.csv`` exists); every PNG figure with its caption;
for a few clips the video beside every method's map as animations (animated WebP, GIF where Pillow lacks WebP). Images are ``data:`` URIs;
sorting is a few lines of inline JavaScript (click a column header).
"""
from __future__ import annotations

import base64
import html
import io
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..runtime import atomic_write_text
from .files import MODEL_LEVEL_METHOD, Overlay, Results, read_overlay
from .validity import read_validity
from .latex import ALPHA, TEST_NAME, Grid, score_grid
from .plots import class_name
from .style import family_order, metric_label, robust_normalise
from .tables import format_number, sort_metrics

#: clips shown as animations
ANIMATED_CLIPS = 3
FRAME_MS = 300
#: width in pixels of the figures embedded in the page
WEB_WIDTH = 900
#: lossy WebP quality of the clip animations
WEBP_QUALITY = 80

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:1em 0;font-size:.85em}
th,td{padding:.25em .6em;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}th{cursor:pointer;background:#f4f4f4;position:sticky;top:0}
th[data-dir=asc]::after{content:" ▲"}th[data-dir=desc]::after{content:" ▼"}.scroll{overflow:auto;max-width:100%;max-height:80vh}
td.verdict{text-align:left;white-space:normal;min-width:18em;max-width:40em}td.pass{background:#e3f4e1}
td.fail{background:#fbe3e1}td.exempt,td.unchecked{background:#f0f0f0;color:#555}
td.kind{color:#777;text-align:left}figure{margin:1.5em 0}figure img{max-width:100%}figcaption{font-size:.85em;color:#444}
.note{font-size:.85em;color:#555}.tiles{display:flex;flex-wrap:wrap;gap:6px}
.tile{margin:0;text-align:center}.tile img{width:112px;image-rendering:pixelated}.tile figcaption{font-size:.75em}
"""
_JS = """
document.querySelectorAll("table.sortable th").forEach((th, i) => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0], asc = th.dataset.dir !== "asc";
  th.closest("tr").querySelectorAll("th").forEach(h => delete h.dataset.dir); th.dataset.dir = asc ? "asc" : "desc";
  const key = r => { const c = r.cells[i], v = c.dataset.v ?? c.textContent, n = parseFloat(v); return isNaN(n) ? v : n; };
  const cmp = (x, y) => typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
  Array.from(body.rows).sort((a, b) => cmp(key(a), key(b)) * (asc ? 1 : -1)).forEach(r => body.appendChild(r));
}));
"""


def data_uri(payload: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _sort_value(text: str) -> str:
    head = text.split(" ± ")[0]
    try:
        return str(float(head))
    except ValueError:
        return ""


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]], bold=None, title: str = "",
               values=None, classes=None) -> str:
    """A sortable table; ``rows`` of plain text cells (escaped here), ``bold`` a same-shaped bool list, ``values``
    same-shaped sort keys (NaN / None: the number the text starts with), ``classes`` same-shaped CSS class names
    (None: none)."""
    out = ['<div class="scroll"><table class="sortable">']
    if title:
        out.append(f"<caption>{_esc(title)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{_esc(h)}</th>" for h in header) + "</tr></thead><tbody>")
    for i, row in enumerate(rows):
        cells = []
        for j, text in enumerate(row):
            exact = values[i][j] if values is not None else None
            value = repr(float(exact)) if exact is not None and np.isfinite(exact) else _sort_value(str(text))
            attr = f' data-v="{value}"' if value else ""
            body = _esc(text)
            if bold is not None and bold[i][j]:
                body = f"<b>{body}</b>"
            css = classes[i][j] if classes is not None else None
            if css:
                attr += f' class="{_esc(css)}"'
            cells.append(f"<td{attr}>{body}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def grid_html(grid: Grid, header: Sequence[str]) -> str:
    rows, bold, values = [], [], []
    for (method, kind), cells in zip(grid.rows, grid.cells):
        rows.append([method, kind, *[c.text + (" †" if c.flagged else "") for c in cells]])
        bold.append([False, False, *[c.bold for c in cells]])
        values.append([None, None, *[c.value for c in cells]])
    heads = ["method", "kind", *[h + (" †" if f else "") for h, f in zip(header, grid.flagged_columns)]]
    return html_table(heads, rows, bold, values=values)


def validity_html(validity: pd.DataFrame, config: dict | None = None) -> str:
    """The validity tables as a person reads them: one per model, numbers rounded (shares in %, p to 2 significant
    digits, others to 3 decimals), the verdict coloured (pass green, fail red, exempt / unchecked grey) and its
    reasons in words; the raw values stay in ``metric_validity.csv``. ``config``: the run's, for its thresholds."""
    from .validity import threshold_text, thresholds_from_config, validity_table

    out = [f'<p class="note">{_esc(threshold_text(thresholds_from_config(config or {})))}</p>']
    for model in sorted(set(validity["model"].astype(str))):
        table = validity_table(validity, model)
        if table is None:
            continue
        rows = [[c.text for c in row] for row in table.rows]
        classes = [[None] * (len(row) - 1) + [f"verdict {row[-1].split(':')[0].strip()}"] for row in rows]
        out += [f"<h3>{_esc(model)}</h3>", html_table(table.columns, rows, classes=classes),
                f'<p class="note">{_esc(table.caption)}</p>']
    return "\n".join(out)


def accuracy_html(accuracy: pd.DataFrame) -> str:
    acc = accuracy.sort_values(["model", "head"], kind="stable")
    rows = [[r.model, r.head, format_number(r.top1), format_number(r.top5),
             str(int(r.n_clips)) if np.isfinite(r.n_clips) else "–"] for r in acc.itertuples(index=False)]
    best1, best5 = acc["top1"].max(), acc["top5"].max()
    bold = [[False, False, bool(np.isclose(r.top1, best1)), bool(np.isclose(r.top5, best5)), False]
            for r in acc.itertuples(index=False)]
    return html_table(["model", "head", "top-1 ↑", "top-5 ↑", "clips"], rows, bold)


# ---------------------------------------------------------------- animations


def _boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of a boolean mask (H, W) that touch a pixel outside it."""
    padded = np.pad(mask, 1, constant_values=False)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~inner


def clip_frames(overlay: Overlay, model: str | None = None, method: str | None = None) -> np.ndarray:
    """The clip (``method`` None) or ``method``'s map for ``model`` over it, as RGB frames (T, H, W, 3) uint8: map
    normalised over the clip by its 1st-99th percentiles (:func:`~.style.robust_normalise`), inferno colour map
    blended at 55 %, the evidence outlined in cyan."""
    import matplotlib

    rgb = overlay.frames.astype(np.float32) / 255.0
    if method is not None:
        assert model is not None, "a method's map is drawn for a model"
        values = np.nan_to_num(overlay.maps[(model, method)].astype(np.float32))
        norm = robust_normalise(values)
        rgb = 0.45 * rgb + 0.55 * matplotlib.colormaps["inferno"](norm)[..., :3]
    if overlay.evidence is not None and overlay.evidence.max() > 0.5:
        edge = np.stack([_boundary(e > 0.5) for e in overlay.evidence])
        rgb = np.where(edge[..., None], np.array([0.0, 0.9, 1.0], np.float32), rgb)
    return np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)


def animation_bytes(frames: np.ndarray, frame_ms: int = FRAME_MS) -> tuple[bytes, str]:
    """An endlessly looping animation of ``frames`` (T, H, W, 3) uint8 and its MIME type: animated WebP (lossy,
    a few kB per clip) where Pillow has WebP, else GIF (one palette for all frames, no dithering)."""
    from PIL import Image, features

    images = [Image.fromarray(f) for f in frames]
    buffer = io.BytesIO()
    if features.check("webp"):
        images[0].save(buffer, format="WEBP", save_all=True, append_images=images[1:], duration=frame_ms, loop=0,
                       quality=WEBP_QUALITY)
        return buffer.getvalue(), "image/webp"
    strip = Image.fromarray(np.concatenate(list(frames), axis=1))  # the palette sees every frame
    palette = strip.quantize(colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    images = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0)
    return buffer.getvalue(), "image/gif"


def animations_html(results: Results, methods: Sequence[str] | None = None, max_clips: int = ANIMATED_CLIPS) -> str:
    """Per clip and model a row of animations at native resolution (scaled up by the browser, pixelated): the
    input video, then every method's map over it. All start together when the page loads."""
    parts = []
    for path in results.overlays[:max_clips]:
        overlay = read_overlay(path)
        name = class_name(overlay.meta)
        parts.append(f"<h3>Clip {_esc(overlay.clip_id)}" + (f" — class: {_esc(name)}" if name else "") + "</h3>")
        video = animation_bytes(clip_frames(overlay))
        for model in sorted({mo for mo, _ in overlay.maps}):
            shown = [m for m in family_order(m for mo, m in overlay.maps if mo == model)
                     if methods is None or m in methods]
            if not shown:
                continue
            prediction = overlay.meta.get(f"prediction/{model}")
            note = f"{model}" + (f" (predicts class {prediction})" if prediction is not None else "")
            tiles = [("input", video)] + [(m, animation_bytes(clip_frames(overlay, model, m))) for m in shown]
            cells = "".join(f'<figure class="tile"><img class="anim" alt="{_esc(m)}" src="{data_uri(*anim)}">'
                            f"<figcaption>{_esc(m)}</figcaption></figure>" for m, anim in tiles)
            parts.append(f'<p class="note">{_esc(note)}</p><div class="tiles">{cells}</div>')
    if parts:
        parts.insert(0, '<p class="note">Each method\'s map (inferno, normalised over the clip by its 1st-99th percentiles) over the '
                        "video; the ground-truth evidence outlined in cyan.</p>")
    return "\n".join(parts)


# ---------------------------------------------------------------- figures


def web_png(path: Path, max_width: int = WEB_WIDTH) -> bytes:
    """The PNG at ``path`` at most ``max_width`` pixels wide (print-resolution figures are downsampled)."""
    from PIL import Image

    with Image.open(path) as image:
        if image.width <= max_width:
            return path.read_bytes()
        size = (max_width, round(image.height * max_width / image.width))
        small = image.convert("RGB").resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        small = small.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def figures_html(pngs: Sequence[Path]) -> str:
    parts = []
    for png in pngs:
        caption_file = png.with_suffix(".txt")
        caption = caption_file.read_text(encoding="utf-8").strip() if caption_file.exists() else png.stem
        parts.append(f'<figure id="fig-{_esc(png.stem)}"><img alt="{_esc(png.stem)}" '
                     f'src="{data_uri(web_png(png), "image/png")}"><figcaption><b>{_esc(png.name)}</b>: '
                     f"{_esc(caption)}</figcaption></figure>")
    return "\n".join(parts)


def write_html_report(results: Results, summary: pd.DataFrame, out: str | Path | None = None,
                      flagged: set[tuple[str, str]] | None = None, figures_dir: str | Path | None = None,
                      confidence: float = 0.95, methods: Sequence[str] | None = None,
                      max_clips: int = ANIMATED_CLIPS, figures: Sequence[Path] | None = None,
                      cache: dict | None = None) -> Path:
    """Write ``<run>/report.html`` (or ``out``). Figures: the PNGs of ``figures`` (the files just drawn), else those
    in ``figures_dir`` (default ``<run>/figures``); drawn into a temporary folder when there are none.
    Returns the path."""
    out = Path(out or results.run_dir / "report.html")
    figures_dir = Path(figures_dir or results.run_dir / "figures")
    level = int(confidence * 100)
    body = [f"<h1>stabn-bench results: {_esc(results.name)}</h1>"]
    prov = results.provenance
    facts = [f"{k}: {prov[k]}" for k in ("git_commit", "device", "seed", "created") if k in prov]
    timings = prov["timings_s"] if isinstance(prov.get("timings_s"), dict) else {}
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in timings.items() if ":" not in k and isinstance(v, (int, float)))
    if stages:
        facts.append(f"stages: {stages}")
    if facts:
        body.append(f'<p class="note">{_esc("; ".join(facts))}</p>')
    body.append('<p class="note">Click a column header to sort.</p>')
    if not results.accuracy.empty:
        body += ["<h2>Accuracy</h2>", accuracy_html(results.accuracy)]
    scores = results.scores[results.scores["method"] != MODEL_LEVEL_METHOD]
    if methods is not None:
        scores = scores[scores["method"].isin(methods)]
    body.append("<h2>Scores</h2>")
    body.append(f'<p class="note">Mean ± half-width of the {level}% bootstrap CI over the explained test clips. '
                f"Bold: the best explanation method per column and every method not significantly different from it "
                f"({_esc(TEST_NAME)}, α = {ALPHA}); controls and oracles are never bold. † = the metric failed its "
                "validity check for this model (never bold).</p>")
    for model in sorted(set(scores["model"].unique())):
        part = scores[scores["model"] == model]
        metrics = sort_metrics(part["metric"].unique())
        model_methods = family_order(set(part["method"].unique()))
        grid = score_grid(part, summary, [(model, m) for m in metrics], model_methods, flagged, cache=cache)
        body += [f"<h3>{_esc(model)}</h3>", grid_html(grid, [metric_label(m) for m in metrics])]
    validity = read_validity(results.run_dir)
    if validity is not None and len(validity):
        body += ["<h2>Metric validity</h2>", validity_html(validity, results.config)]
    with tempfile.TemporaryDirectory() as tmp:
        pngs = sorted(Path(p) for p in figures if Path(p).suffix == ".png") if figures is not None else \
            sorted(figures_dir.glob("*.png"))
        if not pngs:  # figures written as PDF / SVG only: draw PNGs for the page
            from .plots import draw_figures

            pngs = sorted(draw_figures(results, summary, Path(tmp), ("png",), methods))
        figures_section = figures_html(pngs)
    if figures_section:
        body += ["<h2>Figures</h2>", figures_section]
    animations = animations_html(results, methods, max_clips)
    if animations:
        body += ["<h2>Clips: every method's map over the video</h2>", animations]
    document = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>stabn-bench: {_esc(results.name)}</title><style>{_CSS}</style></head><body>\n"
                + "\n".join(body) + f"\n<script>{_JS}</script>\n</body></html>\n")
    atomic_write_text(out, document)
    return out


__all__ = ["write_html_report", "clip_frames", "animation_bytes", "html_table", "data_uri"]
