"""Mixed precision: autocast, float32 norms of low-precision gradients, the GradScaler path."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import gabalab.amp
from gabalab.amp import check_scaler, flag_overflow, loss_scale
from gabalab.gaba import GabaBalancer
from gabalab.gaba_stages import tensor_norms
from gabalab.models import TinyDualHead


def _batch(n: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 14, generator=gen), torch.randn(n, generator=gen) * 10.0,
            torch.randint(0, 3, (n,), generator=gen))


def _losses(model, x, y, c) -> list[torch.Tensor]:
    rul, logits = model(x)
    return [F.mse_loss(rul, y), F.cross_entropy(logits, c)]


def _grads(model) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


def test_autocast_bfloat16_step_works_with_float32_gradients() -> None:
    batch = _batch(16, seed=0)
    model = TinyDualHead(seed=0)
    full = GabaBalancer.from_model(model).step(_losses(model, *batch))
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = _losses(model, *batch)
    assert model(batch[0])[0].dtype == torch.float32  # outside autocast again
    result = GabaBalancer.from_model(model).step(losses)
    assert all(p.grad.dtype == torch.float32 for p in model.parameters())
    assert not result.skipped and math.fsum(result.weights) == pytest.approx(1.0, abs=1e-12)
    # bfloat16 keeps 8 bits of mantissa (relative rounding 2**-9 per operation); through
    # two layers the norms move by about 1e-3 here, well inside 1e-2.
    np.testing.assert_allclose(result.norms, full.norms, rtol=1e-2)
    assert result.norms != full.norms  # autocast really changed the forward pass


def test_low_precision_gradient_norms_are_summed_in_float32() -> None:
    g = torch.full((100_000,), 1.0, dtype=torch.bfloat16)
    h = torch.full((70_000,), 300.0, dtype=torch.float16)  # ||h|| = 79373 > float16's max
    norms = tensor_norms([(g, h, torch.tensor([3.0, 4.0]))])
    # the same as converting to float32 first (without the copy)
    assert norms[0][0] == float(torch.linalg.vector_norm(g.float()))
    assert norms[0][1] == pytest.approx(float(torch.linalg.vector_norm(h.float())), rel=1e-6)
    assert norms[0][0] == pytest.approx(math.sqrt(100_000), rel=1e-6)
    assert norms[0][1] == pytest.approx(300.0 * math.sqrt(70_000), rel=1e-4)
    assert norms[0][2] == 5.0
    # for contrast, the bfloat16 norm rounds to 3 significant digits, float16's overflows
    assert float(torch.linalg.vector_norm(g)) != pytest.approx(math.sqrt(100_000), rel=1e-4)
    assert math.isinf(float(torch.linalg.vector_norm(h)))


def test_bfloat16_model_step_measures_in_float32() -> None:
    model = TinyDualHead(seed=0).to(torch.bfloat16)
    x, y, c = _batch(8, seed=1)
    losses = _losses(model, x.bfloat16(), y.bfloat16(), c)
    balancer = GabaBalancer.from_model(model)
    shared = list(model.trunk.parameters())
    expected = []
    for loss in losses:
        grads = torch.autograd.grad(loss, shared, retain_graph=True)
        expected.append(math.sqrt(math.fsum(
            float(torch.linalg.vector_norm(g.float())) ** 2 for g in grads)))
    result = balancer.step(losses)
    assert all(p.grad.dtype == torch.bfloat16 for p in model.parameters())
    np.testing.assert_allclose(result.norms, expected, rtol=1e-6)


def test_scaler_norms_and_ema_are_unscaled_and_grad_is_scaled() -> None:
    batch = _batch(16, seed=2)
    model = TinyDualHead(seed=0)
    plain = GabaBalancer.from_model(model, ema=0.5)
    ref = plain.step(_losses(model, *batch))
    ref_grads = _grads(model)
    model.zero_grad(set_to_none=True)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    balancer = GabaBalancer.from_model(model, ema=0.5)
    result = balancer.step(_losses(model, *batch), scaler=scaler)
    # a power-of-two scale commutes exactly with every rounding of the backward pass
    assert result.norms == ref.norms and result.weights == ref.weights
    assert balancer.smoothed_norms == plain.smoothed_norms
    assert result.scale == 2.0**16 and not result.overflow
    assert result.as_dict()["gaba/scale"] == 2.0**16 and result.as_dict()["gaba/overflow"] == 0.0
    for p, g in zip(model.parameters(), ref_grads):
        torch.testing.assert_close(p.grad, g * 2.0**16, rtol=0, atol=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler.unscale_(optimizer)
    for p, g in zip(model.parameters(), ref_grads):
        torch.testing.assert_close(p.grad, g, rtol=0, atol=0)


def test_documented_order_with_clipping() -> None:
    """balancer.step -> scaler.unscale_ -> clip -> scaler.step -> scaler.update."""
    batch = _batch(16, seed=3)
    model, twin = TinyDualHead(seed=0), TinyDualHead(seed=0)
    GabaBalancer.from_model(twin).step(_losses(twin, *batch))
    torch.nn.utils.clip_grad_norm_(twin.parameters(), max_norm=0.5)
    torch.optim.SGD(twin.parameters(), lr=0.1).step()

    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    GabaBalancer.from_model(model).step(_losses(model, *batch), scaler=scaler)
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)
    scaler.step(optimizer)
    scaler.update()
    for p, q in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    assert scaler.get_scale() == 1024.0  # no overflow, no growth yet


@pytest.mark.parametrize("policy", ["raise", "skip"])
def test_overflow_backs_the_scaler_off_and_leaves_the_ema_alone(policy) -> None:
    model = TinyDualHead(seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    balancer = GabaBalancer.from_model(model, ema=0.5, on_nonfinite=policy)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    balancer.step(_losses(model, *_batch(8, seed=4)), scaler=scaler)
    scaler.unscale_(optimizer)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    ema = balancer.smoothed_norms
    before = [p.detach().clone() for p in model.parameters()]
    # a scale so large that the scaled gradients overflow float32
    scaler.update(new_scale=2.0**127)
    result = balancer.step(_losses(model, *_batch(8, seed=5)), scaler=scaler)
    assert result.overflow and not result.skipped and "handed to the GradScaler" in result.reason
    assert all(math.isnan(w) for w in result.weights)
    assert balancer.smoothed_norms == ema and balancer.n_overflows == 1
    scaler.unscale_(optimizer)
    scaler.step(optimizer)  # skipped: the flagged gradient is not finite
    scaler.update()
    assert scaler.get_scale() == 2.0**126
    for p, q in zip(model.parameters(), before):
        assert torch.equal(p, q)
    assert balancer.state_dict()["n_overflows"] == 1


def test_overflow_with_a_finite_gradient_still_reaches_the_scaler() -> None:
    """A non-finite loss value with finite gradients must still make scaler.step skip."""
    model = TinyDualHead(seed=0)
    rul, logits = model(torch.ones(4, 14))
    inf_value = rul.sum() + (torch.tensor(math.inf) - torch.tensor(math.inf)).detach()
    scaler = torch.amp.GradScaler("cpu")
    result = GabaBalancer.from_model(model).step([inf_value, logits.mean()], scaler=scaler)
    assert result.overflow and "losses[0] is not finite" in result.reason
    assert torch.isnan(next(model.parameters()).grad).all()


def test_a_disabled_scaler_is_no_scaler() -> None:
    model = TinyDualHead(seed=0)
    losses = _losses(model, *_batch(8, seed=6))
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    assert loss_scale(scaler) is None
    result = GabaBalancer.from_model(model).step(losses, scaler=scaler)
    assert result.scale is None and "gaba/scale" not in result.as_dict()
    losses = _losses(model, *_batch(8, seed=7))
    with pytest.raises(ValueError, match="not finite"):
        GabaBalancer.from_model(model).step([losses[0] * math.nan, losses[1]], scaler=scaler)


def test_accumulation_with_a_scaler_checks_the_scale_stays_put() -> None:
    model = TinyDualHead(seed=0)
    balancer = GabaBalancer.from_model(model)
    scaler = torch.amp.GradScaler("cpu", init_scale=256.0)
    balancer.accumulate(_losses(model, *_batch(4, seed=8)), scaler=scaler)
    with pytest.raises(ValueError, match="scaler must be given to every accumulate"):
        balancer.accumulate(_losses(model, *_batch(4, seed=9)))
    scaler.update(new_scale=512.0)
    with pytest.raises(ValueError, match=r"scale changed between micro-batches \(256.0 -> 512.0\)"):
        balancer.accumulate(_losses(model, *_batch(4, seed=9)), scaler=scaler)
    scaler.update(new_scale=256.0)
    balancer.accumulate(_losses(model, *_batch(4, seed=9)), scaler=scaler)
    result = balancer.apply()
    assert result.micro_batches == 2 and result.scale == 256.0


def test_scaler_helpers_validate_their_arguments() -> None:
    with pytest.raises(TypeError, match="scaler must be a torch.amp.GradScaler.*object has no"):
        check_scaler(object())

    class Broken:
        def scale(self, x): return x
        def get_scale(self): return math.inf
        def is_enabled(self): return True
        def unscale_(self, o): pass
        def step(self, o): pass
        def update(self): pass

    assert check_scaler(Broken()) is not None
    with pytest.raises(ValueError, match="positive finite number, got inf"):
        loss_scale(Broken())
    with pytest.raises(ValueError, match="params is empty"):
        flag_overflow([])
    w = torch.zeros(3, requires_grad=True)
    w.grad = torch.ones(3)
    flag_overflow([w])
    assert torch.isnan(w.grad).all()


def test_amp_doctests() -> None:
    failures, tried = doctest.testmod(gabalab.amp)
    assert tried >= 3 and failures == 0
