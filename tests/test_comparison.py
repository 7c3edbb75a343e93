"""Paired comparisons: the t distribution against closed forms, the exact test by brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from gabalab.comparison import (
    MAX_EXACT_PAIRS,
    bootstrap_units,
    holm,
    paired_comparison,
    t_cdf,
    t_quantile,
)


@pytest.mark.parametrize("t", [-30.0, -2.5, -0.3, 0.0, 0.7, 1.9, 12.0])
def test_t_cdf_matches_the_closed_forms_of_one_and_two_degrees(t) -> None:
    cauchy = 0.5 + math.atan(t) / math.pi
    two = 0.5 + t / (2.0 * math.sqrt(2.0 + t * t))
    assert t_cdf(t, 1) == pytest.approx(cauchy, abs=1e-13)
    assert t_cdf(t, 2) == pytest.approx(two, abs=1e-13)


def test_t_cdf_tends_to_the_normal_and_handles_infinities() -> None:
    normal = 0.5 * (1.0 + math.erf(1.3 / math.sqrt(2.0)))
    assert t_cdf(1.3, 1e7) == pytest.approx(normal, abs=1e-7)
    assert (t_cdf(math.inf, 4), t_cdf(-math.inf, 4)) == (1.0, 0.0)


@pytest.mark.parametrize("df", [1, 2, 4, 9, 30])
@pytest.mark.parametrize("p", [0.6, 0.9, 0.975, 0.995])
def test_t_quantile_inverts_the_cdf(p, df) -> None:
    q = t_quantile(p, df)
    assert t_cdf(q, df) == pytest.approx(p, abs=1e-11)
    assert t_quantile(1.0 - p, df) == -q


def test_t_quantile_for_one_degree_is_the_cauchy_quantile() -> None:
    for p in (0.75, 0.9, 0.975):
        assert t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-10)


def _brute_force_p(d: np.ndarray) -> float:
    observed = abs(d.sum())
    flips = [abs(np.dot(s, d)) >= observed - 1e-12
             for s in itertools.product((1, -1), repeat=d.size)]
    return sum(flips) / len(flips)


def test_paired_comparison_agrees_with_a_direct_computation() -> None:
    rng = np.random.default_rng(3)
    for n in (2, 3, 5, 8):
        a, b = rng.normal(size=n), rng.normal(size=n)
        out = paired_comparison(a, b, confidence=0.9)
        d = a - b
        assert out.differences == tuple(d.tolist())
        assert out.mean == pytest.approx(d.mean()) and out.sd == pytest.approx(d.std(ddof=1))
        half = t_quantile(0.95, n - 1) * d.std(ddof=1) / math.sqrt(n)
        assert (out.low, out.high) == pytest.approx((d.mean() - half, d.mean() + half))
        t_stat = d.mean() / (d.std(ddof=1) / math.sqrt(n))
        assert out.p_t == pytest.approx(2 * (1 - t_cdf(abs(t_stat), n - 1)))
        assert out.p_exact == pytest.approx(_brute_force_p(d))
        assert out.p_floor == 2 / 2**n and out.df == n - 1


def test_five_seeds_cannot_reach_p_below_one_sixteenth() -> None:
    out = paired_comparison([10.0, 11.0, 12.0, 13.0, 14.0], [0.0, 0.0, 0.0, 0.0, 0.0])
    assert out.p_exact == out.p_floor == 0.0625
    assert out.excludes_zero and out.p_t < 0.01  # the t-test claims more than signs can


def test_equal_differences_have_no_t_test() -> None:
    out = paired_comparison([2.0, 3.0], [1.0, 2.0])
    assert out.sd == 0.0 and math.isnan(out.p_t) and out.low == out.high == 1.0


def test_differences_equal_up_to_rounding_count_as_equal() -> None:
    # two recalls of 10/24 against 0/24 and 15/24 against 5/24: both 10/24 apart,
    # which floating point carries a few ulps apart
    a, b = [10 / 24, 15 / 24], [0 / 24, 5 / 24]
    assert len({x - y for x, y in zip(a, b)}) == 2  # not bitwise equal
    out = paired_comparison(a, b)
    assert out.sd == 0.0 and math.isnan(out.p_t) and out.low == out.high == out.mean
    near = paired_comparison([0.5, 0.6], [0.0, 0.1 + 1e-9])  # a real, tiny spread
    assert near.sd > 0.0 and math.isfinite(near.p_t)


@pytest.mark.parametrize(("a", "b", "match"), [
    ([1.0], [2.0], "at least 2"),
    ([1.0, 2.0], [1.0], "lengths 2 and 1"),
    ([[1.0, 2.0]], [[1.0, 2.0]], "1-D"),
    ([1.0, math.nan], [1.0, 2.0], "a"),
    ([1.0] * (MAX_EXACT_PAIRS + 1), [0.0] * (MAX_EXACT_PAIRS + 1), "at most"),
])
def test_paired_comparison_refuses_bad_pairs(a, b, match) -> None:
    with pytest.raises(ValueError, match=match):
        paired_comparison(a, b)


def test_holm_matches_a_hand_computation() -> None:
    p = [0.01, 0.04, 0.03, 0.5]
    # sorted: 0.01*4=0.04, 0.03*3=0.09, 0.04*2=0.08 -> 0.09 (monotone), 0.5*1=0.5
    assert holm(p).tolist() == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm([0.6, 0.9]).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="p_values"):
        holm([])
    with pytest.raises(ValueError, match="p_values"):
        holm([1.5])


def test_bootstrap_units_is_seeded_and_covers_the_estimate() -> None:
    errors = np.random.default_rng(0).normal(size=50) ** 2

    def rmse(i: np.ndarray) -> float:
        return float(np.sqrt(errors[i].mean()))

    one = bootstrap_units(rmse, 50, n_resamples=500, seed=4)
    two = bootstrap_units(rmse, 50, n_resamples=500, seed=4)
    assert one == two and one.low < one.estimate < one.high
    assert one.estimate == pytest.approx(float(np.sqrt(errors.mean())))
    assert bootstrap_units(rmse, 50, n_resamples=500, seed=5) != one


def test_bootstrap_units_refuses_a_statistic_that_is_mostly_nan() -> None:
    with pytest.raises(ValueError, match="NaN on"):
        bootstrap_units(lambda i: math.nan if i[0] % 2 else 1.0, 10, n_resamples=200)
    with pytest.raises(TypeError, match="statistic must return a number"):
        bootstrap_units(lambda i: "x", 10)  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError, match="statistic must be callable"):
        bootstrap_units(3.0, 10)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_units(lambda i: 1.0, 10, n_resamples=5)
