"""Install the repository's top-level folders as sub-packages of one import name, ``stabn_bench``.

``benchmark/`` -> ``stabn_bench.benchmark``, ``baselines/`` -> ``stabn_bench.baselines``, ``metrics/`` ->
``stabn_bench.metrics``; everything else is in pyproject.toml.
"""
from setuptools import find_packages, setup

SUBPACKAGES = ("benchmark", "baselines", "metrics")

packages = ["stabn_bench"]
package_dir = {"stabn_bench": "stabn_bench"}
for folder in SUBPACKAGES:
    package_dir[f"stabn_bench.{folder}"] = folder
    packages.append(f"stabn_bench.{folder}")
    packages += [f"stabn_bench.{folder}.{name}" for name in find_packages(folder)]

setup(packages=packages, package_dir=package_dir)
