"""Nothing the package, its examples or its pages run leaves a folder in the temp directory.

The simulated fleet is either kept in memory (:func:`gabalab.data.simulated_fleet`) or
written for the span of a ``with`` block (:func:`gabalab.data.simulated_fleet_files`). The
doctests that write files and the training-loop example are run here in a subprocess whose
temp directory is a private folder, which must be empty afterwards.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from gabalab.data import simulate_fleet, simulated_fleet_files

ROOT = Path(__file__).resolve().parents[2]

#: Modules whose doctests write files.
WRITING_MODULES = ("gabalab.data.cmapss", "gabalab.data.fleet", "gabalab.data.windows",
                   "gabalab.experiments.provenance", "gabalab.files")

_SCRIPT = """
import doctest, importlib, re, sys
failed = 0
for name in sys.argv[1].split(","):
    failed += doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS).failed
page = open(sys.argv[2], encoding="utf-8").read()
(example,) = re.findall(r"^```python\\n(.*?)^```", page, re.DOTALL | re.MULTILINE)
exec(compile(example, sys.argv[2], "exec"), {"__name__": "example", "print": lambda *a: None})
sys.exit(1 if failed else 0)
"""


def test_doctests_and_the_training_loop_example_leave_the_temp_dir_empty(
    tmp_path: Path,
) -> None:
    private = tmp_path / "tmp"
    private.mkdir()
    env = {**os.environ, "TMPDIR": str(private), "PYTHONPATH": str(ROOT),
           "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-c", _SCRIPT, ",".join(WRITING_MODULES),
         str(ROOT / "book" / "training_loop.md")],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # torch keeps a compiler cache there (torchinductor_<user>); it is torch's, not ours.
    left = sorted(p.name for p in private.iterdir() if not p.name.startswith("torchinductor_"))
    assert left == []


def test_simulated_fleet_files_leave_nothing_even_when_the_block_fails(tmp_path: Path) -> None:
    before = sorted(tmp_path.iterdir())
    for _ in range(3):
        try:
            with simulated_fleet_files(2, 1, parent=tmp_path) as folder:
                assert folder.is_dir()
                raise KeyError("inside the block")
        except KeyError:
            pass
    assert sorted(tmp_path.iterdir()) == before


#: Where temporary folders could be made and forgotten: the pages, examples, benchmarks and
#: package. ``mkdtemp`` leaves its folder behind unless the caller removes it.
SOURCES = [*ROOT.glob("chapter*/*.md"), *ROOT.glob("book/*.md"), *ROOT.glob("book/examples/*.py"),
           *ROOT.glob("benchmarks/*.py"), *ROOT.glob("gabalab/**/*.py"), *ROOT.glob("scripts/*.py")]


#: The one module allowed ``mkstemp``: its temporary file is renamed over the destination or
#: removed, also when the write fails (tests/test_files.py).
ATOMIC_WRITER = ROOT / "gabalab" / "files.py"


def test_no_page_example_or_module_makes_a_folder_it_does_not_remove() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in SOURCES if p != ATOMIC_WRITER
                 and re.search(r"\bmkdtemp\(|\bmkstemp\(|delete=False", p.read_text("utf-8"))]
    assert offenders == []


def test_simulate_fleet_writes_only_where_it_is_told(tmp_path: Path) -> None:
    files = simulate_fleet(tmp_path / "fleet", 1, 1, seed=0, min_life=5, max_life=6)
    assert sorted(p.name for p in (tmp_path / "fleet").iterdir()) == sorted(
        p.name for p in files.values())
