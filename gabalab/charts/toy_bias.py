"""Live explorer of section 12.4: the two-task toy trained with SGD or Adam.

Sliders for ``log10 rho``, ``log10 lr`` and the number of steps, and a choice of
optimiser. The chart runs the toy from ``theta = 0`` in the page and shows the iterates
over the steps with the fixed point ``theta* = (rho - 1)/(rho + 1)``, both task losses
over the steps (log scale), and as text the closed forms (``theta*``, the losses there,
the SGD bound ``2/(rho + 1)`` and what SGD does at this step size), the last iterate with
its losses, and whether and when the run arrived.

The closed forms are Vega expressions (:data:`DERIVED`, :data:`EXPRESSIONS`); the
iterates come from the one registered function ``gabalabToyTrajectory`` of
``web/gabalab-charts.js`` (a loop: SGD step by step, Adam as ``torch.optim.Adam``). Their
Python twins are :func:`gabalab.toy.fixed_point`,
:func:`gabalab.toy.sgd_stability_bound`, :func:`gabalab.toy.losses_at`,
:func:`gabalab.toy.simulate_sgd` and :func:`gabalab.toy.train_toy`.
"""

from __future__ import annotations

from typing import Any

from gabalab._checks import check_int
from gabalab.charts._common import finish, readout_chart, require_altair, row_readout

__all__ = [
    "CONTROLS",
    "DERIVED",
    "DIVERGENCE_THRESHOLD",
    "EXPRESSIONS",
    "OPTIMIZERS",
    "OPTIMIZER_LABELS",
    "READOUT",
    "RUN_READOUT",
    "TOLERANCE",
    "toy_bias_chart",
]

#: Sliders: (name, label, min, max, step, start). Both rates move on a log10 grid.
#:
#: The start is the section's own case, rho of about 500 (log10 rho = 2.7: 501.2), with plain
#: SGD at a step of 10^-3.5 (about 0.00032, 0.08 of the bound 2/(rho + 1)) for 100 steps:
#: theta climbs from 0 towards the loud task's optimum over the first 30 or so steps and
#: settles at theta* (arriving within 1e-6 at step 80); the loud loss falls by five orders
#: of magnitude while the quiet one rises fourfold. (A start with lr (rho + 1) near 1 lands
#: on theta* in one step, and the panels show flat lines.)
CONTROLS: tuple[tuple[str, str, float, float, float, float], ...] = (
    ("log10_rho", "log₁₀ ρ (curvature ratio, loud : quiet) ", 0.0, 3.0, 0.05, 2.7),
    ("log10_lr", "log₁₀ η (step size) ", -4.0, 0.0, 0.05, -3.5),
    ("steps", "number of steps ", 10.0, 3000.0, 10.0, 100.0),
)
#: The optimiser choice (radio buttons) and its start.
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")
#: What the radio buttons show for each of :data:`OPTIMIZERS`.
OPTIMIZER_LABELS: tuple[str, ...] = ("SGD", "Adam")
#: Distance to ``theta*`` that counts as arrived, and the size of ``|theta|`` that counts as
#: diverged (as in :meth:`gabalab.toy.Trajectory.steps_to` and ``diverged`` with these values).
TOLERANCE = 1e-6
DIVERGENCE_THRESHOLD = 1e6

#: Parameters computed from the controls, in order (each may use the ones before it).
DERIVED: dict[str, str] = {
    "rho": "pow(10, log10_rho)",
    "lr": "pow(10, log10_lr)",
    "theta_star": "(rho - 1) / (rho + 1)",
}
#: Closed forms shown as text, as Vega expressions of the controls and :data:`DERIVED`.
EXPRESSIONS: dict[str, str] = {
    "rho": "rho",
    "lr": "lr",
    "theta_star": "theta_star",
    "loud_star": "0.5 * rho * ((theta_star - 1) * (theta_star - 1))",
    "quiet_star": "0.5 * ((theta_star + 1) * (theta_star + 1))",
    "bound": "2 / (rho + 1)",
    "lr_over_bound": "lr / (2 / (rho + 1))",
    "sgd_at_this_lr": (
        "lr < 2 / (rho + 1) ? 'converges' : lr == 2 / (rho + 1) ? 'oscillates' : 'diverges'"
    ),
}
#: Lines of the closed-form readout: (label, key of EXPRESSIONS, d3 format or "" for text).
READOUT: tuple[tuple[str, str, str], ...] = (
    ("ρ", "rho", ".4~g"),
    ("η", "lr", ".4~g"),
    ("fixed point θ* = (ρ − 1)/(ρ + 1)", "theta_star", ".4f"),
    ("L_loud at θ*", "loud_star", ".4~g"),
    ("L_quiet at θ*", "quiet_star", ".4~g"),
    ("SGD bound 2/(ρ + 1)", "bound", ".4~g"),
    ("η / bound", "lr_over_bound", ".3~g"),
    ("SGD at this η", "sgd_at_this_lr", ""),
)
#: Lines about the run itself: (label, key, d3 format or ""). Keys as in
#: :func:`gabalab.toy.toy_bias_summary` (``final``, ``loud_final``,
#: ``quiet_final``) plus ``status``.
RUN_READOUT: tuple[tuple[str, str, str], ...] = (
    ("θ after the last step", "final", ".4~g"),
    ("L_loud after the last step", "loud_final", ".4~g"),
    ("L_quiet after the last step", "quiet_final", ".4~g"),
    ("status", "status", ""),
)

