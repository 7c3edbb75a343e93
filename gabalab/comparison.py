"""Comparing training methods honestly: paired over seeds, resampled over test units.

Two methods trained with the same seeds share their initial weights and their batches, so
seed ``s`` of one is paired with seed ``s`` of the other, and the question is whether the
*differences* ``d_s = a_s - b_s`` sit away from zero. With ``n`` seeds:

* :func:`paired_comparison` gives the mean difference with a Student-t interval at
  ``n - 1`` degrees of freedom and, beside it, the exact sign-flip permutation test: under
  "no difference" each ``d_s`` is as likely to carry either sign, so the ``2**n`` sign
  patterns are equally likely and the p-value is the share of them whose mean is at least as
  far from zero as the one observed. The smallest p that ``n`` seeds can give is
  ``2 / 2**n`` (0.0625 for five seeds): below that the data cannot speak, whatever the
  difference.
* :func:`t_quantile` is the Student-t quantile the interval needs (no SciPy), from the
  regularised incomplete beta function.
* :func:`holm` adjusts a family of p-values for multiple comparisons (Holm's step-down
  method, which controls the chance of any false claim in the family).
* :func:`bootstrap_units` resamples the test units: the test set is one draw of engines, and
  a metric's difference between two methods moves with that draw in a way that seeds do not
  show. Both methods are evaluated on the same resampled units (a paired bootstrap).

Examples
--------
>>> result = paired_comparison([13.0, 14.0, 12.5, 13.5, 13.0],
...                            [15.0, 15.5, 14.0, 16.0, 14.5])
>>> round(result.mean, 3), result.df, result.p_exact
(-1.8, 4, 0.0625)
>>> round(t_quantile(0.975, 4), 4)
2.7764
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gabalab._checks import as_array, check_int, check_real

__all__ = [
    "t_cdf",
    "t_quantile",
    "PairedComparison",
    "paired_comparison",
    "holm",
    "BootstrapInterval",
    "bootstrap_units",
]

#: Largest number of pairs whose sign patterns are enumerated exactly (2**20 patterns).
MAX_EXACT_PAIRS = 20


def _check_probability(name: str, value: Any, *, open_interval: bool = True) -> float:
    value = check_real(name, value)
    if open_interval and not 0.0 < value < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")
    return value


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta ``I_x(a, b)``, by its continued fraction (modified Lentz)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    # The fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise.
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - _incomplete_beta(b, a, 1.0 - x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * fraction / a


def t_cdf(t: float, df: float) -> float:
    """Cumulative distribution function of Student's t with ``df`` degrees of freedom.

    Parameters
    ----------
    t : float
        The point (finite or infinite).
    df : float
        Degrees of freedom, > 0.

    Returns
    -------
    float

    Examples
    --------
    >>> t_cdf(0.0, 3), round(t_cdf(2.0, 1), 6)
    (0.5, 0.852416)
    """
    if isinstance(t, bool) or not isinstance(t, (int, float, np.floating, np.integer)):
        raise TypeError(f"t must be a real number, got {type(t).__name__}")
    t = float(t)
    if math.isnan(t):
        raise ValueError("t must not be NaN")
    df = check_real("df", df, positive=True)
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * _incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t with ``df`` degrees of freedom: the ``t`` with ``cdf(t) = p``.

    Found by bisection on :func:`t_cdf` to about 1e-12.

    Parameters
    ----------
    p : float
        Probability, strictly between 0 and 1.
    df : float
        Degrees of freedom, > 0.

    Returns
    -------
    float

    Examples
    --------
    >>> round(t_quantile(0.975, 1), 4), round(t_quantile(0.975, 9), 4)
    (12.7062, 2.2622)
    """
    p = _check_probability("p", p)
    df = check_real("df", df, positive=True)
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class PairedComparison:
    """Differences ``a_s - b_s`` over paired seeds, with a t-interval and an exact test.

    Attributes
    ----------
    differences : tuple of float
        ``a_s - b_s``, in the order given.
    n : int
        Number of pairs.
    mean : float
        Mean difference.
    sd : float
        Sample standard deviation of the differences (``n - 1`` in the denominator).
    df : int
        Degrees of freedom of the interval, ``n - 1``.
    confidence : float
        Coverage of the interval.
    low, high : float
        The Student-t interval ``mean -/+ t_q * sd / sqrt(n)``.
    p_t : float
        Two-sided p-value of the paired t-test (NaN when every difference is equal, sd 0;
        differences that differ only by rounding count as equal).
    p_exact : float
        Two-sided p-value of the exact sign-flip permutation test.
    p_floor : float
        The smallest ``p_exact`` that ``n`` pairs can give, ``2 / 2**n`` (1 for ``n = 0``).
    """

    differences: tuple[float, ...]
    n: int
    mean: float
    sd: float
    df: int
    confidence: float
    low: float
    high: float
    p_t: float
    p_exact: float
    p_floor: float

    @property
    def excludes_zero(self) -> bool:
        """Whether the t-interval lies wholly on one side of zero."""
        return self.low > 0.0 or self.high < 0.0


