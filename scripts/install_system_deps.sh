#!/usr/bin/env bash
# The system packages the build and the browser tests need, from Debian's repositories:
#   chromium, chromium-driver  the browser the tests in tests/browser drive (Playwright for
#                              Python uses /usr/bin/chromium; it never downloads a browser)
#   npm                        fetches the pinned MathJax when the book is built
# Installs only what is missing; needs root (CI runs as root) or sudo. Non-interactive.
# With --book, only what the book build needs (npm).
set -euo pipefail
missing=()
if [ "${1:-}" != "--book" ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
fi
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages present: $(/usr/bin/chromium --version 2>/dev/null || true) npm $(npm --version 2>/dev/null)"
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "install_system_deps.sh: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi
echo "installing from Debian: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q "${missing[@]}" </dev/null
