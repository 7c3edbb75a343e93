#!/usr/bin/env bash
# Re-run the notebooks (all of them, or the .ipynb files / folders given) against their stored
# outputs with the most conservative numeric kernels a reader's x86-64 machine can pick, on
# one thread: ATen's baseline kernels (no AVX2, no FMA), MKL's code path for any compatible
# CPU, oneDNN limited to SSE4.1. The stored outputs are executed on whatever machine the
# developer has (AVX2 or AVX-512); a number that passes both there and here does not depend
# on the CPU. Run it before committing an executed notebook; scripts/run_tests.sh runs it too.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
if [ "$#" -eq 0 ]; then
  set -- chapter12 chapter18 book
fi
ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE ONEDNN_MAX_CPU_ISA=SSE41 \
  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
  python -m pytest --nbval -p no:cacheprovider -q "$@"