#: The iterates and both losses per step (one row per step) from the registered function.
TRAJECTORY = "gabalabToyTrajectory(optimizer, rho, lr, steps)"
LOUD = "0.5 * rho * ((datum.theta - 1) * (datum.theta - 1))"
QUIET = "0.5 * ((datum.theta + 1) * (datum.theta + 1))"


def toy_bias_chart(width: int = 460) -> Any:
    """The 12.4 explorer as an Altair chart (show it with :func:`gabalab.charts.render.show`).

    Parameters
    ----------
    width : int, default 460
        Width of each panel in pixels (100 to 2000).

    Returns
    -------
    altair.VConcatChart

    Raises
    ------
    TypeError, ValueError
        If ``width`` is not an integer in range.

    Examples
    --------
    >>> spec = toy_bias_chart().to_dict()
    >>> [p["name"] for p in spec["params"]][:4]
    ['log10_rho', 'log10_lr', 'steps', 'optimizer']
    """
    width = check_int("width", width, minimum=100)
    if width > 2000:
        raise ValueError(f"width must be <= 2000, got {width}")
    alt = require_altair()
    params = [
        alt.param(name=name, value=start,
                  bind=alt.binding_range(min=lo, max=hi, step=step, name=label))
        for name, label, lo, hi, step, start in CONTROLS
    ]
    params.append(alt.param(name="optimizer", value=OPTIMIZERS[0],
                            bind=alt.binding_radio(options=list(OPTIMIZERS),
                                                   labels=list(OPTIMIZER_LABELS),
                                                   name="optimiser ")))
    params += [alt.param(name=name, expr=expr) for name, expr in DERIVED.items()]

    steps = (
        alt.Chart(alt.Data(values=[{}]))
        .transform_calculate(theta=TRAJECTORY, step="sequence(0, steps + 1)")
        .transform_flatten(["theta", "step"])
        .transform_calculate(loud=LOUD, quiet=QUIET)
    )
    x = alt.X("step:Q", title="step", scale=alt.Scale(domainMin=0))
    # Plotted values are clamped just beyond the panels (a diverging run reaches 1e300,
    # which no SVG path can hold); the lines leave the panel at its edge.
    theta_line = steps.transform_calculate(
        shown="clamp(datum.theta, -2, 2)"
    ).mark_line(clip=True, color="#7d3c98").encode(
        x=x,
        y=alt.Y("shown:Q", title="θ", scale=alt.Scale(domain=[-1.5, 1.5])),
    )
    fixed = (
        alt.Chart(alt.Data(values=[{}]))
        .transform_calculate(theta_star="theta_star")
        .mark_rule(color="#333", strokeDash=[4, 3])
        .encode(y=alt.Y("theta_star:Q", scale=alt.Scale(domain=[-1.5, 1.5])))
    )
    theta_panel = alt.layer(theta_line, fixed).properties(
        width=width, height=160, title="θ over the steps (dashed: θ*)"
    )
    loss_panel = (
        steps.transform_fold(["loud", "quiet"], as_=["task", "loss"])
        .transform_calculate(loss="clamp(datum.loss, 1e-13, 1e5)")
        .transform_filter("isValid(datum.loss)")
        .mark_line(clip=True)
        .encode(
            x=x,
            y=alt.Y("loss:Q", scale=alt.Scale(type="log", domain=[1e-12, 1e4]),
                    title="task loss (log scale)"),
            color=alt.Color("task:N", scale=alt.Scale(domain=["loud", "quiet"],
                                                      range=["#c0392b", "#2471a3"])),
        )
        .properties(width=width, height=160, title="both task losses over the steps")
    )
    run = (
        steps.transform_calculate(
            out=f"abs(datum.theta - theta_star) <= {TOLERANCE!r} ? -1 : datum.step"
        )
        .transform_joinaggregate(last_out="max(out)")
        .transform_filter("datum.step == steps")
        .transform_calculate(
            diverged=(f"!isFinite(datum.theta) || abs(datum.theta) > "
                      f"{DIVERGENCE_THRESHOLD!r}"),
            steps_to="datum.last_out < 0 ? 0 : datum.last_out == steps ? -1 "
                     ": datum.last_out + 1",
        )
    )
    run = row_readout(run, RUN_READOUT, {
        "final": "datum.theta",
        "loud_final": "datum.loud",
        "quiet_final": "datum.quiet",
        "status": (
            "datum.diverged ? 'diverged' : datum.steps_to < 0 ? "
            "'not within 10⁻⁶ of θ* after ' + steps + ' steps' : "
            "'within 10⁻⁶ of θ* from step ' + datum.steps_to + ' on'"
        ),
    }, width=width)
    closed = readout_chart(READOUT, EXPRESSIONS, width=width)
    return finish(alt.vconcat(closed, theta_panel, loss_panel, run).add_params(*params))
