"""GABA as a training step: agreement with the three-pass reference, options, failures."""

from __future__ import annotations

import doctest
import itertools
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gabalab.gaba
from gabalab.data import make_loader, prepare_cmapss, simulated_fleet
from gabalab.gaba import GabaBalancer, GabaResult, gaba_backward
from gabalab.models import DualTaskModel, TinyDualHead
from gabalab.norms import shared_named_parameters, task_grad_norms
from gabalab.weighting import DEFAULT_FLOOR, floor_weights, gaba_weights, imtl_g_weights
from tests.conftest import SMALL_DUAL


class ExtraHead(nn.Module):
    """A dual-task model plus a third head (a second regression on the shared features)."""

    def __init__(self, base: nn.Module, seed: int = 1) -> None:
        super().__init__()
        self.base = base
        width = base.features(torch.zeros(1, 30, 14)).shape[-1]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.extra_head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.base.features(x)
        return (self.base.rul_head(z).squeeze(-1), self.base.health_head(z),
                self.extra_head(z).squeeze(-1))


def _batch(n: int, seed: int, dtype: torch.dtype = torch.float32):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 30, 14, generator=gen, dtype=dtype)
    y = torch.randint(0, 126, (n,), generator=gen).to(dtype)
    c = torch.randint(0, 3, (n,), generator=gen)
    return x, y, c


def _losses(model: nn.Module, x, y, c) -> list[torch.Tensor]:
    out = model(x)
    losses = [F.mse_loss(out[0], y), F.cross_entropy(out[1], c)]
    if len(out) == 3:
        losses.append(F.smooth_l1_loss(out[2], y / 125.0))
    return losses


HEADS2 = ("rul_head", "health_head")
HEADS3 = ("rul_head", "health_head", "extra_head")


def _model(kind: str) -> tuple[nn.Module, tuple[str, ...]]:
    if kind == "dual_small":
        return DualTaskModel(**SMALL_DUAL, seed=0), HEADS2
    if kind == "dual_default":
        return DualTaskModel(seed=0), HEADS2
    if kind == "tiny":
        return TinyDualHead(seed=0), HEADS2
    if kind == "tiny_k3":
        return ExtraHead(TinyDualHead(seed=0)), HEADS3
    if kind == "dual_small_k3":
        return ExtraHead(DualTaskModel(**SMALL_DUAL, seed=0)), HEADS3
    raise AssertionError(kind)


def _reference(model: nn.Module, losses: list[torch.Tensor], heads,
               floor: float = DEFAULT_FLOOR):
    """Per-task norms with retain-graph autograd.grad, then backward of sum_i w_i L_i."""
    shared = [p for _, p in shared_named_parameters(model, heads)]
    norms = task_grad_norms(losses, shared, retain_graph=True)
    weights = gaba_weights(norms)
    if floor:
        weights = floor_weights(weights, floor)
    model.zero_grad(set_to_none=True)
    sum(float(w) * loss for w, loss in zip(weights, losses)).backward(retain_graph=True)
    grads = {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}
    return norms, weights, grads


def _grads(model: nn.Module) -> dict[str, torch.Tensor | None]:
    return {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}


def _assert_same_grads(ours, ref, rtol: float, atol_fraction: float) -> None:
    """Every parameter: ||ours - ref|| <= rtol ||ref|| + atol_fraction * (global norm).

    The absolute term only matters for parameters whose exact gradient is zero, such as the
    bias of the attention score layer: a softmax over time ignores a constant shift, so that
    gradient is pure rounding noise and has no meaningful relative error.
    """
    assert ours.keys() == ref.keys()
    total = math.sqrt(sum(float(g.double().norm()) ** 2 for g in ref.values() if g is not None))
    for name in ref:
        a, b = ours[name], ref[name]
        assert (a is None) == (b is None), name
        if a is None:
            continue
        err = float((a.double() - b.double()).norm())
        assert err <= rtol * float(b.double().norm()) + atol_fraction * total, (name, err)


