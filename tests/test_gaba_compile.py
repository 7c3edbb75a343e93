"""torch.compile: a compiled model gives the eager model's GABA norms, gradients and weights.

The model is compiled (CPU inductor, which needs a C compiler), the balancer is not: it only
calls :func:`torch.autograd.grad` on the compiled forward's outputs. Compiling the two
small graphs (forward and backward) takes several seconds to about a minute on two busy
cores with a cold cache.
"""

from __future__ import annotations

import shutil
import time

import pytest
import torch
import torch.nn.functional as F

from gabalab.gaba import GabaBalancer
from gabalab.gaba_stages import task_gradients
from gabalab.models import TinyDualHead

STEPS = 3


def _batch(step: int):
    gen = torch.Generator().manual_seed(40 + step)
    return (torch.randn(16, 14, generator=gen), torch.randn(16, generator=gen) * 10.0,
            torch.randint(0, 3, (16,), generator=gen))


def _train(model: torch.nn.Module, measure_every: int = 1) -> tuple[list, list, list]:
    balancer = GabaBalancer.from_model(model, ema=0.5, measure_every=measure_every)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    results, grads = [], []
    for step in range(STEPS):
        optimizer.zero_grad(set_to_none=True)
        x, y, c = _batch(step)
        rul, logits = model(x)
        results.append(balancer.step([F.mse_loss(rul, y), F.cross_entropy(logits, c)]))
        grads.append([p.grad.clone() for p in model.parameters()])
        optimizer.step()
    return results, grads, [p.detach().clone() for p in model.parameters()]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                    reason="torch.compile's CPU inductor backend needs a C compiler")
@pytest.mark.parametrize("measure_every", [1, 2])
def test_compiled_model_matches_eager(record_property, measure_every) -> None:
    """measure_every=2: measured steps (gradient calls) and held steps (backward()) alternate."""
    eager = _train(TinyDualHead(seed=0), measure_every)
    start = time.perf_counter()
    compiled_model = torch.compile(TinyDualHead(seed=0))
    try:
        compiled = _train(compiled_model, measure_every)
    except Exception as err:  # an inductor that cannot build here is not a GABA failure
        if type(err).__name__ in ("BackendCompilerFailed", "InductorError", "CppCompileError"):
            pytest.skip(f"inductor cannot compile on this machine: {type(err).__name__}")
        raise
    record_property("compile_and_train_seconds", round(time.perf_counter() - start, 1))
    assert type(compiled_model).__name__ == "OptimizedModule"
    assert [r.fresh for r in compiled[0]] == [r.fresh for r in eager[0]]
    assert [r.fresh for r in eager[0]] == [s % measure_every == 0 for s in range(STEPS)]
    for ours, ref in zip(compiled[0], eager[0]):
        # inductor fuses and reorders float32 arithmetic: equal to rounding, not bit for bit
        # (NaN on held steps, which measure nothing)
        torch.testing.assert_close(torch.tensor(ours.norms), torch.tensor(ref.norms),
                                   rtol=1e-5, atol=0, equal_nan=not ref.fresh)
        torch.testing.assert_close(torch.tensor(ours.weights), torch.tensor(ref.weights),
                                   rtol=1e-5, atol=0)
    for step_ours, step_ref in zip(compiled[1], eager[1]):
        for g, h in zip(step_ours, step_ref):
            torch.testing.assert_close(g, h, rtol=1e-5, atol=1e-6)
    for p, q in zip(compiled[2], eager[2]):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_a_donated_buffer_error_gets_the_fix_in_its_message(monkeypatch) -> None:
    """Older torch versions refuse retain_graph on compiled graphs with donated buffers."""
    message = ("This backward function was compiled with non-empty donated buffers which "
               "requires create_graph=False and retain_graph=False.")

    def refuse(*args, **kwargs):
        raise RuntimeError(message)

    monkeypatch.setattr(torch.autograd, "grad", refuse)
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"torch._functorch.config.donated_buffer = False"):
        task_gradients([w.sum(), (2 * w).sum()], [w])
