"""Closed-form loss weights from per-task gradient norms (GABA), and IMTL-G for comparison.

GABA gives each task a weight that shrinks with the size of its own gradient on the shared
parameters. Two rules do that, chosen by name in :func:`gaba_weights`:

``"complement"``
    GABA's published closed form: each task's weight is the other tasks' share of the
    summed norms (the name ``"source"`` of earlier versions still works, with a warning).
    With ``S = sum_j g_j`` the sum of the K per-task norms,

        lambda_i = (S - g_i) / ((K - 1) S).

``"inverse"`` (the default)
    Weights proportional to the inverse norms, ``lambda_i = (1 / g_i) / sum_j (1 / g_j)``.

Both are positive and sum to one, and for two tasks both reduce to
``lambda_1 = g_2 / (g_1 + g_2)``, so that the weighted gradients ``lambda_i * g_i`` have
equal norms; for two tasks they are the same function, computed by the same expression.
They part for K > 2: only the inverse rule keeps every ``lambda_i * g_i`` equal (to
``1 / sum_j (1 / g_j)``), whereas the complement rule leaves weights close to ``1 / K`` and the
weighted norms far apart (tens of times apart at K = 10 for norms spread over two orders of
magnitude; :func:`weighted_norm_spread` measures it, :func:`rule_spreads` tabulates it over
K). That is why the inverse rule is the
default: it does for any K what the complement rule does for two tasks, and the two-task results
are unchanged. The inverse rule is also what IMTL-G gives when the task gradients are
orthogonal.

IMTL-G (Liu et al., ICLR 2021) reaches the same two-task weights from the Gram matrix of the
gradients; :func:`imtl_g_weights` implements its formula independently so the rules can be
compared with it.

In a training loop the norms are first smoothed and the weights then floored:
:func:`smooth_norms` is one step of an exponential moving average of the norms,
:func:`floor_weights` keeps every weight at or above a floor, and :func:`stabilised_weights`
chains the three into the pure function that :class:`gabalab.gaba.GabaBalancer` calls once
per step.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gabalab._checks import as_array, as_list, check_choice, check_int, check_real

__all__ = [
    "DEFAULT_EMA",
    "DEFAULT_FLOOR",
    "RENAMED_RULES",
    "WEIGHT_RULES",
    "DEFAULT_RULE",
    "check_rule",
    "gaba_weights",
    "weighted_norm_spread",
    "RuleSpreads",
    "rule_spreads",
    "imtl_g_weights",
    "smooth_norms",
    "floor_weights",
    "check_ema",
    "check_floor",
    "WeightUpdate",
    "stabilised_weights",
]


#: The weight rules by name: the inverse norms, and GABA's published closed form.
WEIGHT_RULES: tuple[str, ...] = ("inverse", "complement")

#: Earlier names of rules, accepted with a :class:`DeprecationWarning`.
RENAMED_RULES: dict[str, str] = {"source": "complement"}

#: The rule used unless another is named: it equalises ``lambda_i * g_i`` for every K.
DEFAULT_RULE = "inverse"


def check_rule(rule: str, name: str = "rule") -> str:
    """Validate a weight-rule name: one of :data:`WEIGHT_RULES` (messages start with ``name``).

    An earlier name (:data:`RENAMED_RULES`) is accepted with a :class:`DeprecationWarning`
    and returned under its current name.

    Raises
    ------
    TypeError
        If ``rule`` is not a string.
    ValueError
        If ``rule`` is not a known rule.

    Examples
    --------
    >>> check_rule("complement")
    'complement'
    """
    if isinstance(rule, str) and rule in RENAMED_RULES:
        warnings.warn(f"{name}={rule!r} is now called {RENAMED_RULES[rule]!r}; the old name "
                      "will be removed", DeprecationWarning, stacklevel=3)
        rule = RENAMED_RULES[rule]
    return check_choice(name, rule, WEIGHT_RULES)


def _check_norms(norms: Sequence[float] | np.ndarray) -> np.ndarray:
    values = _norm_vector("norms", norms)
    k = values.size
    if k < 2:
        raise ValueError(f"norms must hold one norm per task for at least 2 tasks, got {k}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"norms must be finite, got {values.tolist()}")
    if np.any(values < 0):
        raise ValueError(f"norms must be >= 0, got {values.tolist()}")
    return values


def _complement_weights(values: np.ndarray, total: float) -> np.ndarray:
    k = values.size
    # S - g_i summed over the other tasks directly: subtracting a loud norm from S would
    # cancel the digits of the quiet ones.
    others = np.array([math.fsum(np.delete(values, i)) for i in range(k)])
    return others / ((k - 1) * total)


def _inverse_weights(values: np.ndarray, total: float) -> np.ndarray:
    if values.size == 2:
        # g_j / (g_i + g_j): the complement rule's expression, so both rules agree bit for bit.
        return _complement_weights(values, total)
    zero = values == 0.0
    if zero.any():
        # the limit of 1/g_i as g_i -> 0: the silent tasks share all the weight
        return zero / np.count_nonzero(zero)
    # (g_min / g_i) lies in (0, 1]: no overflow however small the norms are
    ratios = values.min() / values
    return ratios / math.fsum(ratios)


def gaba_weights(
    norms: Sequence[float] | np.ndarray, rule: str = DEFAULT_RULE
) -> np.ndarray:
    """GABA loss weights from the per-task gradient norms on the shared parameters.

    Parameters
    ----------
    norms : sequence of float
        ``g_1, ..., g_K``: one non-negative, finite gradient norm per task, ``K >= 2``.
    rule : {"inverse", "complement"}
        ``"inverse"`` (default): ``lambda_i = (1 / g_i) / sum_j (1 / g_j)``, which makes
        every weighted norm ``lambda_i g_i`` equal, for any K. ``"complement"``: GABA's
        published closed form ``lambda_i = (S - g_i) / ((K - 1) S)`` with ``S = sum(norms)``,
        which does so only for K = 2. For two tasks the rules are the same function, and
        give the same floats.

    Returns
    -------
    numpy.ndarray, shape (K,)
        The weights; they sum to one. When every norm is zero (no task pulls), the weights
        are uniform, ``1/K``. Under the inverse rule, tasks whose norm is zero share all the
        weight when some other norm is not (the limit of ``1 / g_i``), as both rules do for
        two tasks; a weight floor (:func:`floor_weights`) keeps the other tasks moving.

    Raises
    ------
    TypeError
        If ``norms`` is not a sequence of real numbers or ``rule`` is not a string.
    ValueError
        If ``norms`` is not 1-D (one norm per task), there are fewer than two norms, a norm
        is negative, NaN or infinite, or ``rule`` is unknown.

    Examples
    --------
    >>> gaba_weights([300.0, 1.0])
    array([0.00332226, 0.99667774])
    >>> gaba_weights([2.0, 1.0, 1.0])
    array([0.2, 0.4, 0.4])
    >>> gaba_weights([2.0, 1.0, 1.0], rule="complement")
    array([0.25 , 0.375, 0.375])
    """
    rule = check_rule(rule)
    values = _check_norms(norms)
    total = math.fsum(values)
    if total == 0.0:
        return np.full(values.size, 1.0 / values.size)
    if rule == "complement":
        return _complement_weights(values, total)
    return _inverse_weights(values, total)


def weighted_norm_spread(
    norms: Sequence[float] | np.ndarray, rule: str = DEFAULT_RULE
) -> float:
    """How far apart the weighted norms ``lambda_i g_i`` stay: their largest over their smallest.

    One is perfect balance: after weighting, every task pulls on the shared parameters
    equally hard. The spread of the raw norms, ``max(g) / min(g)``, is where no weighting
    starts.

    Parameters
    ----------
    norms : sequence of float
        ``K >= 2`` positive, finite norms.
    rule : {"inverse", "complement"}
        The weight rule, as in :func:`gaba_weights`.

    Returns
    -------
    float
        ``max_i(lambda_i g_i) / min_i(lambda_i g_i)``, ``>= 1``.

    Raises
    ------
    TypeError, ValueError
        As :func:`gaba_weights`; also if a norm is zero (the ratio is then undefined).

    Examples
    --------
    >>> round(weighted_norm_spread([1.0, 1.0, 10.0]), 12)
    1.0
    >>> norms = [1.0, 1.0, 10.0]
    >>> spread = weighted_norm_spread(norms, rule="complement")
    >>> round(spread, 3)
    1.818
    """
    values = _check_norms(norms)
    if np.any(values == 0):
        raise ValueError(f"norms must be > 0 for a spread of weighted norms, got "
                         f"{values.tolist()}")
    pulls = gaba_weights(values, rule) * values
    return float(pulls.max() / pulls.min())


@dataclass(frozen=True)
class RuleSpreads:
    """The spread of the weighted norms under each rule, for several numbers of tasks.

    Built by :func:`rule_spreads`: for each K, the K norms are spaced evenly on a log scale
    from ``low`` to ``high``. ``print`` shows the table.

    Attributes
    ----------
    ks : tuple of int
        The numbers of tasks.
    complement, inverse : tuple of float
        :func:`weighted_norm_spread` under each rule, one per K (1 is perfect balance).
    complement_min, complement_max : tuple of float
        The smallest and largest weight the complement rule gives, one per K.
    """

    ks: tuple[int, ...]
    complement: tuple[float, ...]
    inverse: tuple[float, ...]
    complement_min: tuple[float, ...]
    complement_max: tuple[float, ...]

    def __str__(self) -> str:
        lines = [f"{'K':>3} {'complement: spread':>19} {'its weights':>18} "
                 f"{'inverse: spread':>16}"]
        for k, c, lo, hi, i in zip(self.ks, self.complement, self.complement_min,
                                   self.complement_max, self.inverse):
            lines.append(f"{k:>3} {c:19.3g} {lo:8.3f} to {hi:.3f} {i:16.3g}")
        return "\n".join(lines)

    def verdict(self, rtol: float = 1e-9) -> str:
        """Does the complement rule equalise the weighted norms (spread 1 within ``rtol``)?

        ``"holds"`` when it does for every K of the table, ``"holds in part"`` for some,
        ``"contradicted"`` for none.
        """
        rtol = check_real("rtol", rtol, nonnegative=True)
        balanced = [abs(s - 1.0) <= rtol for s in self.complement]
        if all(balanced):
            return "holds"
        return "holds in part" if any(balanced) else "contradicted"

    def quotes(self) -> dict[str, str]:
        """``k{K}_spread`` (3 significant digits) for every K, and the largest K's weight
        range as ``k{K}_wmin``, ``k{K}_wmax`` (3 decimals), for the prose."""
        out = {f"k{k}_spread": f"{c:.3g}" for k, c in zip(self.ks, self.complement)}
        last = self.ks[-1]
        out[f"k{last}_wmin"] = f"{self.complement_min[-1]:.3f}"
        out[f"k{last}_wmax"] = f"{self.complement_max[-1]:.3f}"
        return out


def rule_spreads(
    ks: Sequence[int] = (2, 3, 5, 10), *, low: float = 1.0, high: float = 100.0
) -> RuleSpreads:
    """How far apart each rule leaves the weighted norms of K tasks, for several K.

    For each K the norms are ``numpy.logspace(log10(low), log10(high), K)``: spaced evenly
    on a log scale, so the raw norms are ``high / low`` apart whatever K is.

    Parameters
    ----------
    ks : sequence of int
        Numbers of tasks, each at least 2, in increasing order.
    low, high : float
        The smallest and largest norm, ``0 < low <= high``.

    Returns
    -------
    RuleSpreads

    Raises
    ------
    TypeError
        If ``ks`` is not a list of integers or ``low``/``high`` are not real numbers.
    ValueError
        If ``ks`` is empty, not increasing or holds a K below 2, or ``low``/``high`` are
        not positive and ordered.

    Examples
    --------
    >>> table = rule_spreads((2, 3))
    >>> print(table)
      K  complement: spread        its weights  inverse: spread
      2                   1    0.010 to 0.990                1
      3                  10    0.050 to 0.495                1
    >>> table.verdict()
    'holds in part'
    """
    values = as_list("ks", ks)
    if not values:
        raise ValueError("ks is empty: give at least one number of tasks")
    ks_checked = tuple(check_int(f"ks[{i}]", k, minimum=2) for i, k in enumerate(values))
    if any(b <= a for a, b in zip(ks_checked, ks_checked[1:])):
        raise ValueError(f"ks must be increasing, got {list(ks_checked)}")
    low = check_real("low", low, positive=True)
    high = check_real("high", high, positive=True)
    if high < low:
        raise ValueError(f"high must be >= low, got low={low}, high={high}")
    rows = []
    for k in ks_checked:
        g = np.logspace(math.log10(low), math.log10(high), k)
        weights = gaba_weights(g, "complement")
        rows.append((weighted_norm_spread(g, "complement"), weighted_norm_spread(g, "inverse"),
                     float(weights.min()), float(weights.max())))
    complement, inverse, w_min, w_max = (tuple(col) for col in zip(*rows))
    return RuleSpreads(ks_checked, complement, inverse, w_min, w_max)


def _norm_vector(name: str, values: object) -> np.ndarray:
    """One entry per task: a 1-D real array (a 2-D array is not a list of tasks)."""
    return as_array(name, values, ndim=1, finite=False)


def imtl_g_weights(grads: Sequence[np.ndarray]) -> np.ndarray:
    """IMTL-G loss weights, from the task gradients themselves.

    IMTL-G asks for the combined gradient ``g = sum_i alpha_i g_i`` (with
    ``sum alpha = 1``) to have equal projections on every task's unit gradient
    ``u_i = g_i / ||g_i||``. Its closed form is
    ``alpha_{2:K} = g_1 U^T (D U^T)^{-1}`` with rows ``U_i = u_1 - u_i`` and
    ``D_i = g_1 - g_i`` (``i = 2..K``), and ``alpha_1 = 1 - sum alpha_{2:K}``.

    Parameters
    ----------
    grads : sequence of numpy.ndarray
        One gradient per task (any shape; each is flattened), ``K >= 2``, all the same
        size, none zero, not all parallel.

    Returns
    -------
    numpy.ndarray, shape (K,)

    Raises
    ------
    TypeError
        If ``grads`` is not a list of numeric arrays.
    ValueError
        If fewer than two gradients are given, sizes differ, a gradient is zero or not
        finite, or the system is singular (parallel gradients).

    Examples
    --------
    >>> import numpy as np
    >>> imtl_g_weights([np.array([3.0, 0.0]), np.array([0.0, 1.0])])
    array([0.25, 0.75])
    """
    flat = [as_array(f"grads[{i}]", g, finite=False).ravel()
            for i, g in enumerate(as_list("grads", grads))]
    if len(flat) < 2:
        raise ValueError(f"grads must hold at least 2 task gradients, got {len(flat)}")
    sizes = {g.size for g in flat}
    if len(sizes) != 1:
        raise ValueError(f"grads must all have the same number of entries, got {sorted(sizes)}")
    stacked = np.stack(flat)
    if not np.all(np.isfinite(stacked)):
        raise ValueError("grads contain non-finite values (NaN or inf)")
    lengths = np.linalg.norm(stacked, axis=1)
    if np.any(lengths == 0):
        raise ValueError(f"grads[{int(np.argmin(lengths))}] is zero: its direction is undefined")
    units = stacked / lengths[:, None]
    u_diff = units[0] - units[1:]
    d_diff = stacked[0] - stacked[1:]
    system = d_diff @ u_diff.T
    if np.linalg.cond(system) > 1e12:
        raise ValueError("grads are parallel: IMTL-G's system is singular")
    # alpha_{2:K} D U^T = g_1 U^T, solved as (D U^T)^T alpha^T = (g_1 U^T)^T.
    rest = np.linalg.solve(system.T, stacked[0] @ u_diff.T)
    return np.concatenate([[1.0 - rest.sum()], rest])


#: Default EMA factor of :class:`gabalab.gaba.GabaBalancer`. Per-batch norms scatter (on
#: FD001 the batches of one epoch span a factor of about nine at initialisation); averaging
#: over about ``1 / (1 - 0.9) = 10`` steps keeps the weights from chasing that noise while
#: still following the drift of the norms over an epoch of hundreds of steps.
DEFAULT_EMA: float = 0.9

#: Default weight floor of :class:`gabalab.gaba.GabaBalancer`: a safety net, not a setting
#: of the balance. A two-task weight reaches it only when one task's norm is about ten
#: thousand times the other's (on FD001 the per-batch ratio stays below that even after
#: training on the naive sum, whose largest batch was near 8,400); below that the weighted
#: norms stay exactly equal, and a task whose partner's gradient vanishes keeps a weight.
DEFAULT_FLOOR: float = 1e-4


def check_ema(ema: float | None) -> float | None:
    """Validate an EMA factor: ``None`` or a real number in ``[0, 1)``; 0 means no smoothing.

    Examples
    --------
    >>> check_ema(0.9), check_ema(None)
    (0.9, None)
    """
    if ema is None:
        return None
    ema = check_real("ema", ema, nonnegative=True)
    if ema >= 1:
        raise ValueError(f"ema must be in [0, 1) (or None), got {ema}")
    return ema


def check_floor(floor: float, n_tasks: int) -> float:
    """Validate a weight floor for ``n_tasks`` tasks: ``0 <= floor <= 1 / n_tasks``.

    Examples
    --------
    >>> check_floor(0.1, 2)
    0.1
    """
    floor = check_real("floor", floor, nonnegative=True)
    n_tasks = check_int("n_tasks", n_tasks, minimum=1)
    if floor * n_tasks > 1 + 1e-12:
        raise ValueError(f"floor must be <= 1/K = {1 / n_tasks:.6g} so that the weights can sum "
                         f"to one (floor * n_tasks <= 1), got floor={floor} with "
                         f"n_tasks={n_tasks}")
    return floor


def smooth_norms(
    state: Sequence[float] | np.ndarray | None,
    norms: Sequence[float] | np.ndarray,
    ema: float | None,
) -> np.ndarray:
    """One step of the exponential moving average of the norms, ``m <- b m + (1 - b) g``.

    Parameters
    ----------
    state : sequence of float or None
        The average so far, ``m``; ``None`` before the first step (the average then starts
        at ``norms``).
    norms : sequence of float
        This step's norms ``g``.
    ema : float or None
        The factor ``b`` in ``[0, 1)``; ``None`` or 0 returns ``norms`` unchanged.

    Returns
    -------
    numpy.ndarray
        The new average (float64), one entry per task.

    Raises
    ------
    TypeError
        If ``state`` or ``norms`` is not numeric.
    ValueError
        If ``ema`` is out of range, ``state`` or ``norms`` is not 1-D, is empty or holds a
        negative or non-finite norm, or the two differ in length.

    Examples
    --------
    >>> smooth_norms([10.0, 1.0], [20.0, 3.0], 0.9)
    array([11. ,  1.2])
    >>> smooth_norms(None, [20.0, 3.0], 0.9)
    array([20.,  3.])
    """
    ema = check_ema(ema)
    values = _finite_norms("norms", norms)
    if not ema or state is None:
        return values.copy()
    previous = _finite_norms("state", state)
    if previous.shape != values.shape:
        raise ValueError(f"state holds {previous.size} norms but norms holds {values.size}")
    return ema * previous + (1.0 - ema) * values


def _finite_norms(name: str, values: object) -> np.ndarray:
    array = as_array(name, values, ndim=1, nonempty=True)
    if np.any(array < 0):
        raise ValueError(f"{name} must be >= 0, got {array.tolist()}")
    return array


def floor_weights(weights: Sequence[float] | np.ndarray, floor: float) -> np.ndarray:
    """Raise weights below ``floor`` to ``floor`` and rescale the others to keep the sum one.

    Weights under the floor are set to exactly ``floor``; the remaining ones are scaled by a
    common factor so that the total is one. Scaling down can push another weight under the
    floor, so the rule is applied until none is left below it. The order of the weights is
    kept, and with ``floor * K == 1`` every weight becomes ``1 / K``.

    Parameters
    ----------
    weights : sequence of float
        ``K >= 2`` finite, non-negative weights with a positive sum (they are normalised to
        sum to one first).
    floor : float
        Smallest weight allowed, ``0 <= floor <= 1 / K``. Zero returns the normalised input.

    Returns
    -------
    numpy.ndarray, shape (K,)
        Weights ``>= floor`` that sum to one.

    Raises
    ------
    TypeError
        If ``floor`` is not a real number.
    ValueError
        If ``weights`` is not 1-D, there are fewer than two weights, a weight is negative or
        not finite, they sum to zero, or ``floor`` is negative or larger than ``1 / K``.

    Examples
    --------
    >>> floor_weights([0.01, 0.99], 0.1)
    array([0.1, 0.9])
    >>> floor_weights([0.02, 0.08, 0.9], 0.1)
    array([0.1, 0.1, 0.8])
    """
    w = _norm_vector("weights", weights)
    k = w.size
    if k < 2:
        raise ValueError(f"weights must hold at least 2 task weights, got {k}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights must be finite and >= 0, got {w.tolist()}")
    total = math.fsum(w)
    if total <= 0:
        raise ValueError("weights must have a positive sum")
    floor = check_floor(floor, k)
    w = w / total
    if floor == 0.0:
        return w
    fixed = np.zeros(k, dtype=bool)
    while True:
        free = np.flatnonzero(~fixed)
        budget = 1.0 - floor * fixed.sum()
        mass = math.fsum(w[free])
        scaled = w[free] * (budget / mass) if mass > 0 else np.full(free.size, budget / free.size)
        low = scaled < floor
        if not low.any() or low.all():
            out = np.full(k, floor)
            out[free] = scaled if not low.all() else budget / free.size
            return out
        fixed[free[low]] = True


@dataclass(frozen=True)
class WeightUpdate:
    """What :func:`stabilised_weights` returns: the weights and the norms they came from.

    Attributes
    ----------
    weights : numpy.ndarray
        The weights after the floor; they sum to one.
    norms : numpy.ndarray
        The norms the weights were computed from: the new EMA state, or this step's norms
        without EMA.
    """

    weights: np.ndarray
    norms: np.ndarray


def stabilised_weights(
    norms: Sequence[float] | np.ndarray,
    state: Sequence[float] | np.ndarray | None = None,
    *,
    ema: float | None = None,
    floor: float = 0.0,
    rule: str = DEFAULT_RULE,
) -> WeightUpdate:
    """Smooth the norms, take the closed-form weights, floor them: one step, no side effects.

    Parameters
    ----------
    norms : sequence of float
        This step's per-task norms on the shared parameters.
    state : sequence of float or None
        The EMA of the norms so far (``None`` at the first step or without EMA).
    ema : float or None
        EMA factor in ``[0, 1)``; ``None`` or 0 uses ``norms`` as they are.
    floor : float
        Smallest weight, ``0 <= floor <= 1 / K``.
    rule : {"inverse", "complement"}
        The closed form, as in :func:`gaba_weights`.

    Returns
    -------
    WeightUpdate
        ``weights`` and the ``norms`` they were computed from (keep these as the next
        ``state`` when smoothing).

    Raises
    ------
    TypeError, ValueError
        As :func:`smooth_norms`, :func:`gaba_weights` and :func:`floor_weights`.

    Examples
    --------
    >>> update = stabilised_weights([300.0, 1.0], floor=0.05)
    >>> update.weights
    array([0.05, 0.95])
    >>> stabilised_weights([20.0, 3.0], [10.0, 1.0], ema=0.9).norms
    array([11. ,  1.2])
    """
    smoothed = smooth_norms(state, norms, ema)
    weights = gaba_weights(smoothed, rule)
    floor = check_floor(floor, weights.size)
    if floor:
        weights = floor_weights(weights, floor)
    return WeightUpdate(weights, smoothed)