CASES = ["dual_small", "tiny", "tiny_k3", "dual_small_k3", "dual_default"]


@pytest.mark.parametrize("kind", CASES)
def test_grad_equals_reference_float64(kind) -> None:
    model, heads = _model(kind)
    model.double()
    x, y, c = _batch(4 if kind == "dual_default" else 8, seed=1, dtype=torch.float64)
    losses = _losses(model, x, y, c)
    balancer = GabaBalancer.from_model(model, heads)
    model.zero_grad(set_to_none=True)
    result = balancer.step(losses, retain_graph=True)
    ours = _grads(model)
    norms, weights, ref = _reference(model, losses, heads)
    assert len(result.weights) == len(heads)
    np.testing.assert_allclose(result.norms, norms, rtol=1e-6)
    np.testing.assert_allclose(result.weights, weights, rtol=1e-6)
    _assert_same_grads(ours, ref, rtol=1e-6, atol_fraction=1e-12)


@pytest.mark.parametrize("kind", ["dual_small", "tiny_k3"])
def test_grad_equals_reference_float32(kind) -> None:
    model, heads = _model(kind)
    x, y, c = _batch(16, seed=2)
    losses = _losses(model, x, y, c)
    balancer = GabaBalancer.from_model(model, heads)
    result = balancer.step(losses, retain_graph=True)
    ours = _grads(model)
    norms, weights, ref = _reference(model, losses, heads)
    np.testing.assert_allclose(result.weights, weights, rtol=1e-6)
    # float32: the single-pass reference and our per-task sum round differently.
    _assert_same_grads(ours, ref, rtol=1e-5, atol_fraction=1e-6)


def test_heads_get_their_own_weighted_gradient() -> None:
    model = TinyDualHead(seed=0)
    x, y, c = _batch(8, seed=3)
    losses = _losses(model, x, y, c)
    rul_head = torch.autograd.grad(losses[0], model.rul_head.weight, retain_graph=True)[0]
    health_head = torch.autograd.grad(losses[1], model.health_head.weight, retain_graph=True)[0]
    result = GabaBalancer.from_model(model).step(losses)
    torch.testing.assert_close(model.rul_head.weight.grad, result.weights[0] * rul_head)
    torch.testing.assert_close(model.health_head.weight.grad, result.weights[1] * health_head)


def test_grad_is_accumulated_like_backward() -> None:
    model = TinyDualHead(seed=0)
    x, y, c = _batch(8, seed=4)
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.5)
    GabaBalancer.from_model(model).step(_losses(model, x, y, c))
    accumulated = _grads(model)
    model.zero_grad(set_to_none=True)
    GabaBalancer.from_model(model).step(_losses(model, x, y, c))
    for name, p in model.named_parameters():
        torch.testing.assert_close(accumulated[name], p.grad + 0.5)


def test_graph_is_freed_unless_retained() -> None:
    model = TinyDualHead(seed=0)
    losses = _losses(model, *_batch(4, seed=5))
    GabaBalancer.from_model(model).step(losses)
    with pytest.raises(RuntimeError):
        losses[0].backward()


@pytest.mark.parametrize("kind", ["tiny", "tiny_k3", "dual_small_k3"])
def test_weights_sum_to_one_and_favour_the_quiet_task(kind) -> None:
    model, heads = _model(kind)
    result = GabaBalancer.from_model(model, heads).step(_losses(model, *_batch(8, seed=6)))
    assert math.fsum(result.weights) == pytest.approx(1.0, abs=1e-12)
    assert all(0 < w < 1 for w in result.weights)
    loud = int(np.argmax(result.norms))
    assert result.weights[loud] == min(result.weights)
    assert result.ratio == pytest.approx(max(result.norms) / min(result.norms))


