"""The config tree of stabn-bench. Defaults are the embedded synthetic benchmark (``configs/synthetic.yaml``).

One dataclass per section; a section may define ``validate()`` for checks across fields
(raise :class:`~benchmark.config.loader.ConfigError` with a one-line message naming the key).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from .loader import ConfigError


@dataclass
class SyntheticConfig:
    """Parameters of the generated Something-Something-like data set (``stabn-bench data synth``)."""

    num_videos: int = 720
    num_frames: int = 16
    height: int = 64
    width: int = 64
    num_decoys: int = 2
    noise: float = 0.02
    window_min: int = 6
    window_max: int = 10
    target_size: int = 14
    fps: int = 8
    container: Literal["mp4", "webm"] = "mp4"
    split: list[float] = field(default_factory=lambda: [0.7, 0.1, 0.2])
    seed: int = 0
    #: the classes, by key (benchmark/data/actions.py); every class's time-reversed pair must be listed too
    actions: list[str] = field(default_factory=lambda: [
        "left_to_right", "right_to_left", "down", "up", "closer", "away", "appearing", "disappearing",
    ])
    #: opacity of the textured background pattern (0 = flat grey)
    background_contrast: float = 0.12

    def validate(self) -> None:
        from ..data.actions import resolve_actions  # late import: the data package imports the config

        if self.num_videos < 1:
            raise ConfigError(f"config key 'data.synthetic.num_videos' = {self.num_videos}; must be >= 1")
        if self.num_frames < 2 or self.height < 8 or self.width < 8:
            raise ConfigError(
                f"config keys 'data.synthetic.num_frames/height/width' = {self.num_frames}/{self.height}/{self.width}; "
                "need num_frames >= 2 and height, width >= 8"
            )
        if not (1 <= self.window_min <= self.window_max <= self.num_frames):
            raise ConfigError(
                f"config keys 'data.synthetic.window_min/window_max' = {self.window_min}/{self.window_max}; "
                f"need 1 <= window_min <= window_max <= num_frames ({self.num_frames})"
            )
        if not (2 <= self.target_size <= min(self.height, self.width) // 2):
            raise ConfigError(
                f"config key 'data.synthetic.target_size' = {self.target_size}; "
                f"need 2 <= target_size <= min(height, width) / 2 = {min(self.height, self.width) // 2}"
            )
        if self.num_decoys < 0 or self.noise < 0 or not (0 <= self.background_contrast <= 1) or self.fps < 1:
            raise ConfigError(
                "config keys 'data.synthetic.num_decoys/noise/background_contrast/fps' = "
                f"{self.num_decoys}/{self.noise}/{self.background_contrast}/{self.fps}; need num_decoys >= 0, "
                "noise >= 0, 0 <= background_contrast <= 1, fps >= 1"
            )
        try:
            resolve_actions(list(self.actions))
        except ValueError as err:
            raise ConfigError(f"config key 'data.synthetic.actions' = {list(self.actions)}: {err}") from None
        if len(self.split) != 3 or any(s < 0 for s in self.split) or abs(sum(self.split) - 1.0) > 1e-6:
            raise ConfigError(f"config key 'data.synthetic.split' = {self.split}; need three non-negative fractions summing to 1 (train, validation, test)")


@dataclass
class ArrowOfTimeConfig:
    """The self-supervised arrow-of-time task on a folder of videos (``data.source=arrow-of-time``).

    Clips of ``data.num_frames`` frames, ``data.stride`` apart, are cut from every video under ``data.root``;
    each is shown forwards (label 0), time-reversed (1) and, with ``double_speed``, at twice the speed (2).
    """

    #: frames between the first frames of consecutive clips of one video
    clip_step: int = 8
    #: at most this many clips per video, spread evenly over it (0 = all)
    max_clips_per_video: int = 0
    #: add a third class: the clip played at doubled speed (every second frame of a twice as long span)
    double_speed: bool = False
    #: clips whose mean absolute difference of consecutive frames (grey levels 0..255) is below this are static,
    #: so their direction is undecidable: they are dropped (and counted in the log)
    min_motion: float = 1.0
    #: fractions of the SOURCE VIDEOS (not clips) in train, validation, test
    split: list[float] = field(default_factory=lambda: [0.6, 0.2, 0.2])
    #: seed of the video-to-split assignment
    seed: int = 0

    def validate(self) -> None:
        if self.clip_step < 1 or self.max_clips_per_video < 0 or self.min_motion < 0:
            raise ConfigError(
                "config keys 'data.arrow_of_time.clip_step/max_clips_per_video/min_motion' = "
                f"{self.clip_step}/{self.max_clips_per_video}/{self.min_motion}; need clip_step >= 1, "
                "max_clips_per_video >= 0 (0 = all), min_motion >= 0"
            )
        if len(self.split) != 3 or any(s < 0 for s in self.split) or abs(sum(self.split) - 1.0) > 1e-6:
            raise ConfigError(f"config key 'data.arrow_of_time.split' = {self.split}; need three non-negative "
                              "fractions of the videos summing to 1 (train, validation, test)")


@dataclass
class DataConfig:
    """Where clips come from and how they are sampled and transformed into (C, T, H, W) tensors."""

    source: Literal["synthetic", "ssv2", "csv", "folders", "arrow-of-time"] = "synthetic"
    #: synthetic: cache folder (one sub-folder per parameter set); ssv2: the data set root as distributed;
    #: csv: the folder holding ``<split>.csv`` files (``path,label``, paths relative to it; optional
    #: ``classes.txt``); folders: the root of ``<split>/<class>/<video>``; arrow-of-time: any folder of videos
    #: (searched recursively).
    root: str = "data/synthetic"
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    arrow_of_time: ArrowOfTimeConfig = field(default_factory=ArrowOfTimeConfig)
    num_frames: int = 16
    sampling: Literal["uniform", "consecutive"] = "uniform"
    stride: int = 1
    resize: int = 64
    crop: int = 64
    color_jitter: float = 0.0
    horizontal_flip: bool = False
    num_workers: int = 0
    #: keep decoded uint8 videos in memory after their first decode (small data sets: decode once per run)
    cache_decoded: bool = False
    #: skip (and report) clips that cannot be decoded instead of stopping with an error
    skip_undecodable: bool = True
    train_split: str = "train"
    val_split: str = "validation"
    test_split: str = "test"

    def validate(self) -> None:
        if self.num_frames < 1 or self.stride < 1:
            raise ConfigError(f"config keys 'data.num_frames/stride' = {self.num_frames}/{self.stride}; both must be >= 1")
        if not (1 <= self.crop <= self.resize):
            raise ConfigError(f"config keys 'data.crop/resize' = {self.crop}/{self.resize}; need 1 <= crop <= resize")
        if self.color_jitter < 0 or self.num_workers < 0:
            raise ConfigError(
                f"config keys 'data.color_jitter/num_workers' = {self.color_jitter}/{self.num_workers}; both must be >= 0"
            )


@dataclass
class ModelConfig:
    """The slow-only 3D ResNet backbone shared by ``baseline``, ``abn`` and ``stabn``."""

    depth: Literal[18, 34, 50, 101] = 18
    #: base width (64 is the paper's ResNet; smaller values give tiny CPU variants)
    width: int = 16
    dropout: float = 0.5
    #: local file with a 2D torchvision ResNet state dict to inflate (never downloaded)
    inflate_from: Optional[str] = None

    def validate(self) -> None:
        if self.width < 1:
            raise ConfigError(f"config key 'model.width' = {self.width}; must be >= 1 (64 is the standard ResNet)")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"config key 'model.dropout' = {self.dropout}; must be in [0, 1)")


@dataclass
class TrainConfig:
    """The training recipe of DESIGN section 2, scaled for the data at hand."""

    models: list[str] = field(default_factory=lambda: ["baseline", "abn", "stabn"])
    epochs: int = 12
    batch_size: int = 16
    #: learning rate for ``reference_batch_size``; the actual lr scales linearly with the batch size
    lr: float = 0.01
    reference_batch_size: int = 64
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    warmup_epochs: int = 0
    schedule: Literal["step", "cosine"] = "step"
    milestones: list[float] = field(default_factory=lambda: [0.5, 0.83])
    clip_grad_norm: float = 20.0
    amp: bool = True
    channels_last: bool = True
    compile: bool = False
    #: deterministic kernels (a resumed CPU run then ends with exactly the weights of an uninterrupted one)
    deterministic: bool = False

    def validate(self) -> None:
        from ..models import MODELS  # late import: the models package is heavier than the config

        unknown = [m for m in self.models if m not in MODELS]
        if unknown:
            raise ConfigError(f"config key 'train.models' names unknown model {unknown[0]!r}; valid: {', '.join(MODELS)}")
        if self.epochs < 0 or self.batch_size < 1 or self.reference_batch_size < 1 or self.warmup_epochs < 0:
            raise ConfigError(
                f"config keys 'train.epochs/batch_size/reference_batch_size/warmup_epochs' = {self.epochs}/"
                f"{self.batch_size}/{self.reference_batch_size}/{self.warmup_epochs}; need epochs >= 0, "
                "batch sizes >= 1, warmup_epochs >= 0"
            )
        if self.lr <= 0 or self.weight_decay < 0 or self.clip_grad_norm < 0 or not 0 <= self.momentum < 1:
            raise ConfigError(
                f"config keys 'train.lr/weight_decay/clip_grad_norm/momentum' = {self.lr}/{self.weight_decay}/"
                f"{self.clip_grad_norm}/{self.momentum}; need lr > 0, weight_decay >= 0, clip_grad_norm >= 0 "
                "(0 = off), 0 <= momentum < 1"
            )
        if any(not 0 < m <= 1 for m in self.milestones):
            raise ConfigError(f"config key 'train.milestones' = {self.milestones}; fractions of training in (0, 1]")


@dataclass
class ExplainConfig:
    """Which explanation methods run, on how many test clips, for which target class."""

    #: method names (``stabn-bench methods``) or ``all`` (every method that applies to the model)
    methods: list[str] = field(default_factory=lambda: ["all"])
    #: explain the model's prediction or the true label
    target: Literal["predicted", "label"] = "predicted"
    num_clips: int = 48
    #: at most this many clips (or perturbed copies of clips) per forward / backward pass of a method
    batch_size: int = 8
    #: a user's module (dotted name or .py file) that registers more methods
    methods_module: Optional[str] = None
    #: per-method options, e.g. ``{integrated-gradients: {n_steps: 32}, occlusion: {window: [2, 16, 16]}}``
    options: dict[str, dict] = field(default_factory=dict)
    #: the first few explained clips whose maps are kept for the attention-overlay figures
    overlay_clips: int = 3

    def validate(self) -> None:
        if self.num_clips < 1 or self.batch_size < 1:
            raise ConfigError(f"config keys 'explain.num_clips' / 'explain.batch_size' = {self.num_clips} / "
                              f"{self.batch_size}; both must be >= 1")
        for method, opts in self.options.items():
            if not isinstance(opts, dict):
                raise ConfigError(f"config key 'explain.options.{method}' = {opts!r}; expected a mapping of option: value")


@dataclass
class MetricsConfig:
    """Which scores are computed and with which perturbation settings (see ``metrics/``)."""

    #: metric names from metrics/catalog.py, or [all]; a metric whose inputs are missing is skipped
    metrics: list[str] = field(default_factory=lambda: ["all"])
    #: steps of every deletion / insertion curve (frame curves: at most one frame per step)
    steps: int = 16
    #: cells removed per step; the first gives ``deletion_auc`` etc., the others add ``deletion_auc_<granularity>``
    granularities: list[Literal["voxel", "tube", "frame"]] = field(default_factory=lambda: ["tube"])
    #: size (t, h, w) of a tube cell
    tube_size: list[int] = field(default_factory=lambda: [2, 8, 8])
    #: what deleted voxels become (clips are ImageNet-normalised: zero = the ImageNet mean colour)
    substrate: Literal["zero", "mean", "blur"] = "blur"
    #: sigma of the per-frame Gaussian blur substrate, in pixels
    blur_sigma: float = 5.0
    #: what deleted frames become in the temporal tests
    temporal_substrate: Literal["mean_frame", "zero", "frozen"] = "mean_frame"
    #: keep-top-k test: k = round(keep_fraction * frames), at least 1
    keep_fraction: float = 0.25
    #: pointing game: tolerance in pixels around the evidence mask
    pointing_tolerance: int = 3
    #: tensor memory the perturbation engine may use (clips it holds and the batches it runs)
    memory_budget_mb: int = 2048
    #: largest batch of perturbed clips in one forward pass (CPU: the fastest size up to this is picked)
    max_batch_size: int = 256
    #: fixed number of perturbed clips per forward pass; null = derived from the memory budget (and, on a CPU,
    #: tuned by timing). A fixed size makes every value bit-identical across runs, resumes and ranks.
    batch_size: Optional[int] = None
    #: clips (of the first batch) that get the cascading parameter-randomisation sanity check, per method
    sanity_clips: int = 2
    bootstrap_resamples: int = 1000

    def validate(self) -> None:
        from stabn_bench.metrics.catalog import selectable_metric_names  # late import: metrics imports the config

        valid = selectable_metric_names()
        unknown = [name for name in self.metrics if name != "all" and name not in valid]
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], valid, n=1, cutoff=0.5)
            raise ConfigError(
                f"config key 'metrics.metrics' names unknown metric {unknown[0]!r}; valid: all, {', '.join(valid)}"
                + (f"; did you mean '{close[0]}'?" if close else "")
            )
        if self.steps < 1:
            raise ConfigError(f"config key 'metrics.steps' = {self.steps}; must be >= 1")
        if not self.granularities:
            raise ConfigError("config key 'metrics.granularities' is empty; give at least one of voxel, tube, frame")
        if len(self.tube_size) != 3 or any(s < 1 for s in self.tube_size):
            raise ConfigError(f"config key 'metrics.tube_size' = {self.tube_size}; need three positive integers (t, h, w)")
        if not 0 < self.keep_fraction <= 1:
            raise ConfigError(f"config key 'metrics.keep_fraction' = {self.keep_fraction}; must be in (0, 1]")
        if self.blur_sigma < 0 or self.pointing_tolerance < 0:
            raise ConfigError(
                f"config keys 'metrics.blur_sigma/pointing_tolerance' = {self.blur_sigma}/{self.pointing_tolerance}; must be >= 0"
            )
        if self.memory_budget_mb < 1 or self.max_batch_size < 1:
            raise ConfigError(
                f"config keys 'metrics.memory_budget_mb/max_batch_size' = {self.memory_budget_mb}/{self.max_batch_size}; must be >= 1"
            )


@dataclass
class ReportConfig:
    """What the report of a run holds (the tables are always written)."""

    #: file formats of every figure under ``figures/`` (png, pdf, svg); [] writes the tables only
    formats: list[Literal["png", "pdf", "svg"]] = field(default_factory=lambda: ["png", "pdf"])


@dataclass
class RunConfig:
    """The whole benchmark: ``stabn-bench run`` resolves one of these and writes it to ``config.yaml``."""

    run_name: str = "synthetic"
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    output_dir: str = "results"
    #: where trained checkpoints are cached (one sub-folder per model config hash)
    checkpoint_dir: str = "checkpoints"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
