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

    def validate(self) -> None:
        if self.num_videos < 1:
            raise ConfigError(f"config key 'data.synthetic.num_videos' = {self.num_videos}; must be >= 1")
        if not (1 <= self.window_min <= self.window_max <= self.num_frames):
            raise ConfigError(
                f"config keys 'data.synthetic.window_min/window_max' = {self.window_min}/{self.window_max}; "
                f"need 1 <= window_min <= window_max <= num_frames ({self.num_frames})"
            )
        if len(self.split) != 3 or any(s < 0 for s in self.split) or abs(sum(self.split) - 1.0) > 1e-6:
            raise ConfigError(f"config key 'data.synthetic.split' = {self.split}; need three non-negative fractions summing to 1 (train, validation, test)")


@dataclass
class DataConfig:
    """Where clips come from and how they are sampled and transformed into (C, T, H, W) tensors."""

    source: Literal["synthetic", "ssv2", "csv", "folders"] = "synthetic"
    #: synthetic: cache folder (one sub-folder per parameter set); ssv2: the data set root; csv: the CSV
    #: file's folder; folders: the root with one sub-folder per class.
    root: str = "data/synthetic"
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    num_frames: int = 16
    sampling: Literal["uniform", "consecutive"] = "uniform"
    stride: int = 1
    resize: int = 64
    crop: int = 64
    color_jitter: float = 0.0
    horizontal_flip: bool = False
    num_workers: int = 0
    train_split: str = "train"
    val_split: str = "validation"
    test_split: str = "test"


@dataclass
class ModelConfig:
    """The slow-only 3D ResNet backbone shared by ``baseline``, ``abn`` and ``stabn``."""

    depth: Literal[18, 34, 50, 101] = 18
    #: base width (64 is the paper's ResNet; smaller values give tiny CPU variants)
    width: int = 16
    dropout: float = 0.5
    #: local file with a 2D torchvision ResNet state dict to inflate (never downloaded)
    inflate_from: Optional[str] = None


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
    deterministic: bool = False


@dataclass
class ExplainConfig:
    """Which explanation methods run, on how many test clips, for which target class."""

    methods: list[str] = field(default_factory=lambda: ["all"])
    target: Literal["predicted", "label"] = "predicted"
    num_clips: int = 48
    batch_size: int = 8
    methods_module: Optional[str] = None


@dataclass
class MetricsConfig:
    """Which scores are computed and with which perturbation settings."""

    metrics: list[str] = field(default_factory=lambda: ["all"])
    steps: int = 16
    granularity: Literal["voxel", "tube", "frame"] = "tube"
    substrate: Literal["zero", "mean", "blur"] = "blur"
    tube_size: list[int] = field(default_factory=lambda: [2, 8, 8])
    memory_budget_mb: int = 2048
    bootstrap_resamples: int = 1000


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
