"""Plug-in metrics: the README's worked example, the registry's checks, the scorer, the config and the CLI."""
from __future__ import annotations

import importlib.metadata
import json
import re
import textwrap
from pathlib import Path

import pytest
import torch

from stabn_bench.benchmark.cli import main
from stabn_bench.benchmark.config import ConfigError, MetricsConfig, check_names, from_dict, load_config
from stabn_bench.benchmark.errors import StabnBenchError
from stabn_bench.benchmark.models.outputs import VideoModelOutput
from stabn_bench.metrics import catalog, registry, score_explanations, model_order_sensitivity, selected_metrics
from stabn_bench.metrics.statistics import higher_is_better

README = Path(__file__).resolve().parent.parent / "README.md"

PLUGINS = textwrap.dedent('''
    """Test metrics: one per kind of input."""
    import torch
    from stabn_bench.metrics import register_metric

    @register_metric("test-peak", direction="lower", needs=("map",))
    def peak(map):
        """Largest map value."""
        return map.flatten(1).amax(dim=1)

    @register_metric("test-cells", direction="higher", needs=("map",), granularity="configured")
    def cells(map):
        """Number of cells the map is pooled to."""
        return torch.full((map.shape[0],), float(map[0].numel()))

    @register_metric("test-mask-share", needs=("map", "mask"))
    def mask_share(map, mask):
        """Share of the map inside the mask."""
        return (map * mask).flatten(1).sum(1) / map.flatten(1).sum(1)

    @register_metric("test-confidence", needs=("model", "clips", "targets"))
    def confidence(model, clips, targets):
        """Softmax probability of the target on the clean clip (model-level)."""
        return model(clips).softmax(dim=1).gather(1, targets[:, None])[:, 0]
''')

NAMES = ("test-peak", "test-cells", "test-mask-share", "test-confidence")


class ConstantModel(torch.nn.Module):
    """logits = a fixed vector whatever the clip: every probability is known."""

    def __init__(self, logits=(0.0, 1.0, 2.0)):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.tensor(logits))

    def forward(self, clips):
        return VideoModelOutput(logits=self.logits.expand(clips.shape[0], -1) + 0 * clips.mean())


@pytest.fixture()
def plugins(tmp_path):
    path = tmp_path / "test_metrics.py"
    path.write_text(PLUGINS)
    assert registry.load_metrics_module(str(path)) == sorted(NAMES)
    yield path
    for name in NAMES:
        registry.unregister_metric(name)


def readme_module() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    return next(b for b in blocks if "@register_metric" in b)


def test_the_readme_gini_example_runs_as_written(tmp_path):
    (tmp_path / "my_metrics.py").write_text(readme_module())
    try:
        assert registry.load_metrics_module(str(tmp_path / "my_metrics.py")) == ["gini"]
        spec = registry.get_metric("gini")
        assert spec.direction == "higher" and spec.granularity == "tube" and higher_is_better("gini") is True
        flat = torch.ones(1, 4, 16, 16)
        one_cell = torch.zeros(1, 4, 16, 16)
        one_cell[0, :2, :8, :8] = 1.0  # exactly one 2x8x8 tube
        values = registry.compute_metrics(["gini"], {"map": torch.cat([flat, one_cell])}, ["tube"], (2, 8, 8))
        cells = 2 * 2 * 2  # (4/2) x (16/8) x (16/8) tubes
        torch.testing.assert_close(values["gini"], torch.tensor([0.0, 1 - 1 / cells], dtype=torch.float64))
    finally:
        registry.unregister_metric("gini")
    assert "gini" not in catalog.METRICS


def test_plugin_metrics_are_scored_beside_the_builtin_ones(plugins):
    model = ConstantModel().eval()
    clips = torch.randn(2, 3, 4, 16, 16)
    maps = torch.rand(2, 4, 16, 16)
    mask = torch.zeros(2, 4, 16, 16)
    mask[:, :, :8] = 1.0
    targets, labels = torch.tensor([2, 0]), torch.tensor([2, 0])
    cfg = from_dict(MetricsConfig, {"metrics": ["deletion_auc", *NAMES], "granularities": ["tube", "voxel"],
                                    "steps": 4})
    assert {"test-cells", "test-cells_voxel"} <= set(selected_metrics(cfg))
    result = score_explanations(model, clips, maps, maps.sum(dim=(2, 3)), targets, labels, cfg, evidence=mask)
    torch.testing.assert_close(result.values["test-peak"], maps.flatten(1).amax(1).double())
    assert result.values["test-cells"].tolist() == [2 * 2 * 2] * 2      # tube cells of (4, 16, 16)
    assert result.values["test-cells_voxel"].tolist() == [4 * 16 * 16] * 2
    torch.testing.assert_close(result.values["test-mask-share"],
                               ((maps * mask).flatten(1).sum(1) / maps.flatten(1).sum(1)).double())
    assert "test-confidence" not in result.values  # model-level: not per method
    without_mask = score_explanations(model, clips, maps, maps.sum(dim=(2, 3)), targets, labels, cfg)
    assert "test-mask-share" not in without_mask.values and "test-peak" in without_mask.values
    level = model_order_sensitivity(model, clips, cfg=cfg, labels=labels)
    assert "test-confidence" not in level  # needs the targets: given with the reference curves
    from stabn_bench.metrics import reference_curves

    level = model_order_sensitivity(reference_curves(model, clips, targets, cfg), clips, cfg=cfg, labels=labels)
    expected = torch.tensor([0.0, 1.0, 2.0]).softmax(0)[targets].double()
    torch.testing.assert_close(level["test-confidence"], expected)