@pytest.mark.parametrize("kind", ["tiny", "dual_small"])
def test_two_task_weights_match_imtl_g(kind) -> None:
    model, heads = _model(kind)
    losses = _losses(model, *_batch(8, seed=7))
    shared = [p for _, p in shared_named_parameters(model, heads)]
    flat = [
        torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, shared, retain_graph=True)])
        .double().numpy()
        for loss in losses
    ]
    result = GabaBalancer.from_model(model, heads).step(losses)
    np.testing.assert_allclose(result.weights, imtl_g_weights(flat), rtol=1e-5)


def test_gaba_backward_matches_balancer() -> None:
    model = TinyDualHead(seed=0)
    x, y, c = _batch(8, seed=8)
    shared = shared_named_parameters(model)
    heads = [(n, p) for n, p in model.named_parameters() if "head" in n]
    result = gaba_backward(_losses(model, x, y, c), shared, heads)
    first = _grads(model)
    model.zero_grad(set_to_none=True)
    again = GabaBalancer(shared, heads).step(_losses(model, x, y, c))
    assert result == again
    for name, p in model.named_parameters():
        torch.testing.assert_close(first[name], p.grad, rtol=0, atol=0)


def test_from_model_splits_shared_and_heads() -> None:
    model = DualTaskModel(**SMALL_DUAL, seed=0)
    balancer = GabaBalancer.from_model(model)
    assert balancer.shared_names == tuple(n for n, _ in shared_named_parameters(model))
    assert balancer.head_names and all("_head." in n for n in balancer.head_names)
    assert len(balancer.shared_names) + len(balancer.head_names) == len(list(model.parameters()))
    assert balancer.n_tasks == 2


# ---------------------------------------------------------------------------- EMA and floor


def test_ema_smooths_the_norms() -> None:
    model = TinyDualHead(seed=0)
    beta = 0.9
    balancer = GabaBalancer.from_model(model, ema=beta)
    assert balancer.smoothed_norms is None
    first = balancer.step(_losses(model, *_batch(8, seed=9)))
    assert first.smoothed_norms == first.norms
    second = balancer.step(_losses(model, *_batch(8, seed=10)))
    expected = beta * np.array(first.norms) + (1 - beta) * np.array(second.norms)
    np.testing.assert_allclose(second.smoothed_norms, expected, rtol=1e-12)
    np.testing.assert_allclose(second.weights, gaba_weights(expected), rtol=1e-12)
    assert balancer.smoothed_norms == second.smoothed_norms
    assert second.norms != second.smoothed_norms
    balancer.reset()
    assert balancer.smoothed_norms is None


def test_ema_zero_and_none_agree() -> None:
    model = TinyDualHead(seed=0)
    a = GabaBalancer.from_model(model, ema=0.0).step(_losses(model, *_batch(8, seed=11)))
    b = GabaBalancer.from_model(model).step(_losses(model, *_batch(8, seed=11)))
    assert a.weights == b.weights and a.smoothed_norms == a.norms


def test_state_dict_round_trip() -> None:
    model = TinyDualHead(seed=0)
    balancer = GabaBalancer.from_model(model, ema=0.5)
    balancer.step(_losses(model, *_batch(8, seed=12)))
    state = balancer.state_dict()
    other = GabaBalancer.from_model(model, ema=0.5)
    other.load_state_dict(state)
    assert other.smoothed_norms == balancer.smoothed_norms and other.n_steps == 1
    batch = _batch(8, seed=13)
    assert other.step(_losses(model, *batch)) == balancer.step(_losses(model, *batch))
    with pytest.raises(ValueError, match="ema_norms"):
        other.load_state_dict({**state, "ema_norms": [1.0, -2.0]})


