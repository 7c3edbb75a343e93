#!/usr/bin/env bash
# Put MathJax into book/_static/mathjax so that the built site renders equations with no
# network: the pages load _static/mathjax/tex-mml-chtml.js (mathjax_path in _config.yml),
# and MathJax loads its fonts and extensions from beside that file. The package comes from
# the npm registry at a pinned version and is checked against a pinned SHA-256; the folder
# is ignored by git (book/_static/.gitignore). Re-running is cheap: it returns at once when
# the right version is already in place.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MATHJAX_VERSION=3.2.2
MATHJAX_SHA256=1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09
dest="$ROOT/book/_static/mathjax"
stamp="$dest/.version"
want="mathjax@$MATHJAX_VERSION sha256:$MATHJAX_SHA256"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$dest/tex-mml-chtml.js" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "fetch_mathjax.sh: npm (Node.js) is needed to fetch mathjax@$MATHJAX_VERSION" >&2
  echo "  from the npm registry; install it (Debian: apt-get install npm)." >&2
  exit 1
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "mathjax@$MATHJAX_VERSION" >/dev/null)
tarball="$tmp/mathjax-$MATHJAX_VERSION.tgz"
got="$(sha256sum "$tarball" | cut -d' ' -f1)"
if [ "$got" != "$MATHJAX_SHA256" ]; then
  echo "fetch_mathjax.sh: mathjax-$MATHJAX_VERSION.tgz has SHA-256 $got," >&2
  echo "  expected $MATHJAX_SHA256; refusing to use it." >&2
  exit 1
fi
tar -xzf "$tarball" -C "$tmp" package/es5 package/LICENSE
rm -rf "$dest"
mkdir -p "$dest"
cp -R "$tmp/package/es5/." "$dest/"
cp "$tmp/package/LICENSE" "$dest/LICENSE"
echo "$want" > "$stamp"
echo "MathJax $MATHJAX_VERSION in book/_static/mathjax"
