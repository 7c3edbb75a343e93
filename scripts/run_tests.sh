#!/usr/bin/env bash
# Every check: ruff and mypy, unit tests, notebook sync checks, the strict notebook regression
# (pytest --nbval re-runs each notebook and compares every stored output), and the reader's view in
# a real browser (tests/browser: the built site offline, the explorers live in JupyterLab).
# The browser tests read _build/html, so the book is built first when it is missing or
# older than its sources. The notebooks run a second time on one thread with the most
# conservative numeric kernels (scripts/check_portable_outputs.sh), against the same stored
# outputs: what passes both runs depends neither on the thread count nor on the CPU's kernels.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
export GABALAB_CMAPSS_DIR="${GABALAB_CMAPSS_DIR:-$ROOT/../shared/data/cmapss}"
# Chromium for the browser tests; without root or sudo they are skipped (never in CI).
bash scripts/install_system_deps.sh || [ -z "${CI:-}" ]
# axe-core for the accessibility checks of the built site (pinned, checked by SHA-256).
bash scripts/fetch_axe.sh || [ -z "${CI:-}" ]
site=_build/html/index.html
if [ ! -f "$site" ] || [ -n "$(find _config.yml _toc.yml book chapter* \
    -path 'book/_static' -prune -o -newer "$site" -print -quit)" ]; then
  echo "== building the book for the browser tests =="
  bash scripts/build_book.sh
fi
echo "== lint (ruff) and types (mypy) =="
ruff check .
mypy
echo "== unit tests, notebooks (2 threads) and browser tests =="
OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 python -m pytest --nbval -p no:cacheprovider \
  --durations=5 "$@"
echo "== notebooks again: 1 thread, baseline kernels (no AVX2, MKL compatible, oneDNN SSE4.1) =="
bash scripts/check_portable_outputs.sh
