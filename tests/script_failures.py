"""Helpers for the tests of failing writes and bad command lines.

* :func:`disk_full_in` makes every file opened for writing in one folder take half of the
  first thing written to it and then fail with ``OSError(ENOSPC)``, as a disk that fills up
  in the middle of a write does. It replaces ``open`` both in :mod:`builtins` (``open``,
  ``json``, ``nbformat``) and in :mod:`io` (``pathlib``'s ``write_text``, ``os.fdopen``), so
  it catches a writer that writes in place as well as one that writes a temporary file.
* :func:`listing` is a folder's content (names and bytes), to compare before and after.
* :func:`assert_one_line_error` checks what a script printed when refusing its arguments.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

NO_SPACE = "No space left on device"


class _FillingFile:
    """A file whose first write stores half of its data and then raises ``ENOSPC``."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self._full = False

    def write(self, data: Any) -> int:
        if not self._full:
            self._full = True
            self._handle.write(data[: len(data) // 2])
            self._handle.flush()
        raise OSError(errno.ENOSPC, NO_SPACE)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __enter__(self) -> _FillingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


def _target(file: Any) -> Path | None:
    """The path a call to ``open`` names (a file descriptor through ``/proc/self/fd``)."""
    if isinstance(file, int):
        try:
            return Path(os.readlink(f"/proc/self/fd/{file}"))
        except OSError:
            return None
    if isinstance(file, (str, os.PathLike)):
        return Path(os.path.realpath(os.fspath(file)))
    return None


def disk_full_in(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """From now on (for the test), writes to files in ``folder`` fail halfway."""
    real_open: Callable[..., Any] = builtins.open
    folder = Path(os.path.realpath(folder))

    def filling_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(file, mode, *args, **kwargs)
        target = _target(file)
        if any(m in mode for m in "wax+") and target is not None and target.parent == folder:
            return _FillingFile(handle)
        return handle

    monkeypatch.setattr(builtins, "open", filling_open)
    monkeypatch.setattr(io, "open", filling_open)


def listing(folder: Path) -> dict[str, bytes]:
    """Every file in ``folder`` (recursively, hidden ones included) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_one_line_error(returncode: int | str | None, stderr: str, option: str) -> None:
    """A refused command line: exit status 2 and one line ``prog: error: ...`` naming ``option``."""
    assert returncode == 2, (returncode, stderr)
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), stderr
    assert ": error: " in lines[0] and option in lines[0], stderr
