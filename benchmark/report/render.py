"""Pictures of one explanation: a frame strip (PNG / PDF) and an animated overlay (GIF / MP4) of the clip.

Drawing only (used by ``stabn-bench explain``); the maps come from :func:`baselines.explain`. Maps are scaled by their maximum over the whole clip
(not per frame), so that brighter frames really are more relevant.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import StabnBenchError
from ..runtime import atomic_path

STRIP_SUFFIXES = (".png", ".pdf")
ANIMATION_SUFFIXES = (".gif", ".mp4")
#: the colour map of every overlay
COLORMAP = "jet"
#: weight of the heat map in the overlay
OVERLAY_ALPHA = 0.5


def scale_map(maps: torch.Tensor) -> np.ndarray:
    """(T, H, W) map -> (T, H, W) float array in [0, 1], min-max over the whole clip."""
    values = maps.detach().float().cpu().numpy()
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def overlay_frames(frames: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """frames (T, H, W, 3) in [0, 1] and scaled maps (T, H, W) -> (T, H, W, 3) in [0, 1]: frames under a heat map."""
    from matplotlib import colormaps

    heat = colormaps[COLORMAP](maps)[..., :3]
    return (1 - OVERLAY_ALPHA) * frames + OVERLAY_ALPHA * heat


def _frame_indices(num_frames: int, max_frames: int) -> np.ndarray:
    if num_frames <= max_frames:
        return np.arange(num_frames)
    return np.unique(np.linspace(0, num_frames - 1, max_frames).round().astype(int))


def save_frame_strip(path: str | Path, frames: np.ndarray, maps: torch.Tensor, temporal: torch.Tensor,
                     title: str = "", max_frames: int = 16) -> Path:
    """Write a PNG or PDF: frames (top row), overlays (middle row), per-frame importance as bars (bottom).

    Args:
        frames: (T, H, W, 3) RGB in [0, 1].
        maps: (T, H, W) explanation map.
        temporal: (T,) per-frame importance.
        max_frames: at most this many (evenly spaced) frames are drawn; the bars show all T frames.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() not in STRIP_SUFFIXES:
        raise StabnBenchError(f"frame strip '{path}' must end in {' or '.join(STRIP_SUFFIXES)}")
    scaled = scale_map(maps)
    overlays = overlay_frames(frames, scaled)
    shown = _frame_indices(frames.shape[0], max_frames)
    columns = len(shown)
    fig = plt.figure(figsize=(1.3 * columns + 0.6, 4.4), constrained_layout=True)
    grid = fig.add_gridspec(3, columns, height_ratios=[1, 1, 0.9])
    for column, t in enumerate(shown):
        for row, image in enumerate((frames[t], overlays[t])):
            ax = fig.add_subplot(grid[row, column])
            ax.imshow(np.clip(image, 0, 1), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title(f"t={t}", fontsize=8)
        if column == 0:
            fig.axes[-2].set_ylabel("clip", fontsize=8)
            fig.axes[-1].set_ylabel("explanation", fontsize=8)
    bars = fig.add_subplot(grid[2, :])
    importance = temporal.detach().float().cpu().numpy()
    bars.bar(np.arange(len(importance)), importance, color="tab:orange")
    bars.set_xlim(-0.5, len(importance) - 0.5)
    bars.set_xlabel("frame", fontsize=8)
    bars.set_ylabel("importance", fontsize=8)
    bars.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lower().lstrip("."), dpi=120)
    plt.close(fig)
    return path


def animation_frames(frames: np.ndarray, maps: torch.Tensor, temporal: torch.Tensor,
                     min_height: int = 160) -> np.ndarray:
    """(T, H, W, 3) frames in [0, 1] -> (T, H', W', 3) uint8: clip | overlay side by side, enlarged to at least
    ``min_height`` pixels, above a bar of the per-frame importance with the current frame highlighted."""
    overlays = overlay_frames(frames, scale_map(maps))
    scale = max(1, -(-min_height // frames.shape[1]))
    pictures = np.concatenate([frames, overlays], axis=2).repeat(scale, axis=1).repeat(scale, axis=2)
    t_count, height, width = pictures.shape[:3]
    bar_height = max(12, height // 5)
    importance = temporal.detach().float().cpu().numpy()
    importance = importance / importance.max() if importance.max() > 0 else np.zeros_like(importance)
    edges = np.linspace(0, width, t_count + 1).astype(int)
    out = np.ones((t_count, height + bar_height, width, 3))
    out[:, :height] = pictures
    for current in range(t_count):
        for t in range(t_count):
            top = height + bar_height - max(1, round(importance[t] * (bar_height - 2)))
            colour = (0.85, 0.33, 0.1) if t == current else (0.6, 0.6, 0.6)
            out[current, top:, edges[t] + 1:max(edges[t] + 2, edges[t + 1] - 1)] = colour
    out = (np.clip(out, 0, 1) * 255).round().astype(np.uint8)
    even = (out.shape[1] // 2 * 2, out.shape[2] // 2 * 2)  # H.264 wants even sizes
    return np.ascontiguousarray(out[:, : even[0], : even[1]])


def save_animation(path: str | Path, frames: np.ndarray, maps: torch.Tensor, temporal: torch.Tensor,
                   fps: int = 4) -> Path:
    """Write an animated GIF (Pillow) or MP4 (PyAV) of the clip beside its explanation overlay.

    Args:
        frames: (T, H, W, 3) RGB in [0, 1]; maps: (T, H, W); temporal: (T,).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in ANIMATION_SUFFIXES:
        raise StabnBenchError(f"animation '{path}' must end in {' or '.join(ANIMATION_SUFFIXES)}")
    pictures = animation_frames(frames, maps, temporal)
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            from PIL import Image

            images = [Image.fromarray(p) for p in pictures]
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
        else:
            from ..data.video_io import write_video

            write_video(tmp, pictures, fps=fps, container="mp4")
    return path
