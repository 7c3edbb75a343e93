"""What the trained runs show: per-method scores, paired contrasts, test-unit resampling.

Everything here reads :class:`~gabalab.experiments.records.RunRecord` values (from
:func:`~gabalab.experiments.records.load_runs`) at each run's validation-selected epoch, and
returns plain records that a page prints or glues:

* :func:`method_scores` - each method's test scores over its seeds (mean, spread, range);
* :func:`paired_contrasts` - every method against a baseline, seed by seed
  (:func:`gabalab.comparison.paired_comparison`), with Holm's adjustment over the family;
* :func:`unit_interval` - the same contrast resampled over the test units
  (:func:`gabalab.comparison.bootstrap_units`): the seeds' mean difference recomputed on each
  resample of engines, which shows how much of a difference the one test set can carry;
* :func:`unit_metric` - RMSE, score, accuracy or a class's recall on any subset of units;
* :func:`ratio_through_training` - the gradient-norm ratio's quantiles epoch by epoch, up to
  each run's selected epoch (section 12.3's distribution across training);
* :func:`per_epoch_spreads` - each method's mean and spread over its seeds after every epoch
  (the curves and the explorer of section 18.2);
* :func:`selected_pulls` - how hard the RUL task pulls on the trunk at the selected epochs,
  and :func:`validation_wander` - how far the validation RMSE moves between epochs;
* :func:`probe_accuracies` - the linear probe on each selected model's frozen features
  beside its own health head (section 12.4's probe, on trained models);
* :func:`verdict` - the rule that turns a contrast into a word, stated once
  (:data:`RULE`), and :func:`scores_table` / :func:`contrasts_table`, the Markdown tables a
  page shows;
* :func:`compare_methods` - all of it at once for a page: scores, contrasts, test-unit
  intervals and verdicts in one :class:`MethodComparison`, with the numbers a page quotes.

Runs come in while an experiment is under way: :func:`paired_runs` keeps the seeds that every
method has, so that each method is scored on the same seeds as the others.

Examples
--------
>>> round(unit_metric("rmse", [10.0, 20.0], [13.0, 16.0],
...                   [1, 0], [1, 0]), 4)
3.5355
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gabalab._checks import as_array, check_int
from gabalab.comparison import (
    BootstrapInterval,
    PairedComparison,
    bootstrap_units,
    holm,
    paired_comparison,
)
from gabalab.constants import HEALTH_CLASSES
from gabalab.experiments.records import EpochRecord, RunRecord
from gabalab.training import cmapss_score

__all__ = [
    "paired_runs",
    "METRICS",
    "unit_metric",
    "MethodScores",
    "method_scores",
    "Contrast",
    "paired_contrasts",
    "unit_interval",
    "ratio_through_training",
    "EPOCH_METRICS",
    "per_epoch_spreads",
    "selected_pulls",
    "validation_wander",
    "probe_accuracies",
    "RULE",
    "verdict",
    "METRIC_NAMES",
    "scores_table",
    "contrasts_table",
    "MethodComparison",
    "compare_methods",
]

#: Metrics computed from the per-unit predictions: name -> (lower is better?).
METRICS: dict[str, bool] = {"rmse": True, "score": True, "accuracy": False,
                            "recall_0": False, "recall_1": False, "recall_2": False}


def _check_metric(metric: Any) -> str:
    if not isinstance(metric, str) or metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    return metric


def unit_metric(metric: str, rul_true: Any, rul_pred: Any, health_true: Any,
                health_pred: Any) -> float:
    """One metric on a set of test units (repeats allowed, as in a bootstrap resample).

    Parameters
    ----------
    metric : str
        ``"rmse"``, ``"score"`` (:func:`gabalab.training.cmapss_score`), ``"accuracy"`` or
        ``"recall_k"`` (the share of class ``k``'s units predicted as ``k``; NaN when no unit
        of class ``k`` is in the set).
    rul_true, rul_pred : sequence of float
        Capped true RUL and predicted RUL per unit.
    health_true, health_pred : sequence of int
        True and predicted health class per unit.

    Returns
    -------
    float

    Raises
    ------
    TypeError, ValueError
        If ``metric`` is unknown or the four sequences are not one value per unit.
    """
    metric = _check_metric(metric)
    t = as_array("rul_true", rul_true, ndim=1)
    p = as_array("rul_pred", rul_pred, ndim=1)
    ht = as_array("health_true", health_true, ndim=1)
    hp = as_array("health_pred", health_pred, ndim=1)
    if not t.size or len({t.size, p.size, ht.size, hp.size}) != 1:
        raise ValueError("rul_true, rul_pred, health_true and health_pred must hold one value "
                         "per unit, at least one")
    if metric == "rmse":
        return float(np.sqrt(np.mean((p - t) ** 2)))
    if metric == "score":
        return cmapss_score(p, t)
    if metric == "accuracy":
        return float(np.mean(ht == hp))
    k = int(metric.rsplit("_", 1)[1])
    members = ht == k
    return float(np.mean(hp[members] == k)) if members.any() else math.nan


def _runs(runs: Any) -> Mapping[tuple[str, int], RunRecord]:
    if not isinstance(runs, Mapping) or not runs:
        raise TypeError("runs must be a non-empty mapping of (method, seed) to RunRecord, as "
                        "load_runs returns")
    for key, record in runs.items():
        if not isinstance(record, RunRecord):
            raise TypeError(f"runs[{key!r}] must be a RunRecord, got {type(record).__name__}")
    return runs


def _seeds(runs: Mapping[tuple[str, int], RunRecord], method: str) -> list[int]:
    seeds = sorted(s for m, s in runs if m == method)
    if not seeds:
        raise ValueError(f"runs hold no run of method {method!r}")
    return seeds


def paired_runs(runs: Any, methods: Sequence[str]) -> dict[tuple[str, int], RunRecord]:
    """The runs of ``methods`` on the seeds that every one of them has.

    Parameters
    ----------
    runs : mapping
        From :func:`~gabalab.experiments.records.load_runs`.
    methods : sequence of str
        The methods to keep, each with at least one run.

    Returns
    -------
    dict
        ``{(method, seed): RunRecord}`` for every method of ``methods`` and every seed
        common to all of them (ordered by method, then seed).

    Raises
    ------
    TypeError, ValueError
        If ``runs`` is not a mapping of run records, ``methods`` is not a sequence of
        names, a method has no run, or no seed is common to all.
    """
    runs = _runs(runs)
    if (not isinstance(methods, Sequence) or isinstance(methods, str)
            or not all(isinstance(m, str) for m in methods) or not methods):
        raise TypeError(f"methods must be a non-empty sequence of method names, got "
                        f"{methods!r}")
    common = set.intersection(*(set(_seeds(runs, m)) for m in methods))
    if not common:
        raise ValueError(f"no seed is common to every method of {list(methods)}")
    return {(m, s): runs[(m, s)] for m in methods for s in sorted(common)}


def _value(record: RunRecord, metric: str, units: np.ndarray | None = None) -> float:
    p = record.predictions
    index = np.arange(len(p.rul_true)) if units is None else units
    pick = [np.asarray(v)[index] for v in (p.rul_true, p.rul_pred, p.health_true,
                                           p.health_pred)]
    return unit_metric(metric, *pick)


@dataclass(frozen=True)
class MethodScores:
    """One method's test scores at the selected epochs, over its seeds.

    Attributes
    ----------
    method : str
    seeds : tuple of int
    values : dict of str to tuple of float
        Per metric of :data:`METRICS`, one value per seed (in ``seeds`` order).
    selected_epochs : tuple of int
    epochs_trained : tuple of int
    """

    method: str
    seeds: tuple[int, ...]
    values: dict[str, tuple[float, ...]]
    selected_epochs: tuple[int, ...]
    epochs_trained: tuple[int, ...]

    def mean(self, metric: str) -> float:
        """Mean over the seeds (NaN seeds left out)."""
        v = np.asarray(self.values[_check_metric(metric)])
        return float(np.nanmean(v)) if np.isfinite(v).any() else math.nan

    def sd(self, metric: str) -> float:
        """Sample standard deviation over the seeds (0 for one seed)."""
        v = np.asarray(self.values[_check_metric(metric)])
        v = v[np.isfinite(v)]
        return float(v.std(ddof=1)) if v.size > 1 else 0.0


def method_scores(runs: Any, methods: Sequence[str]) -> list[MethodScores]:
    """Each method's scores at its runs' selected epochs, in the order of ``methods``.

    Raises
    ------
    TypeError, ValueError
        If ``runs`` is not a mapping of run records or a method has no run.
    """
    runs = _runs(runs)
    out = []
    for method in methods:
        seeds = _seeds(runs, method)
        records = [runs[(method, s)] for s in seeds]
        out.append(MethodScores(
            method=method, seeds=tuple(seeds),
            values={m: tuple(_value(r, m) for r in records) for m in METRICS},
            selected_epochs=tuple(r.selected_epoch for r in records),
            epochs_trained=tuple(len(r.epochs) for r in records)))
    return out


@dataclass(frozen=True)
class Contrast:
    """One method against the baseline on one metric, paired by seed.

    ``comparison`` holds ``method - baseline`` per common seed; ``p_exact_holm`` and
    ``p_t_holm`` are the p-values after Holm's adjustment over the whole family passed to
    :func:`paired_contrasts`.
    """

    method: str
    baseline: str
    metric: str
    comparison: PairedComparison
    p_exact_holm: float
    p_t_holm: float


def paired_contrasts(runs: Any, methods: Sequence[str], baseline: str,
                     metrics: Sequence[str] = ("rmse",), *,
                     confidence: float = 0.95) -> list[Contrast]:
    """Every method against ``baseline`` on every metric, paired by seed, Holm-adjusted.

    The family is every (method, metric) pair: its p-values are adjusted together. Where
    every seed gives the same difference the t-test is undefined, and the exact sign-flip
    test's p-value stands in for it (``p_t_holm`` then adjusts that one).

    Raises
    ------
    TypeError, ValueError
        If ``runs`` is not a mapping of run records, a method has no run, fewer than two
        seeds are common to a method and the baseline, or a metric is unknown.
    """
    runs = _runs(runs)
    base_seeds = set(_seeds(runs, baseline))
    items = []
    for method in methods:
        if method == baseline:
            continue
        common = sorted(base_seeds & set(_seeds(runs, method)))
        if len(common) < 2:
            raise ValueError(f"method {method!r} and baseline {baseline!r} share "
                             f"{len(common)} seed(s); a paired comparison needs 2")
        for metric in metrics:
            metric = _check_metric(metric)
            a = [_value(runs[(method, s)], metric) for s in common]
            b = [_value(runs[(baseline, s)], metric) for s in common]
            items.append((method, metric, paired_comparison(a, b, confidence=confidence)))
    if not items:
        raise ValueError("methods must name at least one method besides the baseline")
    exact = holm([c.p_exact for _, _, c in items])
    # Every seed with the same difference (sd 0) leaves the t-test undefined; the exact
    # sign-flip test stands in for it, so that the family keeps its p-values and two seeds
    # that happen to agree cannot make a difference look certain.
    t_values = [c.p_t if math.isfinite(c.p_t) else c.p_exact for _, _, c in items]
    t_adjusted = holm(t_values)
    return [Contrast(m, baseline, metric, c, float(pe), float(pt))
            for (m, metric, c), pe, pt in zip(items, exact, t_adjusted)]


def unit_interval(runs: Any, method: str, baseline: str, metric: str = "rmse", *,
                  n_resamples: int = 2000, confidence: float = 0.95,
                  seed: int = 0) -> BootstrapInterval:
    """The seeds' mean difference ``method - baseline``, resampled over the test units.

    Each resample draws the test units with replacement; on it, the metric of every run of
    both methods is recomputed from the stored per-unit predictions, and the difference is
    averaged over the common seeds.

    Raises
    ------
    TypeError, ValueError
        As :func:`paired_contrasts`; also if the runs do not predict the same units.
    """
    runs = _runs(runs)
    metric = _check_metric(metric)
    seed = check_int("seed", seed, minimum=0)
    common = sorted(set(_seeds(runs, method)) & set(_seeds(runs, baseline)))
    if not common:
        raise ValueError(f"method {method!r} and baseline {baseline!r} share no seed")
    pairs = [(runs[(method, s)], runs[(baseline, s)]) for s in common]
    truths = {r.predictions.rul_true for pair in pairs for r in pair}
    if len(truths) != 1:
        raise ValueError("runs must all predict the same test units")
    n_units = len(next(iter(truths)))

    def statistic(units: np.ndarray) -> float:
        return float(np.mean([_value(a, metric, units) - _value(b, metric, units)
                              for a, b in pairs]))

    return bootstrap_units(statistic, n_units, n_resamples=n_resamples,
                           confidence=confidence, seed=seed)


def ratio_through_training(runs: Any, method: str = "sum",
                           weighted: bool = False) -> dict[int, list[dict[str, float]]]:
    """Per seed, the quantiles of the norm ratio at every epoch up to the selected one.

    Parameters
    ----------
    runs : mapping
        From :func:`~gabalab.experiments.records.load_runs`.
    method : str
        Whose runs (default the naive sum, whose ratio is the imbalance as it comes).
    weighted : bool
        The weighted ratio ``w_1 g_1 / (w_2 g_2)`` instead of the raw ``g_1 / g_2``.

    Returns
    -------
    dict of int to list of dict
        ``{seed: [{"epoch", "q10", "q25", "q50", "q75", "q90", "n_steps"}, ...]}``, epochs
        without a measured step left out.

    Raises
    ------
    TypeError, ValueError
        If ``runs`` is not a mapping of run records or holds no run of ``method``.
    """
    runs = _runs(runs)
    out: dict[int, list[dict[str, float]]] = {}
    for seed in _seeds(runs, method):
        record = runs[(method, seed)]
        rows = []
        for epoch in record.epochs[: record.selected_epoch]:
            q = epoch.weighted_ratio if weighted else epoch.ratio
            if q is not None:
                rows.append({"epoch": epoch.epoch, **q.to_dict()})
        out[seed] = rows
    return out


#: Metrics of :func:`per_epoch_spreads`: the test scores after each epoch, the validation
#: RMSE that chooses the epoch, and the median over the measured steps of the weighted-norm
#: ratio ``w_rul g_rul / (w_hs g_hs)`` (for the sum, whose weights are 1, the plain ratio).
EPOCH_METRICS: tuple[str, ...] = ("rmse", "val_rmse", "score", "accuracy", "weighted_ratio")


def _epoch_value(epoch: EpochRecord, metric: str) -> float | None:
    if metric == "val_rmse":
        return epoch.validation.rmse
    if metric == "weighted_ratio":
        return None if epoch.weighted_ratio is None else epoch.weighted_ratio.q50
    return float(getattr(epoch.test, metric))


def per_epoch_spreads(runs: Any, methods: Sequence[str],
                      metrics: Sequence[str] = EPOCH_METRICS
                      ) -> dict[str, dict[str, list[dict[str, Any] | None]]]:
    """Each method's mean and standard deviation over its seeds, after every epoch.

    Early stopping ends the runs of a method at different epochs: the spread at an epoch is
    over the seeds that trained it, and says which they were.

    Parameters
    ----------
    runs : mapping
        From :func:`~gabalab.experiments.records.load_runs`.
    methods : sequence of str
        The methods, each with at least one run.
    metrics : sequence of str
        Names from :data:`EPOCH_METRICS`.

    Returns
    -------
    dict
        ``{method: {metric: [spread, ...]}}``, one spread per epoch from 1 to the method's
        longest run: ``{"mean", "std", "values", "seeds"}`` (``std`` with one degree of
        freedom removed, 0 for one seed), or ``None`` where no run measured the metric.

    Raises
    ------
    TypeError, ValueError
        If ``runs`` is not a mapping of run records, a method has no run, or a metric is
        not one of :data:`EPOCH_METRICS`.
    """
    runs = _runs(runs)
    metrics = _check_metrics(metrics, EPOCH_METRICS)
    out: dict[str, dict[str, list[dict[str, Any] | None]]] = {}
    for method in methods:
        records = [(s, runs[(method, s)]) for s in _seeds(runs, method)]
        longest = max(len(r.epochs) for _, r in records)
        table: dict[str, list[dict[str, Any] | None]] = {}
        for metric in metrics:
            spreads: list[dict[str, Any] | None] = []
            for e in range(longest):
                pairs = [(s, _epoch_value(r.epochs[e], metric)) for s, r in records
                         if e < len(r.epochs)]
                pairs = [(s, v) for s, v in pairs if v is not None]
                if not pairs:
                    spreads.append(None)
                    continue
                values = np.array([v for _, v in pairs], dtype=float)
                spreads.append({"mean": float(values.mean()),
                                "std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
                                "values": [float(v) for v in values],
                                "seeds": tuple(s for s, _ in pairs)})
            table[metric] = spreads
        out[method] = table
    return out


def selected_pulls(runs: Any, methods: Sequence[str]) -> dict[str, float]:
    """Per method, the weighted-norm ratio at the selected epoch, mean over the seeds.

    The ratio of an epoch is the median over its measured steps of
    ``w_rul g_rul / (w_hs g_hs)``; 1 means the two tasks pull equally hard on the trunk.

    Raises
    ------
    TypeError, ValueError
        If ``runs`` is not a mapping of run records, a method has no run, or a selected
        epoch has no measured step.
    """
    runs = _runs(runs)
    out = {}
    for method in methods:
        values = []
        for seed in _seeds(runs, method):
            chosen = runs[(method, seed)].selected
            if chosen.weighted_ratio is None:
                raise ValueError(f"run ({method!r}, {seed}) measured no step at its selected "
                                 f"epoch {chosen.epoch}")
            values.append(chosen.weighted_ratio.q50)
        out[method] = float(np.mean(values))
    return out


def validation_wander(runs: Any) -> dict[str, float]:
    """How far the validation RMSE moves from one epoch to the next, over every run.

    Returns
    -------
    dict
        ``median_move`` (cycles, the median over all runs and epochs of the absolute change
        of the validation RMSE between consecutive epochs), ``first_selected`` and
        ``last_selected`` (the range of the selected epochs), ``most_epochs`` (the longest
        run).

    Raises
    ------
    TypeError, ValueError
        If ``runs`` is not a mapping of run records, or no run has two epochs.
    """
    runs = _runs(runs)
    moves = [abs(b.validation.rmse - a.validation.rmse) for r in runs.values()
             for a, b in zip(r.epochs, r.epochs[1:])]
    if not moves:
        raise ValueError("runs must hold at least one run of two epochs or more")
    picked = [r.selected_epoch for r in runs.values()]
    return {"median_move": float(np.median(moves)), "first_selected": min(picked),
            "last_selected": max(picked), "most_epochs": max(len(r.epochs) for r in runs.values())}


def probe_accuracies(runs: Any, methods: Sequence[str]) -> dict[str, dict[str, tuple[float, ...]]]:
    """Per method, over its seeds: the probe's test accuracy and the health head's.

    Returns
    -------
    dict
        ``{method: {"probe": (...), "head": (...), "majority": (...)}}``, one value per seed
        (seeds in order), from each run's linear probe on the selected model.

    Raises
    ------
    TypeError, ValueError
        If ``runs`` is not a mapping of run records, a method has no run, or a run has no
        probe (trained with ``--no-probe``).
    """
    runs = _runs(runs)
    out = {}
    for method in methods:
        probe, head, majority = [], [], []
        for seed in _seeds(runs, method):
            record = runs[(method, seed)]
            if record.probe is None:
                raise ValueError(f"run ({method!r}, {seed}) has no probe")
            probe.append(float(record.probe["probe_test"]["accuracy"]))
            head.append(float(record.probe["health_head_test"]["accuracy"]))
            majority.append(float(record.probe["majority_chance_test"]))
        out[method] = {"probe": tuple(probe), "head": tuple(head), "majority": tuple(majority)}
    return out


#: The decision rule of :func:`verdict`, in one sentence for the page.
RULE: str = (
    "a method differs from the baseline on a metric only when the paired 95% t-interval "
    "over the seeds excludes zero after the Holm adjustment for every contrast tested (where "
    "every seed gives the same difference, the exact sign-flip test decides instead), and "
    "the 95% interval from resampling the test engines excludes zero too; otherwise the "
    "difference is inside the noise")

#: How the tables name the metrics.
METRIC_NAMES: dict[str, str] = {
    "rmse": "RMSE", "score": "score", "accuracy": "accuracy",
    **{f"recall_{i}": f"recall {name}" for i, name in enumerate(HEALTH_CLASSES)}}


def verdict(contrast: Contrast, units: BootstrapInterval | None, *,
            alpha: float = 0.05) -> str:
    """``"better"``, ``"worse"`` or ``"inside the noise"``, by :data:`RULE`.

    Parameters
    ----------
    contrast : Contrast
        One entry of :func:`paired_contrasts` (``method - baseline``, Holm-adjusted).
    units : BootstrapInterval or None
        :func:`unit_interval` for the same method, baseline and metric; ``None`` (not
        resampled) can only give ``"inside the noise"``.
    alpha : float
        Level of the adjusted t-test (0.05: a 95% interval).

    Raises
    ------
    TypeError, ValueError
        If ``contrast`` is not a :class:`Contrast`, ``units`` not an interval or None, or
        ``alpha`` not in (0, 1).

    Examples
    --------
    >>> from gabalab.comparison import paired_comparison
    >>> pair = paired_comparison([12.0, 12.5, 13.0],
    ...                          [14.0, 14.4, 15.1])
    >>> c = Contrast("gaba", "sum", "rmse", pair,
    ...              p_exact_holm=0.25, p_t_holm=0.004)
    >>> verdict(c, None)
    'inside the noise'
    """
    if not isinstance(contrast, Contrast):
        raise TypeError(f"contrast must be a Contrast, got {type(contrast).__name__}")
    if units is not None and not isinstance(units, BootstrapInterval):
        raise TypeError(f"units must be a BootstrapInterval or None, got "
                        f"{type(units).__name__}")
    _check_alpha(alpha)
    seeds_agree = math.isfinite(contrast.p_t_holm) and contrast.p_t_holm < alpha
    engines_agree = units is not None and (units.low > 0 or units.high < 0)
    if not (seeds_agree and engines_agree):
        return "inside the noise"
    lower_is_better = METRICS[contrast.metric]
    return "better" if (contrast.comparison.mean < 0) == lower_is_better else "worse"


def _check_metrics(metrics: Any, allowed: Sequence[str] = tuple(METRICS)) -> list[str]:
    if (not isinstance(metrics, Sequence) or isinstance(metrics, str)
            or not all(isinstance(m, str) for m in metrics)):
        raise TypeError(f"metrics must be a sequence of metric names, got {metrics!r}")
    unknown = [m for m in metrics if m not in allowed]
    if unknown or not metrics:
        raise ValueError(f"metrics must be one or more of {list(allowed)}, got {list(metrics)}")
    return list(metrics)


def _check_alpha(alpha: Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
    return float(alpha)


#: Keeps a mean and its spread, or an interval's ends, on one line of a table cell.
_NBSP = "\u00a0"


def _fmt(value: float, digits: int) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}".replace("-", "−")


def _digits(metric: str) -> int:
    return {"rmse": 2, "score": 0}.get(metric, 2)


def scores_table(scores: Sequence[MethodScores],
                 metrics: Sequence[str] = ("rmse", "score", "accuracy", "recall_1",
                                           "recall_2")) -> str:
    """A Markdown table: one row per method, mean ± sd over its seeds per metric.

    Raises
    ------
    TypeError, ValueError
        If ``scores`` is not a sequence of :class:`MethodScores` or a metric is unknown.

    Examples
    --------
    >>> values = {m: (13.0, 15.0) for m in METRICS}
    >>> s = MethodScores("sum", (0, 1), values, (5, 7), (15, 17))
    >>> table = scores_table([s], ["rmse"]).splitlines()
    >>> table[0]
    '| method | seeds | RMSE | selected epoch |'
    >>> table[2]  # no-break spaces keep a cell on one line
    '| sum | 2 | 14.00\xa0±\xa01.41 | 5–7 |'
    """
    if (not isinstance(scores, Sequence) or isinstance(scores, str)
            or not all(isinstance(s, MethodScores) for s in scores)):
        raise TypeError("scores must be a sequence of MethodScores (from method_scores)")
    if not scores:
        raise ValueError("scores must hold at least one method")
    metrics = _check_metrics(metrics)
    head = ["method", "seeds", *(METRIC_NAMES[m] for m in metrics), "selected epoch"]
    lines = ["| " + " | ".join(head) + " |",
             "|:--|" + "--:|" * (len(head) - 1)]
    for s in scores:
        cells = [s.method, str(len(s.seeds))]
        for m in metrics:
            d = _digits(m)
            cells.append(f"{_fmt(s.mean(m), d)}{_NBSP}±{_NBSP}{_fmt(s.sd(m), d)}")
        low, high = min(s.selected_epochs), max(s.selected_epochs)
        cells.append(str(low) if low == high else f"{low}–{high}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def contrasts_table(contrasts: Sequence[Contrast],
                    units: Mapping[tuple[str, str], BootstrapInterval | None], *,
                    alpha: float = 0.05) -> str:
    """A Markdown table: each contrast, its intervals, its p-values and its verdict.

    The columns: the mean difference over the seeds, its paired t-interval, the Holm-adjusted
    p-value, the interval from resampling the test engines (both intervals at the
    confidence they were computed at, 95% by default) and the verdict of :data:`RULE`.
    Each entry keeps its words together (no-break spaces), so that only the headers wrap
    where the table is narrow.

    Parameters
    ----------
    contrasts : sequence of Contrast
        From :func:`paired_contrasts`.
    units : mapping
        ``(method, metric)`` to :func:`unit_interval`'s result (or None when not resampled).
    alpha : float
        As :func:`verdict`.

    Raises
    ------
    TypeError, ValueError
        If an entry is not a :class:`Contrast` or as :func:`verdict`.
    """
    if (not isinstance(contrasts, Sequence) or isinstance(contrasts, str)
            or not all(isinstance(c, Contrast) for c in contrasts)):
        raise TypeError("contrasts must be a sequence of Contrast (from paired_contrasts)")
    if not contrasts:
        raise ValueError("contrasts must hold at least one contrast")
    if not isinstance(units, Mapping):
        raise TypeError(f"units must be a mapping, got {type(units).__name__}")
    baselines = sorted({c.baseline for c in contrasts})
    head = [f"method − {baselines[0]}" if len(baselines) == 1 else "method − baseline",
            "metric", "mean", "t-interval", "Holm p", "test engines", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|:--|:--|" + "--:|" * 4 + ":--|"]

    def span(low: float, high: float, d: int) -> str:
        return f"{_fmt(low, d)}{_NBSP}to{_NBSP}{_fmt(high, d)}"

    for c in contrasts:
        d = _digits(c.metric)
        interval = units.get((c.method, c.metric))
        engines = ("not resampled" if interval is None
                   else span(interval.low, interval.high, d))
        name = c.method if len(baselines) == 1 else f"{c.method} − {c.baseline}"
        cells = [name, METRIC_NAMES[c.metric], _fmt(c.comparison.mean, d),
                 span(c.comparison.low, c.comparison.high, d),
                 _fmt(c.p_t_holm, 3), engines, verdict(c, interval, alpha=alpha)]
        # each entry on one line ("recall degrading", "inside the noise"); the headers wrap
        lines.append("| " + " | ".join(cell.replace(" ", _NBSP) for cell in cells) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class MethodComparison:
    """Every method against a baseline: scores, paired contrasts, test-unit intervals.

    Attributes
    ----------
    baseline : str
    scores : list of MethodScores
        One per method, the baseline included, in the order given.
    contrasts : list of Contrast
        Each other method against the baseline on each metric, Holm-adjusted together.
    units : dict
        ``(method, metric)`` to the :func:`unit_interval` of the same contrast.
    alpha : float
        The level of :func:`verdict`.
    """

    baseline: str
    scores: list[MethodScores]
    contrasts: list[Contrast]
    units: dict[tuple[str, str], BootstrapInterval]
    alpha: float

    def verdicts(self) -> dict[tuple[str, str], str]:
        """``(method, metric)`` to the verdict of :data:`RULE`."""
        return {(c.method, c.metric): verdict(c, self.units[(c.method, c.metric)],
                                              alpha=self.alpha) for c in self.contrasts}

    def score(self, method: str) -> MethodScores:
        """The scores of ``method``."""
        for s in self.scores:
            if s.method == method:
                return s
        raise ValueError(f"method must be one of {[s.method for s in self.scores]}, "
                         f"got {method!r}")

    def contrast(self, method: str, metric: str) -> Contrast:
        """The contrast of ``method`` against the baseline on ``metric``."""
        for c in self.contrasts:
            if (c.method, c.metric) == (method, metric):
                return c
        raise ValueError(f"method {method!r} and metric {metric!r} name no contrast; the "
                         f"contrasts are {[(c.method, c.metric) for c in self.contrasts]}")

    def scores_table(self, metrics: Sequence[str] | None = None) -> str:
        """:func:`scores_table` of ``metrics`` (default: every compared metric)."""
        if metrics is None:
            metrics = sorted({c.metric for c in self.contrasts}, key=list(METRICS).index)
        return scores_table(self.scores, metrics)

    def contrasts_table(self) -> str:
        """:func:`contrasts_table` with the test-unit intervals."""
        return contrasts_table(self.contrasts, self.units, alpha=self.alpha)

    def quotes(self) -> dict[str, str]:
        """The numbers a page quotes, formatted, by key.

        ``<method>_<metric>`` and ``<method>_<metric>_sd`` (mean and standard deviation over
        the seeds), ``<method>_seeds`` and ``<method>_selected`` (the range of selected
        epochs), and per contrast ``<method>_<metric>_diff``, ``_low``, ``_high`` (the
        paired t-interval), ``_units_low``, ``_units_high`` (over the test engines),
        ``_p`` (Holm-adjusted) and ``_verdict``; ``n_contrasts``.
        """
        out: dict[str, str] = {"n_contrasts": str(len(self.contrasts))}
        metrics = sorted({c.metric for c in self.contrasts}, key=list(METRICS).index)
        for s in self.scores:
            for metric in metrics:
                d = _digits(metric)
                out[f"{s.method}_{metric}"] = _fmt(s.mean(metric), d)
                out[f"{s.method}_{metric}_sd"] = _fmt(s.sd(metric), d)
            out[f"{s.method}_seeds"] = str(len(s.seeds))
            low, high = min(s.selected_epochs), max(s.selected_epochs)
            out[f"{s.method}_selected"] = str(low) if low == high else f"{low} to {high}"
        words = self.verdicts()
        for c in self.contrasts:
            d, key = _digits(c.metric), f"{c.method}_{c.metric}"
            units = self.units[(c.method, c.metric)]
            out.update({f"{key}_diff": _fmt(c.comparison.mean, d),
                        f"{key}_low": _fmt(c.comparison.low, d),
                        f"{key}_high": _fmt(c.comparison.high, d),
                        f"{key}_units_low": _fmt(units.low, d),
                        f"{key}_units_high": _fmt(units.high, d),
                        f"{key}_p": _fmt(c.p_t_holm, 3),
                        f"{key}_verdict": words[(c.method, c.metric)]})
        return out


def compare_methods(runs: Any, methods: Sequence[str], baseline: str = "sum",
                    metrics: Sequence[str] = ("rmse", "score", "accuracy", "recall_1",
                                              "recall_2"), *,
                    n_resamples: int = 2000, confidence: float = 0.95, alpha: float = 0.05,
                    seed: int = 0) -> MethodComparison:
    """Compare every method with ``baseline``: :func:`method_scores`,
    :func:`paired_contrasts` (one Holm family) and :func:`unit_interval` for each contrast.

    Parameters
    ----------
    runs : mapping
        From :func:`~gabalab.experiments.records.load_runs`.
    methods : sequence of str
        The methods, ``baseline`` among them, in the order of the tables.
    baseline : str
        The method every other is compared with.
    metrics : sequence of str
        Names from :data:`METRICS`.
    n_resamples, confidence, seed
        Of the test-unit resampling (the same resamples for every contrast).
    alpha : float
        The level of :func:`verdict`.

    Returns
    -------
    MethodComparison

    Raises
    ------
    TypeError, ValueError
        As the functions it calls; also if ``baseline`` is not among ``methods``.
    """
    runs = _runs(runs)
    if (not isinstance(methods, Sequence) or isinstance(methods, str)
            or not all(isinstance(m, str) for m in methods)):
        raise TypeError(f"methods must be a sequence of method names, got {methods!r}")
    if baseline not in methods:
        raise ValueError(f"baseline must be one of methods {list(methods)}, got {baseline!r}")
    metrics = _check_metrics(metrics)
    alpha = _check_alpha(alpha)
    scores = method_scores(runs, methods)
    contrasts = paired_contrasts(runs, methods, baseline, metrics, confidence=confidence)
    units = {(c.method, c.metric): unit_interval(runs, c.method, baseline, c.metric,
                                                 n_resamples=n_resamples,
                                                 confidence=confidence, seed=seed)
             for c in contrasts}
    return MethodComparison(baseline, scores, contrasts, units, alpha)
