"""Tests for :mod:`gabalab.widgets.toy_bias`, the functions behind the section 12.4 explorer."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gabalab.plots import toy_bias as toy_plots  # noqa: E402
from gabalab.simulate import fixed_point, simulate_sgd, train_toy  # noqa: E402
from gabalab.widgets import toy_bias  # noqa: E402


# --------------------------------------------------------------------------- toy_bias_run


def test_sgd_run_is_the_numpy_simulator() -> None:
    traj = toy_bias.toy_bias_run(10.0, "sgd", lr=0.1, n_steps=30)
    reference = simulate_sgd(10.0, 0.1, 30)
    assert traj.optimizer == "sgd"
    np.testing.assert_array_equal(traj.theta, reference.theta)


def test_sgd_run_matches_its_torch_twin() -> None:
    numpy_run = toy_bias.toy_bias_run(100.0, "SGD", lr=0.015, n_steps=80)
    torch_run = train_toy(100.0, "sgd", lr=0.015, n_steps=80)
    np.testing.assert_allclose(numpy_run.theta, torch_run.theta, rtol=0, atol=1e-12)
    np.testing.assert_allclose(numpy_run.loss_quiet, torch_run.loss_quiet, rtol=1e-12, atol=1e-12)


def test_adam_run_uses_torch_adam_and_reaches_the_fixed_point() -> None:
    traj = toy_bias.toy_bias_run(500.0, "adam", lr=0.05, n_steps=400)
    assert traj.optimizer == "adam"
    assert abs(traj.final - fixed_point(500.0)) < 1e-9
    # Adam's first step moves theta by lr whatever the gradient's size.
    assert traj.theta[1] == pytest.approx(0.05, rel=1e-6)


def test_run_passes_theta0() -> None:
    traj = toy_bias.toy_bias_run(1.0, "sgd", lr=0.25, n_steps=1, theta0=1.0)
    assert traj.theta.tolist() == [1.0, 0.5]


def test_unknown_optimizer_raises_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="optimizer"):
        toy_bias.toy_bias_run(10.0, "rmsprop", lr=0.1, n_steps=5)


def test_non_string_optimizer_raises_type_error() -> None:
    with pytest.raises(TypeError, match="optimizer"):
        toy_bias.toy_bias_run(10.0, 3, lr=0.1, n_steps=5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"rho": -1.0}, "rho"), ({"lr": 0.0}, "lr"), ({"n_steps": 0}, "n_steps")],
)
def test_bad_numbers_raise_value_error_naming_the_argument(kwargs: dict, name: str) -> None:
    args = {"rho": 10.0, "optimizer": "sgd", "lr": 0.1, "n_steps": 5} | kwargs
    with pytest.raises(ValueError, match=name):
        toy_bias.toy_bias_run(**args)


# --------------------------------------------------------------------------- toy_bias_summary


def test_summary_closed_form_values() -> None:
    s = toy_bias.toy_bias_summary(3.0, "sgd", lr=0.25, n_steps=10)
    assert s["theta_star"] == 0.5
    assert s["loud_star"] == pytest.approx(0.375)  # (3/2) * 0.25
    assert s["quiet_star"] == pytest.approx(1.125)  # (1/2) * 2.25
    assert s["bound"] == 0.5
    assert s["lr_over_bound"] == 0.5
    # lr = 1/(rho + 1) reaches the minimiser in one step.
    assert s["final"] == 0.5 and s["steps_to"] == 1 and not s["diverged"]


def test_summary_reports_divergence_above_the_bound() -> None:
    s = toy_bias.toy_bias_summary(100.0, "sgd", lr=0.05, n_steps=60)
    assert s["diverged"] and s["steps_to"] is None
    assert s["lr_over_bound"] == pytest.approx(0.05 * 101 / 2)
    assert abs(s["final"]) > 1e30


def test_summary_not_arrived_is_none_but_not_diverged() -> None:
    s = toy_bias.toy_bias_summary(2.0, "sgd", lr=0.003, n_steps=100)
    assert s["steps_to"] is None and not s["diverged"]


def test_summary_steps_to_depends_on_tol() -> None:
    loose = toy_bias.toy_bias_summary(10.0, "sgd", lr=0.05, n_steps=300, tol=1e-2)["steps_to"]
    tight = toy_bias.toy_bias_summary(10.0, "sgd", lr=0.05, n_steps=300, tol=1e-8)["steps_to"]
    assert loose is not None and tight is not None and loose < tight


def test_summary_rejects_bad_tol() -> None:
    with pytest.raises(ValueError, match="tol"):
        toy_bias.toy_bias_summary(10.0, "sgd", lr=0.05, n_steps=10, tol=0.0)


def test_optimiser_does_not_change_the_destination() -> None:
    sgd = toy_bias.toy_bias_summary(100.0, "sgd", lr=0.01, n_steps=400)
    adam = toy_bias.toy_bias_summary(100.0, "adam", lr=0.05, n_steps=400)
    assert sgd["final"] == pytest.approx(adam["final"], abs=1e-9)
    assert sgd["quiet_final"] == pytest.approx(adam["quiet_final"], abs=1e-8)


# --------------------------------------------------------------------------- toy_bias_readout


def test_readout_converging_run() -> None:
    text = toy_bias.toy_bias_readout(500.0, "sgd", lr=0.003, n_steps=100)
    lines = text.splitlines()
    assert len(lines) == 4
    assert "theta* = +0.9960" in lines[0] and "L_quiet = 1.992" in lines[0]
    assert "2/(rho+1) = 0.00399" in lines[1] and "0.752x the bound" in lines[1]
    assert "theta = +0.9960" in lines[2]
    assert lines[3] == "status      : within 1e-06 of theta* from step 21 on"


def test_readout_diverging_run_prints_the_growth() -> None:
    text = toy_bias.toy_bias_readout(100.0, "sgd", lr=0.05, n_steps=60)
    assert "theta = -2.745e+36" in text
    assert "2.52x the bound" in text
    assert text.endswith("status      : diverged")


def test_readout_overflowing_run_prints_inf() -> None:
    text = toy_bias.toy_bias_readout(500.0, "sgd", lr=0.05, n_steps=600)
    assert "theta = -inf" in text or "theta = +inf" in text
    assert "L_loud = inf" in text and text.endswith("diverged")


def test_readout_not_arrived() -> None:
    text = toy_bias.toy_bias_readout(2.0, "sgd", lr=0.003, n_steps=100)
    assert text.endswith("not within 1e-06 of theta* after 100 steps")


# --------------------------------------------------------------------------- explorer and figures


def test_explorer_builds_and_updates() -> None:
    pytest.importorskip("ipywidgets")
    explorer = toy_bias.toy_bias_explorer()
    names = [c.description for c in explorer.children[:-1]]
    assert names == ["rho", "optimiser", "lr", "steps"]
    explorer.children[1].value = "adam"
    explorer.children[3].value = 50
    explorer.update()
    assert explorer.kwargs == {"rho": 100.0, "optimizer": "adam", "lr": pytest.approx(0.01),
                               "n_steps": 50}
    plt.close("all")


def test_trajectory_figure_labels_diverging_runs() -> None:
    runs = [simulate_sgd(10.0, 0.1, 50), simulate_sgd(10.0, 0.3, 50)]
    fig = toy_plots.plot_toy_trajectories(runs)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["sgd, rho=10, lr=0.1", "sgd, rho=10, lr=0.3  (diverges)"]
    # The loss axes are scaled to the bounded run, not blown up by the diverging one.
    assert fig.axes[1].get_ylim()[1] < 100
    plt.close(fig)


def test_trajectory_figure_rejects_bad_input() -> None:
    run = simulate_sgd(10.0, 0.1, 5)
    with pytest.raises(ValueError, match="trajectories"):
        toy_plots.plot_toy_trajectories([])
    with pytest.raises(TypeError, match="trajectories"):
        toy_plots.plot_toy_trajectories([run.theta])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="labels"):
        toy_plots.plot_toy_trajectories([run], labels=["a", "b"])
    with pytest.raises(ValueError, match="theta_limits"):
        toy_plots.plot_toy_trajectories([run], theta_limits=(1.0, -1.0))


def test_fixed_point_figure_draws_the_closed_form() -> None:
    fig = toy_plots.plot_fixed_point_costs([1.0, 3.0, 99.0])
    x, y = fig.axes[0].get_lines()[0].get_data()
    np.testing.assert_allclose(y, [0.0, 0.5, 0.98])
    quiet = fig.axes[1].get_lines()[1].get_ydata()
    np.testing.assert_allclose(quiet, [0.5, 1.125, 2 * 99**2 / 100**2])
    assert math.isclose(fig.axes[1].get_lines()[2].get_ydata()[0], 0.5)
    plt.close(fig)
    with pytest.raises(ValueError, match="rhos"):
        toy_plots.plot_fixed_point_costs([1.0, -2.0])
    with pytest.raises(ValueError, match="rhos"):
        toy_plots.plot_fixed_point_costs([])
