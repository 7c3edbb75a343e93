"""Files written whole or not at all, and output paths checked before the work starts.

Every file the package writes (results, checkpoints, executed notebooks, benchmark output)
goes through :func:`atomic_write`: the bytes go to a temporary file in the destination's own
folder, are flushed to disk, and the temporary file is then renamed over the destination. A
rename within one file system is atomic, so a reader (or a crash) sees either the old file
whole or the new file whole, never a partial one. A write that fails midway (a full disk, an
error while serialising) removes its temporary file and leaves the old file as it was.

:func:`check_writable` is the check a long run makes *before* it starts: the destination
must not be a folder, its parent must exist (or be creatable) and be a writable folder, so
that hours of work are not thrown away at the last line.

Examples
--------
>>> import pathlib, tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     path = pathlib.Path(folder) / "result.json"
...     _ = atomic_write_text(path, '{"rmse": 13.1}\\n')
...     path.read_text()
'{"rmse": 13.1}\\n'
"""

from __future__ import annotations

import codecs
import contextlib
import os
import pickle
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from gabalab._checks import check_bool, check_path

__all__ = ["atomic_write", "atomic_write_text", "atomic_write_bytes", "atomic_torch_save",
           "check_writable"]


def check_writable(path: str | os.PathLike[str], name: str = "path", *,
                   create_parent: bool = True) -> Path:
    """Check, before any long work, that ``path`` can be written; return it as a ``Path``.

    Parameters
    ----------
    path : str or os.PathLike
        The file that will be written.
    name : str
        How the caller calls ``path`` in its messages (``"--out"``, ``"path"``).
    create_parent : bool
        Create missing parent folders (default) instead of refusing them.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    TypeError
        If ``path`` is not a ``str`` or ``os.PathLike``.
    ValueError
        If ``path`` is an existing folder, a parent is a file, the parent cannot be created,
        or the parent folder (or an existing file at ``path``) is not writable. An existing
        device or pipe at ``path`` (``os.devnull``) needs only to be writable itself.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     check_writable(folder, "--out")
    Traceback (most recent call last):
    ...
    ValueError: --out ... is a folder, not a file
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {type(name).__name__}")
    create_parent = check_bool("create_parent", create_parent)
    target = check_path(name, path)
    if target.is_dir():
        raise ValueError(f"{name} {str(target)!r} is a folder, not a file")
    if target.exists() and not target.is_file():
        # A device or a pipe (os.devnull, /dev/stdout, a FIFO) is written in place.
        if not os.access(target, os.W_OK):
            raise ValueError(f"{name} {str(target)!r} is not writable")
        return target
    parent = target.parent if str(target.parent) else Path(".")
    for ancestor in [parent, *parent.parents]:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise ValueError(f"{name} {str(target)!r} cannot be written: "
                                 f"{str(ancestor)!r} is a file, not a folder")
            break
    if not parent.exists():
        if not create_parent:
            raise ValueError(f"{name} {str(target)!r} cannot be written: the folder "
                             f"{str(parent)!r} does not exist")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ValueError(f"{name} {str(target)!r} cannot be written: its folder cannot "
                             f"be created ({err.strerror or err})") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{name} {str(target)!r} cannot be written: the folder "
                         f"{str(parent)!r} is not writable")
    return target


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", *,
                 encoding: str | None = "utf-8", newline: str | None = None,
                 name: str = "path") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The destination. Missing parent folders are created.
    mode : {"w", "wb"}
        Text or binary.
    encoding, newline : str or None
        As :func:`open`, for text mode (``encoding`` is ignored in binary mode).
    name : str
        How the caller calls ``path`` in its messages.

    Yields
    ------
    file object
        Write the whole content to it. If the block raises, the temporary file is removed,
        ``path`` is left as it was, and the exception propagates. Where ``path`` is an
        existing device or pipe (``os.devnull``, a FIFO), it is the file itself: such a file
        is written in place, never replaced.

    Raises
    ------
    TypeError, ValueError
        As :func:`check_writable`, or if ``mode`` is not ``"w"`` or ``"wb"`` or
        ``encoding`` is not a known encoding (checked before the temporary file exists).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    if mode == "w":
        _check_encoding(encoding)
    target = check_writable(path, name)
    if target.exists() and not target.is_file():
        # A device or a pipe (os.devnull, /dev/stdout, a FIFO) cannot be replaced by a rename
        # (a regular file would take its place), and has no old content to keep: write to it.
        with (open(target, "wb") if mode == "wb"
              else open(target, "w", encoding=encoding, newline=newline)) as direct:
            yield direct
        return
    parent = target.parent if str(target.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(dir=parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        if mode == "wb":
            handle: IO[Any] = os.fdopen(fd, "wb")
        else:
            handle = os.fdopen(fd, "w", encoding=encoding, newline=newline)
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if target.exists():
            # Keep the permissions of the file being replaced (mkstemp creates 0600).
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _check_encoding(encoding: Any) -> None:
    if encoding is None:
        return
    if not isinstance(encoding, str):
        raise TypeError(f"encoding must be a str or None, got {type(encoding).__name__}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"encoding {encoding!r} is not a known text encoding") from None


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8",
                      newline: str | None = None, name: str = "path") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`); return the path.

    Raises
    ------
    TypeError
        If ``text`` is not a ``str`` (or ``path`` is not a path).
    ValueError
        As :func:`check_writable`; also if ``encoding`` is unknown or cannot write a
        character of ``text`` (checked before anything is written).
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    _check_encoding(encoding)
    try:
        text.encode(encoding)
    except UnicodeEncodeError as err:
        raise ValueError(f"text holds {err.object[err.start:err.end]!r} at index {err.start}, "
                         f"which the encoding {encoding!r} cannot write") from None
    with atomic_write(path, "w", encoding=encoding, newline=newline, name=name) as handle:
        handle.write(text)
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *,
                       name: str = "path") -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`); return the path.

    Raises
    ------
    TypeError
        If ``data`` is not bytes-like (or ``path`` is not a path).
    ValueError
        As :func:`check_writable`.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    with atomic_write(path, "wb", name=name) as handle:
        handle.write(data)
    return Path(path)


def atomic_torch_save(obj: Any, path: str | os.PathLike[str], *, name: str = "path",
                      save: Callable[[Any, IO[bytes]], None] | None = None) -> Path:
    """``torch.save(obj, path)``, atomically (see :func:`atomic_write`); return the path.

    Parameters
    ----------
    obj : object
        What to save (a state dict, a checkpoint dict).
    path : str or os.PathLike
        The destination.
    name : str
        How the caller calls ``path`` in its messages.
    save : callable or None
        ``save(obj, file)``; ``None`` (default) is :func:`torch.save`.

    Raises
    ------
    TypeError, ValueError
        As :func:`check_writable`; ``TypeError`` if ``save`` is not a function or
        :func:`torch.save` cannot pickle ``obj``; whatever ``save`` raises. In every case
        ``path`` is left as it was.
    """
    default = save is None
    if save is None:
        import torch

        save = torch.save
    elif not callable(save) or isinstance(save, type):
        raise TypeError(f"save must be a function save(obj, file), got {type(save).__name__}"
                        if not isinstance(save, type) else
                        f"save must be a function save(obj, file), got the class "
                        f"{save.__name__}")
    with atomic_write(path, "wb", name=name) as handle:
        try:
            save(obj, handle)
        except (pickle.PicklingError, AttributeError, TypeError) as err:
            if not default:
                raise
            raise TypeError(f"obj cannot be saved by torch.save: {err}") from None
    return Path(path)