@pytest.mark.parametrize(
    ("change", "error", "fragment"),
    [
        ({"n_step": 4}, ValueError, "unknown: ['n_step']"),
        ({"n_steps": None}, TypeError, "state['n_steps'] must be an integer"),
        ({"n_skipped": 5}, ValueError, "exceeds state['n_steps']"),
        ({"ema_norms": [1.0, 2.0, 3.0]}, ValueError, "2 finite norms"),
        ({"ema_norms": [1.0, float("nan")]}, ValueError, "2 finite norms"),
        ({"ema_norms": "ab"}, TypeError, "state['ema_norms'] must be an array"),
    ],
)
def test_a_failed_load_leaves_the_state_as_it_was(
    change: dict, error: type[Exception], fragment: str
) -> None:
    model = TinyDualHead(seed=0)
    balancer = GabaBalancer.from_model(model, ema=0.5, on_nonfinite="skip")
    for seed in (12, 13):
        balancer.step(_losses(model, *_batch(8, seed=seed)))
    before = balancer.state_dict()
    with pytest.raises(error) as info:
        balancer.load_state_dict({**before, **change})
    assert fragment in str(info.value)
    assert balancer.state_dict() == before


def test_a_state_without_a_key_is_refused_whole() -> None:
    balancer = GabaBalancer.from_model(TinyDualHead(seed=0), ema=None)
    balancer.load_state_dict({"ema_norms": None, "n_steps": 5, "n_skipped": 1,
                              "n_overflows": 0})
    with pytest.raises(ValueError, match=r"missing: \['n_skipped', 'n_overflows'\]"):
        balancer.load_state_dict({"ema_norms": None, "n_steps": 0})
    assert balancer.n_steps == 5 and balancer.n_skipped == 1
    with pytest.raises(ValueError, match="has no EMA"):
        balancer.load_state_dict({**balancer.state_dict(), "ema_norms": [1.0, 2.0]})


def test_a_second_step_on_the_same_losses_is_named() -> None:
    model = TinyDualHead(seed=0)
    balancer = GabaBalancer.from_model(model)
    losses = _losses(model, *_batch(8, seed=14))
    balancer.step(losses)
    grads = [p.grad.clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"losses\[0\] was already differentiated"):
        balancer.step(losses)
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.parameters()))
    assert balancer.n_steps == 1
    kept = _losses(model, *_batch(8, seed=15))
    balancer.step(kept, retain_graph=True)
    balancer.step(kept)  # the graph was kept: a second step is legitimate
    fresh = _losses(model, *_batch(8, seed=16))
    fresh[1].backward(retain_graph=False)
    with pytest.raises(ValueError, match="graph was already freed"):
        balancer.step(fresh)


@pytest.mark.parametrize(
    "weights, floor, expected",
    [
        ([0.01, 0.99], 0.1, [0.1, 0.9]),
        ([0.02, 0.08, 0.9], 0.1, [0.1, 0.1, 0.8]),
        ([0.3, 0.7], 0.2, [0.3, 0.7]),
        ([0.0, 1.0], 0.5, [0.5, 0.5]),
        ([1.0, 3.0], 0.0, [0.25, 0.75]),
    ],
)
def test_floor_weights_examples(weights, floor, expected) -> None:
    np.testing.assert_allclose(floor_weights(weights, floor), expected, rtol=1e-12)


def test_floor_weights_properties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        k = int(rng.integers(2, 7))
        w = rng.dirichlet(np.full(k, 0.3))
        floor = float(rng.uniform(0, 1 / k))
        out = floor_weights(w, floor)
        assert math.fsum(out) == pytest.approx(1.0, abs=1e-12)
        assert out.min() >= floor - 1e-12
        # The order is kept: a larger input weight never gets a smaller output weight.
        assert np.all((w[:, None] <= w[None, :]) <= (out[:, None] <= out[None, :] + 1e-12))
        above = out > floor + 1e-12
        if above.sum() >= 2:  # the unclipped weights keep their proportions
            ratios = out[above] / w[above]
            np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)


