"""Is the action window necessary evidence? Classifiers that see only part of each generated clip.

The temporal metrics of the benchmark (frame deletion, keep-top-k, temporal AUROC) can mean something only if the
class is readable from the frames inside the action window and from nothing else. :func:`necessity_check` trains
two simple classifiers on *views* of the generated clips and reports their test accuracy per view:

- ``window``: only the frames inside the window, in order (the other frames replaced by grey);
- ``outside``: only the frames outside the window;
- ``endpoints``: only the first and the last frame;
- ``order-free``: every frame, in a fresh random order for every clip and epoch (a bag of frames);
- ``full``: the clip as it is (for reference).

The classifiers are a logistic regression on pixels (scikit-learn) and a small 3-D CNN (three 3x3x3
convolutions, global average pooling). The CNN is needed because a linear model on pixels cannot see motion at a
random position, so it would stay at chance on every view, the window included, and prove nothing. A design passes
when every probe stays at most ``1.5 / K`` on ``outside``, ``endpoints`` and ``order-free``, and the best probe
reaches at least ``3 / K`` on ``window``.

The clips are the generator's frames before video encoding, drawn from the same random streams as the data set
(the same parameters give the same clips), at most 16 pixels high (average-pooled).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..config.schema import SyntheticConfig
from .actions import resolve_actions
from .synthetic import assign_classes, clip_rng, render_clip, stratified_split

VIEWS: tuple[str, ...] = ("window", "outside", "endpoints", "order-free", "full")
#: views on which every probe must stay near chance, and the bound as a multiple of chance (1 / K)
BLIND_VIEWS: tuple[str, ...] = ("outside", "endpoints", "order-free")
MAX_BLIND_RATIO = 1.5
#: the window view must reach this multiple of chance with the best probe
MIN_WINDOW_RATIO = 3.0
GREY = 0.5


@dataclass
class ProbeClips:
    """Generated clips at probe resolution.

    Attributes:
        frames: (N, T, C, h, w) float32 in [0, 1].
        windows: (N, T) bool, True inside the action window.
        labels: (N,) int64 class index.
        split: (N,) int64: 0 train, 1 validation, 2 test.
    """

    frames: torch.Tensor
    windows: torch.Tensor
    labels: torch.Tensor
    split: torch.Tensor


@dataclass
class NecessityReport:
    """Test accuracy per probe and view, and the verdict.

    Attributes:
        accuracy: probe name -> view -> test accuracy.
        num_classes: K (chance is 1 / K).
        num_train, num_test: clips the probes were trained and tested on.
    """

    accuracy: dict[str, dict[str, float]] = field(default_factory=dict)
    num_classes: int = 2
    num_train: int = 0
    num_test: int = 0

    @property
    def chance(self) -> float:
        return 1.0 / self.num_classes

    def failures(self) -> list[str]:
        """What breaks necessity, in words (empty when the design passes)."""
        problems = []
        bound = MAX_BLIND_RATIO * self.chance
        for probe, views in self.accuracy.items():
            for view in BLIND_VIEWS:
                if view in views and views[view] > bound:
                    problems.append(f"{probe} reads the class from the '{view}' view: accuracy {views[view]:.3f} > "
                                    f"{bound:.3f} (1.5 x chance)")
        best_window = max((views.get("window", 0.0) for views in self.accuracy.values()), default=0.0)
        if best_window < MIN_WINDOW_RATIO * self.chance:
            problems.append(f"no probe reads the class from the window: best accuracy {best_window:.3f} < "
                            f"{MIN_WINDOW_RATIO * self.chance:.3f} (3 x chance)")
        return problems

    @property
    def passed(self) -> bool:
        return not self.failures()

    def table(self) -> str:
        """The accuracies as a plain-text table (one row per probe, one column per view)."""
        views = [v for v in VIEWS if any(v in acc for acc in self.accuracy.values())]
        lines = [f"{'probe':<10}" + "".join(f"{v:>12}" for v in views)]
        for probe, acc in self.accuracy.items():
            lines.append(f"{probe:<10}" + "".join(f"{acc.get(v, float('nan')):>12.3f}" for v in views))
        return "\n".join(lines)


def probe_clips(cfg: SyntheticConfig, num_videos: int | None = None, max_size: int = 16) -> ProbeClips:
    """Render the data set's clips (the first ``num_videos``, default all) at probe resolution."""
    actions = resolve_actions(cfg.action_keys(), cfg.design)
    labels = assign_classes(cfg)
    split = stratified_split(labels, list(cfg.split), cfg.seed)
    count = cfg.num_videos if num_videos is None else min(num_videos, cfg.num_videos)
    factor = max(1, int(np.ceil(max(cfg.height, cfg.width) / max_size)))
    frames, windows = [], []
    for index in range(count):
        clip = render_clip(actions[labels[index]], cfg, clip_rng(cfg.seed, index))
        x = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255  # (T, C, H, W)
        frames.append(nn.functional.avg_pool2d(x, factor) if factor > 1 else x)
        windows.append(torch.from_numpy(clip.truth.window_mask()))
    return ProbeClips(torch.stack(frames), torch.stack(windows), torch.from_numpy(labels[:count]).long(),
                      torch.from_numpy(split[:count]).long())


