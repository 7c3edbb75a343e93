"""Execute the MyST notebooks and store the results as their paired .ipynb files.

Usage::

    python scripts/execute_notebooks.py                      # every section notebook
    python scripts/execute_notebooks.py chapter12/derivative_bound.md
    python scripts/execute_notebooks.py --prose-only chapter12/derivative_bound.md

Each ``chapter*/NAME.md`` (and ``book/NAME.md``) in MyST-notebook format is read with
jupytext, run top to bottom in a fresh kernel started in the notebook's folder, and written
to ``NAME.ipynb`` beside it with its outputs (whole or not at all: a failed write leaves the
stored copy as it was). The book renders those stored outputs, and
``pytest --nbval`` re-runs the notebooks and compares against them, so the site shows exactly
what the tests checked.

``--prose-only`` is for an edit of the text alone: the stored notebook takes the new
Markdown cells (and the code cells' rendering options, ``mystnb`` metadata such as an
image's alt text) and keeps its code cells and their outputs, without running anything. It
refuses (and writes nothing) when a code cell, a tag, or the number or kind of cells
changed: then the notebook has to run again.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from queue import Empty
from typing import Any

import jupytext
import nbformat
from nbclient import NotebookClient

from gabalab.experiments.provenance import OneLineErrorParser, argument_check
from gabalab.files import atomic_write_text, check_writable

ROOT = Path(__file__).resolve().parent.parent


def section_notebooks() -> list[Path]:
    """Every MyST notebook under chapter*/ and book/ (files whose front matter names the format)."""
    return sorted(
        p for pattern in ("chapter*/*.md", "book/*.md") for p in ROOT.glob(pattern)
        if "format_name: myst" in p.read_text("utf-8")
    )


#: Output format of a live ipywidgets control: meaningful only to a running kernel, and its
#: model id is random, so it is not stored (the cell keeps its text/plain representation).
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def stable_cell_ids(nb: nbformat.NotebookNode) -> None:
    """Give every cell an id derived from its type and source (repeats get a suffix).

    Re-executing an unchanged notebook then writes the same ids, and editing one cell
    changes only that cell's id.
    """
    seen: dict[str, int] = {}
    for cell in nb.cells:
        digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:12]
        count = seen.get(digest, 0)
        seen[digest] = count + 1
        cell["id"] = digest if count == 0 else f"{digest}-{count}"


def merge_stdout(nb: nbformat.NotebookNode) -> None:
    """Join consecutive standard-output chunks of a cell into one output.

    How a cell's prints are cut into chunks depends on when the kernel flushes them, which
    varies with the machine's load; the text does not. Joining them stores the same output on
    every run. Standard error is left as it is (progress bars redraw in place there).
    """
    for cell in nb.cells:
        merged: list[nbformat.NotebookNode] = []
        for output in cell.get("outputs", []):
            if (output.get("output_type") == "stream" and output.get("name") == "stdout"
                    and merged and merged[-1].get("output_type") == "stream"
                    and merged[-1].get("name") == "stdout"):
                merged[-1]["text"] = merged[-1]["text"] + output["text"]
            else:
                merged.append(output)
        if "outputs" in cell:
            cell["outputs"] = merged


def strip_volatile(nb: nbformat.NotebookNode) -> None:
    """Remove what changes from run to run without the computation changing."""
    # Widget state would make the static site load widget JavaScript for controls that
    # cannot work without a kernel; the explorers are for live JupyterLab sessions.
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            data = output.get("data")
            if data is not None and WIDGET_VIEW in data:
                del data[WIDGET_VIEW]


GetMsg = Callable[..., Awaitable[dict[str, Any]]]


def _in_short_waits(get_msg: GetMsg, step: float = 1.0) -> GetMsg:
    """Wrap a channel's ``get_msg`` so that no single wait on the socket lasts over ``step``.

    On a loaded machine the asyncio wake-up for a message that has arrived is sometimes
    missed; the message is then only seen when the wait times out. Waiting in short steps
    bounds that delay at ``step`` seconds instead of the whole cell timeout.
    """

    async def get(timeout: float | None = None) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = step if deadline is None else min(step, max(0.0, deadline - time.monotonic()))
            try:
                return await get_msg(timeout=wait)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    return get


class SteadyNotebookClient(NotebookClient):
    """A :class:`nbclient.NotebookClient` whose waits on the kernel wake at least every second."""

    async def async_start_new_kernel_client(self) -> Any:
        kc = await super().async_start_new_kernel_client()
        for channel in (kc.shell_channel, kc.iopub_channel):
            channel.get_msg = _in_short_waits(channel.get_msg)
        return kc


def execute(md_path: Path, timeout: int = 900) -> float:
    """Run one MyST notebook and write its executed .ipynb pair; return the wall time."""
    nb = jupytext.read(md_path)
    nb.metadata.pop("jupytext", None)
    start = time.perf_counter()
    client = SteadyNotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(md_path.parent)}},
    )
    client.execute()
    elapsed = time.perf_counter() - start
    strip_volatile(nb)
    merge_stdout(nb)
    stable_cell_ids(nb)
    write_notebook(nb, md_path.with_suffix(".ipynb"))
    return elapsed


def sync_prose(md_path: Path) -> int:
    """Copy the Markdown cells of ``md_path`` (and the code cells' ``mystnb`` rendering
    options) into its stored .ipynb; return how many cells changed.

    Raises
    ------
    ValueError
        If the stored notebook is missing or anything but Markdown differs (the cells'
        number or kinds, a code cell's source or metadata): the outputs would no longer be
        those of the code shown, so the notebook must be executed instead.
    """
    ipynb = md_path.with_suffix(".ipynb")
    if not ipynb.is_file():
        raise ValueError(f"{_shown(md_path)} has no executed copy yet: execute it first")
    text = jupytext.read(md_path)
    stored = nbformat.read(ipynb, as_version=4)
    if len(text.cells) != len(stored.cells):
        raise ValueError(f"{_shown(md_path)} has {len(text.cells)} cells and its executed copy "
                         f"{len(stored.cells)}: execute it instead of --prose-only")
    changed = 0
    for i, (new, old) in enumerate(zip(text.cells, stored.cells)):
        if new.cell_type != old.cell_type:
            raise ValueError(f"{_shown(md_path)}: cell {i} is {new.cell_type} here and "
                             f"{old.cell_type} in the executed copy: execute it instead")
        if new.cell_type == "code":
            # How the page renders a cell's outputs (``mystnb``: an image's alt text, ...)
            # is not part of the computation; anything else is.
            computed = ({k: v for k, v in c.metadata.items() if k != "mystnb"}
                        for c in (new, old))
            if new.source.strip() != old.source.strip() or next(computed) != next(computed):
                raise ValueError(f"{_shown(md_path)}: code cell {i} changed: execute the "
                                 "notebook instead of --prose-only")
            if new.metadata.get("mystnb") != old.metadata.get("mystnb"):
                old.metadata.pop("mystnb", None)
                if "mystnb" in new.metadata:
                    old.metadata["mystnb"] = new.metadata["mystnb"]
                changed += 1
            continue
        if new.source != old.source or dict(new.metadata) != dict(old.metadata):
            old["source"], old["metadata"] = new.source, new.metadata
            changed += 1
    stable_cell_ids(stored)
    write_notebook(stored, ipynb)
    return changed


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> Path:
    """Write ``nb`` to ``path`` as :func:`nbformat.write` would, but whole or not at all.

    The text is the one ``nbformat.write`` writes (``nbformat.writes`` and a final newline);
    it goes through :func:`gabalab.files.atomic_write_text`, so a failure while writing
    leaves the stored notebook as it was.
    """
    text = nbformat.writes(nb)
    if not text.endswith("\n"):
        text += "\n"
    return atomic_write_text(path, text, name="notebook")


def check_notebooks(parser: argparse.ArgumentParser, paths: list[Path]) -> None:
    """Refuse, before any kernel starts, a notebook that is not a MyST ``.md`` file or whose
    executed ``.ipynb`` copy cannot be written (one line naming it, exit status 2)."""
    for path in paths:
        if not path.is_file():
            parser.error(f"argument notebooks: {str(path)!r} is not a file")
        if (path.suffix != ".md"
                or "format_name: myst" not in path.read_text("utf-8", errors="replace")):
            parser.error(f"argument notebooks: {str(path)!r} is not a MyST notebook (a .md "
                         "file whose front matter says format_name: myst)")
        argument_check(parser, check_writable, path.with_suffix(".ipynb"),
                       "argument notebooks: the executed copy")


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="MyST notebooks to execute")
    parser.add_argument("--prose-only", action="store_true",
                        help="copy edited Markdown cells into the stored notebooks; run nothing")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or section_notebooks()
    check_notebooks(parser, paths)
    if args.prose_only:
        try:
            counts = [sync_prose(path) for path in paths]
        except ValueError as err:
            parser.exit(1, f"{parser.prog}: {err}\n")
        for path, count in zip(paths, counts):
            print(f"{_shown(path)}: {count} Markdown cell(s) updated, nothing executed")
        return 0
    for path in paths:
        seconds = execute(path)
        print(f"{_shown(path)}: executed in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
