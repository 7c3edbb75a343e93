"""The three ways of combining the task losses write the gradients they promise."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gabalab.gaba import GabaBalancer
from gabalab.methods import FixedWeights, GabaMethod, SummedLoss, weights_balanced_at
from gabalab.models import TinyDualHead
from gabalab.norms import shared_parameters, task_grad_norms


def _batch(seed: int, n: int = 16) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 14, generator=g)
    y = torch.randint(0, 126, (n,), generator=g).double().float()
    c = torch.randint(0, 3, (n,), generator=g)
    return x, y, c


def _losses(model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    x, y, c = batch
    rul, logits = model(x)
    return [F.mse_loss(rul, y), F.cross_entropy(logits, c)]


def _grads(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


def _reference(weights: tuple[float, float], seed: int = 0) -> list[torch.Tensor]:
    model = TinyDualHead(seed=0)
    a, b = _losses(model, _batch(seed))
    (weights[0] * a + weights[1] * b).backward()
    return _grads(model)


def test_summed_loss_is_the_plain_sum() -> None:
    model = TinyDualHead(seed=0)
    record = SummedLoss().backward(_losses(model, _batch(0)))
    assert record.weights == (1.0, 1.0) and record.norms is None
    for ours, ref in zip(_grads(model), _reference((1.0, 1.0))):
        torch.testing.assert_close(ours, ref, rtol=0, atol=0)


def test_fixed_weights_weight_each_loss() -> None:
    model = TinyDualHead(seed=0)
    FixedWeights([1.0, 250.0]).backward(_losses(model, _batch(0)))
    for ours, ref in zip(_grads(model), _reference((1.0, 250.0))):
        torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-9)


def test_gaba_method_reports_the_balancer_step() -> None:
    model = TinyDualHead(seed=0)
    method = GabaMethod(GabaBalancer.from_model(model, floor=0.2))
    record = method.backward(_losses(model, _batch(1)))
    assert record.norms is not None and record.norms[0] > record.norms[1]
    assert min(record.weights) == pytest.approx(0.2) and record.floor_bound
    for ours, ref in zip(_grads(model), _reference(record.weights, seed=1)):
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-7)


def test_gaba_method_with_held_weights_reports_no_norms_on_held_steps() -> None:
    model = TinyDualHead(seed=0)
    method = GabaMethod(GabaBalancer.from_model(model, measure_every=2))
    records = []
    for seed in range(3):
        model.zero_grad(set_to_none=True)
        records.append(method.backward(_losses(model, _batch(seed))))
    assert [r.norms is None for r in records] == [False, True, False]
    assert records[1].weights == records[0].weights
    with pytest.raises(ValueError, match="sensor='representation' also needs the shared"):
        GabaMethod(GabaBalancer.from_model(model, sensor="representation"))


def test_gaba_method_refuses_to_pretend_a_skipped_step() -> None:
    model = TinyDualHead(seed=0)
    method = GabaMethod(GabaBalancer.from_model(model, on_nonfinite="skip"))
    a, b = _losses(model, _batch(2))
    with pytest.raises(ValueError, match="skipped"):
        method.backward([a * float("nan"), b])


def test_weights_balanced_at_equalise_the_median_norms() -> None:
    model = TinyDualHead(seed=0)
    batches = [_batch(s) for s in range(5)]
    shared = shared_parameters(model)
    weights = weights_balanced_at(model, batches, shared, _losses, n_batches=5, seed=0)
    norms = np.array([task_grad_norms(_losses(model, b), shared) for b in batches])
    median = np.median(norms, axis=0)
    assert weights[0] == 1.0
    assert weights[1] == pytest.approx(median[0] / median[1], rel=1e-12)
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: FixedWeights([1.0]), ValueError, "at least 2 tasks"),
        (lambda: FixedWeights([1.0, -1.0]), ValueError, r"weights\[1\] must be >= 0"),
        (lambda: FixedWeights([0.0, 0.0]), ValueError, "not all be zero"),
        (lambda: FixedWeights("12"), TypeError, "weights must be a sequence"),
        (lambda: FixedWeights([1.0, float("nan")]), ValueError, r"weights\[1\] must be finite"),
        (lambda: SummedLoss(1), ValueError, "n_tasks must be >= 2"),
        (lambda: GabaMethod("balancer"), TypeError, "balancer must be a GabaBalancer"),
    ],
)
def test_bad_arguments(build, error, message) -> None:
    with pytest.raises(error, match=message):
        build()


def test_wrong_number_of_losses() -> None:
    model = TinyDualHead(seed=0)
    a, _ = _losses(model, _batch(0))
    with pytest.raises(ValueError, match="expected 2, got 1"):
        SummedLoss().backward([a])
    with pytest.raises(ValueError, match="n_batches must be >= 1"):
        weights_balanced_at(model, [], shared_parameters(model), _losses, n_batches=0)
    with pytest.raises(ValueError, match="yielded no batch"):
        weights_balanced_at(model, [], shared_parameters(model), _losses)


# ------------------------------------------------------------------ uncertainty weighting

def test_uncertainty_weighting_is_the_kendall_loss() -> None:
    from gabalab.methods import UncertaintyWeighting

    method = UncertaintyWeighting(init=0.3)
    with torch.no_grad():
        method.log_variances.copy_(torch.tensor([0.3, -0.4], dtype=torch.float64))
    model = torch.nn.Linear(3, 2)
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    out = model(x)
    losses = [(out[:, 0] ** 2).mean(), out[:, 1].abs().mean()]
    record = method.backward(losses)
    ours = [p.grad.clone() for p in model.parameters()] + [method.log_variances.grad.clone()]
    assert record.weights == pytest.approx((0.5 * math.exp(-0.3), math.exp(0.4)))

    # the same loss written out by hand, differentiated by autograd
    model.zero_grad()
    s = torch.tensor([0.3, -0.4], dtype=torch.float64, requires_grad=True)
    out = model(x)
    by_hand = (0.5 * torch.exp(-s[0]) * (out[:, 0] ** 2).mean() + 0.5 * s[0]
               + torch.exp(-s[1]) * out[:, 1].abs().mean() + 0.5 * s[1])
    by_hand.backward()
    theirs = [p.grad for p in model.parameters()] + [s.grad]
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b.to(a.dtype))


def test_uncertainty_weights_settle_at_one_over_twice_the_loss() -> None:
    """For fixed losses the optimum is exp(s_i) = 2 c_i L_i: weight c_i exp(-s_i) = 1/(2 L_i)."""
    from gabalab.methods import UncertaintyWeighting

    method = UncertaintyWeighting()
    with torch.no_grad():  # the stationary point of c exp(-s) L + s / 2
        method.log_variances.copy_(torch.tensor([math.log(900.0), math.log(1.4)],
                                                dtype=torch.float64))
    w = torch.ones(1, dtype=torch.float64, requires_grad=True)
    record = method.backward([(w * 900.0).sum(), (w * 0.7).sum()])
    np.testing.assert_allclose(record.weights, [1 / (2 * 900.0), 1 / (2 * 0.7)], rtol=1e-12)
    np.testing.assert_allclose(method.log_variances.grad.numpy(), [0.0, 0.0], atol=1e-12)


def test_uncertainty_weighting_refuses_bad_options() -> None:
    from gabalab.methods import UncertaintyWeighting

    with pytest.raises(ValueError, match=r"kinds\[1\]"):
        UncertaintyWeighting(["regression", "ranking"])
    with pytest.raises(ValueError, match="at least 2"):
        UncertaintyWeighting(["regression"])
    with pytest.raises(TypeError, match="kinds"):
        UncertaintyWeighting("regression")
    with pytest.raises(ValueError, match="init"):
        UncertaintyWeighting(init=math.nan)
    method = UncertaintyWeighting()
    with pytest.raises(ValueError, match="losses"):
        method.backward([torch.ones(1, requires_grad=True).sum()])
