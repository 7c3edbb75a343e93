"""Set up JupyterLab in this environment the way the book is read there.

Run by ``scripts/_env.sh`` with the environment's Python; writes two files under
``sys.prefix`` (the virtual environment), merged with what is already there:

* ``share/jupyter/lab/settings/overrides.json``: a double-click on a Markdown file opens it
  with the *Jupytext Notebook* viewer, so a section's ``.md`` opens as a notebook
  (``@jupyterlab/docmanager-extension:plugin`` ``defaultViewers``);
* ``etc/jupyter/jupyter_server_config.json``: the executed copy of each notebook
  (``NAME.ipynb`` beside a MyST ``NAME.md`` in ``chapter*/`` or ``book/``) is hidden
  from JupyterLab's file browser.
  That copy is written by ``scripts/execute_notebooks.py`` and checked by the tests; the
  ``.md`` is the one file a reader opens and edits, so the two cannot drift apart through
  an edit made in JupyterLab.

Usage: ``python scripts/configure_jupyter.py`` (idempotent; no options). Each file is
replaced whole or not at all, so an interrupted run never leaves a broken settings file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from gabalab.experiments.provenance import OneLineErrorParser, argument_check
from gabalab.files import atomic_write_text, check_writable

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VIEWERS = {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}
DOCMANAGER = "@jupyterlab/docmanager-extension:plugin"

#: The two files written, relative to the environment's prefix.
OVERRIDES = Path("share", "jupyter", "lab", "settings", "overrides.json")
SERVER_CONFIG = Path("etc", "jupyter", "jupyter_server_config.json")


#: Where the MyST notebooks are (as in ``scripts/execute_notebooks.py``).
NOTEBOOK_PATTERNS = ("chapter*/*.md", "book/*.md")


def executed_copies(root: Path = ROOT) -> list[str]:
    """File names of the executed copies: ``NAME.ipynb`` beside a MyST ``NAME.md``."""
    names = set()
    for pattern in NOTEBOOK_PATTERNS:
        for md in root.glob(pattern):
            if "format_name: myst" in md.read_text("utf-8"):
                names.add(md.with_suffix(".ipynb").name)
    return sorted(names)


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text("utf-8") or "{}")
    if not isinstance(data, dict):
        raise TypeError(f"{path} does not hold a JSON object")
    return data


def _write(path: Path, data: dict[str, Any]) -> bool:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if path.is_file() and path.read_text("utf-8") == text:
        return False
    atomic_write_text(path, text)  # whole or not at all; missing folders created
    return True


def configure(prefix: Path, root: Path = ROOT) -> list[Path]:
    """Write both files under ``prefix``; return those that changed."""
    from jupyter_server.services.contents.manager import ContentsManager

    changed = []
    overrides = prefix / OVERRIDES
    data = _read(overrides)
    viewers = data.setdefault(DOCMANAGER, {}).setdefault("defaultViewers", {})
    viewers.update(DEFAULT_VIEWERS)
    if _write(overrides, data):
        changed.append(overrides)

    # (A jupyter_server_config.d/ folder holds only server-extension switches.)
    server = prefix / SERVER_CONFIG
    data = _read(server)
    hidden = list(ContentsManager().hide_globs) + executed_copies(root)
    data.setdefault("ContentsManager", {})["hide_globs"] = hidden
    if _write(server, data):
        changed.append(server)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(description=(__doc__ or "").splitlines()[0])
    parser.parse_args(argv)  # no options; --help describes the script
    prefix = Path(sys.prefix)
    for path in (prefix / OVERRIDES, prefix / SERVER_CONFIG):
        argument_check(parser, check_writable, path, "settings file")
    for path in configure(prefix):
        print(f"configure_jupyter.py: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
