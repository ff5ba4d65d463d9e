"""The config tree of stabn-bench. Defaults are the embedded synthetic benchmark (``configs/synthetic.yaml``).

One dataclass per section; a section may define ``validate()`` for checks across fields
(raise :class:`~benchmark.config.loader.ConfigError` with a one-line message naming the key).
Parsing has no side effects: no plug-in module is imported and no method or metric name is checked here; that is
the one explicit step after parsing, :func:`benchmark.config.names.check_names`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from .loader import ConfigError


#: the largest bootstrap resample count (and seed) a config may name: the report's memory and time stay bounded
MAX_BOOTSTRAP_RESAMPLES = 100_000
MAX_SEED = 2**31 - 1


@dataclass
class SyntheticConfig:
    """Parameters of the generated Something-Something-like data set (``stabn-bench data synth``)."""

    num_videos: int = 720
    num_frames: int = 16
    height: int = 64
    width: int = 64
    num_decoys: int = 2
    noise: float = 0.02
    window_min: int = 8
    window_max: int = 8
    target_size: int = 14
    fps: int = 8
    container: Literal["mp4", "webm"] = "mp4"
    split: list[float] = field(default_factory=lambda: [0.7, 0.1, 0.2])
    seed: int = 0
    #: ``window``: the class can be read only inside the action window (square excursions of a wandering target,
    #: every object moving at one speed all the time); ``endpoints``: the earlier design, whose first and last
    #: frames tell the class (benchmark/data/actions.py)
    design: Literal["window", "endpoints"] = "window"
    #: the classes, by key (benchmark/data/actions.py), all of one design; every class's time-reversed pair must
    #: be listed too. Empty: the design's eight default classes.
    actions: list[str] = field(default_factory=list)
    #: opacity of the textured background pattern (0 = flat grey)
    background_contrast: float = 0.12
    #: ``window`` design: camera motion, the background's random walk in pixels per frame (0 = a still camera)
    camera_motion: float = 0.0
    #: ``window`` design: side of the target's square loop as a fraction of the frame's shorter side, drawn
    #: uniformly from [low, high] per clip (every object wanders at the loop's mean step per frame)
    loop_side: list[float] = field(default_factory=lambda: [0.09, 0.11])

    def action_keys(self) -> list[str]:
        """The class keys in label order: ``actions``, or the design's default set when it is empty."""
        from ..data.actions import DESIGN_ACTIONS  # late import: the data package imports the config

        return list(self.actions) or list(DESIGN_ACTIONS[self.design])

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
        if self.design not in ("window", "endpoints"):
            raise ConfigError(f"config key 'data.synthetic.design' = {self.design!r}; valid: window, endpoints")
        if len(self.action_keys()) < 2:
            raise ConfigError(f"config key 'data.synthetic.actions' = {list(self.actions)}; list at least two "
                              "classes (each with its time-reversed pair)")
        if not 0 <= self.camera_motion <= min(self.height, self.width) / 4:
            raise ConfigError(f"config key 'data.synthetic.camera_motion' = {self.camera_motion}; need 0 <= "
                              f"camera_motion <= min(height, width) / 4 = {min(self.height, self.width) / 4:g}")
        if len(self.loop_side) != 2 or not 0 < self.loop_side[0] <= self.loop_side[1] <= 0.5:
            raise ConfigError(f"config key 'data.synthetic.loop_side' = {self.loop_side}; need [low, high] with "
                              "0 < low <= high <= 0.5 (fractions of the frame's shorter side)")
        if self.design == "window" and (self.window_min % 4 or self.window_max != self.window_min):
            raise ConfigError(
                f"config keys 'data.synthetic.window_min/window_max' = {self.window_min}/{self.window_max}; the "
                "window design needs one window length, a multiple of 4 (e.g. 4/4), so that the red frames show "
                "the same square for every class")
        try:
            resolve_actions(self.action_keys(), self.design)
        except ValueError as err:
            raise ConfigError(f"config key 'data.synthetic.actions' = {list(self.actions)}: {err}") from None
        if self.seed < 0:
            raise ConfigError(f"config key 'data.synthetic.seed' = {self.seed}; must be >= 0")
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
    #: synthetic source, training only: a random mirror/transpose of the frame with the class relabelled (mirrored,
    #: "right, up and back" is "left, up and back") and, in the window design, a random cyclic shift (its objects
    #: move on the torus of the frame); benchmark/data/symmetry.py. Other sources ignore it: only the generator
    #: knows how a mirrored clip's class changes
    symmetry_augment: bool = False
    num_workers: int = 0
    #: keep decoded uint8 videos in memory after their first decode (small data sets: decode once per run)
    cache_decoded: bool = False
    #: skip (and report) clips that cannot be decoded instead of stopping with an error
    skip_undecodable: bool = True
    train_split: str = "train"
    val_split: str = "validation"
    test_split: str = "test"
    #: csv source without ``classes.txt``: take the classes from the labels found (else a label not in
    #: ``classes.txt`` / a missing ``classes.txt`` is an error, so that a typo never becomes a new class)
    infer_classes: bool = False
    #: ssv2 source: spatial ground truth from the Something-Else boxes, ``something-else:PATH`` (an annotation file
    #: such as bounding_box_smthsmth_part1.json, or a folder of them); clips without boxes are left out of
    #: localisation. None: no boxes (the ground_truth/ folder of the root is used where it exists)
    ground_truth: Optional[str] = None

    def validate(self) -> None:
        from ..runtime import is_safe_name

        if self.ground_truth is not None:
            if not str(self.ground_truth).startswith("something-else:") or len(str(self.ground_truth)) <= 15:
                raise ConfigError(f"config key 'data.ground_truth' = {self.ground_truth!r}; expected "
                                  "something-else:PATH (a Something-Else annotation file or a folder of bounding_box_smthsmth*.json files)")
            if self.source != "ssv2":
                raise ConfigError(f"config key 'data.ground_truth' needs data.source=ssv2 (the Something-Else boxes "
                                  f"annotate Something-Something V2), got data.source={self.source}")

        for key in ("train_split", "val_split", "test_split"):
            if not is_safe_name(getattr(self, key)):
                raise ConfigError(f"config key 'data.{key}' = {getattr(self, key)!r}; a split name is letters, "
                                  "digits and ._+- (e.g. train, validation, test)")
        if not self.root:
            raise ConfigError("config key 'data.root' is empty; give the data folder")
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
    #: temporal kernels of the blocks: "reference" (the authors': 3x3x3 basic blocks at depths 18/34) or
    #: "slow-only" (1x3x3 in res2/res3 and in every second basic-block conv)
    block_temporal: Literal["reference", "slow-only"] = "reference"

    def validate(self) -> None:
        if self.width < 1:
            raise ConfigError(f"config key 'model.width' = {self.width}; must be >= 1 (64 is the standard ResNet)")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"config key 'model.dropout' = {self.dropout}; must be in [0, 1)")