def view(frames: torch.Tensor, windows: torch.Tensor, name: str, generator: torch.Generator) -> torch.Tensor:
    """The ``name`` view of clips (N, T, C, h, w) with windows (N, T): the hidden frames set to grey."""
    out = frames.clone()
    n, t = windows.shape
    if name == "window":
        out[~windows] = GREY
    elif name == "outside":
        out[windows] = GREY
    elif name == "endpoints":
        out[:, 1:t - 1] = GREY
    elif name == "order-free":
        order = torch.argsort(torch.rand(n, t, generator=generator), dim=1)
        out = out[torch.arange(n)[:, None], order]
    elif name != "full":
        raise ValueError(f"unknown view '{name}'; valid: {', '.join(VIEWS)}")
    return out


class ProbeCNN(nn.Module):
    """Three 3x3x3 convolutions with ReLU (spatial pooling after the first two), global average pooling and a
    linear layer: (N, C, T, h, w) -> (N, K)."""

    def __init__(self, num_classes: int, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv3d(3, width, 3, padding=1), nn.ReLU(), nn.MaxPool3d((1, 2, 2)),
            nn.Conv3d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool3d((1, 2, 2)),
            nn.Conv3d(2 * width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool3d(1), nn.Flatten(),
        )
        self.head = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _cnn_accuracy(data: ProbeClips, name: str, num_classes: int, epochs: int, seed: int) -> float:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = ProbeCNN(num_classes)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-3)
    train = data.split != 2
    frames, windows, labels = data.frames[train], data.windows[train], data.labels[train]
    steps_per_epoch = max(1, int(np.ceil(len(labels) / 32)))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=epochs * steps_per_epoch)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=generator)
        for i in range(0, len(order), 32):
            batch = order[i:i + 32]
            x = view(frames[batch], windows[batch], name, generator).permute(0, 2, 1, 3, 4)
            loss = nn.functional.cross_entropy(model(x - GREY), labels[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    model.eval()
    test = data.split == 2
    with torch.no_grad():
        x = view(data.frames[test], data.windows[test], name, generator).permute(0, 2, 1, 3, 4)
        predicted = model(x - GREY).argmax(dim=1)
    return float((predicted == data.labels[test]).float().mean())


def _linear_accuracy(data: ProbeClips, name: str, seed: int) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    generator = torch.Generator().manual_seed(seed)
    features = view(data.frames, data.windows, name, generator).reshape(len(data.labels), -1).numpy()
    train, test = (data.split != 2).numpy(), (data.split == 2).numpy()
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=300))
    classifier.fit(features[train], data.labels.numpy()[train])
    return float(classifier.score(features[test], data.labels.numpy()[test]))


PROBES: tuple[str, ...] = ("cnn", "linear")


def necessity_check(cfg: SyntheticConfig, num_videos: int | None = None, epochs: int = 20, seed: int = 0,
                    views: tuple[str, ...] = VIEWS, progress=None,
                    probes: tuple[str, ...] = PROBES) -> NecessityReport:
    """Train the probes on the train and validation clips of ``cfg``'s data set, test on its test clips.

    Args:
        num_videos: use only the first clips (default: all of the data set's ``num_videos``).
        epochs: training epochs of the CNN probe.
        progress: optional callable ``(probe, view, accuracy)`` called after each probe.
        probes: which classifiers to train (``cnn``, ``linear``).
    """
    data = probe_clips(cfg, num_videos)
    num_classes = len(cfg.action_keys())
    report = NecessityReport(num_classes=num_classes, num_train=int((data.split != 2).sum()),
                             num_test=int((data.split == 2).sum()))
    if report.num_test == 0 or report.num_train == 0:
        raise ValueError(f"the necessity check needs train and test clips; {len(data.labels)} clips give "
                         f"{report.num_train} and {report.num_test}: raise data.synthetic.num_videos")
    runners = {"cnn": lambda name: _cnn_accuracy(data, name, num_classes, epochs, seed),
               "linear": lambda name: _linear_accuracy(data, name, seed)}
    unknown = set(probes) - set(runners)
    if unknown:
        raise ValueError(f"unknown probe(s) {sorted(unknown)}; valid: {', '.join(PROBES)}")
    with torch.random.fork_rng():
        for probe in probes:
            run = runners[probe]
            report.accuracy[probe] = {}
            for name in views:
                report.accuracy[probe][name] = run(name)
                if progress is not None:
                    progress(probe, name, report.accuracy[probe][name])
    return report
