"""The live explorers of the book (gabalab.charts), as the browser tests drive them.

One :class:`Case` per explorer: the page and notebook it is on, its chart's name, the
readout lines it shows (label, key, d3 number format, from the chart module), what to do
with its controls (:class:`Move`, each done with the keyboard or the mouse), and its Python
twin: a function from the controls' current values to the value of every readout key.
The static-site test and the JupyterLab test both use these cases.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gabalab.blocks import selection_readout
from gabalab.charts import balancing as chart_18_2
from gabalab.charts import derivative_bound as chart_12_2
from gabalab.charts import epochs as chart_12_3
from gabalab.charts import norm_scaling as chart_12_1
from gabalab.charts import selection as chart_18_1
from gabalab.charts import toy_bias as chart_12_4
from gabalab.charts._common import number_format
from gabalab.experiments.records import load_runs
from gabalab.experiments.trained import METHODS
from gabalab.experiments.verdicts import paired_runs, ratio_through_training
from gabalab.losses import gradient_magnitudes
from gabalab.norms import norm_scaling
from gabalab.toy import toy_bias_summary
from gabalab.weighting import floor_weights, gaba_weights

DRAW_TIMEOUT_MS = 20_000

#: Text of every <text> element of a chart's SVG.
SVG_TEXTS_JS = "el => [...el.querySelectorAll('svg text')].map(t => t.textContent)"
#: Current value of every control of a chart, by parameter name.
CONTROLS_JS = """el => {
  const out = {};
  for (const input of el.querySelectorAll('.vega-bindings input')) {
    if (input.type === 'radio') { if (input.checked) out[input.name] = input.value; }
    else if (input.type === 'checkbox') out[input.name] = input.checked;
    else out[input.name] = Number(input.value);
  }
  return out;
}"""


@dataclass(frozen=True)
class Move:
    """One thing a reader does to a control.

    Attributes
    ----------
    control : str
        The parameter's name (the ``name`` of its ``<input>``).
    how : str
        ``"keys"``: focus the control and press ``keys`` one after the other;
        ``"click"``: click the control (a checkbox, or a radio button's ``value``);
        ``"drag"``: drag a slider's thumb to ``fraction`` of its track with the mouse.
    keys : tuple of str
        Keys for ``"keys"``.
    value : str
        For ``"click"`` on a radio group: the option to click.
    fraction : float
        For ``"drag"``: where on the track to let go, 0 (left) to 1 (right).
    """

    control: str
    how: str
    keys: tuple[str, ...] = ()
    value: str = ""
    fraction: float = 0.5


@dataclass(frozen=True)
class Case:
    """One explorer and how to check it."""

    page: str
    chart: str
    readout: Sequence[tuple[str, str, str]]
    moves: Sequence[Move]
    twin: Callable[[Mapping[str, Any]], Mapping[str, float]]

    @property
    def chart_id(self) -> str:
        return f"gabalab-chart-{self.chart}"

    @property
    def notebook(self) -> str:
        return self.page.removesuffix(".html") + ".md"


def _twin_12_1(c: Mapping[str, Any]) -> dict[str, float]:
    n = round(10.0 ** float(c["log10_n"]))
    s_rul, s_hs = 10.0 ** float(c["log10_scale_rul"]), 10.0 ** float(c["log10_scale_hs"])
    return {**norm_scaling(n, s_rul, s_hs, seed=0), "scale_rul": s_rul, "scale_hs": s_hs}


def _twin_12_2(c: Mapping[str, Any]) -> dict[str, float]:
    g = gradient_magnitudes(float(c["r"]), float(c["p_true"]), int(c["B"]), int(c["K"]))
    return {**g, "bound": 1.0 / int(c["B"])}


def _fd001_ratios() -> dict[int, list[dict[str, float]]]:
    """Per seed, the recorded quantiles of the FD001 runs on the summed loss, from epoch 1
    to the selected epoch (the last row)."""
    from browser_support import ROOT

    runs = paired_runs(load_runs(ROOT / "results" / "fd001" / "trained"), METHODS)
    return ratio_through_training(runs, "sum")


def _twin_12_3(c: Mapping[str, Any]) -> dict[str, float]:
    rows = _fd001_ratios()[int(c["seed"])]
    selected = rows[-1]["epoch"]
    shown = next(r for r in rows if r["epoch"] == min(int(c["epoch"]), selected))
    return {**shown, "selected": selected, "spread": shown["q75"] / shown["q25"],
            "vs_first": shown["q50"] / rows[0]["q50"]}


#: The notebook whose stored chart holds the 18.1 table.
SELECTION_NOTEBOOK = "chapter18/per_step_gradient_norm.md"


def stored_spec(notebook: str, chart_id: str) -> dict[str, Any]:
    """The Vega-Lite specification of a chart as the executed notebook stores it."""
    import nbformat
    from browser_support import ROOT

    nb = nbformat.read(ROOT / notebook.replace(".md", ".ipynb"), as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("data", {}).get("text/html", "")
            if f'id="{chart_id}"' in text:
                payload = text.split(".push(", 1)[1].rsplit(");</script>", 1)[0]
                return json.loads(payload)[1]
    raise LookupError(f"{notebook} stores no chart {chart_id}")


def embedded_values(spec: Any, key: str) -> list[dict[str, Any]]:
    """The first inline data rows of a spec whose rows have ``key``."""
    if isinstance(spec, dict):
        values = spec.get("data", {}).get("values") if isinstance(spec.get("data"), dict) else None
        if values and isinstance(values[0], dict) and key in values[0]:
            return values
        children = spec.values()
    elif isinstance(spec, list):
        children = spec
    else:
        return []
    for child in children:
        found = embedded_values(child, key)
        if found:
            return found
    return []


def _twin_18_1(c: Mapping[str, Any]) -> dict[str, Any]:
    # The table the page holds: the notebook's per-block squared norms, as embedded.
    spec = stored_spec(SELECTION_NOTEBOOK, "gabalab-chart-s18_1_selection")
    rows = embedded_values(spec, "sq_rul")
    table = {r["block"]: {"n_params": r["n_params"], "rul": r["sq_rul"], "health": r["sq_health"]}
             for r in rows}
    chosen = [r["block"] for r in rows if c[f"block_{r['i']}"]]
    r = selection_readout(table, chosen)
    return {"blocks": ", ".join(r["blocks"]), "n_params": r["n_params"],
            "norm_rul": r["norms"]["rul"], "norm_health": r["norms"]["health"],
            "ratio": r["ratio"], "lambda_rul": r["weights"]["rul"],
            "lambda_health": r["weights"]["health"]}


def _twin_12_4(c: Mapping[str, Any]) -> dict[str, Any]:
    rho, lr, steps = 10.0 ** float(c["log10_rho"]), 10.0 ** float(c["log10_lr"]), int(c["steps"])
    tol = chart_12_4.TOLERANCE
    s = toy_bias_summary(rho, c["optimizer"], lr=lr, n_steps=steps, tol=tol)
    bound = s["bound"]
    if s["diverged"]:
        status = "diverged"
    elif s["steps_to"] is None:
        status = f"not within 10⁻⁶ of θ* after {steps} steps"
    else:
        status = f"within 10⁻⁶ of θ* from step {s['steps_to']} on"
    return {
        **{k: s[k] for k in ("theta_star", "loud_star", "quiet_star", "bound", "lr_over_bound",
                             "final", "loud_final", "quiet_final")},
        "rho": rho,
        "lr": lr,
        "sgd_at_this_lr": "converges" if lr < bound else "oscillates" if lr == bound
        else "diverges",
        "status": status,
    }


def _trained_per_epoch() -> dict[str, Any]:
    from browser_support import ROOT

    from gabalab.charts.balancing import METHOD_ORDER, RESULT_METRICS
    from gabalab.experiments.records import load_runs
    from gabalab.experiments.verdicts import per_epoch_spreads

    methods = list(METHOD_ORDER)
    runs = paired_runs(load_runs(ROOT / "results" / "fd001" / "trained"), methods)
    return per_epoch_spreads(runs, methods, list(RESULT_METRICS))


def _twin_18_2(c: Mapping[str, Any]) -> dict[str, Any]:
    ratio = 10.0 ** float(c["log10_ratio"])
    lam = floor_weights(gaba_weights([ratio, 1.0]), float(c["floor"]))
    out: dict[str, Any] = {"ratio": ratio, "lambda_rul": lam[0], "lambda_health": lam[1],
                           "weighted_ratio": lam[0] * ratio / lam[1]}
    per_epoch = _trained_per_epoch()
    for method, table in per_epoch.items():
        epoch = int(c["epoch"])
        if epoch > len(table[c["metric"]]) or table[c["metric"]][epoch - 1] is None:
            continue  # every run of the method stopped before this epoch
        spread = table[c["metric"]][epoch - 1]
        out[f"{method}_mean"] = spread["mean"]
        out[f"{method}_std"] = spread["std"]
    return out


CASES: list[Case] = [
    Case(
        page="chapter12/imbalance_intro.html",
        chart="s12_1_norm_scaling",
        readout=chart_12_1.READOUT,
        moves=[
            Move("log10_n", "keys", keys=("ArrowRight",) * 6),
            Move("log10_scale_hs", "drag", fraction=0.7),
            Move("log10_scale_rul", "keys", keys=("ArrowLeft",) * 5),
            Move("log10_n", "drag", fraction=1.0),
        ],
        twin=_twin_12_1,
    ),
    Case(
        page="chapter12/derivative_bound.html",
        chart="s12_2_derivative_bound",
        readout=chart_12_2.READOUT,
        moves=[
            Move("r", "keys", keys=("ArrowRight",) * 15),
            Move("p_true", "drag", fraction=0.8),
            Move("B", "keys", keys=("End",)),
            Move("K", "drag", fraction=1.0),
            Move("r", "keys", keys=("Home",)),
        ],
        twin=_twin_12_2,
    ),
    Case(
        page="chapter12/epoch_measurement.html",
        chart="s12_3_epochs",
        readout=chart_12_3.READOUT,
        moves=[
            Move("epoch", "keys", keys=("Home",)),
            Move("epoch", "keys", keys=("ArrowRight",) * 3),
            Move("seed", "click", value="1"),
            Move("epoch", "drag", fraction=1.0),
        ],
        twin=_twin_12_3,
    ),
    Case(
        page="chapter12/shared_feature_bias.html",
        chart="s12_4_toy_bias",
        readout=tuple(chart_12_4.READOUT) + tuple(chart_12_4.RUN_READOUT),
        moves=[
            Move("optimizer", "click", value="adam"),
            Move("log10_lr", "keys", keys=("ArrowRight",) * 14),
            Move("steps", "drag", fraction=0.6),
            Move("optimizer", "click", value="sgd"),
            Move("log10_rho", "keys", keys=("ArrowLeft",) * 10),
            Move("log10_lr", "keys", keys=("End",)),
        ],
        twin=_twin_12_4,
    ),
    Case(
        page="chapter18/per_step_gradient_norm.html",
        chart="s18_1_selection",
        readout=chart_18_1.READOUT,
        moves=[
            Move("block_4", "click"),            # rul_head in
            Move("block_0", "keys", keys=("Space",)),  # conv out
            Move("block_5", "click"),            # health_head in
            Move("block_4", "keys", keys=("Space",)),  # rul_head out again
        ],
        twin=_twin_18_1,
    ),
    Case(
        page="chapter18/balancing.html",
        chart="s18_2_balancing",
        readout=tuple(chart_18_2.WEIGHT_READOUT) + chart_18_2.result_readout(
            chart_18_2.METHOD_ORDER),
        moves=[
            Move("log10_ratio", "keys", keys=("ArrowRight",) * 8),
            Move("floor", "drag", fraction=0.4),
            Move("metric", "click", value="accuracy"),
            Move("epoch", "keys", keys=("Home",)),
            Move("metric", "click", value="weighted_ratio"),
            Move("log10_ratio", "keys", keys=("End",)),
        ],
        twin=_twin_18_2,
    ),
]

_NUMBER = re.compile(r"^[-+]?(\d[\d,]*)(\.\d+)?(e[-+]?\d+)?$")


def shown_number(text: str) -> float:
    """A number as a chart writes it (d3 format: commas, a Unicode minus)."""
    clean = text.strip().replace("\u2212", "-")
    if not _NUMBER.match(clean.replace("+", "", 1) if clean.startswith("+") else clean):
        raise ValueError(f"not a number: {text!r}")
    return float(clean.replace(",", ""))


def agrees(shown: str, value: Any, fmt: str) -> bool:
    """Whether ``shown`` is ``value`` written with the d3 format ``fmt``.

    The text must be the value rounded to the format's precision: for ``.Nf`` within half a
    unit of its last decimal, for ``.Ng`` within half a unit of its last significant digit,
    for ``,d`` the same integer, for ``""`` the same text. (JavaScript and Python round an
    exact tie differently,
    so the test compares numbers, not strings.)
    """
    spec = number_format(fmt)
    if spec == "":
        return shown == value
    if shown in ("inf", "-inf", "nan"):
        return str(float(value)) == shown
    number = shown_number(shown)
    if spec == ",d":
        return number == round(value)
    digits = int(spec[1:-1])
    if spec.endswith("f"):
        half = 0.5 * 10.0 ** (-digits)
    else:
        if value == 0:
            return number == 0
        exponent = math.floor(math.log10(abs(value)))
        half = 0.5 * 10.0 ** (exponent - digits + 1)
    return abs(number - value) <= half * (1 + 1e-9)


def check_readout(
    case: Case, texts: Sequence[str], controls: Mapping[str, Any]
) -> list[str]:
    """Differences between the readout a chart shows and its Python twin (empty: none)."""
    want = case.twin(controls)
    trouble = []
    for label, key, fmt in case.readout:
        prefix = f"{label} = "
        lines = [t for t in texts if t.startswith(prefix)]
        if len(lines) != 1:
            trouble.append(f"{len(lines)} readout lines start with {prefix!r}")
            continue
        shown = lines[0][len(prefix):]
        expected = want[key] if fmt == "" else float(want[key])
        if not agrees(shown, expected, fmt):
            trouble.append(
                f"{label}: the page shows {shown!r}, the Python twin gives {want[key]!r} "
                f"(format {fmt}) for {dict(controls)}"
            )
    return trouble


def wait_drawn(page: Any, case: Case, timeout_ms: int = DRAW_TIMEOUT_MS, scope: Any = None) -> Any:
    """The chart's element, once Vega has drawn it (``scope``: where to look; the page)."""
    where = page if scope is None else scope
    chart = where.locator(f"#{case.chart_id}")
    where.locator(f"#{case.chart_id}[data-chart=drawn] svg").wait_for(timeout=timeout_ms)
    return chart


def readout_texts(chart: Any) -> list[str]:
    """The text of every ``<text>`` element the chart draws."""
    return chart.evaluate(SVG_TEXTS_JS)


def do(page: Any, chart: Any, move: Move) -> None:
    """Do one move on a control of the chart, as a reader would."""
    inputs = chart.locator(f".vega-bindings input[name='{move.control}']")
    assert inputs.count() >= 1, f"no control named {move.control!r}"
    if move.how == "keys":
        target = inputs.first
        if target.get_attribute("type") == "radio":
            # Tabbing into a radio group lands on its checked button.
            target = chart.locator(
                f".vega-bindings input[name='{move.control}']:checked"
            )
        target.scroll_into_view_if_needed()
        target.focus()
        focused = target.evaluate("el => el === document.activeElement")
        assert focused, f"control {move.control!r} did not take the focus"
        for key in move.keys:
            page.keyboard.press(key)
    elif move.how == "click":
        target = inputs.first
        if move.value:
            target = chart.locator(
                f".vega-bindings input[name='{move.control}'][value='{move.value}']"
            )
        target.scroll_into_view_if_needed()
        target.click()
    elif move.how == "drag":
        target = inputs.first
        target.scroll_into_view_if_needed()
        box = target.bounding_box()
        assert box, f"control {move.control!r} is not visible"
        y = box["y"] + box["height"] / 2
        # The thumb sits at the current value; press on it, then drag along the track.
        value = target.evaluate(
            "el => (Number(el.value) - Number(el.min)) / (Number(el.max) - Number(el.min))"
        )
        page.mouse.move(box["x"] + 8 + value * (box["width"] - 16), y)
        page.mouse.down()
        page.mouse.move(box["x"] + 8 + move.fraction * (box["width"] - 16), y, steps=8)
        page.mouse.up()
    else:  # pragma: no cover - a mistake in CASES
        raise ValueError(f"unknown move {move.how!r}")


def drive(page: Any, case: Case, timeout_ms: int = DRAW_TIMEOUT_MS, scope: Any = None) -> list[str]:
    """Check the drawn chart and every move of the case; return what went wrong."""
    chart = wait_drawn(page, case, timeout_ms, scope)
    trouble: list[str] = []
    texts = readout_texts(chart)
    controls = chart.evaluate(CONTROLS_JS)
    trouble += [f"at the start: {t}" for t in check_readout(case, texts, controls)]
    for move in case.moves:
        before_controls, before_texts = controls, texts
        do(page, chart, move)
        deadline = time.monotonic() + 10
        while True:
            controls = chart.evaluate(CONTROLS_JS)
            texts = readout_texts(chart)
            if controls != before_controls and texts != before_texts:
                break
            if time.monotonic() > deadline:
                trouble.append(
                    f"after {move}: controls {before_controls} -> {controls}, "
                    f"readout changed: {texts != before_texts}"
                )
                break
            page.wait_for_timeout(50)
        trouble += [f"after {move}: {t}" for t in check_readout(case, texts, controls)]
    return trouble
