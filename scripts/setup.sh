#!/usr/bin/env bash
# Set up a fresh Debian machine for mpkit, idempotently: a Docker engine (installed and started
# when missing), debootstrap for the local base image, Debian's docker-registry for the local
# publish target, and the project in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_ready=""
apt_install() {
  [ -n "$apt_ready" ] || { as_root apt-get update -qq; apt_ready=1; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v dockerd >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
  log "installing the Docker engine (Debian's docker.io)"
  apt_install docker.io
fi
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  # No service manager runs here; start the daemon in the background and wait for it.
  as_root sh -c 'nohup dockerd > /var/log/dockerd.log 2>&1 &'
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/dockerd.log" >&2; exit 3; }
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap (for a local base image when none can be pulled)"
  apt_install debootstrap
fi

if ! command -v docker-registry >/dev/null 2>&1; then
  log "installing docker-registry (the local target's registry on loopback)"
  apt_install docker-registry
fi

if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  python3 -m venv .venv
fi
# Reinstall only when the project's dependencies changed (the install is editable).
stamp=.venv/.mpkit-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing mpkit into .venv"
  .venv/bin/pip install --quiet --upgrade pip >/dev/null
  .venv/bin/pip install --quiet -e '.[dev,local,example,serve]'
  echo "$want" > "$stamp"
fi
log "setup done"