@dataclass
class TrainConfig:
    """The training recipe of docs/design.md section 2, scaled for the data at hand."""

    models: list[str] = field(default_factory=lambda: ["baseline", "abn", "stabn"])
    #: training seeds: every model is trained, evaluated, explained and scored once per seed, and the tables
    #: report means across seeds with their spread; [] = one model per name, trained with the run's ``seed``
    seeds: list[int] = field(default_factory=list)
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
    #: 3-D conv weights (and, on CUDA, clips) in ``channels_last_3d``: the same numbers up to float rounding, a
    #: training step about 1.4x faster on a CPU (``stabn-bench perf train`` prints the ratio)
    channels_last: bool = True
    compile: bool = False
    #: deterministic kernels (a resumed CPU run then ends with exactly the weights of an uninterrupted one)
    deterministic: bool = False

    def validate(self) -> None:
        from ..models import MODELS  # late import: the models package is heavier than the config

        if not self.models:
            raise ConfigError(f"config key 'train.models' is empty; name at least one of {', '.join(MODELS)}")
        unknown = [m for m in self.models if m not in MODELS]
        if unknown:
            raise ConfigError(f"config key 'train.models' names unknown model {unknown[0]!r}; valid: {', '.join(MODELS)}")
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in self.seeds) or \
                len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"config key 'train.seeds' = {self.seeds}; need distinct integers >= 0 (or [] for the "
                              "run's seed)")
        if self.epochs < 1 or self.batch_size < 1 or self.reference_batch_size < 1 or self.warmup_epochs < 0:
            raise ConfigError(
                f"config keys 'train.epochs/batch_size/reference_batch_size/warmup_epochs' = {self.epochs}/"
                f"{self.batch_size}/{self.reference_batch_size}/{self.warmup_epochs}; need epochs >= 1, "
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
    #: which trained weights are explained: ``last`` (the final model) or ``best`` (best.pt: highest validation
    #: top-1, ties to the lower validation loss); recorded per model in checkpoints.csv and provenance.json
    checkpoint: Literal["last", "best"] = "last"

    def validate(self) -> None:
        if not self.methods:
            raise ConfigError("config key 'explain.methods' is empty; give method names or [all] "
                              "(`stabn-bench methods` lists them)")
        if self.overlay_clips < 0:
            raise ConfigError(f"config key 'explain.overlay_clips' = {self.overlay_clips}; must be >= 0")
        if self.num_clips < 1 or self.batch_size < 1:
            raise ConfigError(f"config keys 'explain.num_clips' / 'explain.batch_size' = {self.num_clips} / "
                              f"{self.batch_size}; both must be >= 1")
        for method, opts in self.options.items():
            if not isinstance(opts, dict):
                raise ConfigError(f"config key 'explain.options.{method}' = {opts!r}; expected a mapping of option: value")
            if method in ("gradcam", "guided-gradcam") and "layer" in opts:
                from ..models import GRADCAM_LAYERS  # late import, as in TrainConfig.validate

                if opts["layer"] not in GRADCAM_LAYERS:
                    raise ConfigError(f"config key 'explain.options.{method}.layer' = {opts['layer']!r}; valid layers: "
                                      f"{', '.join(GRADCAM_LAYERS)} (fused and attention-res5: abn and stabn only)")


@dataclass
class ValidityConfig:
    """Metric validity, checked in every run (``metric_validity.csv``; see ``metrics/validity.py``)."""

    #: one-sided significance level of the oracle > random and random > inverse-oracle Wilcoxon tests
    alpha: float = 0.05
    #: smallest matched-pairs rank-biserial effect (in the right direction) of those two comparisons
    min_effect: float = 0.3
    #: largest range over tie-break seeds of a method's mean score
    max_tie_spread: float = 0.005
    #: the fully deleted clip's mean target probability may be at most this many times chance (1 / K)
    max_deleted_vs_chance: float = 2.0
    #: tie-break seeds of the spread check (the run's own seed is the first; 1 = no rescoring)
    tie_seeds: int = 3
    #: methods rescored under the extra seeds (those that run on a model; coarse or flat maps have the most ties)
    tie_methods: list[str] = field(default_factory=lambda: ["gradcam", "oracle"])
    #: rescore the first this many explained clips (whole clip batches); the spread of a mean over fewer clips is
    #: larger, so the check is conservative
    tie_clips: int = 16
    #: random halvings of the clips for the split-half reliability of the method ranking
    split_half_splits: int = 20

    def validate(self) -> None:
        if not 0 < self.alpha < 1 or not -1 <= self.min_effect <= 1:
            raise ConfigError(f"config keys 'metrics.validity.alpha/min_effect' = {self.alpha}/{self.min_effect}; "
                              "need 0 < alpha < 1 and -1 <= min_effect <= 1")
        if self.max_tie_spread < 0 or self.max_deleted_vs_chance <= 0:
            raise ConfigError(
                f"config keys 'metrics.validity.max_tie_spread/max_deleted_vs_chance' = {self.max_tie_spread}/"
                f"{self.max_deleted_vs_chance}; need max_tie_spread >= 0 and max_deleted_vs_chance > 0")
        if self.tie_seeds < 1 or self.tie_clips < 0 or self.split_half_splits < 1:
            raise ConfigError(
                f"config keys 'metrics.validity.tie_seeds/tie_clips/split_half_splits' = {self.tie_seeds}/"
                f"{self.tie_clips}/{self.split_half_splits}; need tie_seeds >= 1, tie_clips >= 0, split_half_splits >= 1")


@dataclass
class InDomainConfig:
    """In-domain deletion (ROAR / ROAD / Hesse et al. 2024): each trained model is fine-tuned briefly on clips with
    random tube deletions (the deletion metric's substrate and tube size), cached like the other checkpoints, and
    scored as model ``<model>+indomain`` beside the plain one."""

    enabled: bool = False
    #: fine-tuning epochs over the training split
    epochs: int = 1
    #: each training clip loses a share of its tubes drawn uniformly from [low, high]
    fraction: list[float] = field(default_factory=lambda: [0.0, 1.0])
    #: fine-tuning learning rate = lr_scale x the training recipe's (batch-scaled) base lr, constant
    lr_scale: float = 0.1
    #: methods explained on the fine-tuned models (names or [all]; those that do not apply to a model are skipped).
    #: The default keeps the option cheap (estimated 1.5 min more on the default run): the models' own attention, two
    #: one-pass methods and the three controls that bound the metric
    methods: list[str] = field(default_factory=lambda: [
        "stabn-attention", "stabn-spatial", "gradcam", "saliency", "random", "oracle", "inverse-oracle"])
    #: metrics scored on the fine-tuned models (their granularity variants follow metrics.granularities)
    metrics: list[str] = field(default_factory=lambda: ["deletion_auc", "insertion_auc"])

    def validate(self) -> None:
        # method and metric names are checked with the plug-ins loaded: config.names.check_names
        if self.epochs < 1 or self.lr_scale <= 0:
            raise ConfigError(f"config keys 'metrics.in_domain.epochs/lr_scale' = {self.epochs}/{self.lr_scale}; "
                              "need epochs >= 1 and lr_scale > 0")
        if len(self.fraction) != 2 or not 0 <= self.fraction[0] <= self.fraction[1] <= 1:
            raise ConfigError(f"config key 'metrics.in_domain.fraction' = {self.fraction}; need [low, high] with "
                              "0 <= low <= high <= 1")
        if not self.methods:
            raise ConfigError("config key 'metrics.in_domain.methods' is empty; give method names or [all]")


@dataclass
class MetricsConfig:
    """Which scores are computed and with which perturbation settings (see ``metrics/``)."""

    #: metric names of the metric registry (built in, metrics/builtin.py, or plug-ins), or [all]; a metric whose
    #: inputs are missing is skipped
    metrics: list[str] = field(default_factory=lambda: ["all"])
    #: a user's module (dotted name or .py file) that registers more metrics (``@register_metric``)
    metrics_module: Optional[str] = None
    #: steps of every deletion / insertion curve (frame curves: at most one frame per step)
    steps: int = 16
    #: cells removed per step; the first gives ``deletion_auc`` etc., the others add ``deletion_auc_<granularity>``
    granularities: list[Literal["voxel", "tube", "frame"]] = field(default_factory=lambda: ["tube"])
    #: size (t, h, w) of a tube cell
    tube_size: list[int] = field(default_factory=lambda: [2, 8, 8])
    #: what deleted voxels become (clips are ImageNet-normalised: zero = the ImageNet mean colour)
    substrate: Literal["zero", "mean", "blur", "road"] = "road"
    #: sigma of the per-frame Gaussian blur substrate, in pixels
    blur_sigma: float = 5.0
    #: road substrate (3-D noisy linear imputation, ROAD): noise std added to imputed voxels, in normalised units
    #: (0.05 is about 0.01 of the pixel range, as in ROAD)
    road_noise: float = 0.05
    #: what deleted frames become in the temporal tests
    temporal_substrate: Literal["mean_frame", "zero", "frozen"] = "mean_frame"
    #: keep-top-k test: k = round(keep_fraction * frames), at least 1
    keep_fraction: float = 0.25
    #: frame tests: tied frames are changed one per step, and each value is the mean over this many random orders
    #: of every tie group (the expected value under a random tie-break; 1 = one seeded order)
    frame_tie_orders: int = 8
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
    #: smooth MPRT (on the sanity clips): noisy copies per clip, and the noise's std in the clips' units
    mprt_samples: int = 2
    mprt_noise: float = 0.1
    #: clips (of the first batch) that get the robustness metrics (max-sensitivity, relative input stability), per
    #: method; each is explained once more on ``robustness_samples`` perturbed copies (uniform noise of
    #: ``robustness_radius`` of the pixel range, kept in the range)
    robustness_clips: int = 2
    robustness_samples: int = 3
    robustness_radius: float = 0.02
    bootstrap_resamples: int = 1000
    #: metric validity checks of every run (metric_validity.csv)
    validity: ValidityConfig = field(default_factory=ValidityConfig)
    #: in-domain deletion: fine-tuned models scored beside the plain ones (off by default)
    in_domain: InDomainConfig = field(default_factory=InDomainConfig)

    def validate(self) -> None:
        if not self.metrics:
            raise ConfigError("config key 'metrics.metrics' is empty; give metric names or [all]")
        if self.steps < 1:
            raise ConfigError(f"config key 'metrics.steps' = {self.steps}; must be >= 1")
        if not self.granularities:
            raise ConfigError("config key 'metrics.granularities' is empty; give at least one of voxel, tube, frame")
        if len(self.tube_size) != 3 or any(s < 1 for s in self.tube_size):
            raise ConfigError(f"config key 'metrics.tube_size' = {self.tube_size}; need three positive integers (t, h, w)")
        if not 0 < self.keep_fraction <= 1:
            raise ConfigError(f"config key 'metrics.keep_fraction' = {self.keep_fraction}; must be in (0, 1]")
        if self.frame_tie_orders < 1:
            raise ConfigError(f"config key 'metrics.frame_tie_orders' = {self.frame_tie_orders}; must be >= 1")
        if self.road_noise < 0:
            raise ConfigError(f"config key 'metrics.road_noise' = {self.road_noise}; must be >= 0")
        if self.blur_sigma < 0 or self.pointing_tolerance < 0:
            raise ConfigError(
                f"config keys 'metrics.blur_sigma/pointing_tolerance' = {self.blur_sigma}/{self.pointing_tolerance}; must be >= 0"
            )
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"config key 'metrics.batch_size' = {self.batch_size}; must be >= 1 (or null: "
                              "derived from metrics.memory_budget_mb)")
        if not 1 <= self.bootstrap_resamples <= MAX_BOOTSTRAP_RESAMPLES or self.sanity_clips < 0:
            raise ConfigError(
                f"config keys 'metrics.bootstrap_resamples/sanity_clips' = {self.bootstrap_resamples}/"
                f"{self.sanity_clips}; need bootstrap_resamples in [1, {MAX_BOOTSTRAP_RESAMPLES}] (1000 is usual) "
                "and sanity_clips >= 0"
            )
        if self.robustness_clips < 0 or self.robustness_samples < 1 or self.mprt_samples < 1:
            raise ConfigError(
                f"config keys 'metrics.robustness_clips/robustness_samples/mprt_samples' = {self.robustness_clips}/"
                f"{self.robustness_samples}/{self.mprt_samples}; need robustness_clips >= 0 and the samples >= 1"
            )
        if not 0 < self.robustness_radius <= 1 or self.mprt_noise < 0:
            raise ConfigError(
                f"config keys 'metrics.robustness_radius/mprt_noise' = {self.robustness_radius}/{self.mprt_noise}; "
                "need 0 < robustness_radius <= 1 (a share of the pixel range) and mprt_noise >= 0"
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
    #: CPU runs: worker processes for the trainings and the explain-and-score batches (0 = one per core, at most
    #: 4); a GPU or ``torchrun`` run uses its own process
    workers: int = 0
    output_dir: str = "results"
    #: where trained checkpoints are cached (one sub-folder per model config hash)
    checkpoint_dir: str = "checkpoints"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def validate(self) -> None:
        from ..runtime import is_safe_name

        if not is_safe_name(self.run_name):
            raise ConfigError(
                f"config key 'run_name' = {self.run_name!r}; a run name becomes a folder name: letters, digits "
                "and ._+- (not starting with . or -, no '..', at most 100 characters), e.g. run_name=my-run"
            )
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"config key 'seed' = {self.seed}; must be in [0, {MAX_SEED}]")
        if not 0 <= self.workers <= 64:
            raise ConfigError(f"config key 'workers' = {self.workers}; need 0 (one per CPU core) to 64")
        for key in ("output_dir", "checkpoint_dir"):
            if not str(getattr(self, key)).strip():
                raise ConfigError(f"config key '{key}' is empty; give a folder (e.g. {key}=results)")

    def train_seeds(self) -> list[int]:
        """The seeds every model is trained with: ``train.seeds``, or ``[seed]`` when it is empty."""
        return list(self.train.seeds) or [self.seed]
