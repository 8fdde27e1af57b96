#!/usr/bin/env bash
# The quickstart: set everything up, generate the synthetic dataset, run the experiment
# (3 models × Russian passport/invoice/SNILS fields), then serve the reports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
data=examples/quickstart/data/quickstart
[ -f "$data/annotation.csv" ] || uv run --frozen vlmhb datasets synth --out "$data" --n 3 --seed 7
uv run --frozen vlmhb run examples/quickstart/experiment.yaml
echo
echo "Reports: runs/quickstart/report.html (experiment) and runs/quickstart/*/report.html (runs)"
if [ "${VLMHB_NO_SERVE:-0}" != "1" ]; then
  echo "Serving them at http://127.0.0.1:8000/quickstart/report.html — Ctrl+C to stop."
  exec uv run --frozen python -m http.server 8000 --bind 127.0.0.1 --directory runs
fi
