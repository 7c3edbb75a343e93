"""gabalab.files: a file is written whole or not at all, and an output is checked up front."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from gabalab.files import (
    atomic_torch_save,
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    check_writable,
)
from tests.script_failures import NO_SPACE, disk_full_in, listing

ROOT = Path(__file__).resolve().parents[1]

OLD = '{"rmse": 13.1, "note": "the earlier result"}\n'
NEW = '{"rmse": 12.4, "note": "a longer, newer result that replaces it"}\n' * 50


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    path = tmp_path / "result.json"
    path.write_text(OLD, encoding="utf-8")
    return path


def _write_in_block(path: Path) -> None:
    with atomic_write(path, "w") as handle:
        for line in NEW.splitlines(keepends=True):
            handle.write(line)


WRITERS: dict[str, Callable[[Path], Any]] = {
    "text": lambda path: atomic_write_text(path, NEW),
    "bytes": lambda path: atomic_write_bytes(path, NEW.encode()),
    "block": _write_in_block,
    "torch": lambda path: atomic_torch_save({"w": torch.arange(1000.0)}, path),
}


@pytest.mark.parametrize("writer", WRITERS)
def test_every_writer_replaces_the_file(old_file: Path, writer: str) -> None:
    WRITERS[writer](old_file)
    if writer == "torch":
        assert torch.equal(torch.load(old_file, weights_only=True)["w"], torch.arange(1000.0))
    else:
        assert old_file.read_text(encoding="utf-8") == NEW
    assert sorted(p.name for p in old_file.parent.iterdir()) == ["result.json"]


@pytest.mark.parametrize("writer", WRITERS)
def test_a_disk_full_midway_leaves_the_old_file_and_no_temporary(
    old_file: Path, writer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = listing(old_file.parent)
    disk_full_in(monkeypatch, old_file.parent)
    with pytest.raises(OSError, match=NO_SPACE):
        WRITERS[writer](old_file)
    monkeypatch.undo()
    assert listing(old_file.parent) == before


@pytest.mark.parametrize("error", [ValueError("serialiser failed"), KeyboardInterrupt()])
def test_an_error_inside_the_block_leaves_the_old_file(old_file: Path,
                                                       error: BaseException) -> None:
    before = listing(old_file.parent)
    with pytest.raises(type(error)), atomic_write(old_file, "w") as handle:
        handle.write(NEW[: len(NEW) // 2])
        raise error
    assert listing(old_file.parent) == before


def test_a_failed_first_write_creates_no_file(tmp_path: Path) -> None:
    def half_then_fail(obj: Any, handle: Any) -> None:
        handle.write(b"PK\x03\x04 half a zip")
        raise OSError(28, NO_SPACE)

    with pytest.raises(OSError, match=NO_SPACE):
        atomic_torch_save({"a": 1}, tmp_path / "model.pt", save=half_then_fail)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mode", [0o640, 0o755, 0o600])
def test_the_permissions_of_the_replaced_file_are_kept(old_file: Path, mode: int) -> None:
    old_file.chmod(mode)
    atomic_write_text(old_file, NEW)
    assert stat.S_IMODE(old_file.stat().st_mode) == mode


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_file_gets_the_permissions_open_would_give(tmp_path: Path,
                                                         umask_022: None) -> None:
    path = atomic_write_text(tmp_path / "new.json", NEW)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # 0o666 less the umask, not mkstemp's 0o600


def test_missing_parent_folders_are_created(tmp_path: Path) -> None:
    path = tmp_path / "results" / "fd001" / "run.json"
    assert atomic_write_text(path, NEW) == path
    assert path.read_text(encoding="utf-8") == NEW


def test_a_pipe_is_written_in_place_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # so that opening to write does not wait
    try:
        atomic_write_text(fifo, "through the pipe\n")
        assert os.read(reader, 100) == b"through the pipe\n"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_the_null_device_counts_as_writable() -> None:
    assert check_writable(os.devnull, "--out") == Path(os.devnull)


def test_check_writable_refuses_what_cannot_be_written(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ValueError, match=r"^--out .* is a folder, not a file$"):
        check_writable(tmp_path, "--out")
    with pytest.raises(ValueError, match=r"^--out .*a_file' is a file, not a folder$"):
        check_writable(tmp_path / "a_file" / "deeper" / "r.json", "--out")
    with pytest.raises(ValueError, match="does not exist"):
        check_writable(tmp_path / "missing" / "r.json", "--out", create_parent=False)
    assert not (tmp_path / "missing").exists()
    with pytest.raises(TypeError, match="--out must be a path"):
        check_writable(3, "--out")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name"):
        check_writable(tmp_path / "r.json", "")
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)  # the tests run as root
    with pytest.raises(ValueError, match="is not writable"):
        check_writable(tmp_path / "r.json", "--out")


def test_check_writable_creates_the_parent_and_returns_the_path(tmp_path: Path) -> None:
    path = check_writable(str(tmp_path / "new" / "r.json"), "--out")
    assert path == tmp_path / "new" / "r.json" and path.parent.is_dir() and not path.exists()


def test_only_whole_file_modes_are_offered(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"), atomic_write(tmp_path / "r.txt", "a"):
        pass
    with pytest.raises(TypeError, match="text must be a str"):
        atomic_write_text(tmp_path / "r.txt", b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="data must be bytes"):
        atomic_write_bytes(tmp_path / "r.txt", "text")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


#: Calls that write a file in place. Every writer of the package, its scripts and benchmarks
#: goes through gabalab.files instead.
IN_PLACE_WRITES = re.compile(
    r"\.write_text\(|\.write_bytes\(|\bopen\([^)]*[\"'][wax]b?\+?[\"']|torch\.save\("
    r"|nbformat\.write\(|json\.dump\(|\.savefig\(|np\.save\w*\(|\.to_csv\("
)

SOURCES = [*ROOT.glob("gabalab/**/*.py"), *ROOT.glob("scripts/*.py"),
           *ROOT.glob("benchmarks/*.py")]


def test_no_module_script_or_benchmark_writes_a_file_in_place() -> None:
    offenders = []
    for path in SOURCES:
        if path == ROOT / "gabalab" / "files.py":
            continue
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            code = line.strip()
            if code.startswith((">>>", "...")):  # doctest examples write their own files
                continue
            if IN_PLACE_WRITES.search(code):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {code}")
    assert offenders == []
