#!/usr/bin/env bash
# Set up .venv if needed, then run the whole test suite (arguments are passed to pytest) in two worker processes
# (pytest-xdist; each test file stays in one process, so its module fixtures are built once). TEST_WORKERS=0 runs
# it in this process.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
workers=${TEST_WORKERS:-2}
if [ "$workers" = 0 ]; then
    exec .venv/bin/python -m pytest -q "$@"
fi
exec .venv/bin/python -m pytest -q -n "$workers" --dist loadfile "$@"