def test_plugin_metric_names_and_directions_reach_the_catalog_and_the_config(plugins):
    assert catalog.METRICS["test-peak"].arrow == "↓" and catalog.METRICS["test-mask-share"].family == "localisation"
    assert catalog.METRICS["test-confidence"].family == "model"
    assert "test-cells" in catalog.selectable_metric_names()
    assert "test-cells_voxel" not in catalog.selectable_metric_names()
    cfg = load_config("smoke", ["metrics.metrics=[test-peak,deletion_auc]"])
    assert cfg.metrics.metrics == ["test-peak", "deletion_auc"]


def test_an_unknown_metric_fails_when_the_names_are_checked_unless_its_module_is_named(tmp_path):
    cfg = load_config("smoke", ["metrics.metrics=[test-peak]"])  # parsing checks no plug-in name
    with pytest.raises(ConfigError, match="unknown metric 'test-peak'"):
        check_names(cfg)
    path = tmp_path / "more_metrics.py"
    path.write_text(PLUGINS)
    try:
        cfg = load_config("smoke", [f"metrics.metrics_module={path}", "metrics.metrics=[test-peak]",
                                    "metrics.in_domain.metrics=[test-peak,deletion_auc]"])
        assert cfg.metrics.metrics_module == str(path)
        check_names(cfg)  # loads the module first, so its metrics are known, in_domain.metrics included
        assert "test-peak" in catalog.selectable_metric_names()
    finally:
        for name in NAMES:
            registry.unregister_metric(name)
    with pytest.raises(ConfigError, match="config key 'metrics.in_domain.metrics' names unknown metric 'test-peak'"):
        check_names(load_config("smoke", ["metrics.in_domain.metrics=[test-peak]"]))
    with pytest.raises(ConfigError, match="metrics.metrics_module.*does not exist"):
        check_names(load_config("smoke", [f"metrics.metrics_module={tmp_path / 'missing.py'}"]))


def test_reading_a_config_imports_no_module_and_the_explicit_step_does(tmp_path):
    marker = tmp_path / "imported.txt"
    for kind in ("methods", "metrics"):
        (tmp_path / f"marking_{kind}.py").write_text(f"open({str(marker)!r}, 'a').write('{kind} ')\n")
    cfg = load_config("smoke", [f"explain.methods_module={tmp_path / 'marking_methods.py'}",
                                f"metrics.metrics_module={tmp_path / 'marking_metrics.py'}"])
    assert not marker.exists()
    check_names(cfg)
    assert marker.read_text() == "methods metrics "


def test_in_domain_names_are_checked_with_the_plugins_loaded(tmp_path):
    """A plug-in metric in ``metrics.in_domain.metrics`` is accepted once its module is named; a mistyped method or
    metric there is refused when the names are checked (run_benchmark's first step), before any model is
    fine-tuned."""
    path = tmp_path / "in_domain_metrics.py"
    path.write_text(PLUGINS)
    try:
        cfg = load_config("smoke", [f"metrics.metrics_module={path}", "metrics.in_domain.enabled=true",
                                    "metrics.in_domain.metrics=[test-peak,deletion_auc]"])
        check_names(cfg)
        assert cfg.metrics.in_domain.metrics == ["test-peak", "deletion_auc"]
        with pytest.raises(ConfigError, match="metrics.in_domain.methods.*'gradcm'.*did you mean 'gradcam'"):
            check_names(load_config("smoke", [f"metrics.metrics_module={path}", "metrics.in_domain.methods=[gradcm]"]))
        with pytest.raises(ConfigError, match="metrics.in_domain.metrics.*'test-peek'.*did you mean 'test-peak'"):
            check_names(load_config("smoke", [f"metrics.metrics_module={path}", "metrics.in_domain.metrics=[test-peek]"]))
    finally:
        for name in NAMES:
            registry.unregister_metric(name)
    with pytest.raises(ConfigError, match="unknown metric 'test-peak'"):  # without its module
        check_names(load_config("smoke", ["metrics.in_domain.metrics=[test-peak]"]))


