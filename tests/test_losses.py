"""Analytic loss gradients (NumPy) against their autograd twins, and their bounds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gabalab import losses

finite = st.floats(-50.0, 50.0, allow_nan=False, allow_infinity=False)


@st.composite
def logits_and_labels(draw):
    batch = draw(st.integers(1, 64))
    k = draw(st.integers(2, 12))
    logits = draw(arrays(np.float64, (batch, k), elements=finite))
    labels = draw(arrays(np.int64, (batch,), elements=st.integers(0, k - 1)))
    return logits, labels


@st.composite
def predictions_and_targets(draw):
    batch = draw(st.integers(1, 64))
    elems = st.floats(-500.0, 500.0, allow_nan=False, allow_infinity=False)
    return (draw(arrays(np.float64, (batch,), elements=elems)),
            draw(arrays(np.float64, (batch,), elements=elems)))


@settings(max_examples=60, deadline=None)
@given(logits_and_labels())
def test_ce_grad_equals_autograd(data) -> None:
    logits, labels = data
    np.testing.assert_allclose(
        losses.cross_entropy_grad(logits, labels), losses.cross_entropy_grad_torch(logits, labels),
        rtol=1e-9, atol=1e-15,
    )


@settings(max_examples=60, deadline=None)
@given(predictions_and_targets())
def test_mse_grad_equals_autograd(data) -> None:
    y_hat, y = data
    np.testing.assert_allclose(losses.mse_grad(y_hat, y), losses.mse_grad_torch(y_hat, y),
                               rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(logits_and_labels())
def test_ce_grad_entries_within_one_over_b(data) -> None:
    logits, labels = data
    grad = losses.cross_entropy_grad(logits, labels)
    assert np.abs(grad).max() <= 1.0 / logits.shape[0] + 1e-15
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-15)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 64), st.integers(2, 12), st.data())
def test_true_class_entry_under_uniform_softmax(batch, k, data) -> None:
    labels = data.draw(arrays(np.int64, (batch,), elements=st.integers(0, k - 1)))
    grad = losses.cross_entropy_grad(np.zeros((batch, k)), labels)
    np.testing.assert_allclose(grad[np.arange(batch), labels], -(1 - 1 / k) / batch, rtol=1e-12)


def test_losses_match_torch() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(16, 3)) * 5
    labels = rng.integers(0, 3, size=16)
    y_hat, y = rng.normal(size=16), rng.uniform(0, 125, size=16)
    assert losses.cross_entropy(logits, labels) == pytest.approx(
        F.cross_entropy(torch.tensor(logits), torch.tensor(labels)).item(), rel=1e-12)
    assert losses.mse_loss(y_hat, y) == pytest.approx(
        F.mse_loss(torch.tensor(y_hat), torch.tensor(y)).item(), rel=1e-12)


def test_log_softmax_is_stable_for_huge_logits() -> None:
    out = losses.log_softmax(np.array([[1e4, 0.0, -1e4]]))
    assert np.all(np.isfinite(out))
    assert out[0, 0] == pytest.approx(0.0)


def test_mse_grad_is_linear_in_residual() -> None:
    y = np.array([10.0, 20.0, 125.0])
    np.testing.assert_allclose(losses.mse_grad(np.zeros(3), y), -2 / 3 * y)


@pytest.mark.parametrize(
    "logits, labels, match",
    [
        (np.zeros((0, 3)), np.zeros(0, dtype=int), "logits is empty"),
        (np.zeros((4, 1)), np.zeros(4, dtype=int), "K >= 2"),
        (np.zeros((4, 3)), np.zeros(5, dtype=int), "labels must have shape"),
        (np.zeros((4, 3)), np.array([0, 1, 2, 3]), r"labels must lie in \[0, 2\]"),
        (np.zeros((4, 3)), np.array([0, -1, 2, 1]), "labels must lie"),
        (np.array([[0.0, np.nan, 1.0]]), np.array([0]), "logits contains 1 non-finite"),
        (np.zeros(3), np.zeros(3, dtype=int), "logits must be 2-D"),
    ],
)
def test_ce_bad_input(logits, labels, match) -> None:
    with pytest.raises(ValueError, match=match):
        losses.cross_entropy_grad(logits, labels)
    with pytest.raises(ValueError, match=match):
        losses.cross_entropy_grad_torch(logits, labels)


def test_ce_float_labels_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="labels must hold integers"):
        losses.cross_entropy_grad(np.zeros((2, 3)), np.array([0.0, 1.0]))


@pytest.mark.parametrize(
    "y_hat, y, match",
    [
        (np.zeros(0), np.zeros(0), "y_hat is empty"),
        (np.zeros(3), np.zeros(4), "same shape"),
        (np.zeros(2), np.array([1.0, np.inf]), "y contains 1 non-finite"),
        (np.zeros((2, 1)), np.zeros((2, 1)), "y_hat must be 1-D"),
    ],
)
def test_mse_bad_input(y_hat, y, match) -> None:
    with pytest.raises(ValueError, match=match):
        losses.mse_grad(y_hat, y)
    with pytest.raises(ValueError, match=match):
        losses.mse_grad_torch(y_hat, y)


def test_tensor_passed_to_numpy_reference_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="y_hat must be a NumPy array"):
        losses.mse_grad(torch.zeros(3), np.zeros(3))


def test_gradient_magnitudes_formula() -> None:
    g = losses.gradient_magnitudes(-60.0, 1 / 3, 32, 3)
    assert g["mse"] == pytest.approx(120 / 32)
    assert g["ce_true"] == pytest.approx((2 / 3) / 32)
    assert g["ce_row"] == pytest.approx((2 / 3) / 32 * np.sqrt(1.5))
    assert g["ratio"] == pytest.approx(180.0)
    # B cancels in the ratio; K changes only the row norm.
    assert losses.gradient_magnitudes(-60.0, 0.5, 7, 3)["ratio"] == pytest.approx(
        losses.gradient_magnitudes(-60.0, 0.5, 256, 9)["ratio"])
    assert losses.gradient_magnitudes(5.0, 1.0, 4, 3)["ratio"] == float("inf")


def test_gradient_magnitudes_agree_with_the_arrays() -> None:
    # One sample whose other classes share 1 - p equally: compare with cross_entropy_grad.
    p_true, k, batch = 0.7, 4, 8
    probs = np.full(k, (1 - p_true) / (k - 1))
    probs[0] = p_true
    logits = np.tile(np.log(probs), (batch, 1))
    grad = losses.cross_entropy_grad(logits, np.zeros(batch, dtype=int))
    g = losses.gradient_magnitudes(3.0, p_true, batch, k)
    assert np.abs(grad[0]).max() == pytest.approx(g["ce_true"])
    assert np.linalg.norm(grad[0]) == pytest.approx(g["ce_row"])


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(residual=1.0, p_true=1.5, batch_size=4, n_classes=3), ValueError, "p_true"),
        (dict(residual=1.0, p_true=0.5, batch_size=0, n_classes=3), ValueError, "batch_size"),
        (dict(residual=1.0, p_true=0.5, batch_size=4, n_classes=1), ValueError, "n_classes"),
        (dict(residual=float("nan"), p_true=0.5, batch_size=4, n_classes=3), ValueError,
         "residual"),
        (dict(residual=1.0, p_true=0.5, batch_size=4.0, n_classes=3), TypeError, "batch_size"),
    ],
)
def test_gradient_magnitudes_bad_input(kwargs, exc, match) -> None:
    with pytest.raises(exc, match=match):
        losses.gradient_magnitudes(**kwargs)


def test_batch_size_effect_matches_its_parts() -> None:
    from gabalab import measure

    effect = losses.batch_size_effect((16, 32, 64), residual=-30.0, p_true=0.5, n_batches=40,
                                      seed=3)
    assert effect.batch_sizes == (16, 32, 64)
    # per sample the batch size cancels: 2 |r| / (1 - p) at every size
    np.testing.assert_allclose(effect.per_sample, [120.0] * 3, rtol=1e-12)
    direct = measure.output_side_proxy(measure.synthetic_batches(40, 32, seed=3))
    assert effect.batch_median[1] == direct.summary()["median"]
    assert effect.factor == effect.batch_median[2] / effect.batch_median[0]


def test_batch_level_ratio_does_not_double_with_the_batch_size() -> None:
    effect = losses.batch_size_effect((32, 64), n_batches=200, seed=0)
    assert abs(effect.factor - 1) < 0.05
    assert effect.verdict(2.0) == "contradicted"
    assert "median batch-level ratio" in effect.table().splitlines()[0]
    assert len(effect.table().splitlines()) == 3


@pytest.mark.parametrize("medians, verdict", [((100.0, 195.0), "holds"),
                                              ((100.0, 101.0), "contradicted"),
                                              ((100.0, 150.0), "holds in part")])
def test_batch_size_verdict(medians, verdict) -> None:
    assert losses.BatchSizeEffect((32, 64), (1.0, 1.0), medians).verdict(2.0) == verdict


def test_batch_size_effect_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="batch_sizes must hold at least two"):
        losses.batch_size_effect((32,))
    with pytest.raises(ValueError, match=r"p_true must lie in \[0, 1\)"):
        losses.batch_size_effect(p_true=1.0)
    with pytest.raises(TypeError, match="batch_sizes"):
        losses.batch_size_effect("32")