@pytest.mark.parametrize(
    "weights, floor, error, message",
    [
        ([1.0], 0.0, ValueError, "at least 2"),
        ([0.5, -0.1], 0.0, ValueError, "finite and >= 0"),
        ([0.0, 0.0], 0.0, ValueError, "positive sum"),
        ([0.5, 0.5], 0.6, ValueError, "floor must be <= 1/K"),
        ([0.5, 0.5], -0.1, ValueError, "floor must be >= 0"),
        ([0.5, 0.5], "0.1", TypeError, "floor must be a real number"),
    ],
)
def test_floor_weights_validation(weights, floor, error, message) -> None:
    with pytest.raises(error, match=message):
        floor_weights(weights, floor)


def test_balancer_floor_is_applied_to_grad() -> None:
    model = TinyDualHead(seed=0)
    x, y, c = _batch(8, seed=14)
    losses = _losses(model, x, y, c)
    result = GabaBalancer.from_model(model, floor=0.2).step(losses, retain_graph=True)
    ours = _grads(model)
    assert min(result.weights) == pytest.approx(0.2, abs=1e-12)
    _, weights, ref = _reference(model, losses, HEADS2, floor=0.2)
    np.testing.assert_allclose(result.weights, weights, rtol=1e-12)
    _assert_same_grads(ours, ref, rtol=1e-5, atol_fraction=1e-6)


# ---------------------------------------------------------------------------- failures


def _nan_gradient_loss(model: TinyDualHead, losses: list[torch.Tensor]) -> torch.Tensor:
    """losses[1] plus a term whose value is 0 but whose gradient is NaN."""
    w = model.trunk[0].weight
    return losses[1] + torch.sqrt(((w - w.detach()).sum()) ** 2)


def test_skip_policy_leaves_grad_and_ema_untouched() -> None:
    model = TinyDualHead(seed=0)
    balancer = GabaBalancer.from_model(model, ema=0.8, on_nonfinite="skip")
    balancer.step(_losses(model, *_batch(8, seed=15)))
    ema_before = balancer.smoothed_norms
    grad_before = _grads(model)
    losses = _losses(model, *_batch(8, seed=16))
    result = balancer.step([losses[0], _nan_gradient_loss(model, losses)])
    assert result.skipped and "losses[1]" in result.reason and "trunk.0.weight" in result.reason
    assert all(math.isnan(w) for w in result.weights)
    assert balancer.smoothed_norms == ema_before
    assert (balancer.n_steps, balancer.n_skipped) == (2, 1)
    for name, p in model.named_parameters():
        assert torch.equal(p.grad, grad_before[name]), name
    # A non-finite loss value is reported as such.
    losses = _losses(model, *_batch(8, seed=17))
    result = balancer.step([losses[0] * math.inf, losses[1]])
    assert result.skipped and result.reason.startswith("losses[0] is not finite")
    assert balancer.smoothed_norms == ema_before


def test_raise_policy() -> None:
    model = TinyDualHead(seed=0)
    balancer = GabaBalancer.from_model(model)
    losses = _losses(model, *_batch(8, seed=18))
    with pytest.raises(ValueError, match=r"losses\[1\]: the gradient on trunk.0.weight is not "
                                         r"finite.*nothing was written"):
        balancer.step([losses[0], _nan_gradient_loss(model, losses)])
    assert all(p.grad is None for p in model.parameters())
    assert balancer.n_steps == 0


def test_all_zero_norms_give_uniform_weights() -> None:
    model = TinyDualHead(seed=0)
    rul, logits = model(torch.ones(4, 14))
    result = GabaBalancer.from_model(model).step([0.0 * rul.sum(), 0.0 * logits.sum()])
    assert result.weights == (0.5, 0.5) and result.norms == (0.0, 0.0)
    assert math.isnan(result.ratio) and not result.skipped
    assert all(float(p.grad.abs().sum()) == 0.0 for p in model.parameters())


class SideBranch(nn.Module):
    """Tiny model with a 'shared' layer only the RUL task uses and a dead head parameter."""

    def __init__(self) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.trunk = nn.Linear(14, 8)
            self.side = nn.Linear(8, 8)
            self.rul_head = nn.Linear(8, 1)
            self.health_head = nn.Linear(8, 3)
        self.health_head.unused = nn.Parameter(torch.zeros(2))

    def forward(self, x):
        z = torch.relu(self.trunk(x))
        return self.rul_head(torch.relu(self.side(z))).squeeze(-1), self.health_head(z)


