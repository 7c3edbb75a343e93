"""scripts/configure_jupyter.py: the environment's JupyterLab settings, merged and idempotent."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.script_failures import NO_SPACE, assert_one_line_error, disk_full_in, listing

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "configure_jupyter", ROOT / "scripts" / "configure_jupyter.py"
)
configure_jupyter = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(configure_jupyter)


def test_markdown_opens_as_a_notebook_and_copies_are_hidden(tmp_path: Path) -> None:
    changed = configure_jupyter.configure(tmp_path)
    assert len(changed) == 2
    overrides = json.loads((tmp_path / "share/jupyter/lab/settings/overrides.json").read_text())
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers == {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}
    server = json.loads((tmp_path / "etc/jupyter/jupyter_server_config.json").read_text())
    hidden = server["ContentsManager"]["hide_globs"]
    assert "__pycache__" in hidden  # the server's defaults are kept
    assert "derivative_bound.ipynb" in hidden
    assert set(configure_jupyter.executed_copies()) <= set(hidden)
    assert configure_jupyter.configure(tmp_path) == []  # a second run changes nothing


def test_other_settings_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "share/jupyter/lab/settings/overrides.json"
    path.parent.mkdir(parents=True)
    theme = {"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"}}
    path.write_text(json.dumps(theme))
    configure_jupyter.configure(tmp_path)
    data = json.loads(path.read_text())
    assert data["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}


def test_a_broken_settings_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "share/jupyter/lab/settings/overrides.json"
    path.parent.mkdir(parents=True)
    path.write_text("[1, 2]")
    with pytest.raises(TypeError, match="does not hold a JSON object"):
        configure_jupyter.configure(tmp_path)


def test_executed_copies_are_the_section_notebooks() -> None:
    names = configure_jupyter.executed_copies()
    mds = {p.with_suffix(".ipynb").name for pattern in ("chapter*/*.md", "book/*.md")
           for p in ROOT.glob(pattern) if "format_name: myst" in p.read_text("utf-8")}
    assert set(names) == mds and len(mds) >= 5
    # the same notebooks as the executor's
    import scripts.execute_notebooks as executor
    assert set(names) == {p.with_suffix(".ipynb").name for p in executor.section_notebooks()}


def test_a_write_failing_midway_leaves_the_settings_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "share/jupyter/lab/settings/overrides.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"@jupyterlab/apputils-extension:themes": {"theme": "Dark"}}))
    before = listing(path.parent)
    disk_full_in(monkeypatch, path.parent)
    with pytest.raises(OSError, match=NO_SPACE):
        configure_jupyter.configure(tmp_path)
    monkeypatch.undo()
    assert listing(path.parent) == before


def test_an_unknown_option_is_one_line_and_exit_status_2(
    capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        configure_jupyter.main(["--bogus"])
    assert_one_line_error(stop.value.code, capsys.readouterr().err, "--bogus")


def test_a_settings_path_that_cannot_be_written_stops_before_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "etc").write_text("a file where a folder should be\n")
    monkeypatch.setattr(configure_jupyter.sys, "prefix", str(tmp_path))
    with pytest.raises(SystemExit) as stop:
        configure_jupyter.main([])
    assert_one_line_error(stop.value.code, capsys.readouterr().err, "jupyter_server_config.json")
    assert not (tmp_path / configure_jupyter.OVERRIDES).exists()  # nor the other file
