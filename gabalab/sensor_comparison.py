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
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from gabalab._checks import as_array, check_int, check_scalar_losses
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

__all__ = ["ShadowSensors", "compare_weights", "summary"]


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
