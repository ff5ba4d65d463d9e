"""Config loading, overrides and one-line errors."""
import subprocess
import sys

import pytest

from stabn_bench.benchmark.config import ConfigError, dump_yaml, load_config, load_yaml_tree
from stabn_bench.benchmark.config.loader import CONFIG_DIR, from_dict
from stabn_bench.benchmark.config.schema import RunConfig


def test_default_preset_is_synthetic_and_typed():
    cfg = load_config()
    assert cfg.data.source == "synthetic"
    assert cfg.run_name == "synthetic"
    assert isinstance(cfg.train.lr, float)
    assert cfg.train.models == ["baseline", "abn", "stabn"]


def test_smoke_inherits_and_overrides_apply():
    cfg = load_config("smoke", ["train.epochs=3", "metrics.substrate=zero", "explain.methods=[saliency,random]"])
    assert cfg.train.epochs == 3
    assert cfg.metrics.substrate == "zero"
    assert cfg.explain.methods == ["saliency", "random"]
    # inherited from synthetic.yaml, not restated in smoke.yaml
    assert cfg.data.source == "synthetic"
    assert cfg.data.synthetic.num_videos == 48


def test_resolved_config_round_trips_through_yaml(tmp_path):
    cfg = load_config("smoke", ["seed=7"])
    path = tmp_path / "config.yaml"
    path.write_text(dump_yaml(cfg))
    again = load_config(str(path))
    assert again == cfg


@pytest.mark.parametrize(
    "override, fragments",
    [
        ("train.epohcs=3", ["train.epohcs", "did you mean 'epochs'"]),
        ("data.sampling=unifrom", ["data.sampling", "unifrom", "uniform, consecutive", "did you mean 'uniform'"]),
        ("train.epochs=abc", ["train.epochs", "'abc'", "integer"]),
        ("model.depth=19", ["model.depth", "19", "18, 34, 50, 101"]),
        ("train.amp=maybe", ["train.amp", "true or false"]),
        ("data.synthetic.window_max=99", ["window_max", "99"]),
    ],
)
def test_bad_values_give_one_line_errors(override, fragments):
    with pytest.raises(ConfigError) as info:
        load_config("synthetic", [override])
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_unknown_preset_suggests_close_match():
    with pytest.raises(ConfigError, match="did you mean 'smoke'"):
        load_config("smoek")


def test_yaml_is_loaded_safely(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("run_name: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(evil))


def test_every_packaged_preset_is_valid():
    """Every preset resolves to a valid config whose run (and results folder) is named after the preset."""
    paths = sorted(CONFIG_DIR.glob("*.yaml"))
    assert {p.stem for p in paths} >= {"synthetic", "smoke", "ssv2", "arrow-of-time"}
    for path in paths:
        assert from_dict(RunConfig, load_yaml_tree(path)).run_name == path.stem


@pytest.mark.slow
def test_cli_reports_config_error_with_exit_code_2():
    proc = subprocess.run(
        [sys.executable, "-m", "stabn_bench.benchmark.cli", "data", "synth", "--preset", "smoke", "--out", "unused", "data.synthetic.num_videoz=3"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert "num_videoz" in proc.stderr and "did you mean 'num_videos'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_scorer_without_a_config_uses_the_config_defaults():
    """``metrics`` never imports the config schema: with no config its engine takes its own defaults, the same."""
    import inspect

    from stabn_bench.benchmark.config import MetricsConfig
    from stabn_bench.metrics import PerturbationEngine

    engine = inspect.signature(PerturbationEngine).parameters
    defaults = MetricsConfig()
    for key in ("memory_budget_mb", "batch_size", "max_batch_size", "blur_sigma", "road_noise"):
        assert engine[key].default == getattr(defaults, key), key
