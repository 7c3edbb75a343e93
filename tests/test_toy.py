"""Tests for :mod:`gabalab.simulate`, the two-task quadratic toy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gabalab import toy
from gabalab.toy import (
    Trajectory,
    TwoTaskToy,
    fixed_point,
    losses_at,
    sgd_stability_bound,
    simulate_sgd,
    train_toy,
)

RHOS = [0.1, 0.5, 1.0, 3.0, 10.0, 100.0, 500.0]


def _steps_for(frac: float, tol: float = 1e-12) -> int:
    """Steps after which SGD at ``lr = frac * bound`` from within 2 of theta* is within ``tol``.

    The error contracts by ``|1 - 2 frac|`` per step (0 at ``frac = 0.5``: one step suffices,
    so the factor is floored at 0.1 to keep the logarithm finite).
    """
    factor = max(abs(1.0 - 2.0 * frac), 0.1)
    return int(math.ceil(math.log(tol / 2.0) / math.log(factor))) + 1


# --------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("rho", RHOS)
def test_fixed_point_zeroes_the_summed_gradient(rho: float) -> None:
    theta = fixed_point(rho)
    assert -1.0 < theta < 1.0
    assert rho * (theta - 1.0) + (theta + 1.0) == pytest.approx(0.0, abs=1e-12)


def test_fixed_point_and_bound_values() -> None:
    assert fixed_point(1.0) == 0.0
    assert fixed_point(3.0) == 0.5
    assert fixed_point(1.0 / 3.0) == pytest.approx(-0.5)
    assert sgd_stability_bound(1.0) == 1.0
    assert sgd_stability_bound(99.0) == pytest.approx(0.02)
    # Larger imbalance pulls the compromise toward the loud task's optimum (+1).
    values = [fixed_point(r) for r in RHOS]
    assert values == sorted(values)


def test_losses_at_scalar_and_array() -> None:
    loud, quiet = losses_at(0.0, 4.0)
    assert (loud, quiet) == (2.0, 0.5)
    assert isinstance(loud, float) and isinstance(quiet, float)

    theta = np.linspace(-2.0, 2.0, 9)
    loud_arr, quiet_arr = losses_at(theta, 3.0)
    np.testing.assert_allclose(loud_arr, 1.5 * (theta - 1.0) ** 2)
    np.testing.assert_allclose(quiet_arr, 0.5 * (theta + 1.0) ** 2)
    # The sum is minimal at the fixed point.
    grid = np.linspace(-1.0, 1.0, 2001)
    total = sum(losses_at(grid, 3.0))
    assert grid[np.argmin(total)] == pytest.approx(fixed_point(3.0), abs=1e-3)


# --------------------------------------------------------------------------- NumPy SGD


@pytest.mark.parametrize("rho", RHOS)
@pytest.mark.parametrize("frac", [0.1, 0.5, 0.9])
def test_sgd_converges_inside_the_bound(rho: float, frac: float) -> None:
    lr = frac * sgd_stability_bound(rho)
    traj = simulate_sgd(rho, lr, _steps_for(frac))
    assert abs(traj.final - fixed_point(rho)) < 1e-9
    assert traj.converged(1e-9)
    assert traj.steps_to(1e-9) is not None
    assert not traj.diverged()
    assert np.all(np.isfinite(traj.theta))


@pytest.mark.parametrize("rho", RHOS)
def test_sgd_diverges_above_the_bound(rho: float) -> None:
    lr = 1.1 * sgd_stability_bound(rho)
    # Error grows by a factor 1.2 per step with alternating sign.
    traj = simulate_sgd(rho, lr, 200, theta0=fixed_point(rho) + 0.5)
    assert abs(traj.final) > 1e6
    assert traj.diverged()
    assert not traj.converged(1e-3)
    assert traj.steps_to(1e-3) is None
    err = traj.theta - fixed_point(rho)
    assert np.all(np.sign(err[1:]) == -np.sign(err[:-1]))
    np.testing.assert_allclose(np.abs(err[1:] / err[:-1]), 1.2, rtol=1e-6)


def test_sgd_at_the_bound_oscillates_without_converging() -> None:
    rho = 3.0  # bound 0.5 exactly, so lr * (rho + 1) == 2 in float64
    traj = simulate_sgd(rho, sgd_stability_bound(rho), 101, theta0=1.0)
    # theta* = 0.5: iterates alternate between 1.0 and 2 theta* - 1.0 = 0.0.
    np.testing.assert_array_equal(traj.theta[0::2], 1.0)
    np.testing.assert_array_equal(traj.theta[1::2], 0.0)
    assert traj.steps_to(0.4) is None
    assert not traj.diverged()


def test_sgd_overflow_is_silent_and_sticky() -> None:
    with np.errstate(all="raise"):  # any leaked NumPy warning would raise here
        traj = simulate_sgd(500.0, 0.05, 2000, theta0=0.0)
    assert np.isinf(traj.final)
    first = int(np.flatnonzero(~np.isfinite(traj.theta))[0])
    assert first < 2000
    assert np.all(traj.theta[first:] == traj.theta[first])
    assert np.all(np.isinf(traj.loss_loud[first:]))
    assert np.all(np.isinf(traj.loss_quiet[first:]))
    assert np.all(np.isfinite(traj.theta[:first]))
    assert traj.diverged()


def test_sgd_records_losses_along_the_path() -> None:
    traj = simulate_sgd(10.0, 0.1, 50, theta0=-0.7)
    assert traj.theta.shape == traj.loss_loud.shape == traj.loss_quiet.shape == (51,)
    loud, quiet = losses_at(traj.theta, 10.0)
    np.testing.assert_array_equal(traj.loss_loud, loud)
    np.testing.assert_array_equal(traj.loss_quiet, quiet)
    np.testing.assert_array_equal(traj.loss_total, loud + quiet)
    # Inside the bound the summed loss decreases monotonically (up to float64 rounding once
    # it has reached its minimum).
    assert np.all(np.diff(traj.loss_total) <= 1e-15)
    assert traj.loss_total[-1] == pytest.approx(sum(losses_at(fixed_point(10.0), 10.0)), rel=1e-14)
    assert traj.n_steps == 50 and traj.theta[0] == -0.7


def test_sgd_starting_at_the_fixed_point_stays_there() -> None:
    traj = simulate_sgd(1.0, 1.5, 100, theta0=0.0)  # lr above the bound, but no error to amplify
    np.testing.assert_array_equal(traj.theta, 0.0)


def test_one_step_when_lr_is_inverse_curvature() -> None:
    for rho in (0.5, 3.0, 7.0):
        traj = simulate_sgd(rho, 1.0 / (rho + 1.0), 3, theta0=0.3)
        assert traj.theta[1] == pytest.approx(fixed_point(rho), abs=1e-15)
        assert traj.steps_to(1e-12) == 1


@settings(max_examples=60, deadline=None)
@given(
    rho=st.floats(min_value=0.1, max_value=1000.0, allow_nan=False, allow_infinity=False),
    frac=st.floats(min_value=0.05, max_value=0.95, exclude_min=True, exclude_max=True),
)
def test_property_sgd_converges_to_closed_form(rho: float, frac: float) -> None:
    lr = frac * sgd_stability_bound(rho)
    traj = simulate_sgd(rho, lr, _steps_for(frac))
    assert abs(traj.final - fixed_point(rho)) <= 1e-9
    # Contraction: the error never grows inside the bound.
    err = traj.error
    assert np.all(err[1:] <= err[:-1] + 1e-15)


# --------------------------------------------------------------------------- Trajectory


def test_steps_to_is_the_first_step_after_which_the_error_stays_small() -> None:
    theta = np.array([1.0, 0.0, 0.5, 0.0, 0.001, -0.0005, 0.0])  # rho = 1, theta* = 0
    traj = Trajectory(theta, *losses_at(theta, 1.0), rho=1.0, lr=0.1)
    assert traj.steps_to(1e-2) == 3  # step 1 is within but step 2 leaves again
    assert traj.steps_to(1e-3) == 3  # 0.001 and 0.0005 are within 1e-3 (inclusive)
    assert traj.steps_to(1e-4) == 6
    assert traj.steps_to(0.6) == 1
    assert traj.steps_to(2.0) == 0
    assert traj.converged(1e-12)

    escaped = Trajectory(theta[::-1], *losses_at(theta[::-1], 1.0), rho=1.0, lr=0.1)
    assert escaped.steps_to(0.1) is None
    assert not escaped.converged(0.1)


def test_trajectory_rejects_mismatched_arrays() -> None:
    with pytest.raises(ValueError, match="same shape"):
        Trajectory(np.zeros(3), np.zeros(3), np.zeros(2), rho=1.0, lr=0.1)
    with pytest.raises(ValueError, match="theta"):
        Trajectory(np.zeros((2, 2)), np.zeros(4), np.zeros(4), rho=1.0, lr=0.1)


# --------------------------------------------------------------------------- PyTorch twin


def test_two_task_toy_matches_numpy_losses_and_gradient() -> None:
    rho, theta0 = 7.0, 0.3
    model = TwoTaskToy(rho, theta0=theta0)
    assert model.theta.dtype == torch.float64
    assert [n for n, _ in model.named_parameters()] == ["theta"]
    loud, quiet = model.losses()
    assert (loud.item(), quiet.item()) == pytest.approx(losses_at(theta0, rho), rel=1e-15)
    model().backward()
    assert model.theta.grad.item() == pytest.approx(rho * (theta0 - 1) + (theta0 + 1), rel=1e-14)


@pytest.mark.parametrize(
    ("rho", "frac", "n_steps"),
    [(1.0, 0.5, 60), (3.0, 0.9, 200), (100.0, 0.5, 100), (500.0, 0.95, 300), (10.0, 1.1, 150)],
)
def test_numpy_and_torch_sgd_agree_step_for_step(rho: float, frac: float, n_steps: int) -> None:
    lr = frac * sgd_stability_bound(rho)
    ref = simulate_sgd(rho, lr, n_steps, theta0=-0.25)
    got = train_toy(rho, "sgd", lr=lr, n_steps=n_steps, theta0=-0.25)
    assert got.optimizer == "sgd"
    # atol only matters where theta* = 0 (rho = 1) and the iterate itself reaches ~1e-17.
    np.testing.assert_allclose(got.theta, ref.theta, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got.loss_loud, ref.loss_loud, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got.loss_quiet, ref.loss_quiet, rtol=1e-12, atol=1e-15)


def test_torch_sgd_accepts_optimizer_class_and_kwargs() -> None:
    rho, lr, n = 10.0, 0.05, 80
    by_name = train_toy(rho, "SGD", lr=lr, n_steps=n, theta0=0.4)
    by_class = train_toy(rho, torch.optim.SGD, lr=lr, n_steps=n, theta0=0.4)
    np.testing.assert_array_equal(by_name.theta, by_class.theta)
    assert by_class.optimizer == "SGD"

    # Heavy-ball momentum, torch convention: b <- mu b + g; theta <- theta - lr b.
    mu = 0.5
    heavy = train_toy(rho, "sgd", lr=lr, n_steps=n, theta0=0.4, momentum=mu)
    theta, buf, expected = 0.4, 0.0, [0.4]
    for k in range(n):
        g = rho * (theta - 1.0) + (theta + 1.0)
        buf = g if k == 0 else mu * buf + g
        theta -= lr * buf
        expected.append(theta)
    np.testing.assert_allclose(heavy.theta, expected, rtol=1e-12)


def test_torch_sgd_overflow_is_sticky_like_numpy() -> None:
    traj = train_toy(500.0, "sgd", lr=0.05, n_steps=2000)
    ref = simulate_sgd(500.0, 0.05, 2000)
    assert np.isinf(traj.final) and traj.diverged()
    assert not np.any(np.isnan(traj.theta))
    first = int(np.flatnonzero(~np.isfinite(traj.theta))[0])
    assert first == int(np.flatnonzero(~np.isfinite(ref.theta))[0])


def test_adam_converges_to_the_same_minimiser_in_its_first_phase() -> None:
    # rho = 100: theta* = 99/101, SGD bound 2/101 ~ 0.0198. lr = 0.05 is 2.5x the bound.
    rho, lr = 100.0, 0.05
    assert simulate_sgd(rho, lr, 300).diverged()
    traj = train_toy(rho, "adam", lr=lr, n_steps=1000)
    assert traj.optimizer == "adam"
    assert np.all(np.isfinite(traj.theta))
    # Normalised steps: Adam moves theta by at most about lr per step (bias-corrected m/sqrt(v)).
    assert np.max(np.abs(np.diff(traj.theta))) <= 1.5 * lr
    # While v-hat still remembers the large early gradients the effective step is small
    # enough for the curvature and the iterate converges to theta*, well below lr.
    assert abs(traj.final - fixed_point(rho)) < 1e-9
    assert traj.steps_to(1e-9) is not None


def test_adam_ends_in_a_band_of_a_fraction_of_lr_centred_on_theta_star() -> None:
    # With a short second-moment memory (beta2 = 0.99) v-hat decays within ~100 steps, the
    # effective step becomes too large for curvature rho + 1 and Adam oscillates for good.
    rho, lr = 100.0, 0.05
    traj = train_toy(rho, "adam", lr=lr, n_steps=3000, betas=(0.9, 0.99))
    err = traj.theta[-1000:] - fixed_point(rho)
    band = np.max(np.abs(err))
    assert 1e-6 < band < 0.5 * lr  # it does not converge, yet stays well within lr
    assert not traj.converged(1e-6)
    # The oscillation is centred on the minimiser of the summed loss: Adam's fixed point is
    # theta*, not a point biased toward either task. Observed |mean| ~ 1e-6.
    assert abs(traj.theta[-200:].mean() - fixed_point(rho)) < 1e-2 * lr
    assert abs(err.mean()) < 1e-2 * lr


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_bad_rho_raises_value_error(bad: float) -> None:
    for call in (
        lambda: fixed_point(bad),
        lambda: sgd_stability_bound(bad),
        lambda: losses_at(0.0, bad),
        lambda: simulate_sgd(bad, 0.1, 10),
        lambda: train_toy(bad, lr=0.1, n_steps=10),
        lambda: TwoTaskToy(bad),
    ):
        with pytest.raises(ValueError, match="^rho"):
            call()


@pytest.mark.parametrize("bad", [0.0, -0.1, math.inf, math.nan])
def test_bad_lr_raises_value_error(bad: float) -> None:
    with pytest.raises(ValueError, match="^lr"):
        simulate_sgd(1.0, bad, 10)
    with pytest.raises(ValueError, match="^lr"):
        train_toy(1.0, "adam", lr=bad, n_steps=10)


@pytest.mark.parametrize("bad", [0, -3])
def test_bad_n_steps_raises_value_error(bad: int) -> None:
    with pytest.raises(ValueError, match="^n_steps"):
        simulate_sgd(1.0, 0.1, bad)
    with pytest.raises(ValueError, match="^n_steps"):
        train_toy(1.0, lr=0.1, n_steps=bad)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_non_finite_theta0_raises_value_error(bad: float) -> None:
    with pytest.raises(ValueError, match="^theta0"):
        simulate_sgd(1.0, 0.1, 10, theta0=bad)
    with pytest.raises(ValueError, match="^theta0"):
        train_toy(1.0, lr=0.1, n_steps=10, theta0=bad)
    with pytest.raises(ValueError, match="^theta0"):
        TwoTaskToy(1.0, theta0=bad)


def test_non_finite_theta_in_losses_at_raises_value_error() -> None:
    with pytest.raises(ValueError, match="^theta"):
        losses_at(math.nan, 1.0)
    with pytest.raises(ValueError, match="^theta"):
        losses_at(np.array([0.0, np.inf]), 1.0)


def test_unknown_optimizer_name_raises_value_error() -> None:
    with pytest.raises(ValueError, match="^optimizer.*'rmsprop'"):
        train_toy(1.0, "rmsprop", lr=0.1, n_steps=10)


def test_wrong_types_raise_type_error() -> None:
    with pytest.raises(TypeError, match="^rho"):
        fixed_point("3")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^rho"):
        simulate_sgd(True, 0.1, 10)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^lr"):
        simulate_sgd(1.0, None, 10)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^n_steps"):
        simulate_sgd(1.0, 0.1, 10.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^n_steps"):
        train_toy(1.0, lr=0.1, n_steps="10")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^theta0"):
        simulate_sgd(1.0, 0.1, 10, theta0="0")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^theta"):
        losses_at("0.5", 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^optimizer"):
        train_toy(1.0, 3, lr=0.1, n_steps=10)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^optimizer"):
        train_toy(1.0, lambda params, lr: "not an optimiser", lr=0.1, n_steps=10)
    with pytest.raises(TypeError, match="^dtype"):
        TwoTaskToy(1.0, dtype=torch.int64)
    with pytest.raises(TypeError, match="^tol"):
        simulate_sgd(1.0, 0.1, 10).converged("small")  # type: ignore[arg-type]


def test_numpy_integer_and_float_scalars_are_accepted() -> None:
    traj = simulate_sgd(np.float64(3.0), np.float32(0.25), np.int64(4), theta0=np.float64(0.0))
    assert traj.n_steps == 4
    assert traj.final == pytest.approx(0.5)


def test_sgd_run_is_the_numpy_simulator() -> None:
    traj = toy.toy_bias_run(10.0, "sgd", lr=0.1, n_steps=30)
    reference = simulate_sgd(10.0, 0.1, 30)
    assert traj.optimizer == "sgd"
    np.testing.assert_array_equal(traj.theta, reference.theta)


def test_sgd_run_matches_its_torch_twin() -> None:
    numpy_run = toy.toy_bias_run(100.0, "SGD", lr=0.015, n_steps=80)
    torch_run = train_toy(100.0, "sgd", lr=0.015, n_steps=80)
    np.testing.assert_allclose(numpy_run.theta, torch_run.theta, rtol=0, atol=1e-12)
    np.testing.assert_allclose(numpy_run.loss_quiet, torch_run.loss_quiet, rtol=1e-12, atol=1e-12)


def test_adam_run_uses_torch_adam_and_reaches_the_fixed_point() -> None:
    traj = toy.toy_bias_run(500.0, "adam", lr=0.05, n_steps=400)
    assert traj.optimizer == "adam"
    assert abs(traj.final - fixed_point(500.0)) < 1e-9
    # Adam's first step moves theta by lr whatever the gradient's size.
    assert traj.theta[1] == pytest.approx(0.05, rel=1e-6)


def test_run_passes_theta0() -> None:
    traj = toy.toy_bias_run(1.0, "sgd", lr=0.25, n_steps=1, theta0=1.0)
    assert traj.theta.tolist() == [1.0, 0.5]


def test_unknown_optimizer_raises_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="optimizer"):
        toy.toy_bias_run(10.0, "rmsprop", lr=0.1, n_steps=5)


def test_non_string_optimizer_raises_type_error() -> None:
    with pytest.raises(TypeError, match="optimizer"):
        toy.toy_bias_run(10.0, 3, lr=0.1, n_steps=5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"rho": -1.0}, "rho"), ({"lr": 0.0}, "lr"), ({"n_steps": 0}, "n_steps")],
)
def test_bad_numbers_raise_value_error_naming_the_argument(kwargs: dict, name: str) -> None:
    args = {"rho": 10.0, "optimizer": "sgd", "lr": 0.1, "n_steps": 5} | kwargs
    with pytest.raises(ValueError, match=name):
        toy.toy_bias_run(**args)


def test_summary_closed_form_values() -> None:
    s = toy.toy_bias_summary(3.0, "sgd", lr=0.25, n_steps=10)
    assert s["theta_star"] == 0.5
    assert s["loud_star"] == pytest.approx(0.375)  # (3/2) * 0.25
    assert s["quiet_star"] == pytest.approx(1.125)  # (1/2) * 2.25
    assert s["bound"] == 0.5
    assert s["lr_over_bound"] == 0.5
    # lr = 1/(rho + 1) reaches the minimiser in one step.
    assert s["final"] == 0.5 and s["steps_to"] == 1 and not s["diverged"]


def test_summary_reports_divergence_above_the_bound() -> None:
    s = toy.toy_bias_summary(100.0, "sgd", lr=0.05, n_steps=60)
    assert s["diverged"] and s["steps_to"] is None
    assert s["lr_over_bound"] == pytest.approx(0.05 * 101 / 2)
    assert abs(s["final"]) > 1e30


def test_summary_not_arrived_is_none_but_not_diverged() -> None:
    s = toy.toy_bias_summary(2.0, "sgd", lr=0.003, n_steps=100)
    assert s["steps_to"] is None and not s["diverged"]


def test_summary_steps_to_depends_on_tol() -> None:
    loose = toy.toy_bias_summary(10.0, "sgd", lr=0.05, n_steps=300, tol=1e-2)["steps_to"]
    tight = toy.toy_bias_summary(10.0, "sgd", lr=0.05, n_steps=300, tol=1e-8)["steps_to"]
    assert loose is not None and tight is not None and loose < tight


def test_summary_rejects_bad_tol() -> None:
    with pytest.raises(ValueError, match="tol"):
        toy.toy_bias_summary(10.0, "sgd", lr=0.05, n_steps=10, tol=0.0)


def test_optimiser_does_not_change_the_destination() -> None:
    sgd = toy.toy_bias_summary(100.0, "sgd", lr=0.01, n_steps=400)
    adam = toy.toy_bias_summary(100.0, "adam", lr=0.05, n_steps=400)
    assert sgd["final"] == pytest.approx(adam["final"], abs=1e-9)
    assert sgd["quiet_final"] == pytest.approx(adam["quiet_final"], abs=1e-8)


def test_readout_converging_run() -> None:
    text = toy.toy_bias_readout(500.0, "sgd", lr=0.003, n_steps=100)
    lines = text.splitlines()
    assert len(lines) == 4
    assert "theta* = +0.9960" in lines[0] and "L_quiet = 1.992" in lines[0]
    assert "2/(rho+1) = 0.00399" in lines[1] and "0.752x the bound" in lines[1]
    assert "theta = +0.9960" in lines[2]
    assert lines[3] == "status      : within 1e-06 of theta* from step 21 on"


def test_readout_diverging_run_prints_the_growth() -> None:
    text = toy.toy_bias_readout(100.0, "sgd", lr=0.05, n_steps=60)
    assert "theta = -2.745e+36" in text
    assert "2.52x the bound" in text
    assert text.endswith("status      : diverged")


def test_readout_overflowing_run_prints_inf() -> None:
    text = toy.toy_bias_readout(500.0, "sgd", lr=0.05, n_steps=600)
    assert "theta = -inf" in text or "theta = +inf" in text
    assert "L_loud = inf" in text and text.endswith("diverged")


def test_readout_not_arrived() -> None:
    text = toy.toy_bias_readout(2.0, "sgd", lr=0.003, n_steps=100)
    assert text.endswith("not within 1e-06 of theta* after 100 steps")


# --------------------------------------------------------------------------- section 12.4's checks


@pytest.mark.parametrize("rho", RHOS)
def test_fixed_point_cost_is_the_closed_form(rho: float) -> None:
    cost = toy.fixed_point_cost(rho)
    assert cost.rho == rho
    assert cost.theta_star == pytest.approx((rho - 1) / (rho + 1), abs=1e-15)
    assert cost.loss_loud == pytest.approx(2 * rho / (rho + 1) ** 2, rel=1e-12)
    assert cost.loss_quiet == pytest.approx(2 * rho**2 / (rho + 1) ** 2, rel=1e-12)
    # The quiet task starts at 1/2: it ends worse off exactly when the loud task is louder.
    assert cost.quiet_growth == pytest.approx(4 * rho**2 / (rho + 1) ** 2, rel=1e-12)
    assert (cost.quiet_growth > 1) == (rho > 1)


def test_fixed_point_cost_quotes_carry_the_suffix_and_digits() -> None:
    quotes = toy.fixed_point_cost(500.0).quotes(suffix="_500")
    assert quotes == {"theta_500": "0.9960", "rul_500": "0.0040", "hs_500": "1.992",
                      "growth_500": "3.98"}
    with pytest.raises(TypeError, match="suffix"):
        toy.fixed_point_cost(2.0).quotes(suffix=5)  # type: ignore[arg-type]
