#!/usr/bin/env bash
# Put axe-core, the accessibility rules engine the browser tests inject into every page of the
# built site (tests/browser/test_accessibility.py), into tests/browser/vendor/axe. It comes
# from the npm registry at a pinned version, checked against a pinned SHA-256, like MathJax
# (scripts/fetch_mathjax.sh); the folder is ignored by git and never part of the site.
# Re-running is cheap: it returns at once when the right version is already in place.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AXE_VERSION=4.14.1
AXE_SHA256=e6b0ce02b84d892e2e33e403485e7f3d6c29e2be6df65daf44d89ba564139745
dest="$ROOT/tests/browser/vendor/axe"
stamp="$dest/.version"
want="axe-core@$AXE_VERSION sha256:$AXE_SHA256"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$dest/axe.min.js" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "fetch_axe.sh: npm (Node.js) is needed to fetch axe-core@$AXE_VERSION" >&2
  echo "  from the npm registry; install it (Debian: apt-get install npm)." >&2
  exit 1
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null)
tarball="$tmp/axe-core-$AXE_VERSION.tgz"
got="$(sha256sum "$tarball" | cut -d' ' -f1)"
if [ "$got" != "$AXE_SHA256" ]; then
  echo "fetch_axe.sh: axe-core-$AXE_VERSION.tgz has SHA-256 $got," >&2
  echo "  expected $AXE_SHA256; refusing to use it." >&2
  exit 1
fi
tar -xzf "$tarball" -C "$tmp" package/axe.min.js package/LICENSE
rm -rf "$dest"
mkdir -p "$dest"
cp "$tmp/package/axe.min.js" "$tmp/package/LICENSE" "$dest/"
echo "$want" > "$stamp"
echo "axe-core $AXE_VERSION in tests/browser/vendor/axe"
