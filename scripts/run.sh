#!/usr/bin/env bash
# Set up .venv if needed, then run the default benchmark (arguments are passed to `stabn-bench run`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/stabn-bench run "$@"
