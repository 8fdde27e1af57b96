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
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing system packages: ${missing[*]}"
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
command -v uv >/dev/null || python3 -m pip install -q "uv==0.13.9"
uv sync --frozen
