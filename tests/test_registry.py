"""One registry mechanism for methods, metrics and models (``stabn_bench.core.Registry``): duplicates refused, entries
listed with their metadata, and the catalog, labels and headline lists generated from the metric registry."""
from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch

import stabn_bench
from stabn_bench import baselines
from stabn_bench.benchmark.config import MetricsConfig, from_dict
from stabn_bench.benchmark.models import MODELS, register_model
from stabn_bench.benchmark.report import groups, style, summary as report_summary
from stabn_bench.benchmark.report.plugin_data import plugin_records
from stabn_bench.benchmark.report.style import metric_label
from stabn_bench.benchmark.report.tables import split_variant, summary_table
from stabn_bench.core import FAMILIES, KINDS, Registry, UnknownNameError
from stabn_bench.metrics import catalog, registry, score_explanations, selected_metrics
from stabn_bench.metrics.agreement import metric_agreement

PACKAGE_DIR = Path(stabn_bench.__file__).parent


# ---------------------------------------------------------------------- the mechanism


def make_thing():
    """A builder."""


def test_a_registry_lists_its_entries_with_metadata_in_registration_order():
    things: Registry = Registry("thing")

    @things.decorator("b", colour="blue")
    def build_b():
        """B."""

    things.register("a", make_thing, colour="amber")
    assert things.names() == ["b", "a"] and list(things) == ["b", "a"] and len(things) == 2
    assert things.get("a") is make_thing and things["b"] is build_b and things.find("c") is None
    assert "a" in things and "c" not in things
    assert things.describe() == [
        {"name": "b", "colour": "blue", "source": f"{__name__}.test_a_registry_lists_its_entries_with_metadata_in_"
                                                  "registration_order.<locals>.build_b"},
        {"name": "a", "colour": "amber", "source": f"{__name__}.make_thing"},
    ]
    assert things.entry("a").metadata == {"colour": "amber"}


def test_a_registry_refuses_a_taken_name_and_names_the_valid_ones():
    things: Registry = Registry("thing")
    things.register("apple", make_thing)
    version = things.version
    with pytest.raises(ValueError, match=f"^thing 'apple' is already registered by {__name__}.make_thing; choose another "
                                         "name$"):
        things.register("apple", lambda: None)
    assert things.get("apple") is make_thing and things.version == version
    things.register("apple", make_thing, note="again")  # the same source again (a re-imported module): replaced
    assert things.entry("apple").metadata == {"note": "again"} and things.names() == ["apple"]
    with pytest.raises(UnknownNameError, match="^unknown thing 'aple'; valid things: apple; did you mean 'apple'\\?$"):
        things.get("aple")
    with pytest.raises(ValueError, match="non-empty"):
        things.register("", make_thing)
    things.unregister("apple")
    things.unregister("apple")  # absent: nothing happens
    assert things.names() == [] and things.version > version


# ---------------------------------------------------------------------- methods, metrics and models use it


def test_methods_metrics_and_models_are_registries():
    assert isinstance(baselines.METHODS, Registry) and isinstance(registry.REGISTRY, Registry)
    assert isinstance(MODELS, Registry)
    assert baselines.METHODS.what == "method" and registry.REGISTRY.what == "metric" and MODELS.what == "model"


def test_duplicate_names_are_refused_for_methods_metrics_and_models():
    with pytest.raises(ValueError, match="method 'gradcam' is already registered by stabn_bench.baselines.cam.gradcam"):
        baselines.register_method("gradcam", kind="cam")(lambda model, clips, targets: clips)
    assert baselines.get_method("gradcam").source == "stabn_bench.baselines.cam.gradcam"

    with pytest.raises(ValueError, match="metric name 'insertion_auc' is a built-in metric"):
        registry.register_metric("insertion_auc")(lambda map: map)
    with pytest.raises(ValueError, match="metric name 'deletion_auc_voxel' is a built-in metric"):
        registry.register_metric("deletion_auc_voxel")(lambda map: map)  # a built-in's per-granularity variant
    with pytest.raises(ValueError, match="metric name 'temporal_auroc_ceiling' is a built-in metric"):
        registry.register_metric("temporal_auroc_ceiling")(lambda map: map)  # a built-in's ceiling
    with pytest.raises(ValueError, match="headline column 1 is taken by 'deletion_auc'"):
        registry.register_metric("test-first", headline=1)(lambda map: map)

    def first(map):
        return map.flatten(1)[:, 0]

    def second(map):
        return map.flatten(1)[:, 1]

    registry.register_metric("test-dup")(first)
    try:
        with pytest.raises(ValueError, match=f"metric 'test-dup' is already registered by {__name__}.test_duplicate"):
            registry.register_metric("test-dup")(second)
        assert registry.get_metric("test-dup").fn is first
    finally:
        registry.unregister_metric("test-dup")

    with pytest.raises(ValueError, match="model 'abn' is already registered by stabn_bench.benchmark.models.networks.abn"):
        register_model("abn")(make_thing)
    assert MODELS.get("abn").__module__ == "stabn_bench.benchmark.models.networks"


