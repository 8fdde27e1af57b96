#!/usr/bin/env bash
# Install what VLMHyperBench needs on a fresh Debian/Ubuntu machine: system packages
# (Tesseract OCR with Russian data, DejaVu fonts), uv, and the project from uv.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never DEBIAN_FRONTEND=noninteractive

missing=()
command -v tesseract >/dev/null || missing+=(tesseract-ocr)
[ -d /usr/share/tesseract-ocr ] && ls /usr/share/tesseract-ocr/*/tessdata/rus.traineddata \
  >/dev/null 2>&1 || missing+=(tesseract-ocr-rus tesseract-ocr-eng)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
command -v git >/dev/null || missing+=(git)
command -v curl >/dev/null || missing+=(curl)   # quickstart.sh talks to the dashboard with it
# uv goes into a venv of its own (Debian's python3 refuses pip installs, PEP 668): venv needs ensurepip
command -v uv >/dev/null || python3 -c "import ensurepip" 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing system packages: ${missing[*]}"
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if ! command -v uv >/dev/null; then
  # never into the system interpreter: a private venv, uv linked onto PATH
  venv="${XDG_DATA_HOME:-$HOME/.local/share}/vlmhb/uv-venv"
  bin_dir="$HOME/.local/bin"; [ "$(id -u)" -eq 0 ] && bin_dir=/usr/local/bin
  echo "installing uv 0.13.9 into $venv (linked as $bin_dir/uv)"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q "uv==0.13.9"
  mkdir -p "$bin_dir" && ln -sf "$venv/bin/uv" "$bin_dir/uv"
  export PATH="$bin_dir:$PATH"
fi
# bytecode compiled at install: every stage and server is a fresh process, and some machines
# never write .pyc at import (PYTHONDONTWRITEBYTECODE): imports cost 3x without it
uv sync --frozen --compile-bytecode