def test_registering_checks_direction_inputs_and_names():
    with pytest.raises(ValueError, match="direction 'up' is not one of higher, lower"):
        registry.register_metric("test-x", direction="up")
    with pytest.raises(ValueError, match="unknown input 'heatmap'"):
        registry.register_metric("test-x", needs=("heatmap",))
    with pytest.raises(ValueError, match="granularity 'cube'"):
        registry.register_metric("test-x", granularity="cube")
    with pytest.raises(TypeError, match="does not take the input 'mask'"):
        registry.register_metric("test-x", needs=("map", "mask"))(lambda map: map)
    with pytest.raises(ValueError, match="'deletion_auc' is a built-in metric"):
        registry.register_metric("deletion_auc")(lambda map: map)


def test_a_metric_that_returns_a_wrong_shape_or_raises_is_named(plugins):
    registry.register_metric("test-bad-shape")(lambda map: map.mean())
    registry.register_metric("test-raises")(lambda map: 1 / 0)
    try:
        with pytest.raises(StabnBenchError, match="metric 'test-bad-shape' returned shape \\(\\); expected one value per clip \\(2,\\)"):
            registry.compute_metrics(["test-bad-shape"], {"map": torch.rand(2, 2, 4, 4)})
        with pytest.raises(StabnBenchError, match="metric 'test-raises' .* raised ZeroDivisionError"):
            registry.compute_metrics(["test-raises"], {"map": torch.rand(2, 2, 4, 4)})
    finally:
        registry.unregister_metric("test-bad-shape")
        registry.unregister_metric("test-raises")


def test_metrics_command_lists_plugins_and_entry_points_register_them(tmp_path, monkeypatch, capsys):
    (tmp_path / "plugin_metrics.py").write_text(PLUGINS)
    monkeypatch.syspath_prepend(str(tmp_path))
    good = importlib.metadata.EntryPoint("tests", "plugin_metrics", registry.ENTRY_POINT_GROUP)
    broken = importlib.metadata.EntryPoint("broken", "no_such_metric_module", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [broken, good])
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    try:
        assert main(["metrics"]) == 0
        out = capsys.readouterr().out
        line = next(line for line in out.splitlines() if line.startswith("test-mask-share"))
        assert "higher" in line and "localisation" in line and "map,mask" in line and "plugin_metrics" in line
        assert "4 plug-in" in out
    finally:
        for name in NAMES:
            registry.unregister_metric(name)


def test_a_redrawn_report_reads_the_runs_plugin_data_and_never_imports_its_module(tmp_path, capsys, monkeypatch):
    """``stabn-bench plot`` of a results folder takes the plug-in metric's direction from ``plugins.json`` (written
    by the run), so it keeps its arrow and gets its figure; the module its config.yaml names is never imported."""
    from report_fixtures import METRICS as FIXTURE_METRICS, make_results_dir

    from stabn_bench.benchmark.report import load_results
    from stabn_bench.benchmark.report.plugin_data import PLUGINS_FILE, plugin_records
    from stabn_bench.benchmark.report.summary import metric_groups

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "run_metrics.py"
    path.write_text(PLUGINS)
    evil = tmp_path / "evil_metrics.py"
    evil.write_text("import pathlib\npathlib.Path('MARKER-imported').write_text('ran')\n")
    registry.load_metrics_module(str(path))  # the run's process: plug-ins loaded, their data written
    records = plugin_records()
    for name in NAMES:
        registry.unregister_metric(name)
    assert {"name": "test-peak", "direction": "lower"}.items() <= next(
        m for m in records["metrics"] if m["name"] == "test-peak").items()
    run_dir = make_results_dir(tmp_path / "run", metrics=[*FIXTURE_METRICS, "test-peak"], overlay=False,
                               config={"metrics": {"bootstrap_resamples": 50, "metrics_module": str(evil)},
                                       "explain": {"methods_module": str(evil)}})
    (run_dir / PLUGINS_FILE).write_text(json.dumps(records))
    try:
        assert "test-peak" not in catalog.METRICS
        load_results(run_dir)
        assert catalog.METRICS["test-peak"].arrow == "↓"
        assert ("other", None, ["test-peak"]) in metric_groups([*FIXTURE_METRICS, "test-peak"])
        assert main(["plot", str(run_dir), "--format", "png", "--metrics", "test-peak"]) == 0
        assert (run_dir / "figures" / "metric_test-peak.png").is_file()
        assert not (tmp_path / "MARKER-imported").exists(), "a module named in a results folder was imported"
        assert "test-peak" not in registry.REGISTRY
        assert "test-peak" not in catalog.selectable_metric_names()  # data, not a metric a config can select
    finally:
        for name in NAMES:
            registry.unregister_metric(name)
            catalog.RESULT_METRICS.pop(name, None)
