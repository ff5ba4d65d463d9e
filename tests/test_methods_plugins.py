"""Methods from outside the package: a user's module file, a dotted module name, and the entry-point group."""
from __future__ import annotations

import importlib.metadata
import re
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from stabn_bench import baselines
from stabn_bench.baselines import registry as method_registry
from stabn_bench.benchmark.cli import main
from stabn_bench.benchmark.errors import StabnBenchError
from stabn_bench.benchmark.models.outputs import VideoModelOutput

USER_MODULE = textwrap.dedent('''
    """A user's own explanation method, outside stabn-bench (the README's worked example)."""
    import torch
    from stabn_bench.baselines import register_method

    @register_method("{name}", models="all", cost="one-backward")
    def gradient_norm(model, clips, targets, power: float = 2.0):
        """|d logit / d clip|^power. clips (N, C, T, H, W), targets (N,) -> (N, C, T, H, W)."""
        clips = clips.detach().requires_grad_(True)
        logits = model(clips).logits
        (grad,) = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), clips)
        return grad.abs() ** power
''')


class LinearVideoModel(nn.Module):
    """logits = W · mean over (C, T, H, W) of the clip times a fixed voxel weight: the gradient is known."""

    arch = "baseline"

    def __init__(self, t=4, h=8, w=8, num_classes=3):
        super().__init__()
        self.weight = nn.Parameter(torch.linspace(-1, 1, num_classes * t * h * w).reshape(num_classes, 1, t, h, w))
        self.gradcam_layer = nn.Identity()

    def forward(self, clips):
        return VideoModelOutput(logits=(clips[:, None] * self.weight[None]).sum(dim=(2, 3, 4, 5)))


@pytest.fixture()
def cleanup():
    names: list[str] = []
    yield names
    for name in names:
        baselines.unregister_method(name)


def _check_gradient_norm(name):
    model = LinearVideoModel()
    clips = torch.randn(2, 3, 4, 8, 8)
    exp = baselines.explain(name, model, clips, torch.tensor([0, 2]), target_kind="label", power=1.0)
    # d logit_k / d x[c, t, h, w] = weight[k, 0, t, h, w] for every colour channel c
    expected = 3 * model.weight.detach()[[0, 2], 0].abs()
    torch.testing.assert_close(exp.spatiotemporal, expected)
    assert exp.cost == "one-backward" and exp.options["power"] == 1.0


def test_a_method_in_a_file_outside_the_package_is_registered(tmp_path, cleanup):
    path = tmp_path / "my_methods.py"
    path.write_text(USER_MODULE.format(name="test-gradient-norm-file"))
    cleanup.append("test-gradient-norm-file")
    assert baselines.load_methods_module(str(path)) == ["test-gradient-norm-file"]
    assert baselines.load_methods_module(str(path)) == []  # loading twice is harmless
    assert baselines.get_method("test-gradient-norm-file").source.endswith("gradient_norm")
    _check_gradient_norm("test-gradient-norm-file")


def test_a_method_in_a_dotted_module_is_registered_and_listed(tmp_path, monkeypatch, cleanup, capsys):
    (tmp_path / "user_pkg").mkdir()
    (tmp_path / "user_pkg" / "__init__.py").write_text("")
    (tmp_path / "user_pkg" / "explainers.py").write_text(USER_MODULE.format(name="test-gradient-norm-dotted"))
    monkeypatch.syspath_prepend(str(tmp_path))
    cleanup.append("test-gradient-norm-dotted")
    assert main(["methods", "--methods-module", "user_pkg.explainers"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("test-gradient-norm-dotted"))
    assert "all" in line and "one-backward" in line and "power=2.0" in line and "user_pkg.explainers" in line
    _check_gradient_norm("test-gradient-norm-dotted")


def test_entry_point_group_registers_methods(tmp_path, monkeypatch, cleanup):
    (tmp_path / "plugin_methods.py").write_text(USER_MODULE.format(name="test-gradient-norm-plugin"))
    monkeypatch.syspath_prepend(str(tmp_path))
    cleanup.append("test-gradient-norm-plugin")
    good = importlib.metadata.EntryPoint("norms", "plugin_methods", method_registry.ENTRY_POINT_GROUP)
    broken = importlib.metadata.EntryPoint("broken", "no_such_plugin_module", method_registry.ENTRY_POINT_GROUP)
    asked = []

    def entry_points(group):
        asked.append(group)
        return [broken, good]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(method_registry, "_entry_points_loaded", False)
    assert "test-gradient-norm-plugin" in baselines.available_methods("baseline")  # loaded on first use
    assert asked == ["stabn_bench.methods"]
    _check_gradient_norm("test-gradient-norm-plugin")


def test_a_module_that_cannot_be_imported_is_named(tmp_path):
    with pytest.raises(StabnBenchError, match="cannot import methods module 'no.such.module': ModuleNotFoundError"):
        baselines.load_methods_module("no.such.module")
    bad = tmp_path / "bad_methods.py"
    bad.write_text("raise ValueError('oops')\n")
    with pytest.raises(StabnBenchError, match=r"bad_methods.py': ValueError: oops"):
        baselines.load_methods_module(str(bad))
    with pytest.raises(StabnBenchError, match="does not exist"):
        baselines.load_methods_module(str(tmp_path / "missing.py"))


def test_registering_checks_names_and_costs(cleanup):
    with pytest.raises(ValueError, match="cost 'cheap' is not one of free, one-backward, many-forwards"):
        baselines.register_method("test-bad-cost", cost="cheap")
    with pytest.raises(ValueError, match="'gradcam' is already registered by stabn_bench.baselines.cam.gradcam"):
        baselines.register_method("gradcam")(lambda model, clips, targets: clips)


def test_the_readme_worked_example_runs_as_written(tmp_path, cleanup):
    readme = (Path(baselines.__file__).parent / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    module = next(b for b in blocks if "@register_method" in b)
    (tmp_path / "my_methods.py").write_text(module)
    cleanup.append("gradient-norm")
    assert baselines.load_methods_module(str(tmp_path / "my_methods.py")) == ["gradient-norm"]
    _check_gradient_norm("gradient-norm")
