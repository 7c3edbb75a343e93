"""The hand-derived gradients of the linear dual-head model against autograd and finite
differences (gabalab.linear_reference)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gabalab import linear_reference as lr
from gabalab import norms
from gabalab.constants import RUL_CAP
from gabalab.data import health_labels

FIELDS = ("shared_rul", "shared_hs", "head_rul", "head_hs")


@st.composite
def problems(draw):
    d_in = draw(st.integers(1, 6))
    d_shared = draw(st.integers(1, 10))
    k = draw(st.integers(2, 5))
    batch = draw(st.integers(1, 40))
    scale = draw(st.sampled_from([0.01, 0.1, 1.0]))
    weights = lr.init_linear_weights(d_in, d_shared, k, scale=scale, seed=draw(st.integers(0, 999)))
    x, y_rul, _ = lr.random_rul_batch(batch, d_in, seed=draw(st.integers(0, 999)))
    y_hs = np.asarray(draw(st.lists(st.integers(0, k - 1), min_size=batch, max_size=batch)))
    return weights, x, y_rul, y_hs


@settings(max_examples=60, deadline=None)
@given(problems())
def test_numpy_and_torch_twins_agree(problem) -> None:
    weights, x, y_rul, y_hs = problem
    by_hand = lr.linear_task_gradients(weights, x, y_rul, y_hs)
    by_autograd = lr.linear_task_gradients_torch(weights, x, y_rul, y_hs)
    assert by_hand.loss_rul == pytest.approx(by_autograd.loss_rul, rel=1e-12)
    assert by_hand.loss_hs == pytest.approx(by_autograd.loss_hs, rel=1e-12)
    for field in FIELDS:
        a, b = getattr(by_hand, field), getattr(by_autograd, field)
        assert a.shape == b.shape, field
        scale = max(np.abs(a).max(), 1e-300)
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12 * scale, err_msg=field)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("task", ["rul", "hs"])
def test_finite_differences_agree(seed, task) -> None:
    weights = lr.init_linear_weights(4, 8, 3, seed=seed)
    x, y_rul, y_hs = lr.random_rul_batch(32, 4, seed=seed + 10)
    fd = lr.finite_difference_shared_grad(weights, x, y_rul, y_hs, task, eps=1e-5)
    exact = getattr(lr.linear_task_gradients(weights, x, y_rul, y_hs), f"shared_{task}")
    np.testing.assert_allclose(fd, exact, rtol=1e-6, atol=1e-6 * np.abs(exact).max())


def test_finite_differences_catch_a_wrong_gradient() -> None:
    weights = lr.init_linear_weights(4, 8, 3, seed=0)
    batch = lr.random_rul_batch(32, 4, seed=1)
    fd = lr.finite_difference_shared_grad(weights, *batch, task="rul")
    wrong = lr.linear_task_gradients(weights, *batch).shared_rul / 2  # e.g. a lost factor 2
    assert not np.allclose(fd, wrong, rtol=1e-3)


def test_forward_by_hand() -> None:
    weights = lr.LinearWeights(W=np.array([[1.0, 0.0], [0.0, 2.0]]), w_rul=np.array([1.0, 1.0]),
                               W_hs=np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    z, y_hat, logits = lr.linear_forward(weights, np.array([[1.0, 1.0]]))
    np.testing.assert_array_equal(z, [[1.0, 2.0]])
    np.testing.assert_array_equal(y_hat, [3.0])
    np.testing.assert_array_equal(logits, [[1.0, 2.0, 3.0]])


def test_gradient_by_hand_for_one_sample() -> None:
    # z = W x = [1, 2]; y_hat = 3; target 5 -> r = -2, dL/dy_hat = 2 r = -4 (B = 1).
    weights = lr.LinearWeights(W=np.array([[1.0, 0.0], [0.0, 2.0]]), w_rul=np.array([1.0, 1.0]),
                               W_hs=np.zeros((3, 2)))
    grads = lr.linear_task_gradients(weights, np.array([[1.0, 1.0]]), np.array([5.0]),
                                     np.array([0]))
    assert grads.loss_rul == 4.0
    np.testing.assert_array_equal(grads.shared_rul, -4.0 * np.ones((2, 2)))  # outer(-4 w, x)
    np.testing.assert_array_equal(grads.head_rul, [-4.0, -8.0])  # -4 z
    assert grads.loss_hs == pytest.approx(np.log(3))
    np.testing.assert_array_equal(grads.shared_hs, np.zeros((2, 2)))  # W_hs = 0 blocks it


def test_rul_gradient_on_shared_layer_is_rank_one() -> None:
    weights = lr.init_linear_weights(4, 8, 3, seed=3)
    grads = lr.linear_task_gradients(weights, *lr.random_rul_batch(32, 4, seed=3))
    s = np.linalg.svd(grads.shared_rul, compute_uv=False)
    assert s[1] < 1e-12 * s[0]
    s_hs = np.linalg.svd(grads.shared_hs, compute_uv=False)
    assert s_hs[1] > 1e-6 * s_hs[0]


def test_torch_module_copies_the_weights_and_selects_the_shared_layer() -> None:
    weights = lr.init_linear_weights(4, 8, 3, seed=0)
    model = lr.LinearDualHead.from_weights(weights)
    assert model.shared.weight.dtype == torch.float64
    np.testing.assert_array_equal(model.shared.weight.detach().numpy(), weights.W)
    np.testing.assert_array_equal(model.rul_head.weight.detach().numpy()[0], weights.w_rul)
    np.testing.assert_array_equal(model.health_head.weight.detach().numpy(), weights.W_hs)
    assert [n for n, _ in norms.shared_named_parameters(model)] == ["shared.weight"]
    x, _, _ = lr.random_rul_batch(5, 4, seed=0)
    y_hat, logits = model(torch.from_numpy(x))
    _, y_hat_np, logits_np = lr.linear_forward(weights, x)
    np.testing.assert_allclose(y_hat.detach().numpy(), y_hat_np, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(logits.detach().numpy(), logits_np, rtol=1e-13, atol=1e-16)


def test_task_grad_norms_on_the_twin_match_the_numpy_norms() -> None:
    weights = lr.init_linear_weights(4, 8, 3, seed=0)
    x, y_rul, y_hs = lr.random_rul_batch(32, 4, seed=1)
    grads = lr.linear_task_gradients(weights, x, y_rul, y_hs)
    model = lr.LinearDualHead.from_weights(weights)
    y_hat, logits = model(torch.from_numpy(x))
    losses = [torch.nn.functional.mse_loss(y_hat, torch.from_numpy(y_rul)),
              torch.nn.functional.cross_entropy(logits, torch.from_numpy(y_hs))]
    for p in (1, 2, np.inf):
        got = norms.task_grad_norms(losses, norms.shared_parameters(model), p=p)
        want = [norms.vector_norm([grads.shared_rul], p), norms.vector_norm([grads.shared_hs], p)]
        np.testing.assert_allclose(got, want, rtol=1e-6)  # grads_norm measures in float32


def test_batch_targets_and_labels() -> None:
    x, y_rul, y_hs = lr.random_rul_batch(2000, 3, seed=0)
    assert x.shape == (2000, 3) and x.dtype == np.float64
    assert y_rul.min() == 0 and y_rul.max() == RUL_CAP
    np.testing.assert_array_equal(y_rul, np.round(y_rul))
    np.testing.assert_array_equal(y_hs, health_labels(y_rul))
    assert set(np.unique(y_hs)) == {0, 1, 2}
    again = lr.random_rul_batch(2000, 3, seed=0)
    for a, b in zip((x, y_rul, y_hs), again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(lr.random_rul_batch(2000, 3, seed=1)[1], y_rul)


def test_init_is_seeded_and_scaled() -> None:
    a = lr.init_linear_weights(40, 50, 3, scale=0.1, seed=7)
    b = lr.init_linear_weights(40, 50, 3, scale=0.1, seed=7)
    np.testing.assert_array_equal(a.W, b.W)
    assert a.W.std() == pytest.approx(0.1, rel=0.05)
    assert (a.d_in, a.d_shared, a.n_classes) == (40, 50, 3)


def test_argument_errors() -> None:
    weights = lr.init_linear_weights(4, 8, 3, seed=0)
    x, y_rul, y_hs = lr.random_rul_batch(6, 4, seed=0)
    with pytest.raises(ValueError, match="x must have shape"):
        lr.linear_forward(weights, x[:, :3])
    with pytest.raises(TypeError, match="weights"):
        lr.linear_forward({"W": weights.W}, x)
    with pytest.raises(TypeError, match="x must be a NumPy array"):
        lr.linear_forward(weights, torch.from_numpy(x))
    with pytest.raises(ValueError, match="y_rul must have shape"):
        lr.linear_losses(weights, x, y_rul[:3], y_hs)
    with pytest.raises(ValueError, match="y_hs must lie in"):
        lr.linear_task_gradients(weights, x, y_rul, y_hs + 3)
    with pytest.raises(TypeError, match="y_hs must hold integer"):
        lr.linear_task_gradients(weights, x, y_rul, y_hs.astype(float))
    with pytest.raises(ValueError, match="x contains"):
        lr.linear_task_gradients(weights, np.full_like(x, np.nan), y_rul, y_hs)
    with pytest.raises(ValueError, match="task must be one of"):
        lr.finite_difference_shared_grad(weights, x, y_rul, y_hs, task="health")
    with pytest.raises(ValueError, match="w_rul must have shape"):
        lr.LinearWeights(W=np.ones((3, 2)), w_rul=np.ones(2), W_hs=np.ones((3, 3)))
    with pytest.raises(ValueError, match="W_hs must have shape"):
        lr.LinearWeights(W=np.ones((3, 2)), w_rul=np.ones(3), W_hs=np.ones((1, 3)))
    with pytest.raises(ValueError, match="scale must be > 0"):
        lr.init_linear_weights(scale=0.0, seed=0)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        lr.random_rul_batch(4, 4, seed=-1)
    with pytest.raises(TypeError, match="dtype"):
        lr.LinearDualHead(2, 3, dtype=torch.int64)


def test_ratio_spread_is_the_ratio_of_each_batch() -> None:
    weights = lr.init_linear_weights(4, 8, 3, scale=0.1, seed=0)
    spread = lr.ratio_spread(weights, 16, seeds=[5, 2, 9])
    assert spread.seeds == (5, 2, 9)
    for seed, ratio in zip(spread.seeds, spread.ratios):
        grads = lr.linear_task_gradients(weights, *lr.random_rul_batch(16, 4, seed=seed))
        assert ratio == pytest.approx(norms.vector_norm([grads.shared_rul])
                                      / norms.vector_norm([grads.shared_hs]), rel=1e-12)
    assert spread.min == min(spread.ratios) and spread.max == max(spread.ratios)
    assert spread.median == sorted(spread.ratios)[1]
    assert str(spread).splitlines()[-1] == spread.quotes()["spread_min"].join(
        ["min ", f", median {spread.median:.0f}, max {spread.max:.0f}"])


def test_the_source_toy_gives_far_less_than_500() -> None:
    weights = lr.init_linear_weights(4, 8, 3, scale=0.1, seed=0)
    spread = lr.ratio_spread(weights, 32, seeds=range(1, 21))
    assert 10 < spread.min < spread.max < 300
    assert spread.verdict(500) == "contradicted"


@pytest.mark.parametrize("ratios, verdict", [((40.0, 250.0), "contradicted"),
                                             ((40.0, 400.0), "holds in part"),
                                             ((450.0, 300.0), "holds"),
                                             ((1200.0,), "holds in part")])
def test_ratio_spread_verdict(ratios, verdict) -> None:
    assert lr.RatioSpread(tuple(range(len(ratios))), ratios).verdict(500) == verdict


def test_ratio_spread_refuses_bad_arguments() -> None:
    weights = lr.init_linear_weights(4, 8, 3, seed=0)
    with pytest.raises(ValueError, match="seeds must hold at least one"):
        lr.ratio_spread(weights, 8, seeds=[])
    with pytest.raises(ValueError, match="weights must have at least 3 classes"):
        lr.ratio_spread(lr.init_linear_weights(4, 8, 2, seed=0), 8, seeds=[1])
    with pytest.raises(TypeError, match="seeds"):
        lr.ratio_spread(weights, 8, seeds=3)
