#!/usr/bin/env bash
# The whole test suite plus the style gates (ruff, mypy); installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.local/bin:$PATH"   # where scripts/setup.sh links uv for a non-root user
export UV_PYTHON_DOWNLOADS=never
bash scripts/setup.sh
bash scripts/services.sh   # PostgreSQL and Redis on 127.0.0.1 for the backend tests
bash scripts/docker-engine.sh   # a Docker engine (dockerd -b none) for the container tests
# The web UI's end-to-end test drives Debian's Chromium (Playwright cannot download one).
if [ ! -x /usr/bin/chromium ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -q --no-install-recommends chromium \
    || { $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends chromium; }
fi
uv run --frozen ruff check .
uv run --frozen ruff format --check .
uv run --frozen mypy   # every package's sources: [tool.mypy] files in pyproject.toml
# The project's images (rootfs tarball cached in ~/.cache/vlmhb/images; a no-op when up to date)
uv run --frozen vlmhb images build
# 4 workers on CI's 2 cores: the tests wait on subprocesses and servers about half the time.
# --dist loadfile keeps a file on one worker (its module fixtures start once; loadgroup does
# not group with pytest 9.2, pytest-xdist#1386). Pass -n 0 for a serial run.
uv run --frozen pytest -q -n 4 --dist loadfile --durations=25 "$@"