def test_the_registries_list_their_entries_with_metadata():
    gradcam = next(d for d in baselines.METHODS.describe() if d["name"] == "gradcam")
    assert {k: gradcam[k] for k in ("kind", "models", "cost", "source")} == {
        "kind": "cam", "models": "all", "cost": "one-backward", "source": "stabn_bench.baselines.cam.gradcam"}
    deletion = next(d for d in registry.REGISTRY.describe() if d["name"] == "deletion_auc")
    assert {k: deletion[k] for k in ("direction", "family", "label", "granularity", "headline", "agreement", "builtin",
                                     "source")} == {
        "direction": "lower", "family": "faithfulness", "label": "Deletion AUC", "granularity": "configured",
        "headline": 1, "agreement": True, "builtin": True, "source": "stabn_bench.metrics.scoring"}
    pointing = registry.REGISTRY.entry("pointing_game").metadata
    assert pointing["ceiling"] is True and pointing["needs"] == ("map", "mask", "config")
    assert [d["name"] for d in MODELS.describe()] == ["baseline", "abn", "stabn"]


def test_the_builtin_metrics_are_registry_entries_of_a_known_family_listed_first():
    builtin = [s for s in registry.REGISTRY.objects() if s.builtin]
    assert len(builtin) == 28 and all(s.family in FAMILIES for s in builtin)
    assert list(catalog.METRICS)[: len(builtin)] == [s.name for s in builtin]


# ---------------------------------------------------------------------- generated from the registry


def test_the_catalog_labels_and_headline_lists_are_what_the_registry_says():
    specs = [s for s in registry.REGISTRY.objects() if s.builtin]
    expected = [s.name for s in specs]
    expected += [registry.ceiling_name(s.name) for s in specs if s.ceiling]
    expected += [registry.granularity_variant(s.name, g) for s in specs if s.granularity == "configured"
                 for g in catalog.GRANULARITIES]
    assert list(catalog.METRICS)[: len(expected)] == expected  # then plug-ins and names read from results folders
    for spec in specs:
        info = catalog.METRICS[spec.name]
        assert (info.higher_is_better, info.family, info.description) == (
            spec.direction == "higher", spec.family, spec.description)
        for variant in spec.variants():
            assert catalog.METRICS[variant].variant_of == spec.name and split_variant(variant)[0] == spec.name
    assert catalog.metric_labels() == {s.name: s.label for s in specs if s.label}
    for spec in specs:
        assert metric_label(spec.name, arrow=False) == (spec.label or spec.name.replace("_", " ").capitalize())
    assert catalog.headline_metrics() == [s.name for s in sorted(specs, key=lambda s: s.headline or 0)
                                          if s.headline is not None]
    assert catalog.headline_metrics() == ["deletion_auc", "insertion_auc", "pointing_game", "energy_pointing_game",
                                          "temporal_auroc", "frame_deletion_auc"]
    # the metric-agreement list: by family in the one family order, catalog order within a family
    agreement = catalog.agreement_metrics()
    assert set(agreement) == {s.name for s in specs if s.agreement}
    families = [catalog.METRICS[m].family for m in agreement]
    assert families == sorted(families, key=FAMILIES.index)


def test_kinds_and_families_are_defined_once_in_one_order():
    assert groups.KIND_ORDER == (*KINDS, "other") and baselines.KINDS is KINDS
    assert report_summary.FAMILY_ORDER == (*FAMILIES, "other")
    assert set(style.FAMILY_LABELS) == set(groups.KIND_ORDER) and style.FAMILY_ORDER == groups.KIND_ORDER
    # no other module of the project spells out the kinds or the families again
    root = PACKAGE_DIR.parent
    paths = [p for folder in ("baselines", "benchmark", "metrics", "stabn_bench") for p in (root / folder).rglob("*.py")]
    assert len(paths) > 50
    for path in paths:
        if path.name == "core.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                words = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
                assert len(words & set(KINDS)) < 3 and len(words & set(FAMILIES)) < 3, (
                    f"{path}:{node.lineno} lists kinds or families; use stabn_bench.core.KINDS / FAMILIES")