def test_unreached_parameters_are_reported_once() -> None:
    model = SideBranch()
    balancer = GabaBalancer.from_model(model)
    x, y, c = torch.rand(6, 14), torch.rand(6) * 100, torch.tensor([0, 1, 2, 0, 1, 2])
    with pytest.warns(UserWarning, match="do not reach") as record:
        first = balancer.step(_losses(model, x, y, c))
    assert len([w for w in record if "do not reach" in str(w.message)]) == 1
    expected = {(1, "side.weight"), (1, "side.bias"),
                (0, "health_head.unused"), (1, "health_head.unused")}
    assert set(first.unreached) == expected
    assert set(balancer.unreached) == expected
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = balancer.step(_losses(model, x, y, c))
    assert set(second.unreached) == expected
    assert model.health_head.unused.grad is None


def test_models_with_clean_heads_do_not_warn() -> None:
    model = DualTaskModel(**SMALL_DUAL, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = GabaBalancer.from_model(model).step(_losses(model, *_batch(4, seed=19)))
    assert result.unreached == ()


# ---------------------------------------------------------------------------- validation


def _tiny_parts():
    model = TinyDualHead(seed=0)
    shared = [p for _, p in shared_named_parameters(model)]
    heads = [p for n, p in model.named_parameters() if "head" in n]
    return model, shared, heads


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda s, h: GabaBalancer([], h), ValueError, "shared is empty"),
        (lambda s, h: GabaBalancer(s[0], h), TypeError, "not a single tensor"),
        (lambda s, h: GabaBalancer(s + [s[0]], h), ValueError, "shared lists the same tensor"),
        (lambda s, h: GabaBalancer(s, h + [h[0]]), ValueError, "heads lists the same tensor"),
        (lambda s, h: GabaBalancer(s, h + [s[1]]), ValueError, "heads and shared overlap"),
        (lambda s, h: GabaBalancer(s + ["w"], h), TypeError, r"shared\[4\] must be a torch"),
        (lambda s, h: GabaBalancer(s, h, n_tasks=1), ValueError, "n_tasks must be >= 2"),
        (lambda s, h: GabaBalancer(s, h, n_tasks=2.0), TypeError, "n_tasks must be an integer"),
        (lambda s, h: GabaBalancer(s, h, ema=1.0), ValueError, r"ema must be in \[0, 1\)"),
        (lambda s, h: GabaBalancer(s, h, ema=-0.1), ValueError, "ema must be >= 0"),
        (lambda s, h: GabaBalancer(s, h, floor=0.51), ValueError, "floor \\* n_tasks <= 1"),
        (lambda s, h: GabaBalancer(s, h, on_nonfinite="warn"), ValueError, "on_nonfinite"),
        (lambda s, h: GabaBalancer([torch.zeros(2)], h), ValueError, "does not require grad"),
        (lambda s, h: GabaBalancer([s[0] * 2], h), ValueError, "not a leaf"),
    ],
)
def test_constructor_validation(build, error, message) -> None:
    _, shared, heads = _tiny_parts()
    with pytest.raises(error, match=message):
        build(shared, heads)


