#!/usr/bin/env bash
# Build the book into _build/html from the executed notebooks (the outputs that the tests
# check), with every Sphinx warning treated as an error.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
bash scripts/install_system_deps.sh --book
bash scripts/fetch_mathjax.sh
bash scripts/fetch_vega.sh
rm -rf _build/html _build/.doctrees
jupyter-book build . -W -n --keep-going
echo "book built: $ROOT/_build/html/index.html"
