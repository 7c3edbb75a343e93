"""scripts/execute_notebooks.py: the executed copy is written whole, and bad paths stop it first.

No kernel is started here: the notebook client is replaced by one that does nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import pytest

import scripts.execute_notebooks as executor
from tests.script_failures import NO_SPACE, assert_one_line_error, disk_full_in, listing

ROOT = Path(__file__).resolve().parents[1]

MYST = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  name: python3
---

# A section

```{code-cell} ipython3
total = sum(range(10))
total
```
"""


class IdleClient:
    """Stands in for the notebook client: records that it ran, executes nothing."""

    runs = 0

    def __init__(self, nb: nbformat.NotebookNode, **kwargs: Any) -> None:
        self.nb = nb

    def execute(self) -> None:
        type(self).runs += 1
        self.nb.cells[-1]["outputs"] = [nbformat.v4.new_output(
            "execute_result", data={"text/plain": "45"}, execution_count=1)]


@pytest.fixture
def section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    IdleClient.runs = 0
    monkeypatch.setattr(executor, "SteadyNotebookClient", IdleClient)
    md = tmp_path / "section.md"
    md.write_text(MYST, encoding="utf-8")
    return md


def test_the_executed_copy_is_what_nbformat_would_write(section: Path, tmp_path: Path) -> None:
    executor.execute(section)
    written = section.with_suffix(".ipynb").read_bytes()
    nb = nbformat.read(section.with_suffix(".ipynb"), as_version=nbformat.NO_CONVERT)
    nbformat.write(nb, tmp_path / "reference.ipynb")
    assert written == (tmp_path / "reference.ipynb").read_bytes()
    assert nb.cells[-1]["outputs"][0]["data"]["text/plain"] == "45"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reference.ipynb", "section.ipynb",
                                                            "section.md"]


def test_a_write_failing_midway_leaves_the_stored_copy(
    section: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executor.execute(section)
    before = listing(tmp_path)
    disk_full_in(monkeypatch, tmp_path)
    with pytest.raises(OSError, match=NO_SPACE):
        executor.execute(section)
    monkeypatch.undo()
    assert listing(tmp_path) == before
    assert IdleClient.runs == 2


@pytest.mark.parametrize("which", ["missing", "not myst", "ipynb", "copy is a folder"])
def test_a_bad_notebook_stops_before_any_kernel(
    which: str, section: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = {"missing": tmp_path / "missing.md", "not myst": tmp_path / "plain.md",
              "ipynb": tmp_path / "section.ipynb", "copy is a folder": section}[which]
    (tmp_path / "plain.md").write_text("# Not a notebook\n")
    if which == "ipynb":
        jupytext.write(jupytext.read(section), target)
    if which == "copy is a folder":
        section.with_suffix(".ipynb").mkdir()
    with pytest.raises(SystemExit) as stop:
        executor.main([str(section), str(target)])  # the good one first: nothing runs
    assert_one_line_error(stop.value.code, capsys.readouterr().err, "notebooks")
    assert IdleClient.runs == 0


def test_a_bad_notebook_in_a_fresh_process(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "execute_notebooks.py"),
                           str(tmp_path / "missing.md")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert_one_line_error(proc.returncode, proc.stderr, "missing.md")
    assert proc.stderr.startswith("execute_notebooks.py: error: argument notebooks: ")


def _pair_cells(md: Path) -> tuple[list[Any], list[Any]]:
    strip = lambda nb: [(c.cell_type, c.source.strip(), c.metadata.get("tags", []))  # noqa: E731
                        for c in nb.cells]
    return (strip(jupytext.read(md)),
            strip(nbformat.read(md.with_suffix(".ipynb"), as_version=4)))


def test_prose_only_takes_the_new_text_and_keeps_every_output(section: Path) -> None:
    executor.execute(section)
    before = nbformat.read(section.with_suffix(".ipynb"), as_version=4)
    section.write_text(MYST.replace("# A section", "# A section, retitled\n\nNew words."),
                       encoding="utf-8")
    text, stored = _pair_cells(section)
    assert text != stored
    assert executor.main(["--prose-only", str(section)]) == 0
    text, stored = _pair_cells(section)
    assert text == stored
    after = nbformat.read(section.with_suffix(".ipynb"), as_version=4)
    assert after.cells[-1] == before.cells[-1]            # same code, same id, same output
    assert after.cells[0].id != before.cells[0].id        # the edited cell's id follows its text
    assert IdleClient.runs == 1                           # nothing ran again


@pytest.mark.parametrize("edit", ["code", "new cell"])
def test_prose_only_refuses_any_change_but_text_and_writes_nothing(
    edit: str, section: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    executor.execute(section)
    stored = section.with_suffix(".ipynb").read_bytes()
    changed = {"code": MYST.replace("range(10)", "range(11)"),
               "new cell": MYST + "\n```{code-cell} ipython3\ntotal * 2\n```\n"}[edit]
    section.write_text(changed, encoding="utf-8")
    with pytest.raises(SystemExit) as stop:
        executor.main(["--prose-only", str(section)])
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert "execute" in err and len(err.strip().splitlines()) == 1
    assert section.with_suffix(".ipynb").read_bytes() == stored
    assert IdleClient.runs == 1


def test_prose_only_needs_an_executed_copy(section: Path) -> None:
    with pytest.raises(ValueError, match="no executed copy"):
        executor.sync_prose(section)


def test_prose_only_takes_rendering_options_but_not_tags(section: Path) -> None:
    executor.execute(section)
    with_alt = MYST.replace("```{code-cell} ipython3\n",
                            "```{code-cell} ipython3\n---\nmystnb:\n  image:\n"
                            "    alt: The sum of 0 to 9\n---\n")
    section.write_text(with_alt, encoding="utf-8")
    assert executor.sync_prose(section) == 1
    stored = nbformat.read(section.with_suffix(".ipynb"), as_version=4)
    assert stored.cells[-1].metadata["mystnb"] == {"image": {"alt": "The sum of 0 to 9"}}
    assert stored.cells[-1].outputs[0]["data"]["text/plain"] == "45"
    section.write_text(with_alt.replace("---\nmystnb:", "---\ntags: [remove-input]\nmystnb:"),
                       encoding="utf-8")
    with pytest.raises(ValueError, match="code cell 1 changed"):
        executor.sync_prose(section)
