"""What the cheaper sensors would have applied, step by step, next to the exact sensor.

Training once with the exact sensor and computing, on the same forward passes, the weights of
every cheaper sensor isolates what each sensor gives up from everything else that changes
between two training runs. :class:`ShadowSensors` does that bookkeeping inside a training loop
(its two methods fit the hooks of :func:`gabalab.training.train_balanced`):

* the representation sensor's weights, with each of its two norms (summed over the batch,
  the default, and Frobenius): the norms of each task's gradient on the shared features
  (:func:`gabalab.sensors.representation_gradients`), through the same EMA, rule and floor as
  the exact balancer, with EMA states of their own;
* the weights a balancer with ``measure_every=N`` would hold: the exact weights of the last
  step whose index is a multiple of N (its EMA, if any, running over those steps only).

:func:`compare_weights` then summarises how far a cheap sensor's weights are from the exact
ones over a run: differences, correlations, and how far from balanced the cheap weights leave
the exact norms. Both work on two tasks (the health weight is one minus the RUL weight).

For a page to show such a run and what it means: :func:`comparison_table` prints the
comparisons as a table, :func:`sensor_gap` condenses them into a :class:`SensorGap` record
(medians over the steps, and which way each comparison goes), :func:`sensor_costs` reads the
step costs that ``benchmarks/gaba_sensors.py`` stores into a :class:`SensorCosts` record, and
:func:`run_header` says how a stored result was made.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from gabalab._checks import as_array, check_int, check_real, check_scalar_losses
from gabalab.gaba import GabaResult
from gabalab.sensors import check_features, feature_norms, representation_gradients
from gabalab.weighting import (
    DEFAULT_EMA,
    DEFAULT_FLOOR,
    DEFAULT_RULE,
    check_ema,
    check_floor,
    check_rule,
    stabilised_weights,
)

__all__ = ["SensorCosts", "SensorGap", "ShadowSensors", "compare_weights", "comparison_table",
           "run_header", "sensor_costs", "sensor_gap", "summary"]


def summary(values: Any) -> dict[str, float]:
    """Median, mean, 90th percentile and maximum of a non-empty series.

    Examples
    --------
    >>> summary([1.0, 2.0, 3.0, 10.0])["median"]
    2.5

    Raises
    ------
    TypeError, ValueError
        If ``values`` is not an array of finite real numbers, or is empty.
    """
    array = as_array("values", values).ravel()
    if array.size == 0:
        raise ValueError("values must not be empty")
    return {"median": float(np.median(array)), "mean": float(np.mean(array)),
            "q90": float(np.quantile(array, 0.9)), "max": float(np.max(array))}


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (tied values share their mean rank), for Spearman's correlation."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size)
    ranks[order] = np.arange(values.size, dtype=np.float64)
    for v in np.unique(values):
        tied = values == v
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.size < 2 or np.std(a) == 0 or np.std(b) == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def compare_weights(
    cheap: Sequence[float],
    exact: Sequence[float],
    exact_norms: Sequence[Sequence[float]],
) -> dict[str, Any]:
    """How a cheap sensor's RUL weights differ from the exact ones over a run.

    Parameters
    ----------
    cheap, exact : sequence of float
        The RUL weight per step under the cheap and the exact sensor (two tasks: the health
        weight is one minus it), all in ``(0, 1)``.
    exact_norms : sequence of (float, float)
        The exact norms ``(g_rul, g_health)`` per step.

    Returns
    -------
    dict
        ``abs_diff`` (``|w_cheap - w_exact|``) and ``rel_diff`` (``|w_cheap / w_exact - 1|``)
        summaries (median, mean, q90, max); ``pearson`` (of the weights), ``pearson_log`` (of
        their logarithms) and ``spearman`` correlations (``None`` for a constant series);
        ``imbalance``: summary of ``max_i(w_i g_i) / min_i(w_i g_i)`` under the cheap weights
        and the exact norms, 1 when the applied gradient is balanced; ``n_steps``.

    Raises
    ------
    TypeError
        If an argument is not an array of real numbers.
    ValueError
        If the series are not 1-D, differ in length or are empty, a step does not hold two
        positive finite norms, or a weight lies outside ``(0, 1)``.

    Examples
    --------
    >>> out = compare_weights([0.1, 0.2, 0.3], [0.1, 0.25, 0.3],
    ...                       [[9.0, 1.0], [3.0, 1.0], [7.0, 3.0]])
    >>> round(out["abs_diff"]["max"], 3), out["n_steps"]
    (0.05, 3)
    """
    a = as_array("cheap", cheap, ndim=1, nonempty=True)
    b = as_array("exact", exact, ndim=1, nonempty=True)
    g = as_array("exact_norms", exact_norms, ndim=2)
    if b.shape != a.shape:
        raise ValueError(f"exact must hold one weight per step, as cheap does ({a.size}), got "
                         f"{b.size}")
    if g.shape != (a.size, 2):
        raise ValueError(f"exact_norms must hold two norms per step, shape ({a.size}, 2), got "
                         f"{g.shape}")
    if not np.all(g > 0):
        raise ValueError("exact_norms must be > 0")
    for name, w in (("cheap", a), ("exact", b)):
        if np.any((w <= 0) | (w >= 1)):
            raise ValueError(f"{name} must hold weights in (0, 1), got {w.min()} to {w.max()}")
    pulls = np.stack([a * g[:, 0], (1 - a) * g[:, 1]], axis=1)
    return {
        "n_steps": int(a.size),
        "abs_diff": summary(np.abs(a - b)),
        "rel_diff": summary(np.abs(a / b - 1)),
        "pearson": _pearson(a, b),
        "pearson_log": _pearson(np.log(a), np.log(b)),
        "spearman": _pearson(_ranks(a), _ranks(b)),
        "imbalance": summary(pulls.max(axis=1) / pulls.min(axis=1)),
    }


class ShadowSensors:
    """The cheaper sensors' weights, computed step by step beside an exact balancer.

    Call :meth:`before_step` with the step's losses and shared features before the exact
    balancer's step (the graph must be alive), and :meth:`after_step` with its result; they
    fit the ``before_step`` and ``after_step`` hooks of
    :func:`gabalab.training.train_balanced`. Nothing here changes the training.

    Parameters
    ----------
    periods : sequence of int
        The measurement periods N (>= 2) to follow.
    ema, floor, rule
        As the exact balancer's ``ema``, ``floor`` and ``weight_rule`` (the same defaults as
        :class:`~gabalab.gaba.GabaBalancer`; pass the balancer's own).

    Attributes
    ----------
    series : dict of str to list
        Per step: ``exact_w``, ``rep_w`` (batch-summed norms), ``rep_frobenius_w``,
        ``held_<N>_w`` (RUL weights) and ``exact_norms``, ``rep_norms``,
        ``rep_frobenius_norms`` (pairs).
    seconds : float
        Time spent in the representation sensor's gradient calls.

    Raises
    ------
    TypeError, ValueError
        On bad periods or options.

    Examples
    --------
    >>> import torch, torch.nn.functional as F
    >>> from gabalab.gaba import GabaBalancer
    >>> from gabalab.models import TinyDualHead
    >>> model = TinyDualHead(seed=0)
    >>> balancer = GabaBalancer.from_model(model)
    >>> shadow = ShadowSensors([2])
    >>> target = 50 * torch.ones(8)
    >>> labels = torch.zeros(8, dtype=torch.long)
    >>> for step in range(3):
    ...     gen = torch.Generator().manual_seed(step)
    ...     x = torch.randn(8, 14, generator=gen)
    ...     z = model.features(x)
    ...     rul = model.rul_head(z).squeeze(-1)
    ...     losses = [F.mse_loss(rul, target),
    ...               F.cross_entropy(model.health_head(z), labels)]
    ...     shadow.before_step(step, losses, z)
    ...     shadow.after_step(step, balancer.step(losses))
    >>> held = shadow.series["held_2_w"]
    >>> exact = shadow.series["exact_w"]
    >>> held[0] == held[1] == exact[0], len(shadow.series["rep_w"])
    (True, 3)
    """

    def __init__(self, periods: Sequence[int] = (4, 16), *, ema: float | None = DEFAULT_EMA,
                 floor: float = DEFAULT_FLOOR, rule: str = DEFAULT_RULE) -> None:
        if isinstance(periods, (str, bytes)) or not isinstance(periods, Sequence):
            raise TypeError(f"periods must be a sequence of integers, got "
                            f"{type(periods).__name__}")
        self.periods = tuple(check_int(f"periods[{i}]", n, minimum=2)
                             for i, n in enumerate(periods))
        self.ema = check_ema(ema)
        self.floor = check_floor(floor, 2)
        self.rule = check_rule(rule)
        self.series: dict[str, list[Any]] = {
            "exact_w": [], "exact_norms": [], "rep_w": [], "rep_norms": [],
            "rep_frobenius_w": [], "rep_frobenius_norms": [],
            **{f"held_{n}_w": [] for n in self.periods}}
        self.seconds = 0.0
        self._rep_state: dict[str, np.ndarray | None] = {"rep": None, "rep_frobenius": None}
        self._held: dict[int, tuple[float, np.ndarray | None]] = {}
        self._pending: dict[str, tuple[float, ...]] | None = None

    def before_step(self, step: int, losses: Sequence[torch.Tensor], z: torch.Tensor) -> None:
        """Measure the representation norms on this forward pass (graph kept).

        Raises
        ------
        TypeError, ValueError
            If ``step`` is not an integer >= 0, ``losses`` not two scalar losses that require
            grad (whose graph is not yet freed), or ``z`` not a tensor in the graph (see
            :func:`gabalab.sensors.check_features`) that both losses read.
        """
        check_int("step", step, minimum=0)
        losses = check_scalar_losses(losses, count=2)
        if not isinstance(z, torch.Tensor):
            raise TypeError(f"z must be a torch.Tensor (the shared features), got "
                            f"{type(z).__name__}")
        check_features(z, "z")
        start = time.perf_counter()
        try:
            grads = representation_gradients(list(losses), [z])
        except ValueError as err:
            if "does not depend on the features" not in str(err):
                raise
            raise ValueError(f"z is not the tensor the heads read in this forward pass: "
                             f"{err}") from None
        self._pending = {"rep": feature_norms(grads, reduce="batch_sum"),
                         "rep_frobenius": feature_norms(grads, reduce="frobenius")}
        self.seconds += time.perf_counter() - start

    def after_step(self, step: int, result: GabaResult) -> None:
        """Record the exact step's result and every cheap sensor's weights for this step.

        Raises
        ------
        TypeError
            If ``step`` is not an integer or ``result`` not a
            :class:`~gabalab.gaba.GabaResult`.
        RuntimeError
            If :meth:`before_step` was not called for this step.
        ValueError
            If ``step`` is negative, the exact step was skipped or did not measure (a held
            or representation balancer is not the exact reference), or ``result`` is not of
            the two tasks :meth:`before_step` measured.
        """
        check_int("step", step, minimum=0)
        if not isinstance(result, GabaResult):
            raise TypeError(f"result must be a GabaResult (from GabaBalancer.step), got "
                            f"{type(result).__name__}")
        if self._pending is None:
            raise RuntimeError("after_step() needs before_step() on the same forward pass")
        if len(result.weights) != 2 or len(result.norms) != 2:
            raise ValueError(f"result holds {len(result.weights)} weights and "
                             f"{len(result.norms)} norms: ShadowSensors compares two tasks, "
                             "those of before_step's losses")
        if result.skipped or not result.fresh or result.sensor != "exact":
            raise ValueError("ShadowSensors follows an exact balancer measuring every step; "
                             f"this step was skipped={result.skipped}, fresh={result.fresh}, "
                             f"sensor={result.sensor!r}")
        pending, self._pending = self._pending, None
        self.series["exact_w"].append(float(result.weights[0]))
        self.series["exact_norms"].append([float(g) for g in result.norms])
        for key, norms in pending.items():
            update = stabilised_weights(norms, self._rep_state[key], ema=self.ema,
                                        floor=self.floor, rule=self.rule)
            if self.ema:
                self._rep_state[key] = update.norms
            self.series[f"{key}_w"].append(float(update.weights[0]))
            self.series[f"{key}_norms"].append([float(g) for g in norms])
        for n in self.periods:
            if step % n == 0:
                state = self._held.get(n, (math.nan, None))[1]
                measured = stabilised_weights(result.norms, state, ema=self.ema,
                                              floor=self.floor, rule=self.rule)
                self._held[n] = (float(measured.weights[0]),
                                 measured.norms if self.ema else None)
            if n not in self._held:
                raise ValueError(f"the first step must have an index that is a multiple of "
                                 f"{n} (step 0), got {step}")
            self.series[f"held_{n}_w"].append(self._held[n][0])

    def comparisons(self) -> dict[str, dict[str, Any]]:
        """:func:`compare_weights` of every cheap sensor (and of the exact one, the baseline).

        Returns
        -------
        dict
            ``"exact"`` (its own imbalance: 1 without EMA and floor), ``"exact_lag_1"`` (the
            exact weights of the step before, against this step's: how much the weights move
            from one batch to the next, the scale against which holding them costs),
            ``"representation"``, ``"representation_frobenius"``, ``"periodic_<N>"``.
        """
        s = self.series
        out = {"exact": compare_weights(s["exact_w"], s["exact_w"], s["exact_norms"])}
        if len(s["exact_w"]) > 1:
            out["exact_lag_1"] = compare_weights(s["exact_w"][:-1], s["exact_w"][1:],
                                                 s["exact_norms"][1:])
        out["representation"] = compare_weights(s["rep_w"], s["exact_w"], s["exact_norms"])
        out["representation_frobenius"] = compare_weights(s["rep_frobenius_w"], s["exact_w"],
                                                          s["exact_norms"])
        for n in self.periods:
            out[f"periodic_{n}"] = compare_weights(s[f"held_{n}_w"], s["exact_w"],
                                                   s["exact_norms"])
        return out

    def norm_ratios(self) -> dict[str, Any]:
        """Summaries of ``g_rul / g_health`` under every sensor and over the exact one's.

        Returns
        -------
        dict
            ``exact``, and for ``representation`` and ``representation_frobenius``: the
            summary of the ratio, ``<name>_over_exact`` (the summary of its quotient by the
            exact ratio) and ``<name>_pearson_log`` (the correlation of the log ratios with
            the exact ones).
        """
        exact = np.array([a / b for a, b in self.series["exact_norms"]])
        out: dict[str, Any] = {"exact": summary(exact)}
        for name, key in (("representation", "rep"), ("representation_frobenius",
                                                      "rep_frobenius")):
            ratio = np.array([a / b for a, b in self.series[f"{key}_norms"]])
            out[name] = summary(ratio)
            out[f"{name}_over_exact"] = summary(ratio / exact)
            out[f"{name}_pearson_log"] = _pearson(np.log(exact), np.log(ratio))
        return out


# ---------------------------------------------------------------- what a page shows of a run

def _mapping(name: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping, got {type(value).__name__}")
    return value


def _entry(name: str, value: Mapping[str, Any], key: str) -> Any:
    if key not in value:
        raise ValueError(f"{name} has no entry {key!r} (it holds {sorted(map(str, value))})")
    return value[key]


def _median(name: str, row: Mapping[str, Any], key: str) -> float:
    """``row[key]["median"]`` as a finite float, the error naming ``name[key]``."""
    inner = _mapping(f"{name}[{key!r}]", _entry(name, row, key))
    return check_real(f"{name}[{key!r}]['median']", _entry(f"{name}[{key!r}]", inner, "median"))


def _corr(name: str, row: Mapping[str, Any]) -> float | None:
    value = _entry(name, row, "pearson_log")
    return None if value is None else check_real(f"{name}['pearson_log']", value)


def _rows(comparisons: Any) -> dict[str, Mapping[str, Any]]:
    comparisons = _mapping("comparisons", comparisons)
    if not comparisons:
        raise ValueError("comparisons is empty: it must hold at least one sensor")
    rows = {}
    for key, row in comparisons.items():
        if not isinstance(key, str):
            raise TypeError(f"comparisons: keys must be sensor names (strings), got {key!r}")
        rows[key] = _mapping(f"comparisons[{key!r}]", row)
    return rows


def comparison_table(comparisons: Mapping[str, Any],
                     norm_ratios: Mapping[str, Any] | None = None) -> str:
    """The comparisons of a run as a table, one sensor a line (76 columns at most).

    Parameters
    ----------
    comparisons : mapping of str to dict
        As :meth:`ShadowSensors.comparisons` returns them (or as a stored run holds them):
        per sensor, :func:`compare_weights`'s ``rel_diff``, ``pearson_log`` and
        ``imbalance``.
    norm_ratios : mapping, optional
        As :meth:`ShadowSensors.norm_ratios` returns them; adds the median ratio
        ``g_rul / g_health`` of the exact sensor and each representation norm's over it.

    Returns
    -------
    str
        Per sensor: the median and 90th percentile of ``|w_cheap / w_exact - 1|``, the
        correlation of the log weights (``-`` for a constant series) and the median
        imbalance the cheap weights leave on the exact norms.

    Raises
    ------
    TypeError
        If ``comparisons`` or ``norm_ratios`` (or an entry read from them) is not a mapping,
        or a number is not a real number.
    ValueError
        If ``comparisons`` is empty, or an entry read is missing or not finite.

    Examples
    --------
    >>> row = compare_weights([0.2, 0.3], [0.25, 0.3], [[3, 1]] * 2)
    >>> table = comparison_table({"periodic_2": row})
    >>> print(table)  # doctest: +NORMALIZE_WHITESPACE
    sensor          |dw|/w median     q90 corr(log w) imbalance med
    periodic_2              0.100   0.180        1.00          1.31
    """
    rows = _rows(comparisons)
    lines = [f"{'sensor':<26} {'|dw|/w median':>13} {'q90':>7} {'corr(log w)':>11} "
             f"{'imbalance med':>13}"]
    for key, row in rows.items():
        name = f"comparisons[{key!r}]"
        median = _median(name, row, "rel_diff")
        rel = row["rel_diff"]
        q90 = check_real(f"{name}['rel_diff']['q90']", _entry(f"{name}['rel_diff']", rel, "q90"))
        corr = _corr(name, row)
        lines.append(f"{key:<26} {median:13.3f} {q90:7.3f} "
                     f"{'-' if corr is None else f'{corr:.2f}':>11} "
                     f"{_median(name, row, 'imbalance'):13.2f}")
    if norm_ratios is not None:
        ratios = _mapping("norm_ratios", norm_ratios)
        lines.append(f"g_rul / g_health, median: exact "
                     f"{_median('norm_ratios', ratios, 'exact'):.0f}")
        lines.append(
            "  over the exact ratio: batch-summed "
            f"{_median('norm_ratios', ratios, 'representation_over_exact'):.2f}, Frobenius "
            f"{_median('norm_ratios', ratios, 'representation_frobenius_over_exact'):.2f}")
    return "\n".join(lines)


@dataclass(frozen=True)
class SensorGap:
    """What the cheap sensors' weights gave up over one run: medians over its steps.

    Built by :func:`sensor_gap`.

    Attributes
    ----------
    n_steps : int
        Steps of the run.
    exact_imbalance : float
        The imbalance the exact weights leave (above 1 through the EMA's lag and the floor).
    lag : float
        ``|w_{t-1} / w_t - 1|`` of consecutive exact RUL weights: how far the weights move
        from one batch to the next anyway.
    held : dict of int to float
        ``|w_held / w_exact - 1|`` per period N.
    held_imbalance : dict of int to float
        The imbalance held weights leave on the exact norms, per period N.
    exact_ratio : float
        The exact ratio ``g_rul / g_health``.
    sum_over : float
        The batch-summed representation ratio over the exact one.
    fro_over : float
        The Frobenius representation ratio over the exact one.
    sum_imbalance : float
        The imbalance the batch-summed sensor's weights leave on the exact norms.
    fro_imbalance : float
        The imbalance the Frobenius sensor's weights leave on the exact norms.
    sum_corr : float or None
        The correlation of the batch-summed sensor's log weights with the exact ones.
    fro_corr : float or None
        The correlation of the Frobenius sensor's log weights with the exact ones.
    """

    n_steps: int
    exact_imbalance: float
    lag: float
    held: dict[int, float]
    held_imbalance: dict[int, float]
    exact_ratio: float
    sum_over: float
    fro_over: float
    sum_imbalance: float
    fro_imbalance: float
    sum_corr: float | None
    fro_corr: float | None

    @property
    def closer(self) -> str:
        """``"batch-summed"`` or ``"Frobenius"``: whose ratio is nearer the exact one."""
        near = abs(math.log(self.sum_over)) < abs(math.log(self.fro_over))
        return "batch-summed" if near else "Frobenius"

    def quotes(self) -> dict[str, str]:
        """The numbers and comparisons, formatted for the prose (keys without a prefix).

        ``steps``, ``exact_imb``, ``lag``; per period N ``pN``, ``pN_imb``, ``pN_vs_lag``
        (``"more"`` or ``"less"``: held weights against consecutive exact ones) and
        ``rep_vs_pN`` (``"smaller"`` or ``"larger"``: the batch-summed weights' imbalance
        against the held ones'); ``exact_ratio``, ``sum_over``, ``fro_over``, ``sum_imb``,
        ``fro_imb``, ``sum_corr``, ``fro_corr`` (``-`` if undefined) and ``closer``.
        """
        def corr(value: float | None) -> str:
            return "-" if value is None else f"{value:.2f}"

        out = {"steps": f"{self.n_steps:,}", "exact_imb": f"{self.exact_imbalance:.2f}",
               "lag": f"{self.lag:.0%}"}
        for n, rel in self.held.items():
            out[f"p{n}"] = f"{rel:.0%}"
            out[f"p{n}_imb"] = f"{self.held_imbalance[n]:.2f}"
            out[f"p{n}_vs_lag"] = "more" if rel > self.lag else "less"
            out[f"rep_vs_p{n}"] = ("smaller" if self.sum_imbalance < self.held_imbalance[n]
                                   else "larger")
        out.update({"exact_ratio": f"{self.exact_ratio:.0f}",
                    "sum_over": f"{self.sum_over:.2f}", "fro_over": f"{self.fro_over:.2f}",
                    "sum_imb": f"{self.sum_imbalance:.2f}",
                    "fro_imb": f"{self.fro_imbalance:.2f}",
                    "sum_corr": corr(self.sum_corr), "fro_corr": corr(self.fro_corr),
                    "closer": self.closer})
        return out


def sensor_gap(comparisons: Mapping[str, Any], norm_ratios: Mapping[str, Any]) -> SensorGap:
    """Condense a run's comparisons and norm ratios into a :class:`SensorGap`.

    Parameters
    ----------
    comparisons : mapping
        As :meth:`ShadowSensors.comparisons` returns them: ``exact``, ``exact_lag_1``,
        ``representation``, ``representation_frobenius`` and at least one ``periodic_<N>``.
    norm_ratios : mapping
        As :meth:`ShadowSensors.norm_ratios` returns them: ``exact``,
        ``representation_over_exact`` and ``representation_frobenius_over_exact``.

    Returns
    -------
    SensorGap

    Raises
    ------
    TypeError
        If an argument, or an entry read from it, is not a mapping, or a number is not real.
    ValueError
        If an entry is missing, there is no ``periodic_<N>`` entry, or a ratio is not > 0.

    Examples
    --------
    >>> g = [[3.0, 1.0], [2.0, 1.0], [4.0, 1.0]]
    >>> exact, held = [0.25, 0.33, 0.2], [0.25, 0.25, 0.2]
    >>> same = compare_weights(held, exact, g)
    >>> rows = {"exact": compare_weights(exact, exact, g),
    ...         "exact_lag_1": compare_weights(exact[:-1], exact[1:],
    ...                                        g[1:]),
    ...         "representation": same,
    ...         "representation_frobenius": same, "periodic_2": same}
    >>> ratios = {"exact": {"median": 3.0},
    ...           "representation_over_exact": {"median": 0.9},
    ...           "representation_frobenius_over_exact":
    ...               {"median": 0.2}}
    >>> gap = sensor_gap(rows, ratios)
    >>> gap.closer, gap.quotes()["p2_vs_lag"], gap.quotes()["p2"]
    ('batch-summed', 'less', '0%')
    """
    rows = _rows(comparisons)
    ratios = _mapping("norm_ratios", norm_ratios)
    named = {key: _mapping(f"comparisons[{key!r}]", _entry("comparisons", rows, key))
             for key in ("exact", "exact_lag_1", "representation", "representation_frobenius")}
    periods = sorted(int(m.group(1)) for key in rows
                     if (m := re.fullmatch(r"periodic_(\d+)", key)))
    if not periods:
        raise ValueError(f"comparisons has no 'periodic_<N>' entry (it holds {sorted(rows)})")

    def median(key: str, field: str) -> float:
        return _median(f"comparisons[{key!r}]", rows[key], field)

    over = {}
    for key in ("exact", "representation_over_exact", "representation_frobenius_over_exact"):
        over[key] = _median("norm_ratios", ratios, key)
        if over[key] <= 0:
            raise ValueError(f"norm_ratios[{key!r}]['median'] must be > 0, got {over[key]}")
    n_steps = check_int("comparisons['exact']['n_steps']",
                        _entry("comparisons['exact']", named["exact"], "n_steps"), minimum=1)
    return SensorGap(
        n_steps=n_steps,
        exact_imbalance=median("exact", "imbalance"),
        lag=median("exact_lag_1", "rel_diff"),
        held={n: median(f"periodic_{n}", "rel_diff") for n in periods},
        held_imbalance={n: median(f"periodic_{n}", "imbalance") for n in periods},
        exact_ratio=over["exact"],
        sum_over=over["representation_over_exact"],
        fro_over=over["representation_frobenius_over_exact"],
        sum_imbalance=median("representation", "imbalance"),
        fro_imbalance=median("representation_frobenius", "imbalance"),
        sum_corr=_corr("comparisons['representation']", named["representation"]),
        fro_corr=_corr("comparisons['representation_frobenius']",
                       named["representation_frobenius"]),
    )


@dataclass(frozen=True)
class SensorCosts:
    """What a training step costs with each sensor, in plain steps (paired medians).

    Built by :func:`sensor_costs` from the stored result of ``benchmarks/gaba_sensors.py``.
    The variants are named as there, without their letter: ``plain``, ``exact``, ``floor``
    (one forward and two backward passes, nothing else), ``periodic_<N>``,
    ``representation``.

    Attributes
    ----------
    batch_size : int
        The batch the steps were timed on.
    warmup : int
        Repetitions run before the timing.
    repeats : int
        Repetitions timed.
    median_ms : dict of str to float
        Per variant, the median time of a step (ms).
    paired : dict of str to float
        Per variant, the median of its paired ratios to the plain step.
    held : dict of int to float
        Per period N, a held step in plain steps.
    measuring : dict of int to float
        Per period N, a measuring step in plain steps.
    per_step : dict of int to float
        Per period N, the average step ``c(N)`` in plain steps.
    exact_over_floor : float
        An exact step over the floor, paired.
    """

    batch_size: int
    warmup: int
    repeats: int
    median_ms: dict[str, float]
    paired: dict[str, float]
    held: dict[int, float]
    measuring: dict[int, float]
    per_step: dict[int, float]
    exact_over_floor: float

    @property
    def exact(self) -> float:
        """An exact step, in plain steps."""
        return self.paired["exact"]

    @property
    def floor(self) -> float:
        """One forward and two backward passes, in plain steps."""
        return self.paired["floor"]

    @property
    def representation(self) -> float:
        """A step with the representation sensor, in plain steps."""
        return self.paired["representation"]

    def table(self) -> str:
        """The costs, one variant a line, then the exact step over its floor."""
        lines = [f"batch {self.batch_size}: {self.warmup} warm-up + {self.repeats} measured "
                 "repetitions"]
        for name, ratio in self.paired.items():
            lines.append(f"{name:<17} median {self.median_ms[name]:7.1f} ms   paired "
                         f"x{ratio:.3f}")
            n = int(name.removeprefix("periodic_")) if name.startswith("periodic_") else 0
            if n in self.per_step:
                lines.append(f"{'':<17} held x{self.held[n]:.3f}, measuring "
                             f"x{self.measuring[n]:.3f}, per step x{self.per_step[n]:.3f}")
        lines.append("exact step over the one-forward-plus-two-backward floor: "
                     f"x{self.exact_over_floor:.3f}")
        return "\n".join(lines)

    def quotes(self) -> dict[str, str]:
        """``exact``, ``floor``, ``rep``, ``over_floor`` (2 decimals), ``over_floor_pct``,
        and per period N ``pN`` (per step), ``heldN``, ``measuringN``."""
        out = {"exact": f"{self.exact:.2f}", "floor": f"{self.floor:.2f}",
               "rep": f"{self.representation:.2f}",
               "over_floor": f"{self.exact_over_floor:.2f}",
               "over_floor_pct": f"{self.exact_over_floor - 1:+.1%}"}
        for n in self.per_step:
            out[f"p{n}"] = f"{self.per_step[n]:.2f}"
            out[f"held{n}"] = f"{self.held[n]:.2f}"
            out[f"measuring{n}"] = f"{self.measuring[n]:.2f}"
        return out


def _of_batch(name: str, entries: Any, batch_size: int) -> Mapping[str, Any]:
    if isinstance(entries, (str, bytes)) or not isinstance(entries, Sequence):
        raise TypeError(f"{name} must be a list of entries, got {type(entries).__name__}")
    sizes = [e.get("batch_size") for e in entries if isinstance(e, Mapping)]
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("batch_size") == batch_size:
            return entry
    raise ValueError(f"batch_size {batch_size} is not in {name} (it holds batch sizes "
                     f"{sizes})")


def sensor_costs(benchmark: Mapping[str, Any], batch_size: int = 32) -> SensorCosts:
    """Read one batch size's step costs from the stored ``benchmarks/gaba_sensors.py`` result.

    Parameters
    ----------
    benchmark : mapping
        The stored result (``results/benchmarks/gaba_sensors.json``, parsed).
    batch_size : int, default 32
        Which of its batch sizes.

    Returns
    -------
    SensorCosts

    Raises
    ------
    TypeError
        If ``benchmark`` or an entry read from it has the wrong type, or ``batch_size`` is
        not an integer.
    ValueError
        If ``batch_size`` is not one the benchmark timed, or an entry is missing or not
        finite.

    Examples
    --------
    >>> row = {"median_ms": 10.0, "paired_ratio_to_plain": 1.0}
    >>> every = {"median_ms": 11.0, "paired_ratio_to_plain": 1.1,
    ...          "held_paired_ratio": 1.0,
    ...          "measured_paired_ratio": 1.5,
    ...          "amortised_paired_ratio": 1.25}
    >>> line = {"batch_size": 8, "a_plain": row, "c_exact": row,
    ...         "e_floor": row, "f_periodic_2": every,
    ...         "h_representation": row,
    ...         "c_exact_over_e_floor_paired": 1.0}
    >>> run = {"batch_size": 8, "warmup": 1, "repeats": 3}
    >>> costs = sensor_costs({"summary": [line], "runs": [run]}, 8)
    >>> costs.per_step, costs.quotes()["measuring2"]
    ({2: 1.25}, '1.50')
    """
    benchmark = _mapping("benchmark", benchmark)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    line = _mapping("benchmark['summary'] entry", _of_batch(
        "benchmark['summary']", _entry("benchmark", benchmark, "summary"), batch_size))
    run = _mapping("benchmark['runs'] entry", _of_batch(
        "benchmark['runs']", _entry("benchmark", benchmark, "runs"), batch_size))
    median_ms, paired = {}, {}
    held, measuring, per_step = {}, {}, {}
    for key, row in line.items():
        if not (isinstance(row, Mapping) and "paired_ratio_to_plain" in row):
            continue
        match = re.fullmatch(r"[a-z]_(\w+)", str(key))
        name = match.group(1) if match else str(key)
        where = f"benchmark['summary'][{key!r}]"
        median_ms[name] = check_real(f"{where}['median_ms']", _entry(where, row, "median_ms"),
                                     positive=True)
        paired[name] = check_real(f"{where}['paired_ratio_to_plain']",
                                  row["paired_ratio_to_plain"], positive=True)
        if (period := re.fullmatch(r"periodic_(\d+)", name)) is not None:
            n = int(period.group(1))
            held[n], measuring[n], per_step[n] = (
                check_real(f"{where}[{field!r}]", _entry(where, row, field), positive=True)
                for field in ("held_paired_ratio", "measured_paired_ratio",
                              "amortised_paired_ratio"))
    for name in ("plain", "exact", "floor", "representation"):
        if name not in paired:
            raise ValueError(f"benchmark['summary'] for batch {batch_size} has no {name!r} "
                             f"variant (it holds {sorted(paired)})")
    return SensorCosts(
        batch_size=batch_size,
        warmup=check_int("benchmark['runs'] entry['warmup']", _entry(
            "benchmark['runs'] entry", run, "warmup"), minimum=0),
        repeats=check_int("benchmark['runs'] entry['repeats']", _entry(
            "benchmark['runs'] entry", run, "repeats"), minimum=1),
        median_ms=median_ms, paired=paired, held=held, measuring=measuring,
        per_step=per_step,
        exact_over_floor=check_real(
            "benchmark['summary'] entry['c_exact_over_e_floor_paired']",
            _entry("benchmark['summary'] entry", line, "c_exact_over_e_floor_paired"),
            positive=True),
    )


def run_header(provenance: Mapping[str, Any], *, out: str | None = None) -> str:
    """How a stored result was made: its command, date, duration, torch and threads.

    Parameters
    ----------
    provenance : mapping
        A stored result's ``provenance`` (:func:`gabalab.experiments.provenance.provenance`
        or a benchmark's): ``command`` and ``date_utc``; ``wall_time_s``,
        ``versions['torch']``, ``torch_num_threads``, ``cpu_count`` and
        ``load_average_1_5_15_at_start`` are shown when present.
    out : str, optional
        The file as it is stored in the repository: replaces the command's ``--out`` value
        (the run may have written elsewhere first).

    Returns
    -------
    str
        ``command:``, the command with one option a line, then one or two lines of facts.

    Raises
    ------
    TypeError
        If ``provenance`` is not a mapping, its command or date not a string, or ``out``
        not a string or None.
    ValueError
        If ``command`` or ``date_utc`` is missing, or ``out`` is given and the command has
        no ``--out`` value.

    Examples
    --------
    >>> prov = {"command": "python run.py --out out/a.json --fast",
    ...         "date_utc": "2026-01-02T03:04:05+00:00",
    ...         "torch_num_threads": 1}
    >>> print(run_header(prov, out="results/a.json"))
    command:
      python run.py \\
        --out results/a.json \\
        --fast
    date 2026-01-02, 1 thread
    """
    provenance = _mapping("provenance", provenance)
    command = _entry("provenance", provenance, "command")
    date = _entry("provenance", provenance, "date_utc")
    for name, value in (("provenance['command']", command), ("provenance['date_utc']", date)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if out is not None and not isinstance(out, str):
        raise TypeError(f"out must be a string or None, got {type(out).__name__}")
    args = command.split()
    if out is not None:
        if "--out" not in args[:-1]:
            raise ValueError(f"out: provenance['command'] has no --out value: {command!r}")
        args[args.index("--out") + 1] = out
    shown = " ".join(args).replace(" --", " \\\n    --")
    facts = [f"date {date[:10]}"]
    if "wall_time_s" in provenance:
        seconds = check_real("provenance['wall_time_s']", provenance["wall_time_s"])
        facts.append(f"{seconds / 60:.1f} minutes")
    versions = _mapping("provenance['versions']", provenance.get("versions", {}))
    if versions.get("torch") is not None:
        facts.append(f"torch {versions['torch']}")
    about_run = len(facts)
    if "torch_num_threads" in provenance:
        threads = check_int("provenance['torch_num_threads']", provenance["torch_num_threads"])
        machine = f"{threads} thread{'' if threads == 1 else 's'}"
        if "cpu_count" in provenance:
            cores = check_int("provenance['cpu_count']", provenance["cpu_count"])
            machine += f" on {cores} cores"
        facts.append(machine)
    if "load_average_1_5_15_at_start" in provenance:
        loads = as_array("provenance['load_average_1_5_15_at_start']",
                         provenance["load_average_1_5_15_at_start"], ndim=1, nonempty=True)
        facts.append(f"load at start {loads[0]:.2f}")
    lines = ["command:", "  " + shown]
    # One line of facts if it fits the page, else the machine's on a second line.
    if len(", ".join(facts)) <= 76 or about_run == len(facts):
        lines.append(", ".join(facts))
    else:
        lines += [", ".join(facts[:about_run]), ", ".join(facts[about_run:])]
    return "\n".join(lines)
