"""ShadowSensors and compare_weights: the cheap sensors' weights beside the exact ones."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import gabalab.sensor_comparison
from gabalab.gaba import GabaBalancer
from gabalab.models import TinyDualHead
from gabalab.sensor_comparison import ShadowSensors, compare_weights, summary
from gabalab.weighting import stabilised_weights


def test_compare_weights_by_hand() -> None:
    out = compare_weights([0.5, 0.25], [0.5, 0.5], [[1.0, 1.0], [1.0, 1.0]])
    assert out["abs_diff"] == {"median": 0.125, "mean": 0.125, "q90": 0.225, "max": 0.25}
    assert out["rel_diff"]["max"] == 0.5
    assert out["imbalance"]["max"] == pytest.approx(3.0)  # 0.75 / 0.25
    assert out["pearson"] is None  # the exact series is constant
    same = compare_weights([0.1, 0.2, 0.4], [0.1, 0.2, 0.4], [[9.0, 1.0], [4.0, 1.0],
                                                               [1.5, 1.0]])
    assert same["pearson"] == pytest.approx(1.0) and same["spearman"] == pytest.approx(1.0)
    assert same["imbalance"]["max"] == pytest.approx(1.0)  # 1/g weights balance the pulls
    flipped = compare_weights([0.4, 0.2, 0.1], [0.1, 0.2, 0.4], [[1.0, 1.0]] * 3)
    assert flipped["spearman"] == pytest.approx(-1.0)
    assert flipped["pearson_log"] == pytest.approx(-1.0)


@pytest.mark.parametrize(
    "cheap, exact, norms, message",
    [
        ([0.5], [0.5, 0.5], [[1.0, 1.0]], r"exact must hold one weight per step, as cheap"),
        ([], [], [], "cheap is empty"),
        ([0.5], [0.5], [[1.0, 1.0, 1.0]], r"exact_norms must hold two norms per step"),
        ([1.0], [0.5], [[1.0, 1.0]], r"cheap must hold weights in \(0, 1\)"),
        ([0.5], [float("nan")], [[1.0, 1.0]], "exact contains 1 non-finite"),
        ([0.5], [0.5], [[0.0, 1.0]], "exact_norms must be > 0"),
        ([[0.5]], [0.5], [[1.0, 1.0]], "cheap must be 1-D"),
    ],
)
def test_compare_weights_validates(cheap, exact, norms, message) -> None:
    with pytest.raises(ValueError, match=message):
        compare_weights(cheap, exact, norms)


def test_summary() -> None:
    assert summary([3.0]) == {"median": 3.0, "mean": 3.0, "q90": 3.0, "max": 3.0}
    with pytest.raises(ValueError, match="must not be empty"):
        summary([])


def _run(shadow: ShadowSensors, balancer: GabaBalancer, model, steps: int) -> list:
    results = []
    for step in range(steps):
        gen = torch.Generator().manual_seed(step)
        x = torch.randn(8, 14, generator=gen, dtype=torch.float64)
        y = torch.rand(8, generator=gen, dtype=torch.float64) * 100
        c = torch.randint(0, 3, (8,), generator=gen)
        z = model.features(x)
        losses = [F.mse_loss(model.rul_head(z).squeeze(-1), y),
                  F.cross_entropy(model.health_head(z), c)]
        shadow.before_step(step, losses, z)
        result = balancer.step(losses)
        shadow.after_step(step, result)
        results.append(result)
    return results


@pytest.mark.parametrize("ema", [None, 0.5])
def test_shadow_weights_are_what_the_cheap_balancers_would_hold(ema) -> None:
    model = TinyDualHead(seed=0).double()
    balancer = GabaBalancer.from_model(model, ema=ema, floor=0.05)
    shadow = ShadowSensors([3], ema=ema, floor=0.05)
    _run(shadow, balancer, model, 7)
    s = shadow.series
    assert len(s["exact_w"]) == len(s["rep_w"]) == len(s["held_3_w"]) == 7
    # held: the exact measurements at steps 0, 3, 6 with an EMA over those steps only
    state, expected = None, []
    for step in range(7):
        if step % 3 == 0:
            update = stabilised_weights(s["exact_norms"][step], state, ema=ema, floor=0.05)
            state = update.norms if ema else None
            held = float(update.weights[0])
        expected.append(held)
    assert s["held_3_w"] == expected
    if ema is None:
        assert s["held_3_w"][3] == s["exact_w"][3]
    # representation: its own norms through the same pipeline, with its own EMA
    for key in ("rep", "rep_frobenius"):
        state, expected = None, []
        for norms in s[f"{key}_norms"]:
            update = stabilised_weights(norms, state, ema=ema, floor=0.05)
            state = update.norms if ema else None
            expected.append(float(update.weights[0]))
        assert s[f"{key}_w"] == expected
    assert s["rep_norms"] != s["rep_frobenius_norms"]
    comparisons = shadow.comparisons()
    assert set(comparisons) == {"exact", "exact_lag_1", "representation",
                                "representation_frobenius", "periodic_3"}
    assert comparisons["exact"]["abs_diff"]["max"] == 0.0
    lag = np.abs(np.array(s["exact_w"][:-1]) - np.array(s["exact_w"][1:]))
    assert comparisons["exact_lag_1"]["abs_diff"]["max"] == pytest.approx(lag.max())
    ratios = shadow.norm_ratios()
    for name, key in (("representation", "rep"), ("representation_frobenius", "rep_frobenius")):
        np.testing.assert_allclose(ratios[f"{name}_over_exact"]["median"], np.median(
            [r[0] / r[1] / (e[0] / e[1]) for r, e in zip(s[f"{key}_norms"], s["exact_norms"])]))
        assert -1 <= ratios[f"{name}_pearson_log"] <= 1
    assert shadow.seconds > 0


def test_the_representation_norms_are_those_of_the_balancer() -> None:
    model = TinyDualHead(seed=0).double()
    shadow = ShadowSensors([2])
    _run(shadow, GabaBalancer.from_model(model), model, 2)
    twin = TinyDualHead(seed=0).double()
    rep = GabaBalancer.from_model(twin, sensor="representation")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 14, generator=gen, dtype=torch.float64)
    y = torch.rand(8, generator=gen, dtype=torch.float64) * 100
    c = torch.randint(0, 3, (8,), generator=gen)
    z = twin.features(x)
    losses = [F.mse_loss(twin.rul_head(z).squeeze(-1), y),
              F.cross_entropy(twin.health_head(z), c)]
    assert list(rep.step(losses, features=z).norms) == shadow.series["rep_norms"][0]


def test_shadow_sensors_validate() -> None:
    with pytest.raises(TypeError, match="periods must be a sequence"):
        ShadowSensors(4)
    with pytest.raises(ValueError, match=r"periods\[1\] must be >= 2"):
        ShadowSensors([4, 1])
    with pytest.raises(ValueError, match="rule must be one of"):
        ShadowSensors([4], rule="x")
    with pytest.raises(ValueError, match="floor must be <= 1/K"):
        ShadowSensors([4], floor=0.6)
    shadow = ShadowSensors([2])
    model = TinyDualHead(seed=0)
    balancer = GabaBalancer.from_model(model)
    z = model.features(torch.ones(4, 14))
    losses = [model.rul_head(z).sum(), model.health_head(z).sum()]
    with pytest.raises(RuntimeError, match="needs before_step"):
        shadow.after_step(0, balancer.step(losses, retain_graph=True))
    shadow.before_step(1, losses, z)
    with pytest.raises(ValueError, match="multiple of 2"):
        shadow.after_step(1, balancer.step(losses, retain_graph=True))
    held = GabaBalancer.from_model(model, measure_every=2)
    held.step(losses, retain_graph=True)
    shadow = ShadowSensors([2])
    shadow.before_step(0, losses, z)
    with pytest.raises(ValueError, match="follows an exact balancer measuring every step"):
        shadow.after_step(0, held.step(losses, retain_graph=True))


def test_doctests() -> None:
    failures, tried = doctest.testmod(gabalab.sensor_comparison)
    assert tried >= 3 and failures == 0
