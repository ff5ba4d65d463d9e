#!/usr/bin/env bash
# A regular (not editable) install works: build and install the package into a scratch folder, then run tests
# (arguments: pytest arguments; default a quick set) from outside the repository against the installed copy.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
bash scripts/setup_env.sh
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
if ! .venv/bin/python -m pip install -q --no-deps --target "$scratch/site" . >"$scratch/pip.log" 2>&1; then
    cat "$scratch/pip.log"
    exit 1
fi
test -f "$scratch/site/stabn_bench/benchmark/configs/synthetic.yaml"
test ! -L "$scratch/site/stabn_bench/benchmark"   # the links became real folders
cd "$scratch"
export PYTHONPATH="$scratch/site"
"$repo/.venv/bin/python" - "$scratch/site" <<'PY'
import sys
import stabn_bench, stabn_bench.benchmark.cli
installed = sys.argv[1]
assert stabn_bench.__file__.startswith(installed), stabn_bench.__file__
assert stabn_bench.benchmark.cli.__file__.startswith(installed), stabn_bench.benchmark.cli.__file__
print(f"stabn_bench imported from the regular install in {installed}")
PY
if [ $# -eq 0 ]; then
    set -- "$repo/tests/test_layers.py" "$repo/tests/test_config.py" "$repo/tests/test_validation.py" -m "not slow"
fi
"$repo/.venv/bin/python" -m pytest -q -p no:cacheprovider --rootdir "$repo" "$@"
