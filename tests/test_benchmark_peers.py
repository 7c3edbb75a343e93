"""The peer benchmark (``benchmarks/peers.py``): its command line, its message when a peer
package is missing, the agreement of IMTL-G's step with GABA's at K = 2, the snippets its
lines-of-code table counts, and the JSON it assembles.

The peers (TorchJD, LibMTL) are an optional extra that CI does not install: the tests that
need them are skipped, with the reason, where they are absent. None of them times anything.
"""

from __future__ import annotations

import doctest
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from gabalab.models import HEADS, DualTaskModel
from tests.script_failures import assert_one_line_error

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
HAS_TORCHJD = importlib.util.find_spec("torchjd") is not None
HAS_UPGRAD = HAS_TORCHJD and all(importlib.util.find_spec(m) is not None
                                 for m in ("quadprog", "qpsolvers"))
HAS_LIBMTL = importlib.util.find_spec("LibMTL") is not None
NO_TORCHJD = "torchjd (the peers extra: pip install -e '.[peers]') is not installed"
NO_LIBMTL = "LibMTL (pip install --no-deps LibMTL==1.1.5) is not installed"


@pytest.fixture
def peers(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``benchmarks/peers.py``, imported with its folder first on ``sys.path`` (as when run)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("_bench_peers", BENCHMARKS / "peers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def own_libmtl_modules() -> Iterator[None]:
    """Take out, after the test, the LibMTL modules (and stand-in packages) it imported."""
    saved = {n: m for n, m in sys.modules.items() if n.split(".")[0] == "LibMTL"}
    yield
    for name in [n for n in sys.modules if n.split(".")[0] == "LibMTL"]:
        del sys.modules[name]
    sys.modules.update(saved)


VMAP_FALLBACK = "ignore:There is a performance drop:UserWarning"  # torchjd's vmap over the LSTM


def test_the_examples_in_the_docstrings_hold(peers: ModuleType) -> None:
    result = doctest.testmod(peers)
    assert result.attempted > 0 and result.failed == 0


# ---------------------------------------------------------------------------- command line

BAD = [
    (["--batch-size", "0"], "--batch-size"),
    (["--warmup", "-1"], "--warmup"),
    (["--repeats", "0"], "--repeats"),
    (["--memory-steps", "0"], "--memory-steps"),
    (["--threads", "0"], "--threads"),
    (["--seed", "-1"], "--seed"),
    (["--variants", "c_gabalab"], "--variants"),
    (["--variants", "a_plain", "a_plain"], "--variants"),
    (["--variants", "a_plain", "z_other"], "--variants"),
    (["--out", "{empty}"], "--out"),
    (["--bogus"], "--bogus"),
]


@pytest.mark.parametrize("args,option", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_a_bad_command_line_stops_at_once_with_one_line(
    args: list[str], option: str, peers: ModuleType, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    argv = [a.replace("{empty}", str(tmp_path / "empty")) for a in args]
    if "--out" not in args:
        argv += ["--out", str(tmp_path / "out" / "r.json")]
    if "--variants" not in args:
        argv += ["--variants", "a_plain", "c_gabalab"]  # no peer needed
    with pytest.raises(SystemExit) as stop:
        peers.parse_args(argv)
    assert_one_line_error(stop.value.code, capsys.readouterr().err, option)
    assert not (tmp_path / "out" / "r.json").exists()


def _run_script_without(module: str, args: list[str],
                        cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``peers.py`` as a script, with ``import module`` failing (``sys.modules`` None)."""
    code = ("import runpy, sys\n"
            f"sys.modules[{module!r}] = None\n"
            f"sys.argv = [{str(BENCHMARKS / 'peers.py')!r}, *{args!r}]\n"
            f"sys.path.insert(0, {str(BENCHMARKS)!r})\n"
            "runpy.run_path(sys.argv[0], run_name='__main__')\n")
    env = {**os.environ, "PYTHONPATH": str(BENCHMARKS.parent), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


@pytest.mark.parametrize("variant,package", [("d_torchjd_imtlg", "torchjd"),
                                             ("e_torchjd_upgrad", "quadprog"),
                                             ("f_libmtl_imtl", "LibMTL")])
def test_a_missing_peer_is_named_in_one_line(variant: str, package: str,
                                             tmp_path: Path) -> None:
    # whether the package is installed or not, an import that fails must stop the script;
    # the message names the first package missing (UPGrad needs torchjd before quadprog)
    proc = _run_script_without(package, ["--variants", "a_plain", variant,
                                         "--out", str(tmp_path / "r.json")], tmp_path)
    named = "torchjd" if package == "quadprog" and not HAS_TORCHJD else package
    assert_one_line_error(proc.returncode, proc.stderr, named)
    assert proc.stderr.startswith("peers.py: error: --variants ")
    assert variant in proc.stderr and "not installed" in proc.stderr
    assert not (tmp_path / "r.json").exists()


def test_a_peer_of_another_version_is_refused(
    peers: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(peers, "find_spec", lambda name: object())
    monkeypatch.setattr(peers.importlib.metadata, "version", lambda dist: "0.17.0")
    with pytest.raises(SystemExit) as stop:
        peers.parse_args(["--variants", "a_plain", "d_torchjd_imtlg",
                          "--out", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert_one_line_error(stop.value.code, err, "torchjd==0.18.0")
    assert "found torchjd 0.17.0" in err


def test_without_peers_the_package_variants_need_nothing_more(
    peers: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("torchjd", "quadprog", "qpsolvers", "LibMTL"):
        monkeypatch.setitem(sys.modules, name, None)
    args = peers.parse_args(["--variants", "a_plain", "b_floor", "c_gabalab",
                             "--out", str(tmp_path / "r.json")])
    assert args.variants == ["a_plain", "b_floor", "c_gabalab"]
    assert (args.batch_size, args.threads) == (32, 1)
    assert args.repeats >= sys.modules["harness"].MIN_SAMPLES == 30
    assert peers.missing_requirement(peers.VARIANTS) is not None


# ------------------------------------------------------------------------------ agreement

def _batch(peers: ModuleType, size: int) -> Any:
    return sys.modules["gaba_step"].simulated_batch(size, 0)


@pytest.mark.skipif(not HAS_TORCHJD, reason=NO_TORCHJD)
@pytest.mark.filterwarnings(VMAP_FALLBACK)
@pytest.mark.usefixtures("own_libmtl_modules")
def test_imtlg_of_torchjd_and_libmtl_give_gabas_weights_and_shared_gradient(
    peers: ModuleType
) -> None:
    variants = ["a_plain", "c_gabalab", "d_torchjd_imtlg"] + (
        ["f_libmtl_imtl"] if HAS_LIBMTL else [])
    with torch.random.fork_rng():
        agreement = peers.check_agreement(_batch(peers, 4), variants)
    gaba = agreement["gabalab"]["weights"]
    assert abs(sum(gaba) - 1) < 1e-12
    assert agreement["task_gradients"]["imtl_weights_float64"] == pytest.approx(gaba, rel=1e-6)
    imtlg = agreement["peers"]["d_torchjd_imtlg"]
    assert "error" not in imtlg and imtlg["expected_to_match"] and imtlg["matches"]
    assert imtlg["weights_max_rel_diff"] < 1e-5  # float32 weights
    assert imtlg["shared_max_param_rel_diff"] < 1e-5  # about 1e-7 at batch 4 and 32
    assert imtlg["shared_global_rel_diff"] < 1e-5
    for peer in agreement["peers"].values():
        assert "error" not in peer
        assert set(peer["heads"]) == set(HEADS)
        for k, head in enumerate(HEADS):
            # the choice: gabalab scales each head by its task's weight, the peers do not
            entry = peer["heads"][head]
            assert entry["gabalab_over_peer"] == pytest.approx(gaba[k], rel=1e-5)
            assert entry["peer_vs_unweighted_floor_rel_diff"] < 1e-6
    if HAS_LIBMTL:
        imtl = agreement["peers"]["f_libmtl_imtl"]
        assert imtl["matches"] and imtl["shared_max_param_rel_diff"] < peers.TOLERANCE


# ------------------------------------------------------------------------- lines of code

def _runnable(variant: str) -> str | None:
    """Why a variant's snippet cannot run here, or ``None``."""
    if variant.startswith("d_") and not HAS_TORCHJD:
        return NO_TORCHJD
    if variant.startswith("e_") and not HAS_UPGRAD:
        return NO_TORCHJD + " (with quadprog and qpsolvers)"
    if variant.startswith("f_") and not HAS_LIBMTL:
        return NO_LIBMTL
    return None


@pytest.mark.parametrize("variant", ["a_plain", "b_floor", "c_gabalab", "d_torchjd_imtlg",
                                     "e_torchjd_upgrad", "f_libmtl_imtl"])
@pytest.mark.filterwarnings(VMAP_FALLBACK)
@pytest.mark.usefixtures("own_libmtl_modules")
def test_the_counted_snippets_run_a_training_step(variant: str, peers: ModuleType) -> None:
    code = compile(peers.snippet(variant), variant, "exec")  # valid Python, installed or not
    reason = _runnable(variant)
    if reason is not None:
        pytest.skip(reason)
    model = DualTaskModel(seed=0, dropout=0.0)
    before = [p.detach().clone() for p in model.parameters()]
    exec(code, {"model": model, "loader": [_batch(peers, 2)]})
    moved = [not torch.equal(a, p) for a, p in zip(before, model.parameters())]
    assert sum(moved) > len(moved) // 2  # one Adam step moved the model


def test_the_lines_of_code_table_counts_the_snippets(peers: ModuleType) -> None:
    counts = peers.lines_of_code(peers.VARIANTS)
    assert counts["a_plain"]["added_or_changed_vs_plain"] == 0
    assert counts["a_plain"]["removed_or_changed_vs_plain"] == 0
    for row in counts.values():
        assert row["total"] == row["imports"] + row["setup"] + row["loop"]
    # gabalab: one import, one line of setup, backward() replaced by balancer.step
    assert counts["c_gabalab"]["added_or_changed_vs_plain"] == 3
    assert counts["c_gabalab"]["removed_or_changed_vs_plain"] == 1
    assert counts["d_torchjd_imtlg"]["total"] == counts["e_torchjd_upgrad"]["total"]


# ------------------------------------------------------------------------------- the JSON

def test_the_json_holds_agreement_lines_and_provenance(
    peers: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the measurements stubbed: what is left is the assembly and writing of the JSON
    monkeypatch.setattr(peers, "simulated_batch", lambda *a: None)
    monkeypatch.setattr(peers, "check_agreement", lambda *a: {"peers": {}})
    monkeypatch.setattr(peers, "time_variants", lambda *a: {"batch_size": 32, "variants": {}})
    monkeypatch.setattr(peers, "measure_memory", lambda *a: {})
    threads = torch.get_num_threads()
    out = tmp_path / "r.json"
    try:
        payload = peers.main(["--variants", "a_plain", "c_gabalab", "--out", str(out)])
    finally:
        torch.set_num_threads(threads)
    bench = json.loads(out.read_text())
    assert bench == json.loads(json.dumps(payload))
    assert bench["benchmark"] == "peers" and bench["agreement"] == {"peers": {}}
    assert "unweighted" in bench["head_gradients"]
    assert set(bench["lines_of_code"]["counts"]) == {"a_plain", "c_gabalab"}
    assert "balancer.step" in bench["lines_of_code"]["snippets"]["c_gabalab"]
    prov = bench["provenance"]
    assert prov["command"].startswith(".venv/bin/python benchmarks/peers.py ")
    assert prov["torch_threads_set"] == 1 and "torchjd" in prov["peer_versions"]
