"""The training-loop example of book/training_loop.md runs as printed and does what it says."""

from __future__ import annotations

import contextlib
import io
import math
import re
from pathlib import Path

import pytest
import torch

PAGE = Path(__file__).resolve().parents[2] / "book" / "training_loop.md"
FENCE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
PRINTED = re.compile(r"^```text\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _example() -> str:
    blocks = FENCE.findall(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) == 1, f"{PAGE.name} should hold exactly one python block, got {len(blocks)}"
    return blocks[0]


@pytest.fixture(scope="module")
def run() -> tuple[dict, str]:
    namespace: dict = {"__name__": "training_loop_example"}
    out = io.StringIO()
    # the example seeds torch's global RNG; keep that from leaking into other tests
    with torch.random.fork_rng(devices=[]), contextlib.redirect_stdout(out):
        exec(compile(_example(), str(PAGE), "exec"), namespace)
    return namespace, out.getvalue()


def test_example_trains_one_epoch_without_skips(run) -> None:
    namespace, printed = run
    balancer, n_batches = namespace["balancer"], len(namespace["loader"])
    assert n_batches >= 10
    assert balancer.n_steps == n_batches and balancer.n_skipped == 0
    assert len(namespace["log"]) == n_batches
    assert "skipped" not in printed
    steps = [int(line.split()[1]) for line in printed.splitlines()]
    assert steps == list(range(0, n_batches, 5))


def test_example_weights_behave_as_the_page_says(run) -> None:
    namespace, _ = run
    for row in namespace["log"]:
        values = [v for k, v in row.items() if k != "gaba/skipped"]
        assert all(math.isfinite(v) for v in values)
        assert row["gaba/weight_0"] + row["gaba/weight_1"] == pytest.approx(1.0, abs=1e-12)
        # the RUL task is the loud one, gets the smaller weight, and the floor holds
        assert row["gaba/norm_0"] > row["gaba/norm_1"]
        assert 0.01 - 1e-12 <= row["gaba/weight_0"] < row["gaba/weight_1"]
    # the weights use the smoothed norms (ema=0.9), not the raw ones, after the first step
    assert any(r["gaba/smoothed_norm_0"] != r["gaba/norm_0"] for r in namespace["log"][1:])


def test_the_page_shows_what_the_example_prints(run) -> None:
    _, printed = run
    shown = PRINTED.findall(PAGE.read_text(encoding="utf-8"))
    assert len(shown) == 1, f"{PAGE.name} should show the example's output once"
    assert shown[0] == printed


def test_the_ratio_the_page_quotes_is_the_printed_one(run) -> None:
    _, printed = run
    ratios = [float(line.split()[3]) / float(line.split()[4]) for line in printed.splitlines()]
    assert min(ratios) >= 500 and max(ratios) <= 860


def test_example_uses_the_documented_replacement_for_backward() -> None:
    code = _example()
    assert "balancer.step(losses)" in code and "optimizer.step()" in code
    assert ".backward(" not in code.replace("(losses[0] + losses[1]).backward()", "")
