"""Execute the MyST notebooks and store the results as their paired .ipynb files.

Usage::

    python scripts/execute_notebooks.py                      # every section notebook
    python scripts/execute_notebooks.py chapter12/derivative_bound.md

Each ``chapter*/NAME.md`` (and ``book/NAME.md``) in MyST-notebook format is read with jupytext, run top to bottom
in a fresh kernel started in the notebook's folder, and written to ``chapter*/NAME.ipynb``
with its outputs. The book renders those stored outputs, and ``pytest --nbval`` re-runs the
notebooks and compares against them, so the site shows exactly what the tests checked.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def section_notebooks() -> list[Path]:
    """Every MyST notebook under chapter*/ and book/ (files whose front matter names the format)."""
    return sorted(
        p for pattern in ("chapter*/*.md", "book/*.md") for p in ROOT.glob(pattern)
        if "format_name: myst" in p.read_text("utf-8")
    )


def execute(md_path: Path, timeout: int = 900) -> float:
    """Run one MyST notebook and write its executed .ipynb pair; return the wall time."""
    nb = jupytext.read(md_path)
    nb.metadata.pop("jupytext", None)
    start = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(md_path.parent)}},
    )
    client.execute()
    # Widget state would make the static site load widget JavaScript for controls that
    # cannot work without a kernel; the explorers are for live JupyterLab sessions.
    nb.metadata.pop("widgets", None)
    elapsed = time.perf_counter() - start
    nbformat.write(nb, md_path.with_suffix(".ipynb"))
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="MyST notebooks to execute")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or section_notebooks()
    for path in paths:
        seconds = execute(path)
        print(f"{path.relative_to(ROOT)}: executed in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
