"""gabalab.charts.toy_bias: the 12.4 explorer's closed forms and its trajectory function
against their Python twins."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess

import numpy as np
import pytest

from gabalab.charts import toy_bias as chart
from gabalab.charts.render import SITE_JS
from gabalab.toy import (
    fixed_point,
    losses_at,
    sgd_stability_bound,
    simulate_sgd,
    train_toy,
)
from tests.charts.vega_expressions import evaluate

SETTINGS = list(itertools.product([0.0, 0.3, 1.0, 2.0, 2.7, 3.0], [-4.0, -2.0, -1.3, -0.3, 0.0]))


def _env(log10_rho: float, log10_lr: float) -> dict:
    env = {"log10_rho": log10_rho, "log10_lr": log10_lr, "steps": 200.0, "optimizer": "sgd"}
    for name, expression in chart.DERIVED.items():
        env[name] = evaluate(expression, env)
    return env


@pytest.mark.parametrize(("log10_rho", "log10_lr"), SETTINGS)
def test_closed_forms_equal_the_python_twins(log10_rho: float, log10_lr: float) -> None:
    env = _env(log10_rho, log10_lr)
    rho, lr = env["rho"], env["lr"]
    assert rho == pytest.approx(10.0**log10_rho, rel=1e-15)
    loud, quiet = losses_at(fixed_point(rho), rho)
    bound = sgd_stability_bound(rho)
    want = {"rho": rho, "lr": lr, "theta_star": fixed_point(rho), "loud_star": loud,
            "quiet_star": quiet, "bound": bound, "lr_over_bound": lr / bound}
    for key, value in want.items():
        assert evaluate(chart.EXPRESSIONS[key], env) == pytest.approx(value, rel=1e-14), key
    verdict = evaluate(chart.EXPRESSIONS["sgd_at_this_lr"], env)
    assert verdict == ("converges" if lr < bound else "oscillates" if lr == bound
                       else "diverges")
    # ... and that verdict is what SGD does
    assert simulate_sgd(rho, lr, 2000).diverged() == (verdict == "diverges")


def test_the_bound_is_where_sgd_starts_to_oscillate() -> None:
    env = _env(0.0, 0.0)  # rho = 1, lr = 1 = 2 / (rho + 1)
    assert evaluate(chart.EXPRESSIONS["sgd_at_this_lr"], env) == "oscillates"


def _node_trajectory(optimizer: str, rho: float, lr: float, n_steps: int) -> np.ndarray:
    script = (
        f"const f = require({json.dumps(str(SITE_JS))});"
        f"process.stdout.write(JSON.stringify(f.gabalabToyTrajectory("
        f"{json.dumps(optimizer)}, {rho!r}, {lr!r}, {n_steps})"
        ".map(x => isFinite(x) ? x : String(x))));"
    )
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    return np.array([float(x) for x in json.loads(out.stdout)])


needs_node = pytest.mark.skipif(shutil.which("node") is None,
                                reason="Node.js is not installed (apt-get install nodejs)")


@needs_node
@pytest.mark.parametrize(("rho", "lr", "n_steps"), [(10.0, 0.1, 300), (100.0, 0.0198, 400),
                                                    (500.0, 0.0045, 60), (100.0, 1.0, 3000)])
def test_the_page_runs_sgd_as_simulate_sgd(rho: float, lr: float, n_steps: int) -> None:
    page = _node_trajectory("sgd", rho, lr, n_steps)
    twin = simulate_sgd(rho, lr, n_steps).theta
    # the same operations in the same order: the same doubles, overflow included
    np.testing.assert_array_equal(page, twin)


@needs_node
@pytest.mark.parametrize(("rho", "lr", "n_steps"), [(100.0, 0.05, 2000), (10.0, 0.01, 600),
                                                    (1000.0, 1.0, 300), (1.0, 0.0001, 50)])
def test_the_page_runs_adam_as_torch(rho: float, lr: float, n_steps: int) -> None:
    page = _node_trajectory("adam", rho, lr, n_steps)
    twin = train_toy(rho, "adam", lr=lr, n_steps=n_steps).theta
    assert page.shape == twin.shape
    # float64 rounding only: pow() of the bias corrections may differ in the last bit
    np.testing.assert_allclose(page, twin, rtol=1e-12, atol=1e-14)


def test_the_chart_runs_the_registered_function_and_the_tested_expressions() -> None:
    text = json.dumps(chart.toy_bias_chart().to_dict())
    assert json.dumps(chart.TRAJECTORY)[1:-1] in text
    for expression in [*chart.DERIVED.values(), *chart.EXPRESSIONS.values()]:
        assert json.dumps(expression)[1:-1] in text
    assert "gabalabToyTrajectory" in SITE_JS.read_text("utf-8")


def test_the_controls() -> None:
    spec = chart.toy_bias_chart().to_dict()
    params = {p["name"]: p for p in spec["params"]}
    for name, _label, lo, hi, step, start in chart.CONTROLS:
        bind = params[name]["bind"]
        assert (bind["min"], bind["max"], bind["step"], params[name]["value"]) == (lo, hi, step,
                                                                                    start)
    assert params["optimizer"]["bind"]["options"] == ["sgd", "adam"]
    for name, expression in chart.DERIVED.items():
        assert params[name]["expr"] == expression


@pytest.mark.parametrize(("width", "error"), [(50, ValueError), (3000, ValueError),
                                              ("wide", TypeError)])
def test_bad_width_is_refused(width: object, error: type) -> None:
    with pytest.raises(error, match="width"):
        chart.toy_bias_chart(width=width)  # type: ignore[arg-type]


def test_the_default_settings_show_the_loud_task_pulling_theta() -> None:
    """At its start the explorer shows what section 12.4 is about: SGD on the summed loss
    pulls theta from 0 to the loud task's side over visible steps (not in one jump to a
    flat line), and the quiet task's loss grows while the loud one's falls."""
    start = {name: value for name, _, lo, hi, step, value in chart.CONTROLS}
    for name, _label, lo, hi, step, value in chart.CONTROLS:
        assert lo <= value <= hi
        assert abs((value - lo) / step - round((value - lo) / step)) < 1e-9, name
    rho, lr = 10.0 ** start["log10_rho"], 10.0 ** start["log10_lr"]
    steps = int(start["steps"])
    assert chart.OPTIMIZERS[0] == "sgd" and lr < sgd_stability_bound(rho)
    run = simulate_sgd(rho, lr, steps)
    theta_star = fixed_point(rho)
    assert theta_star > 0.9  # the loud task wins
    # a climb over at least a tenth of the shown steps, then the run arrives
    climbing = int(np.argmax(np.abs(run.theta - theta_star) <= 0.01 * theta_star))
    assert steps // 10 <= climbing < steps
    assert np.all(np.diff(run.theta) >= 0)
    assert run.steps_to(chart.TOLERANCE) is not None
    loud_0, quiet_0 = losses_at(0.0, rho)
    loud_end, quiet_end = losses_at(run.final, rho)
    assert loud_end < loud_0 / 1000 and quiet_end > 3 * quiet_0
