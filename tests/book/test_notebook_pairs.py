"""Each section's MyST notebook and its executed .ipynb pair must say the same thing.

The .md is what people edit; the .ipynb is what the book renders and what nbval re-runs.
If they drift apart, the book shows stale text or the tests check stale code.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = sorted(
    p for pattern in ("chapter*/*.md", "book/*.md") for p in ROOT.glob(pattern)
    if "format_name: myst" in p.read_text("utf-8")
)
IDS = [str(p.relative_to(ROOT)) for p in SECTIONS]


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str, tuple[str, ...]]]:
    return [
        (c.cell_type, c.source.strip(), tuple(c.get("metadata", {}).get("tags", [])))
        for c in nb.cells
    ]


def test_there_are_section_notebooks() -> None:
    assert SECTIONS, "no MyST section notebooks found under chapter*/"
    assert any(p.parent.name == "book" for p in SECTIONS), "book/scaling_out.md not found"


@pytest.mark.parametrize("md", SECTIONS, ids=IDS)
def test_pair_has_same_cells(md: Path) -> None:
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.exists(), f"{md.name} has no executed pair; run scripts/execute_notebooks.py"
    text = _cells(jupytext.read(md))
    stored = _cells(nbformat.read(ipynb, as_version=4))
    assert len(text) == len(stored), f"{md.name}: {len(text)} cells vs {len(stored)} in .ipynb"
    for i, (a, b) in enumerate(zip(text, stored)):
        assert a == b, f"{md.name}: cell {i} differs from {ipynb.name}; re-execute the notebook"


@pytest.mark.parametrize("md", SECTIONS, ids=IDS)
def test_every_code_cell_was_executed_in_order(md: Path) -> None:
    nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    counts = [c.get("execution_count") for c in nb.cells if c.cell_type == "code"]
    assert None not in counts, f"{md.name}: a code cell has no stored execution"
    assert counts == list(range(1, len(counts) + 1)), f"{md.name}: cells not run top to bottom"


@pytest.mark.parametrize("md", SECTIONS, ids=IDS)
def test_no_unexpected_error_outputs(md: Path) -> None:
    nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if "raises-exception" in cell.metadata.get("tags", []):
            assert errors, f"{md.name}: cell {i} is tagged raises-exception but raised nothing"
        else:
            assert not errors, f"{md.name}: cell {i} raised {errors[0].ename}"


def test_book_sees_one_side_of_each_pair() -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text("utf-8"))
    excluded = set(config["exclude_patterns"])
    toc = (ROOT / "_toc.yml").read_text("utf-8")
    for md in SECTIONS:
        rel = md.relative_to(ROOT).as_posix()
        assert rel in excluded, f"{rel} must be in exclude_patterns (the book renders the .ipynb)"
        assert f"file: {rel[:-3]}\n" in toc, f"{rel[:-3]} is missing from _toc.yml"
