#!/usr/bin/env bash
# Put the Vega, Vega-Lite and Vega-Embed browser builds into gabalab/charts/web/vega so that
# the explorers (gabalab.charts) draw with no network, on the built site and in JupyterLab.
# Each package comes from the npm registry at a pinned version and is checked against a
# pinned SHA-256, like MathJax (scripts/fetch_mathjax.sh). Vega-Lite must be exactly the
# version whose specifications the pinned Altair writes (altair.VEGALITE_VERSION): the
# script refuses to run otherwise. The three UMD builds are concatenated into one file,
# vega-bundle.min.js, each wrapped so that it sets window.vega / vegaLite / vegaEmbed even
# on a page where an AMD loader (require.js) is present. The folder is ignored by git
# (gabalab/charts/web/.gitignore). Re-running is cheap: it returns at once when the right
# versions are already in place.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python}"
# package@version and the SHA-256 of its npm tarball, in load order.
PACKAGES=(
  "vega@6.4.0 3521fb6ff68a94a40323954f0ba4484ba4014b157bfd37f89a3b063082320c42 vega.min.js"
  "vega-lite@6.4.1 7226845c140626b2bf2dae3dd7372d6e2dbdf65380d857c70da8e487ca6cf15e vega-lite.min.js"
  "vega-embed@7.3.0 d9a958ced3240f0418df7d5e12e97dba6e63cecda15b8403e47a0db7eb6ea859 vega-embed.min.js"
)
dest="$ROOT/gabalab/charts/web/vega"
stamp="$dest/.version"
want="$(printf '%s\n' "${PACKAGES[@]}" | cut -d' ' -f1,2)"

vegalite_pinned="$(printf '%s\n' "${PACKAGES[@]}" | sed -n 's/^vega-lite@\([^ ]*\) .*/\1/p')"
altair_vegalite="$("$PYTHON" -c 'import altair; print(altair.VEGALITE_VERSION)')"
if [ "$vegalite_pinned" != "$altair_vegalite" ]; then
  echo "fetch_vega.sh: the installed Altair writes Vega-Lite $altair_vegalite specifications," >&2
  echo "  but this script pins vega-lite@$vegalite_pinned; update PACKAGES to match." >&2
  exit 1
fi
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$dest/vega-bundle.min.js" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "fetch_vega.sh: npm (Node.js) is needed to fetch the Vega packages from the npm" >&2
  echo "  registry; install it (Debian: apt-get install npm)." >&2
  exit 1
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
bundle="$tmp/vega-bundle.min.js"
: > "$bundle"
for entry in "${PACKAGES[@]}"; do
  read -r spec sha file <<<"$entry"
  name="${spec%@*}"
  version="${spec#*@}"
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
  tarball="$tmp/$name-$version.tgz"
  got="$(sha256sum "$tarball" | cut -d' ' -f1)"
  if [ "$got" != "$sha" ]; then
    echo "fetch_vega.sh: $name-$version.tgz has SHA-256 $got," >&2
    echo "  expected $sha; refusing to use it." >&2
    exit 1
  fi
  mkdir -p "$tmp/$name"
  tar -xzf "$tarball" -C "$tmp/$name" "package/build/$file" package/LICENSE
  cp "$tmp/$name/package/LICENSE" "$tmp/LICENSE-$name"
  # The UMD build looks for an AMD define() and a CommonJS module first; shadowing both
  # makes it take the browser-global branch. The source-map comment points at a file that
  # is not shipped.
  {
    printf '/* %s (BSD-3-Clause, see LICENSE-%s) */\n' "$spec" "$name"
    printf '(function (define, exports, module) {\n'
    sed -e 's|^//# sourceMappingURL=.*$||' "$tmp/$name/package/build/$file"
    printf '\n}).call(window);\n'
  } >> "$bundle"
done
if grep -qi '</script' "$bundle"; then
  echo "fetch_vega.sh: the bundle contains '</script' and cannot be inlined in HTML" >&2
  exit 1
fi
rm -rf "$dest"
mkdir -p "$dest"
cp "$bundle" "$tmp"/LICENSE-* "$dest/"
echo "$want" > "$stamp"
echo "Vega bundle ($(printf '%s ' "${PACKAGES[@]}" | tr ' ' '\n' | grep '@' | tr '\n' ' ')) in gabalab/charts/web/vega"
