#!/usr/bin/env bash
# Every test: unit tests, notebook sync checks, and the strict notebook regression
# (pytest --nbval re-runs each notebook and compares every stored output). The notebooks
# run a second time with one thread to show the outputs do not depend on the thread count.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
export GABALAB_CMAPSS_DIR="${GABALAB_CMAPSS_DIR:-$ROOT/../shared/data/cmapss}"
SANITIZE=(--nbval-sanitize-with tests/nbval_sanitize.cfg)
echo "== unit tests and notebooks, 2 threads =="
OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 python -m pytest --nbval "${SANITIZE[@]}" -p no:cacheprovider "$@"
echo "== notebooks again, 1 thread =="
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python -m pytest --nbval "${SANITIZE[@]}" -p no:cacheprovider chapter12 chapter18
