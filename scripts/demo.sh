#!/usr/bin/env bash
# README's first command: set up, train the example product, build its image, and print the
# image's answer to every sample input, with the container's networking off, then validate it
# against every Marketplace and SageMaker rule (reports in reports/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
printf '\n== training the example product\n'
.venv/bin/python example/train.py
printf '\n== building the image\n'
.venv/bin/mpkit build
printf '\n== predictions from the image (networking off)\n'
.venv/bin/mpkit predict
printf '\n== validating against the Marketplace and SageMaker rules (reports in reports/)\n'
.venv/bin/mpkit validate --report-dir reports
