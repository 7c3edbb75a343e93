"""The notebook regression must fail when a computation changes.

A copy of the 12.2 notebook, with its stored outputs, gets one computation perturbed (the
random seed of its batch, or the MSE gradient scaled by 1.01) and is handed to
``pytest --nbval``; the run must fail, and it must fail at the cells whose printed numbers
changed. The second is the smallest change the CPU-independence of the stored outputs must
not hide: they are compared exactly, with no tolerance. An unperturbed copy must pass, so
the failure is the perturbation's doing. Both copies stop after the cell that checks
autograd against the analytic gradients: the cells after it (explorer and training) add
time, not evidence.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "chapter12" / "derivative_bound.ipynb"


def _run_nbval(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "-p", "no:cacheprovider", "-q",
         "--rootdir", str(path.parent), str(path)],
        capture_output=True, text=True, cwd=path.parent, timeout=600,
    )


def _copy(tmp_path: Path, perturb: bool | str) -> Path:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    ends = [i for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and "np.allclose(pred_t.grad" in c.source]
    assert ends, "the 12.2 notebook no longer compares autograd with the analytic gradients"
    nb.cells = nb.cells[: ends[0] + 1]
    if perturb == "mse_grad":
        hits = [c for c in nb.cells
                if c.cell_type == "code" and "g_rul = losses.mse_grad(y_hat, y_rul)" in c.source]
        assert len(hits) == 1, "the 12.2 notebook no longer computes the MSE gradient"
        hits[0].source = hits[0].source.replace("losses.mse_grad(y_hat, y_rul)",
                                                "1.01 * losses.mse_grad(y_hat, y_rul)")
    elif perturb:
        hits = [c for c in nb.cells if c.cell_type == "code" and "SEED = 0" in c.source]
        assert len(hits) == 1, "the 12.2 preamble no longer sets SEED = 0"
        hits[0].source = hits[0].source.replace("SEED = 0", "SEED = 1")
    out = tmp_path / ("perturbed.ipynb" if perturb else "unchanged.ipynb")
    nbformat.write(nb, out)
    return out


@pytest.mark.slow
def test_unperturbed_copy_passes(tmp_path: Path) -> None:
    result = _run_nbval(_copy(tmp_path, perturb=False))
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.slow
def test_perturbed_computation_fails(tmp_path: Path) -> None:
    result = _run_nbval(_copy(tmp_path, perturb=True))
    assert result.returncode == 1, result.stdout[-3000:]
    # The cell that prints the targets is the first whose output changes.
    assert "targets (first 8)" in result.stdout
    assert "failed" in result.stdout.splitlines()[-1]


@pytest.mark.slow
def test_a_one_percent_drift_of_the_mse_gradient_fails(tmp_path: Path) -> None:
    result = _run_nbval(_copy(tmp_path, perturb="mse_grad"))
    assert result.returncode == 1, result.stdout[-3000:]
    assert "dL_rul/dy_hat (first 4)" in result.stdout  # the cell that prints it
    assert "failed" in result.stdout.splitlines()[-1]