NEW_BUILTIN = textwrap.dedent('''
    """A new built-in metric, declared in one file: one decorated function."""
    from stabn_bench.metrics.registry import register_metric


    @register_metric("test_peak_share", "higher", ("map",), family="complexity", granularity="configured",
                     description="share of the map's absolute mass on its largest cell", label="Peak share",
                     headline=7, agreement=True, builtin=True)
    def peak_share(map):
        flat = map.abs().flatten(1)
        return flat.amax(dim=1) / flat.sum(dim=1)
''')


@pytest.fixture()
def new_builtin(tmp_path):
    path = tmp_path / "new_builtin_metric.py"
    path.write_text(NEW_BUILTIN)
    assert registry.load_metrics_module(str(path)) == ["test_peak_share"]
    yield "test_peak_share"
    registry.unregister_metric("test_peak_share")


def test_a_new_builtin_metric_declared_in_one_file_reaches_the_catalog_labels_headlines_and_scores(new_builtin):
    name = new_builtin
    # catalog: a built-in, listed with the built-ins (before any plug-in), with its variants
    assert catalog.METRICS[name].arrow == "↑" and catalog.METRICS[name].family == "complexity"
    builtins = [s.name for s in registry.REGISTRY.objects() if s.builtin]
    assert list(catalog.METRICS)[: len(builtins)] == builtins and builtins[-1] == name
    assert catalog.METRICS[f"{name}_voxel"].variant_of == name and name in catalog.per_granularity()
    assert name in catalog.selectable_metric_names() and f"{name}_voxel" not in catalog.selectable_metric_names()
    # labels, headline tables, metric agreement
    assert catalog.metric_labels()[name] == "Peak share"
    assert metric_label(name) == "Peak share ↑" and metric_label(f"{name}_voxel") == "Peak share (voxel) ↑"
    assert catalog.headline_metrics()[-1] == name
    assert catalog.agreement_metrics().index(name) == catalog.agreement_metrics().index("complexity") + 1
    assert all(m["name"] != name for m in plugin_records()["metrics"])  # built in: not a run's plug-in data
    # the scorer computes it like any registered function, at every configured granularity
    cfg = from_dict(MetricsConfig, {"metrics": [name, "sparseness"], "granularities": ["tube", "voxel"], "steps": 2})
    assert selected_metrics(cfg) == ["sparseness", name, f"{name}_voxel"]
    maps = torch.rand(2, 4, 8, 8)
    result = score_explanations(lambda x: x.mean(dim=(2, 3, 4))[:, :3], torch.randn(2, 3, 4, 8, 8), maps,
                                maps.sum(dim=(2, 3)), torch.tensor([0, 1]), torch.tensor([0, 1]), cfg)
    flat = maps.flatten(1)
    torch.testing.assert_close(result.values[f"{name}_voxel"], (flat.amax(1) / flat.sum(1)).double())
    assert set(result.values) == {"sparseness", name, f"{name}_voxel"}
    # the headline table of a report and the metric agreement take it from the registry
    rows = [("m", method, metric, f"c{i}", float(v)) for method, offset in (("a", 0.0), ("b", 0.1), ("c", 0.2))
            for metric in ("deletion_auc", name) for i, v in enumerate(torch.rand(4).add(offset).tolist())]
    scores = pd.DataFrame(rows, columns=["model", "method", "metric", "clip_id", "value"])
    table = report_summary.headline_table(summary_table(scores, n_resamples=20))
    assert table is not None and table.columns == ["model", "method", "deletion_auc ↓", f"{name} ↑"]
    assert set(metric_agreement(scores)[["metric_a", "metric_b"]].iloc[0]) == {"deletion_auc", name}


def test_removing_a_metric_removes_it_from_every_generated_list(new_builtin):
    registry.unregister_metric(new_builtin)
    assert new_builtin not in catalog.METRICS and f"{new_builtin}_tube" not in catalog.METRICS
    assert new_builtin not in catalog.metric_labels() and new_builtin not in catalog.headline_metrics()
    assert new_builtin not in catalog.agreement_metrics() and new_builtin not in catalog.per_granularity()


def test_the_metrics_command_prints_the_registry(capsys):
    from stabn_bench.benchmark.cli import main

    assert main(["metrics"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = [line.split()[0] for line in lines[2:] if line.strip() and not line.startswith(tuple("0123456789"))]
    expected = []
    for spec in registry.REGISTRY.objects():
        expected += [spec.name] + ([registry.ceiling_name(spec.name)] if spec.ceiling else [])
    assert listed == expected
    deletion = next(line for line in lines if line.startswith("deletion_auc "))
    assert deletion.split()[1:5] == ["lower", "faithfulness", "configured", "1"]
