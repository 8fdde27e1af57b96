#!/usr/bin/env bash
# The UI's API types from the backend's OpenAPI schema, without starting a server:
#   scripts/gen-api-types.sh            -> services/web/openapi.json, services/web/src/lib/api-types.ts
#   scripts/gen-api-types.sh OUT_DIR    -> OUT_DIR/openapi.json, OUT_DIR/api-types.ts
# (also `npm run gen:api` in services/web). PYTHON: the interpreter with vlmhb installed
# (default: `uv run --frozen python`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
web="$root/services/web"
if [ $# -gt 0 ]; then
  mkdir -p "$1"
  out="$(cd "$1" && pwd)"
  schema="$out/openapi.json" types="$out/api-types.ts"
else
  schema="$web/openapi.json" types="$web/src/lib/api-types.ts"
fi
read -r -a python <<< "${PYTHON:-uv run --frozen python}"
(cd "$root" && "${python[@]}" -m vlmhb.backend.openapi "$schema")
[ -d "$web/node_modules" ] || (cd "$web" && npm ci --no-audit --no-fund)
(cd "$web" && node scripts/openapi-types.mjs "$schema" "$types")
