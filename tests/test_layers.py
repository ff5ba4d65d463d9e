"""Layers point one way: every import of every module of the project is read (with ``ast``, function-level and
``TYPE_CHECKING`` imports included) and checked against the allowed direction

    stabn_bench.core  <-  metrics  <-  baselines  <-  benchmark  <-  stabn_bench.api

(docs/design.md section 1): ``core`` imports nothing of the project, ``metrics`` and ``baselines`` never import
``benchmark``, and nothing below the API imports it.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import stabn_bench

PACKAGE_DIR = Path(stabn_bench.__file__).parent

#: layer -> the other layers its modules may import (a module may always import its own layer)
ALLOWED: dict[str, set[str]] = {
    "stabn_bench.core": set(),
    "stabn_bench.metrics": {"stabn_bench.core"},
    "stabn_bench.baselines": {"stabn_bench.core", "stabn_bench.metrics"},
    "stabn_bench.benchmark": {"stabn_bench.core", "stabn_bench.metrics", "stabn_bench.baselines"},
    "stabn_bench.api": {"stabn_bench.core", "stabn_bench.metrics", "stabn_bench.baselines", "stabn_bench.benchmark"},
    # the package itself loads the API lazily (importlib), so importing ``stabn_bench`` costs nothing
    "stabn_bench": set(),
}


def project_modules() -> dict[str, Path]:
    """Module name -> file, for every module under ``stabn_bench`` (following the links to the top-level folders)."""
    modules = {}
    for root, _dirs, files in os.walk(PACKAGE_DIR, followlinks=True):
        if "__pycache__" in root:
            continue
        for name in files:
            if name.endswith(".py"):
                parts = list(Path(root, name).relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
                if parts[-1] == "__init__":
                    parts.pop()
                modules[".".join(parts)] = Path(root, name)
    return modules


def imported_modules(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """Absolute names of everything ``source`` (the module ``module``) imports, anywhere in its body."""
    package = module if is_package else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:  # ``from pkg import sub`` imports the module ``pkg.sub`` where there is one
                out.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return out


def layer_of(module: str) -> str | None:
    if module != "stabn_bench" and not module.startswith("stabn_bench."):
        return None
    return max((layer for layer in ALLOWED if module == layer or module.startswith(layer + ".")), key=len)


def violations(modules: dict[str, Path]) -> list[str]:
    known = set(modules)
    found = []
    for module, path in sorted(modules.items()):
        own = layer_of(module)
        assert own is not None
        for target in sorted(imported_modules(path.read_text(), module, path.name == "__init__.py", known)):
            other = layer_of(target)
            if other is not None and other != own and other not in ALLOWED[own]:
                found.append(f"{module} imports {target}")
    return found


def test_every_import_points_down_the_layers():
    modules = project_modules()
    assert len(modules) > 100 and "stabn_bench.metrics.engine" in modules and "stabn_bench.core" in modules
    assert violations(modules) == []


@pytest.mark.parametrize("module, source, bad", [
    ("stabn_bench.metrics.x", "def f():\n    from stabn_bench.benchmark.errors import DataError\n", True),
    ("stabn_bench.metrics.x", "from ..benchmark import runtime\n", True),
    ("stabn_bench.baselines.x", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import stabn_bench.api\n", True),
    ("stabn_bench.core", "from stabn_bench import metrics\n", True),
    ("stabn_bench.metrics.x", "from stabn_bench import baselines\n", True),
    ("stabn_bench.metrics.x", "from stabn_bench.core import DataError\nfrom .engine import Curves\n", False),
    ("stabn_bench.baselines.x", "from stabn_bench.metrics.substrates import blur_frames\n", False),
    ("stabn_bench.benchmark.x.y", "from ...baselines import registry\nfrom ..errors import DataError\n", False),
])
def test_the_check_finds_an_import_that_points_up(tmp_path, module, source, bad):
    path = tmp_path / "x.py"
    path.write_text(source)
    modules = {module: path, "stabn_bench.baselines": path.with_name("b.py"), "stabn_bench.metrics": path.with_name("c.py")}
    for extra in ("b.py", "c.py"):
        path.with_name(extra).write_text("")
    assert bool(violations(modules)) is bad


def test_importing_metrics_and_baselines_loads_nothing_of_benchmark():
    code = ("import sys, stabn_bench.core; core = sorted(m for m in sys.modules if m.startswith('stabn_bench'))\n"
            "import stabn_bench.metrics, stabn_bench.baselines\n"
            "print(core, any(m.startswith('stabn_bench.benchmark') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "['stabn_bench', 'stabn_bench.core'] False"