def test_step_validation() -> None:
    model, shared, heads = _tiny_parts()
    balancer = GabaBalancer(shared, heads)
    rul, logits = model(torch.ones(4, 14))
    good = [rul.mean(), logits.logsumexp(-1).mean()]
    with pytest.raises(ValueError, match="expected 2, got 3"):
        balancer.step(good + [rul.sum()])
    with pytest.raises(ValueError, match="expected 2, got 1"):
        balancer.step(good[:1])
    with pytest.raises(ValueError, match=r"losses\[0\] must be a scalar .* shape \(4,\)"):
        balancer.step([rul, good[1]])
    with pytest.raises(TypeError, match="not a single tensor"):
        balancer.step(torch.stack(good))
    with pytest.raises(TypeError, match=r"losses\[1\] must be a torch.Tensor"):
        balancer.step([good[0], 1.0])
    with pytest.raises(ValueError, match=r"losses\[1\] does not require grad"):
        balancer.step([good[0], good[1].detach()])
    head_only = model.health_head(torch.ones(2, 16)).sum()
    with pytest.raises(ValueError, match=r"losses\[1\] reaches none of the shared"):
        balancer.step([good[0], head_only])
    with pytest.raises(ValueError, match="at least 2 task losses"):
        gaba_backward([good[0]], shared, heads)
    with pytest.raises(TypeError, match="not a single tensor"):
        gaba_backward(good[0], shared, heads)


def test_result_as_dict() -> None:
    result = GabaResult((2.0, 1.0), (2.0, 1.0), (1 / 3, 2 / 3), 2.0)
    flat = result.as_dict(prefix="")
    assert flat == {"norm_0": 2.0, "smoothed_norm_0": 2.0, "weight_0": 1 / 3, "norm_1": 1.0,
                    "smoothed_norm_1": 1.0, "weight_1": 2 / 3, "ratio": 2.0, "skipped": 0.0,
                    "fresh": 1.0, "age": 0.0, "sensor_exact": 1.0}
    held = GabaResult((math.nan,) * 2, (2.0, 1.0), (1 / 3, 2 / 3), math.nan,
                      sensor="representation", fresh=False, age=3).as_dict()
    assert held["gaba/fresh"] == 0.0 and held["gaba/age"] == 3.0
    assert held["gaba/sensor_representation"] == 1.0 and "gaba/sensor_exact" not in held
    with pytest.raises(TypeError, match="prefix"):
        result.as_dict(prefix=None)


def test_docstring_examples_run() -> None:
    failures, tried = doctest.testmod(gabalab.gaba, optionflags=doctest.ELLIPSIS)
    assert tried > 5 and failures == 0


# ---------------------------------------------------------------------------- training


