"""Closed-form GABA weights, and their agreement with IMTL-G for two tasks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from gabalab.models import DualTaskModel, TinyDualHead
from gabalab.norms import shared_parameters
from gabalab.weighting import (
    check_rule,
    gaba_weights,
    imtl_g_weights,
    rule_spreads,
    stabilised_weights,
    weighted_norm_spread,
)

norm_values = st.floats(0.0, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=100, deadline=None)
@given(st.lists(norm_values, min_size=2, max_size=8))
def test_weights_sum_to_one_and_are_in_range(norms) -> None:
    w = gaba_weights(norms)
    assert w.shape == (len(norms),)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(w >= -1e-15) and np.all(w <= 1.0 + 1e-15)


@settings(max_examples=100, deadline=None)
@given(st.floats(1e-6, 1e6), st.floats(1e-6, 1e6))
def test_two_tasks_equalise_weighted_norms(g1, g2) -> None:
    w = gaba_weights([g1, g2])
    assert w[0] == pytest.approx(g2 / (g1 + g2), rel=1e-12)
    assert w[0] * g1 == pytest.approx(w[1] * g2, rel=1e-9)


def test_k_task_formulas_against_hand_values() -> None:
    norms = np.array([4.0, 1.0, 3.0, 2.0])
    # complement: (S - g_i) / ((K - 1) S) with S = 10, K = 4
    np.testing.assert_allclose(gaba_weights(norms, rule="complement"), [6 / 30, 9 / 30, 7 / 30,
                                                                    8 / 30], rtol=1e-15)
    # inverse: (1/g_i) / sum_j (1/g_j) with sum = 1/4 + 1 + 1/3 + 1/2 = 25/12
    np.testing.assert_allclose(gaba_weights(norms, rule="inverse"), [3 / 25, 12 / 25, 4 / 25,
                                                                     6 / 25], rtol=1e-15)
    np.testing.assert_array_equal(gaba_weights(norms), gaba_weights(norms, rule="inverse"))


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 1e12), st.floats(0.0, 1e12))
def test_the_two_rules_are_the_same_function_for_two_tasks(g1, g2) -> None:
    complement = gaba_weights([g1, g2], rule="complement")
    inverse = gaba_weights([g1, g2], rule="inverse")
    np.testing.assert_array_equal(complement, inverse)  # bit for bit: two-task results unchanged
    if g1 > 1e-200 and g2 > 1e-200:  # and it is the inverse-norm rule (1/g finite)
        reciprocal = np.array([1 / g1, 1 / g2])
        np.testing.assert_allclose(inverse, reciprocal / reciprocal.sum(), rtol=1e-14)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(1e-8, 1e8), min_size=3, max_size=12))
def test_the_inverse_rule_equalises_every_weighted_norm(norms) -> None:
    w = gaba_weights(norms, rule="inverse")
    pulls = w * np.asarray(norms)
    np.testing.assert_allclose(pulls, pulls[0], rtol=1e-12)
    np.testing.assert_allclose(pulls, 1 / np.sum(1 / np.asarray(norms)), rtol=1e-12)
    assert weighted_norm_spread(norms) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("k", [3, 5, 10])
def test_the_inverse_rule_is_imtl_g_on_orthogonal_gradients(k) -> None:
    norms = np.logspace(0, 2, k)
    grads = [g * np.eye(k)[i] for i, g in enumerate(norms)]  # orthogonal, lengths g_i
    np.testing.assert_allclose(gaba_weights(norms, rule="inverse"), imtl_g_weights(grads),
                               rtol=1e-12)
    assert not np.allclose(gaba_weights(norms, rule="complement"), imtl_g_weights(grads),
                           rtol=1e-3)


def test_the_complement_rule_leaves_k_tasks_far_apart() -> None:
    # log-spaced over two orders of magnitude: (1, 10, 100) by hand for K = 3
    assert weighted_norm_spread([1.0, 10.0, 100.0], rule="complement") == pytest.approx(
        (100 * 11 / 222) / (1 * 110 / 222), rel=1e-14)
    spreads = {k: weighted_norm_spread(np.logspace(0, 2, k), rule="complement") for k in (2, 5, 10)}
    assert spreads[2] == pytest.approx(1.0, abs=1e-12)
    assert 10 < spreads[5] < spreads[10] < 100  # tens of times apart, below the raw 100x


def test_inverse_rule_with_zero_norms_and_rule_validation() -> None:
    np.testing.assert_array_equal(gaba_weights([0.0, 2.0, 0.0, 1.0]), [0.5, 0.0, 0.5, 0.0])
    np.testing.assert_array_equal(gaba_weights([0.0, 0.0, 0.0]), np.full(3, 1 / 3))
    tiny = gaba_weights([1e-300, 1e-300, 1e300])  # no overflow in 1/g
    np.testing.assert_allclose(tiny, [0.5, 0.5, 0.0], atol=1e-300)
    with pytest.raises(ValueError, match=r"rule must be one of \['inverse', 'complement'\]"):
        gaba_weights([1.0, 2.0], rule="inverse_norm")
    with pytest.raises(TypeError, match="rule must be one of"):
        gaba_weights([1.0, 2.0], rule=None)
    with pytest.raises(ValueError, match="norms must be > 0 for a spread"):
        weighted_norm_spread([1.0, 0.0])
    with pytest.raises(ValueError, match="rule must be one of"):
        weighted_norm_spread([1.0, 2.0], rule="x")
    with pytest.raises(ValueError, match="rule must be one of"):
        stabilised_weights([1.0, 2.0], rule="x")


def test_stabilised_weights_passes_the_rule_on() -> None:
    norms = [4.0, 1.0, 3.0]
    for rule in ("inverse", "complement"):
        np.testing.assert_array_equal(stabilised_weights(norms, rule=rule).weights,
                                      gaba_weights(norms, rule=rule))
    assert stabilised_weights(norms).weights.tolist() == gaba_weights(norms).tolist()


def test_louder_task_gets_smaller_weight() -> None:
    w = gaba_weights([500.0, 1.0, 20.0])
    assert w[0] < w[2] < w[1]


def test_all_zero_norms_fall_back_to_uniform() -> None:
    np.testing.assert_array_equal(gaba_weights([0.0, 0.0, 0.0]), np.full(3, 1 / 3))


@pytest.mark.parametrize(
    "norms, exc, match",
    [
        ([1.0], ValueError, "at least 2 tasks"),
        ([], ValueError, "at least 2 tasks"),
        ([1.0, float("nan")], ValueError, "finite"),
        ([1.0, float("inf")], ValueError, "finite"),
        ([1.0, -2.0], ValueError, ">= 0"),
        ("ab", TypeError, "got str"),
        ([[1.0, 2.0], [3.0, 4.0]], ValueError, "1-D"),
        ([1.0, "x"], TypeError, "real numbers"),
    ],
)
def test_bad_norms(norms, exc, match) -> None:
    with pytest.raises(exc, match=match):
        gaba_weights(norms)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 200), st.floats(0.01, 1000.0))
def test_two_task_weights_equal_imtl_g(seed, n, scale) -> None:
    rng = np.random.default_rng(seed)
    g1 = rng.normal(size=n) * scale
    g2 = rng.normal(size=n)
    expected = imtl_g_weights([g1, g2])
    got = gaba_weights([np.linalg.norm(g1), np.linalg.norm(g2)])
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-12)


def test_imtl_g_equal_projections_for_three_tasks() -> None:
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=20) * s for s in (100.0, 1.0, 5.0)]
    alpha = imtl_g_weights(grads)
    combined = sum(a * g for a, g in zip(alpha, grads))
    projections = [combined @ g / np.linalg.norm(g) for g in grads]
    np.testing.assert_allclose(projections, projections[0], rtol=1e-9)
    assert alpha.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "grads, match",
    [
        ([np.ones(3)], "at least 2"),
        ([np.ones(3), np.ones(4)], "same number"),
        ([np.ones(3), np.zeros(3)], r"grads\[1\] is zero"),
        ([np.ones(3), 2 * np.ones(3)], "parallel"),
        ([np.ones(3), np.array([1.0, np.nan, 0.0])], "non-finite"),
    ],
)
def test_imtl_g_bad_input(grads, match) -> None:
    with pytest.raises(ValueError, match=match):
        imtl_g_weights(grads)


def test_smooth_norms_is_the_ema_and_starts_at_the_first_norms() -> None:
    from gabalab.weighting import smooth_norms

    state = None
    seen = []
    for g in ([4.0, 1.0], [8.0, 2.0], [0.0, 3.0]):
        state = smooth_norms(state, g, 0.5)
        seen.append(state.tolist())
    assert seen == [[4.0, 1.0], [6.0, 1.5], [3.0, 2.25]]
    assert smooth_norms([1.0, 1.0], [5.0, 7.0], None).tolist() == [5.0, 7.0]
    assert smooth_norms([1.0, 1.0], [5.0, 7.0], 0.0).tolist() == [5.0, 7.0]
    with pytest.raises(ValueError, match="state holds 3 norms but norms holds 2"):
        smooth_norms([1.0, 1.0, 1.0], [1.0, 2.0], 0.9)
    with pytest.raises(ValueError, match=r"ema must be in \[0, 1\)"):
        smooth_norms(None, [1.0, 2.0], 1.0)


def test_stabilised_weights_chains_ema_closed_form_and_floor() -> None:
    from gabalab.weighting import floor_weights, smooth_norms, stabilised_weights

    state = np.array([100.0, 1.0])
    norms = [300.0, 2.0]
    update = stabilised_weights(norms, state, ema=0.9, floor=0.01)
    smoothed = smooth_norms(state, norms, 0.9)
    np.testing.assert_array_equal(update.norms, smoothed)
    np.testing.assert_array_equal(update.weights, floor_weights(gaba_weights(smoothed), 0.01))
    assert update.weights[0] == pytest.approx(0.01)
    # The input state is not modified (the function is pure).
    assert state.tolist() == [100.0, 1.0]


def _task_grads(model: torch.nn.Module, seed: int) -> tuple[list[torch.Tensor], list[tuple]]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(16, 30, 14, generator=gen)
    y = 125.0 * torch.rand(16, generator=gen)
    c = torch.randint(0, 3, (16,), generator=gen)
    model.eval()  # no dropout: the same function for every call
    rul, logits = model(x)
    losses = [F.mse_loss(rul, y), F.cross_entropy(logits, c)]
    params = shared_parameters(model)
    grads = [torch.autograd.grad(loss, params, retain_graph=True) for loss in losses]
    return losses, grads


MODELS = {
    "tiny": lambda: TinyDualHead(hidden=(32, 16), seed=0),
    "dual_small": lambda: DualTaskModel(conv_channels=(8, 16), lstm_hidden=16, lstm_layers=2,
                                        attention_hidden=8, funnel=(32, 16), seed=0),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_gaba_equals_imtl_g_on_model_gradients(name) -> None:
    model = MODELS[name]()
    _, grads = _task_grads(model, seed=1)
    flat = [torch.cat([g.reshape(-1) for g in gs]).double().numpy() for gs in grads]
    norms = [float(np.linalg.norm(f)) for f in flat]
    lam = gaba_weights(norms)
    np.testing.assert_allclose(imtl_g_weights(flat), lam, rtol=0, atol=1e-9)
    # and the weighted gradients have equal norms
    assert lam[0] * norms[0] == pytest.approx(lam[1] * norms[1], rel=1e-9)


def test_the_earlier_name_of_the_complement_rule_still_works_with_a_warning() -> None:
    norms = [2.0, 1.0, 1.0]
    with pytest.warns(DeprecationWarning, match="'source' is now called 'complement'"):
        old = gaba_weights(norms, rule="source")
    np.testing.assert_array_equal(old, gaba_weights(norms, rule="complement"))
    with pytest.warns(DeprecationWarning, match="weight_rule='source'"):
        assert check_rule("source", "weight_rule") == "complement"


def test_rule_spreads_against_the_formulas() -> None:
    table = rule_spreads((2, 3, 5, 10), low=1.0, high=100.0)
    assert table.ks == (2, 3, 5, 10)
    for k, spread, w_min, w_max in zip(table.ks, table.complement, table.complement_min,
                                       table.complement_max):
        g = np.logspace(0, 2, k)
        s = g.sum()
        pulls = (s - g) / ((k - 1) * s) * g
        assert spread == pytest.approx(pulls.max() / pulls.min(), rel=1e-12)
        expected = ((s - g.max()) / ((k - 1) * s), (s - g.min()) / ((k - 1) * s))
        assert (w_min, w_max) == pytest.approx(expected, rel=1e-12)
    assert table.complement[0] == pytest.approx(1.0, abs=1e-12)
    assert table.inverse == pytest.approx((1.0,) * 4, abs=1e-12)
    assert table.complement[1] < table.complement[2] < table.complement[3] < 100
    assert table.verdict() == "holds in part"
    quotes = table.quotes()
    assert quotes["k10_spread"] == f"{table.complement[-1]:.3g}"
    assert set(quotes) == {"k2_spread", "k3_spread", "k5_spread", "k10_spread", "k10_wmin",
                           "k10_wmax"}
    assert str(table).splitlines()[2] == f"  3 {table.complement[1]:19.3g}    0.050 to 0.495" \
        "                1"


def test_rule_spreads_verdict_covers_all_three_words() -> None:
    assert rule_spreads((2,)).verdict() == "holds"
    assert rule_spreads((3, 4)).verdict() == "contradicted"
    assert rule_spreads((3, 4), low=5.0, high=5.0).verdict() == "holds"  # equal norms


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"ks": ()}, ValueError, "ks"),
    ({"ks": (3, 2)}, ValueError, "increasing"),
    ({"ks": (1, 3)}, ValueError, r"ks\[0\]"),
    ({"ks": (2.5,)}, TypeError, r"ks\[0\]"),
    ({"low": 0.0}, ValueError, "low"),
    ({"low": 10.0, "high": 1.0}, ValueError, "high"),
])
def test_rule_spreads_bad_input(kwargs, exc, match) -> None:
    with pytest.raises(exc, match=match):
        rule_spreads(**kwargs)
