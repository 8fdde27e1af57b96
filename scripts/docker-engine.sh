#!/usr/bin/env bash
# A Docker engine for the container tests (idempotent). Installs Debian's docker.io,
# docker-compose (v1) and debootstrap when missing, and, when no engine answers, starts
# `dockerd -b none --iptables=false` as root in the background (no bridge network: containers
# get `none` or `host` only; log in ${VLMHB_DOCKERD_LOG}). Waits for `docker info`.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

need_apt=()
# dockerd, not just a docker client: some machines ship a lone static client binary.
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 \
  || need_apt+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need_apt+=(debootstrap)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  $SUDO apt-get install -y -q --no-install-recommends "${need_apt[@]}" \
    || { $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends "${need_apt[@]}"; }
fi

if docker info >/dev/null 2>&1; then
  echo "docker engine: $(docker info --format '{{.ServerVersion}}')"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "error: no Docker engine answers and this is not root: start dockerd (or give this" \
    "user access to the socket)" >&2
  exit 1
fi
log="${VLMHB_DOCKERD_LOG:-${XDG_CACHE_HOME:-$HOME/.cache}/vlmhb/dockerd.log}"
mkdir -p "$(dirname "$log")"
echo "starting dockerd -b none --iptables=false (log: $log)"
command -v dockerd >/dev/null || { echo "error: dockerd is not installed" >&2; exit 1; }
setsid nohup dockerd -b none --iptables=false >>"$log" 2>&1 </dev/null &
timeout_s="${VLMHB_DOCKERD_TIMEOUT_S:-60}"
for _ in $(seq 1 "$timeout_s"); do
  if docker info >/dev/null 2>&1; then
    echo "docker engine: $(docker info --format '{{.ServerVersion}}')"
    exit 0
  fi
  sleep 1
done
echo "error: dockerd did not answer within ${timeout_s} s; the end of $log:" >&2
tail -n 30 "$log" >&2
exit 1