def test_training_on_a_simulated_fleet_batch_lowers_both_losses() -> None:
    prepared = prepare_cmapss(simulated_fleet(3, 1, seed=0))
    x, y, c = next(iter(make_loader(prepared.train, batch_size=32, seed=0)))
    model = DualTaskModel(**SMALL_DUAL, dropout=0.0, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    balancer = GabaBalancer.from_model(model, ema=0.5, floor=0.0)
    history, results = [], []
    for _ in range(20):
        optimizer.zero_grad(set_to_none=True)
        losses = _losses(model, x, y, c)
        history.append([loss.detach().item() for loss in losses])
        results.append(balancer.step(losses))
        optimizer.step()
    first, last = history[0], history[-1]
    assert all(math.isfinite(v) for row in history for v in row)
    assert last[0] < first[0] and last[1] < first[1], (first, last)
    assert not any(r.skipped for r in results)
    # The imbalance is there (the RUL gradient is the loud one) and GABA counters it.
    assert all(r.norms[0] > 10 * r.norms[1] for r in results)
    assert all(r.weights[0] < 0.1 < 0.9 < r.weights[1] for r in results)


# ---------------------------------------------------------------------------- accumulation


def _micro_batches(sizes, seed: int, dtype=torch.float64):
    """One batch split into micro-batches of the given sizes, and the whole batch."""
    x, y, c = _batch(sum(sizes), seed=seed, dtype=dtype)
    bounds = np.cumsum([0, *sizes])
    parts = [(x[a:b], y[a:b], c[a:b]) for a, b in itertools.pairwise(bounds)]
    return parts, (x, y, c)


@pytest.mark.parametrize("sizes", [(4, 4, 4, 4), (2, 6, 8)])
def test_accumulated_micro_batches_equal_the_big_batch(sizes) -> None:
    """Each micro-batch's mean loss scaled by b_m / B: one step on the concatenated batch."""
    parts, whole = _micro_batches(sizes, seed=30)
    total = sum(sizes)
    model = TinyDualHead(seed=0).double()
    balancer = GabaBalancer.from_model(model, ema=0.5)
    for i, part in enumerate(parts):
        losses = [loss * (sizes[i] / total) for loss in _losses(model, *part)]
        if i < len(parts) - 1:
            balancer.accumulate(losses)
            assert balancer.pending_micro_batches == i + 1
            assert all(p.grad is None for p in model.parameters())  # nothing written yet
        else:
            result = balancer.step(losses)  # the last micro-batch, then apply()
    ours = _grads(model)
    model.zero_grad(set_to_none=True)
    big = GabaBalancer.from_model(model, ema=0.5).step(_losses(model, *whole))
    assert result.micro_batches == len(sizes) and balancer.pending_micro_batches == 0
    np.testing.assert_allclose(result.norms, big.norms, rtol=1e-12)
    np.testing.assert_allclose(result.weights, big.weights, rtol=1e-12)
    _assert_same_grads(ours, _grads(model), rtol=1e-12, atol_fraction=1e-15)
    assert balancer.n_steps == 1 and result.as_dict()["gaba/micro_batches"] == len(sizes)


def test_unscaled_micro_batch_losses_sum_the_gradients() -> None:
    """The pitfall: M mean losses passed as they are give M times the big-batch gradient."""
    parts, whole = _micro_batches((4, 4, 4), seed=31)
    model = TinyDualHead(seed=0).double()
    balancer = GabaBalancer.from_model(model)
    for part in parts:
        balancer.accumulate(_losses(model, *part))
    summed = balancer.apply()
    big = GabaBalancer.from_model(model).step(_losses(model, *whole))
    np.testing.assert_allclose(summed.norms, 3 * np.array(big.norms), rtol=1e-12)
    np.testing.assert_allclose(summed.weights, big.weights, rtol=1e-12)  # scale-free weights


def test_apply_needs_accumulated_micro_batches_and_discard_drops_them() -> None:
    model = TinyDualHead(seed=0)
    balancer = GabaBalancer.from_model(model)
    with pytest.raises(ValueError, match="apply\\(\\) found no accumulated micro-batch"):
        balancer.apply()
    balancer.accumulate(_losses(model, *_batch(4, seed=32)))
    balancer.discard()
    assert balancer.pending_micro_batches == 0
    with pytest.raises(ValueError, match="no accumulated micro-batch"):
        balancer.apply()
    assert all(p.grad is None for p in model.parameters()) and balancer.n_steps == 0


def test_accumulate_validates_like_step_and_keeps_earlier_micro_batches() -> None:
    model = TinyDualHead(seed=0)
    balancer = GabaBalancer.from_model(model)
    balancer.accumulate(_losses(model, *_batch(4, seed=33)))
    good = _losses(model, *_batch(4, seed=34))
    with pytest.raises(ValueError, match="expected 2, got 1"):
        balancer.accumulate(good[:1])
    with pytest.raises(TypeError, match="scaler must be a torch.amp.GradScaler"):
        balancer.accumulate(good, scaler=object())
    assert balancer.pending_micro_batches == 1  # the failed calls added nothing
    balancer.accumulate(good)
    assert balancer.apply().micro_batches == 2


def test_a_nonfinite_micro_batch_is_named_and_skipped_with_the_step() -> None:
    model = TinyDualHead(seed=0)
    balancer = GabaBalancer.from_model(model, on_nonfinite="skip")
    balancer.accumulate(_losses(model, *_batch(4, seed=35)))
    losses = _losses(model, *_batch(4, seed=36))
    result = balancer.step([losses[0], losses[1] * math.nan])
    assert result.skipped and result.reason == "losses[1] is not finite (nan) in micro-batch 1"
    assert balancer.pending_micro_batches == 0 and balancer.n_skipped == 1
    assert all(p.grad is None for p in model.parameters())
