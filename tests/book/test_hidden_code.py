"""Most of the code a section runs is on its page: hidden cells hold glue and claim checks.

The analysis behind a quoted number belongs in a tested package function that the page
calls where the reader sees it; a hidden cell only stores numbers for the prose and checks
that the prose still says what the numbers show.
"""

from __future__ import annotations

from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = sorted(
    p for pattern in ("chapter*/*.md", "book/*.md") for p in ROOT.glob(pattern)
    if "format_name: myst" in p.read_text("utf-8")
)
#: Tags that keep a cell's code off the page (myst-nb's, and its collapsed forms).
HIDDEN = {"remove-cell", "remove-input", "hide-input", "hide-cell"}
#: The largest share of the book's code lines that may sit in hidden cells.
MAX_HIDDEN_SHARE = 0.20


def code_lines(md: Path) -> tuple[int, int]:
    """(all, hidden) non-blank code lines of one section."""
    total = hidden = 0
    for cell in jupytext.read(md).cells:
        if cell.cell_type != "code":
            continue
        n = sum(1 for line in cell.source.splitlines() if line.strip())
        total += n
        if HIDDEN & set(cell.metadata.get("tags", [])):
            hidden += n
    return total, hidden


def test_the_count_sees_a_hidden_cell(tmp_path: Path) -> None:
    md = tmp_path / "s.md"
    md.write_text("---\njupytext:\n  text_representation:\n    extension: .md\n"
                  "    format_name: myst\n    format_version: 0.13\nkernelspec:\n"
                  "  display_name: Python 3\n  language: python\n  name: python3\n---\n\n"
                  "```{code-cell} ipython3\nx = 1\n\ny = 2\n```\n\n"
                  "```{code-cell} ipython3\n:tags: [remove-cell]\n\nglue('x', x)\n```\n")
    assert code_lines(md) == (3, 1)


def test_at_most_a_fifth_of_the_code_is_hidden() -> None:
    counts = {md.relative_to(ROOT): code_lines(md) for md in SECTIONS}
    total = sum(t for t, _ in counts.values())
    hidden = sum(h for _, h in counts.values())
    worst = sorted(counts.items(), key=lambda kv: -kv[1][1] / max(kv[1][0], 1))[:3]
    assert hidden <= MAX_HIDDEN_SHARE * total, (
        f"{hidden} of {total} code lines ({hidden / total:.0%}) are hidden; most hidden: "
        + ", ".join(f"{p} {h}/{t}" for p, (t, h) in worst))