def _sign_flip_p(d: np.ndarray) -> float:
    """Exact two-sided sign-flip p-value of the mean of ``d``."""
    n = d.size
    observed = abs(float(d.sum()))
    count = 0
    for signs in itertools.product((1.0, -1.0), repeat=n):
        if abs(float(np.dot(signs, d))) >= observed - 1e-12 * max(1.0, observed):
            count += 1
    return count / 2.0**n


def paired_comparison(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *,
                      confidence: float = 0.95) -> PairedComparison:
    """Compare two methods run with the same seeds: ``a[s]`` is paired with ``b[s]``.

    Parameters
    ----------
    a, b : sequence of float
        One finite value per seed (for example the test RMSE), same length, at least 2.
    confidence : float
        Coverage of the t-interval, strictly between 0 and 1 (default 0.95).

    Returns
    -------
    PairedComparison

    Raises
    ------
    TypeError
        If ``a`` or ``b`` is not a sequence of numbers.
    ValueError
        If they are not 1-D, differ in length, hold fewer than 2 values or more than
        :data:`MAX_EXACT_PAIRS`, or a non-finite value; or ``confidence`` is out of range.

    Examples
    --------
    >>> out = paired_comparison([1.0, 2.0, 3.0], [0.0, 1.0, 2.5])
    >>> out.mean, out.df, out.p_floor
    (0.8333333333333334, 2, 0.25)
    """
    x = as_array("a", a)
    y = as_array("b", b)
    for name, arr in (("a", x), ("b", y)):
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-D (one value per seed), got shape {arr.shape}")
    if x.shape != y.shape:
        raise ValueError(f"a and b must pair one value per seed: lengths {x.size} and {y.size}")
    if x.size < 2:
        raise ValueError(f"a and b need at least 2 paired values, got {x.size}")
    if x.size > MAX_EXACT_PAIRS:
        raise ValueError(f"a and b hold {x.size} pairs; the exact test enumerates at most "
                         f"{MAX_EXACT_PAIRS}")
    confidence = _check_probability("confidence", confidence)
    d = x - y
    n = d.size
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    # Differences equal up to rounding (two recalls of 10/24 - 0/24 computed apart) are
    # equal: a standard deviation of a few ulps would make the t-test certain of anything.
    if sd <= 64 * np.finfo(float).eps * float(np.max(np.abs(d))):
        sd = 0.0
    df = n - 1
    half = t_quantile(0.5 + confidence / 2.0, df) * sd / math.sqrt(n)
    if sd > 0.0:
        t_stat = mean / (sd / math.sqrt(n))
        p_t = 2.0 * (1.0 - t_cdf(abs(t_stat), df))
    else:
        p_t = math.nan
    return PairedComparison(
        differences=tuple(float(v) for v in d), n=n, mean=mean, sd=sd, df=df,
        confidence=confidence, low=mean - half, high=mean + half, p_t=p_t,
        p_exact=_sign_flip_p(d), p_floor=2.0 / 2.0**n,
    )


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (same order as given).

    The smallest p is multiplied by the family size m, the next by m - 1, and so on, each
    kept at least as large as the one before and at most 1. Rejecting every adjusted p below
    ``alpha`` keeps the chance of any false rejection in the family at most ``alpha``.

    Parameters
    ----------
    p_values : sequence of float
        Non-empty, each in ``[0, 1]``.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    TypeError, ValueError
        If ``p_values`` is not a non-empty 1-D sequence of numbers in ``[0, 1]``.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).tolist()
    [0.03, 0.06, 0.06]
    """
    p = as_array("p_values", p_values)
    if p.ndim != 1 or p.size == 0:
        raise ValueError(f"p_values must be a non-empty 1-D sequence, got shape {p.shape}")
    if np.any((p < 0.0) | (p > 1.0)):
        raise ValueError("p_values must lie in [0, 1]")
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(p[index])))
        adjusted[index] = running
    return adjusted


@dataclass(frozen=True)
class BootstrapInterval:
    """A percentile interval of a statistic over resampled test units.

    Attributes
    ----------
    estimate : float
        The statistic on the units as they are.
    low, high : float
        Percentile interval of the resampled statistic.
    confidence : float
    n_resamples : int
    seed : int
    """

    estimate: float
    low: float
    high: float
    confidence: float
    n_resamples: int
    seed: int


def bootstrap_units(statistic: Callable[[np.ndarray], float], n_units: int, *,
                    n_resamples: int = 2000, confidence: float = 0.95,
                    seed: int = 0) -> BootstrapInterval:
    """Resample the test units with replacement and take the statistic's percentile interval.

    Parameters
    ----------
    statistic : callable
        ``statistic(indices) -> float``: the value on the units ``indices`` (an int array
        that may repeat units). For a paired difference between two methods, compute both on
        the same ``indices``. A NaN value (a class absent from a resample, say) is left out
        of the interval and counted: more than 1% of resamples with NaN raises.
    n_units : int
        Number of test units, >= 2.
    n_resamples : int
        Number of resamples, >= 100 (default 2000).
    confidence : float
        Coverage, strictly between 0 and 1.
    seed : int
        Seed of the resampling (a NumPy ``Generator``), >= 0.

    Returns
    -------
    BootstrapInterval

    Raises
    ------
    TypeError, ValueError
        If an argument is out of range, ``statistic`` is not callable or returns a
        non-number, or more than 1% of the resamples give NaN.

    Examples
    --------
    >>> errors = np.array([1.0, 2.0, 3.0, 4.0])
    >>> out = bootstrap_units(lambda i: float(errors[i].mean()),
    ...                       4, seed=0)
    >>> out.estimate, out.low <= out.estimate <= out.high
    (2.5, True)
    """
    if not callable(statistic):
        raise TypeError(f"statistic must be callable, got {type(statistic).__name__}")
    n_units = check_int("n_units", n_units, minimum=2)
    n_resamples = check_int("n_resamples", n_resamples, minimum=100)
    confidence = _check_probability("confidence", confidence)
    seed = check_int("seed", seed, minimum=0)

    def value(indices: np.ndarray) -> float:
        out = statistic(indices)
        if isinstance(out, bool) or not isinstance(out, (int, float, np.floating, np.integer)):
            raise TypeError(f"statistic must return a number, got {type(out).__name__}")
        return float(out)

    estimate = value(np.arange(n_units))
    rng = np.random.default_rng(seed)
    draws = np.array([value(rng.integers(0, n_units, size=n_units))
                      for _ in range(n_resamples)])
    finite = draws[~np.isnan(draws)]
    if finite.size < 0.99 * n_resamples:
        raise ValueError(f"statistic gave NaN on {n_resamples - finite.size} of {n_resamples} "
                         "resamples (more than 1%)")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return BootstrapInterval(estimate, float(low), float(high), confidence, n_resamples, seed)
