"""The ledger of source claims (book/source_chapters.md) shows what the sections computed.

The page is plain Markdown: every verdict and every number in its table is quoted with
``{eval}`docpath::key:s``` from a glue output of a section notebook. Sphinx only warns about
a key that is missing or misspelt (and the build treats warnings as errors), so these tests
catch it without a build: each quoted key must be stored in the notebook the page names, each
verdict must be one of the four words, each verdict must be glued from a computed value, and
each row's verdict must come from the section the row links to.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "book" / "source_chapters.md"
HEADING = "## Every claim tested, and the verdict"
VERDICTS = frozenset({"holds", "contradicted", "holds in part", "cannot be reproduced"})
PREFIX = "ledger_"

#: {eval}`path::key` or {eval}`path::key:fmt` (myst-nb's cross-document glue form).
EVAL = re.compile(r"\{eval\}`([^`]*)`")
CROSS = re.compile(r"^(?P<doc>[^:`]+\.ipynb)::(?P<key>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<fmt>[^:]*))?$")
DOC = re.compile(r"\{doc\}`[^`<]*<([^>`]+)>`")


def _page_text() -> str:
    return PAGE.read_text("utf-8")


def _ledger_text() -> str:
    text = _page_text()
    assert HEADING in text, f"{PAGE.name} has no section {HEADING!r}"
    start = text.index(HEADING)
    rest = text[start + len(HEADING):]
    end = rest.find("\n## ")
    return rest if end < 0 else rest[:end]


def _references(text: str) -> list[tuple[Path, str, str]]:
    """(notebook path, key, role text) for every {eval} role in ``text``."""
    refs = []
    for raw in EVAL.findall(text):
        match = CROSS.match(raw)
        assert match, (f"{{eval}}`{raw}` on {PAGE.name}: a plain page must name the notebook, "
                       "as {eval}`../chapterNN/name.ipynb::key:s`")
        refs.append(((PAGE.parent / match["doc"]).resolve(), match["key"], raw))
    return refs


def _glue_values(ipynb: Path) -> dict[str, str]:
    """The text each glue output of a stored notebook shows (quotes of a str removed)."""
    nb = nbformat.read(ipynb, as_version=4)
    values: dict[str, str] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook", {})
            name = record.get("name")
            if not name:
                continue
            prefix = record.get("mime_prefix", "")
            data = {k[len(prefix):]: v for k, v in output.get("data", {}).items()}
            text = data.get("text/plain", data.get("text/markdown", ""))
            try:
                value = ast.literal_eval(text)
            except (SyntaxError, ValueError):
                value = text
            values[name] = str(value)
    return values


def _rows(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if line.startswith("|") and PREFIX in line]


def test_every_eval_on_the_page_is_a_stored_glue() -> None:
    refs = _references(_page_text())
    assert refs, f"{PAGE.name} quotes no value"
    cache: dict[Path, dict[str, str]] = {}
    for ipynb, key, raw in refs:
        assert ipynb.is_file(), f"{{eval}}`{raw}`: no notebook {ipynb.relative_to(ROOT)}"
        assert ipynb.with_suffix(".md").is_file(), f"{ipynb.name} has no MyST source"
        values = cache.setdefault(ipynb, _glue_values(ipynb))
        assert key in values, (f"{{eval}}`{raw}`: {ipynb.relative_to(ROOT)} stores no glue "
                               f"{key!r}; re-execute the notebook or fix the key")


def test_every_verdict_is_one_of_the_four_words() -> None:
    refs = [r for r in _references(_ledger_text()) if r[1].startswith(PREFIX)]
    assert len(refs) >= 12, f"the ledger quotes only {len(refs)} verdicts"
    for ipynb, key, raw in refs:
        value = _glue_values(ipynb).get(key)
        assert value in VERDICTS, f"{{eval}}`{raw}` shows {value!r}, not one of {sorted(VERDICTS)}"


def test_each_row_has_one_verdict_from_the_section_it_links() -> None:
    rows = _rows(_ledger_text())
    assert len(rows) >= 12, f"the ledger table has only {len(rows)} rows with a verdict"
    for row in rows:
        docs = DOC.findall(row)
        verdicts = [r for r in _references(row) if r[1].startswith(PREFIX)]
        assert len(docs) == 1 and len(verdicts) == 1, (
            f"row needs one section and one verdict: {row}")
        section = (PAGE.parent / docs[0]).resolve()
        for ipynb, _key, raw in _references(row):
            assert ipynb == section.with_suffix(".ipynb"), (
                f"{{eval}}`{raw}` comes from another page than the row's section {docs[0]}")


def test_every_verdict_glued_in_a_section_is_on_the_page() -> None:
    shown = {(ipynb, key) for ipynb, key, _ in _references(_ledger_text())}
    notebooks = sorted({ipynb for ipynb, _ in shown})
    for ipynb in notebooks:
        for key in _glue_values(ipynb):
            if key.startswith(PREFIX):
                assert (ipynb, key) in shown, (
                    f"{ipynb.relative_to(ROOT)} glues {key!r}, which the ledger does not show")


@pytest.mark.parametrize("md", sorted({
    (PAGE.parent / m["doc"]).resolve().with_suffix(".md")
    for m in (CROSS.match(raw) for raw in EVAL.findall(PAGE.read_text("utf-8"))) if m
}), ids=lambda p: str(p.relative_to(ROOT)))
def test_verdicts_are_computed_not_written(md: Path) -> None:
    """A verdict glued as a string literal would say what the check found only by luck."""
    found = 0
    for cell in jupytext.read(md).cells:
        if cell.cell_type != "code" or PREFIX not in cell.source:
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "glue"):
                continue
            name = node.args[0] if node.args else None
            if not (isinstance(name, ast.Constant) and str(name.value).startswith(PREFIX)):
                continue
            found += 1
            value = node.args[1]
            assert not isinstance(value, (ast.Constant, ast.JoinedStr)), (
                f"{md.name}: glue({name.value!r}, ...) stores a fixed string; compute the "
                "verdict from the section's measurement")
    assert found, f"{md.name} glues no {PREFIX}* verdict"
