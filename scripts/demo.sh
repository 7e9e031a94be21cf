#!/usr/bin/env bash
# README's first command: set up, train the example product, then publish it to the local target
# (an AWS emulator and a registry on loopback): build the image, validate it against every
# Marketplace and SageMaker rule (reports in reports/), push it by digest, upload the validation
# input, create the certified model package, and print its ARN and status. A second run finds
# the package published with the same inputs and says "nothing to do". Then it writes the
# Marketplace listing folder (samples answered by the image, examples, buyer notebook, change
# set), lints it, and prints where it is. It ends with the release plan: every change set
# `mpkit release` would send to the AWS Marketplace Catalog API (product, offer, pricing for every
# instance type, this version, release), as a table; a dry run, which sends nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Training is seeded; retrain only when the script changed since the artifacts were made.
stamp=example/artifacts/.trained-by
want="$(sha256sum example/train.py | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  printf '\n== training the example product\n'
  .venv/bin/python example/train.py
  echo "$want" > "$stamp"
fi
printf '\n== publishing to the local target (build, validate, push, upload, create, wait)\n'
.venv/bin/mpkit publish --local --report-dir reports
printf '\n== writing the listing folder and linting it\n'
.venv/bin/mpkit listing --local
printf '\n== the release plan: what `mpkit release --apply` would send to AWS Marketplace\n'
.venv/bin/mpkit release --local --dry-run
