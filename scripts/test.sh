#!/usr/bin/env bash
# The whole test suite plus the style gates (ruff, mypy). Run after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never
uv run --frozen ruff check .
uv run --frozen mypy packages/core/src packages/data/src packages/metrics/src \
  packages/inference/src packages/reporting/src
uv run --frozen pytest -q "$@"
