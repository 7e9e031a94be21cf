#!/usr/bin/env bash
# README's second command: set up, then run every test, the Docker tier included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
printf '\n== tests\n'
exec .venv/bin/python -m pytest "$@"
