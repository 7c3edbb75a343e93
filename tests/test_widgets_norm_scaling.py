"""The function behind the norm-scaling explorer (gabalab.widgets.norm_scaling) and its
figure (gabalab.plots.norm_scaling)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gabalab.plots import norm_scaling as norm_plots  # noqa: E402
from gabalab.widgets import norm_scaling as ns  # noqa: E402

N_VALUES = [10**k for k in range(1, 7)]


def test_l2_norms_grow_like_sqrt_n() -> None:
    sweep = ns.norm_scaling_sweep(N_VALUES, 1.0, 0.002, seed=0)
    log_n = np.log(N_VALUES)
    for key in ("norm_rul", "norm_hs"):
        slope = np.polyfit(log_n, np.log(sweep[key]), 1)[0]
        assert slope == pytest.approx(0.5, abs=0.02), key
    # a hundredfold more parameters: about tenfold larger norms
    growth = sweep["norm_rul"][-1] / sweep["norm_rul"][-3]
    assert growth == pytest.approx(10.0, rel=0.01)


def test_ratio_and_rms_do_not_grow_with_n() -> None:
    sweep = ns.norm_scaling_sweep(N_VALUES, 1.0, 0.002, seed=0)
    n = np.asarray(N_VALUES, dtype=float)
    # ||g||/sqrt(N) and the ratio stay at the scales; the spread shrinks like 1/sqrt(N).
    assert np.all(np.abs(sweep["rms_rul"] - 1.0) < 4 / np.sqrt(2 * n))
    assert np.all(np.abs(sweep["rms_hs"] / 0.002 - 1.0) < 4 / np.sqrt(2 * n))
    assert np.all(np.abs(sweep["ratio"] / 500.0 - 1.0) < 6 / np.sqrt(n))
    assert sweep["ratio"][-1] == pytest.approx(500.0, rel=0.005)
    slope = np.polyfit(np.log(n[2:]), np.log(sweep["ratio"][2:]), 1)[0]
    assert abs(slope) < 0.01


@pytest.mark.parametrize("scale_rul,scale_hs", [(1.0, 1.0), (1.0, 0.01), (0.3, 0.003), (2.0, 5.0)])
def test_ratio_tracks_the_scale_ratio(scale_rul, scale_hs) -> None:
    out = ns.norm_scaling(200_000, scale_rul, scale_hs, seed=1)
    assert out["ratio"] == pytest.approx(scale_rul / scale_hs, rel=0.02)
    assert out["norm_rul"] == pytest.approx(scale_rul * np.sqrt(200_000), rel=0.01)
    assert out["rms_hs"] == pytest.approx(scale_hs, rel=0.01)


def test_same_seed_same_numbers_and_exact_definitions() -> None:
    a = ns.norm_scaling(1000, 1.0, 0.01, seed=3)
    assert a == ns.norm_scaling(1000, 1.0, 0.01, seed=3)
    assert a != ns.norm_scaling(1000, 1.0, 0.01, seed=4)
    g_rul, g_hs = ns.random_task_gradients(1000, 1.0, 0.01, seed=3)
    assert a["norm_rul"] == float(np.linalg.norm(g_rul))
    assert a["ratio"] == a["norm_rul"] / a["norm_hs"]
    assert a["rms_hs"] == pytest.approx(np.sqrt(np.mean(g_hs**2)), rel=1e-12)


def test_scaling_a_task_scales_only_its_norm() -> None:
    base = ns.norm_scaling(5000, 1.0, 0.01, seed=0)
    louder = ns.norm_scaling(5000, 10.0, 0.01, seed=0)
    assert louder["norm_rul"] == pytest.approx(10 * base["norm_rul"], rel=1e-12)
    assert louder["norm_hs"] == base["norm_hs"]
    assert louder["ratio"] == pytest.approx(10 * base["ratio"], rel=1e-12)


def test_readout_text() -> None:
    text = ns.norm_scaling_readout(1_000_000, 1.0, 0.002, seed=0)
    assert "N                 = 1,000,000" in text
    assert "(scale ratio 500.0x)" in text
    assert "ratio             = 500.8x" in text


def test_argument_errors() -> None:
    with pytest.raises(ValueError, match="n_params must be >= 1"):
        ns.norm_scaling(0, 1.0, 1.0)
    with pytest.raises(ValueError, match="n_params must be <="):
        ns.norm_scaling(ns.MAX_PARAMS + 1, 1.0, 1.0)
    with pytest.raises(ValueError, match="scale_hs must be > 0"):
        ns.norm_scaling(10, 1.0, 0.0)
    with pytest.raises(TypeError, match="n_params must be an integer"):
        ns.norm_scaling(10.5, 1.0, 1.0)
    with pytest.raises(ValueError, match="n_values must hold"):
        ns.norm_scaling_sweep([], 1.0, 1.0)
    with pytest.raises(ValueError, match=r"n_values\[1\]"):
        ns.norm_scaling_sweep([10, -1], 1.0, 1.0)


def test_explorer_builds_and_updates() -> None:
    explorer = ns.norm_scaling_explorer()
    names = [c.description for c in explorer.children[:-1]]
    assert names == ["N", "RUL scale", "HS scale", "seed"]
    explorer.children[0].value = 1e5
    explorer.update()
    assert explorer.kwargs["n_params"] == pytest.approx(1e5)


def test_figure_draws_every_setting() -> None:
    fig = norm_plots.plot_norm_scaling([10, 100, 1000], scale_hs_values=(0.002, 1.0))
    left, right = fig.axes
    assert len(left.get_lines()) == 4  # two norms and two sqrt(N) guides
    assert len(right.get_lines()) == 4  # two ratio curves and two scale-ratio lines
    ratio_line = right.get_lines()[0]
    np.testing.assert_allclose(
        ratio_line.get_ydata(), ns.norm_scaling_sweep([10, 100, 1000], 1.0, 0.002)["ratio"]
    )
    plt.close(fig)
