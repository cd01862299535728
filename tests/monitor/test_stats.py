"""The statistics against scipy's own functions, on real samples: ties, unequal sizes,
many pieces, the vectorised Smirnov series, empty PSI bins, unseen categories."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats
from scipy.spatial.distance import jensenshannon

from lockstep.monitor.stats import (
    OTHER,
    PSI_EPSILON,
    TOP_CATEGORIES,
    categorical_stats,
    chi2_homogeneity,
    js_distance,
    ks_critical,
    ks_pvalue,
    ks_wasserstein,
    missing_pvalue,
    numeric_histogram,
    numeric_stats,
    psi,
    smirnov,
    sort_values,
)


def sorted_copy(values: np.ndarray) -> np.ndarray:
    found, missing = sort_values(np.array(values, dtype=np.float64))
    assert missing == 0
    return found


CASES = [
    (200, 170, 0.3, None),  # small, unequal
    (5_000, 7_000, 0.08, None),
    (40_000, 30_000, 0.03, None),  # en > 10,000 in the Smirnov tail: summed here, not by scipy
    (3_000, 2_500, 0.0, 0),  # integers: heavy ties
    (20_000, 20_000, 0.1, 1),  # one decimal: ties across both samples
]


@pytest.mark.parametrize(("n1", "n2", "shift", "decimals"), CASES)
def test_ks_and_wasserstein_match_scipy(
    n1: int, n2: int, shift: float, decimals: int | None
) -> None:
    rng = np.random.default_rng(n1 + n2)
    a = rng.standard_normal(n1) * 3
    b = rng.standard_normal(n2) * 3 + shift
    if decimals is not None:
        a, b = np.round(a, decimals), np.round(b, decimals)
    expected = stats.ks_2samp(a, b, method="asymp")
    d, area = ks_wasserstein(sorted_copy(a), sorted_copy(b))
    assert d == pytest.approx(float(expected.statistic), abs=1e-12)
    assert ks_pvalue(d, n1, n2) == pytest.approx(float(expected.pvalue), abs=1e-9)
    assert area == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9)


def test_many_small_pieces_give_the_same_answer() -> None:
    rng = np.random.default_rng(3)
    a = sorted_copy(np.round(rng.exponential(size=9_000), 2))
    b = sorted_copy(np.round(rng.exponential(size=7_000) * 1.1, 2))
    whole = ks_wasserstein(a, b, piece=1 << 20)
    for piece in (2, 7, 64, 500):
        d, area = ks_wasserstein(a, b, piece=piece)
        assert d == whole[0]
        assert area == pytest.approx(whole[1], rel=1e-12)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # scipy, 1 value vs 1
@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-5, 5), min_size=1, max_size=40),
    st.lists(st.integers(-5, 5), min_size=1, max_size=40),
    st.integers(1, 6),
)
def test_steps_match_scipy_on_any_small_sample(a: list[int], b: list[int], piece: int) -> None:
    x, y = np.array(a, dtype=np.float64) / 2, np.array(b, dtype=np.float64) / 2
    d, area = ks_wasserstein(sorted_copy(x), sorted_copy(y), piece=piece)
    assert d == pytest.approx(float(stats.ks_2samp(x, y, method="asymp").statistic), abs=1e-12)
    assert area == pytest.approx(stats.wasserstein_distance(x, y), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("n", [20_000, 300_000])
@pytest.mark.parametrize("z", [1.6, 3.0, 8.0])
def test_smirnov_series_matches_scipy(n: int, z: float) -> None:
    x = z / math.sqrt(n)
    assert smirnov(n, x) == pytest.approx(float(special.smirnov(n, x)), rel=1e-8)


@pytest.mark.parametrize(
    ("d", "n1", "n2"),
    [(0.6, 30_000, 30_000), (0.0, 50, 60), (1.0, 50, 60), (0.01, 40_000, 40_000), (0.2, 1, 3)],
)
def test_pvalue_at_the_edges_of_the_summed_range(d: float, n1: int, n2: int) -> None:
    m, n = sorted((float(n1), float(n2)), reverse=True)
    expected = float(np.clip(stats.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))
    assert ks_pvalue(d, n1, n2) == pytest.approx(expected, abs=1e-9)


def test_one_value_against_one_is_no_evidence() -> None:
    assert ks_pvalue(1.0, 1, 1) == 1.0
    assert ks_critical(0.001, 1, 1) == 1.0


def test_critical_value_is_where_the_pvalue_crosses_alpha() -> None:
    critical = ks_critical(0.001, 5_000, 4_000)
    assert (
        ks_pvalue(critical * 1.001, 5_000, 4_000)
        < 0.001
        < ks_pvalue(critical * 0.999, 5_000, 4_000)
    )


def test_sort_values_counts_nan_and_infinities_as_missing() -> None:
    values = np.array([3.0, np.nan, -np.inf, 1.0, np.inf, 2.0, np.nan])
    found, missing = sort_values(values)
    assert found.tolist() == [1.0, 2.0, 3.0]
    assert missing == 4


def psi_by_hand(reference: np.ndarray, current: np.ndarray) -> float:
    edges = np.unique(np.quantile(reference, np.arange(1, 10) / 10))
    bins = list(pairwise(np.concatenate(([-np.inf], edges, [np.inf]))))
    ref = np.array([np.sum((reference > lo) & (reference <= hi)) for lo, hi in bins])
    cur = np.array([np.sum((current > lo) & (current <= hi)) for lo, hi in bins])
    r = np.where(ref == 0, PSI_EPSILON, ref / len(reference))
    c = np.where(cur == 0, PSI_EPSILON, cur / len(current))
    return float(np.sum((c - r) * np.log(c / r)))


def test_psi_matches_its_definition() -> None:
    rng = np.random.default_rng(11)
    reference = rng.gamma(2.0, size=8_000)
    for current in (rng.gamma(2.0, size=6_000), rng.gamma(2.6, size=6_000), reference + 100):
        expected = psi_by_hand(reference, current)
        assert psi(sorted_copy(reference), sorted_copy(current)) == pytest.approx(
            expected, rel=1e-12
        )


def test_psi_of_a_two_valued_column_uses_two_bins() -> None:
    reference = np.array([0.0] * 700 + [1.0] * 300)
    current = np.array([0.0] * 300 + [1.0] * 700)
    expected = (0.3 - 0.7) * math.log(0.3 / 0.7) + (0.7 - 0.3) * math.log(0.7 / 0.3)
    assert psi(sorted_copy(reference), sorted_copy(current)) == pytest.approx(expected)


def test_numeric_stats_of_the_same_sample_are_zero() -> None:
    values = sorted_copy(np.random.default_rng(1).standard_normal(1_000))
    found = numeric_stats(values, values.copy())
    assert (found.ks_statistic, found.psi, found.wasserstein) == (0.0, 0.0, 0.0)
    assert found.ks_pvalue == 1.0


def test_wasserstein_is_normalised_by_the_reference_spread() -> None:
    rng = np.random.default_rng(2)
    reference = sorted_copy(rng.normal(0, 4, 20_000))
    current = sorted_copy(rng.normal(2, 4, 20_000))
    found = numeric_stats(reference, current)
    assert found.wasserstein_normalised == pytest.approx(found.wasserstein / np.std(reference))
    assert found.wasserstein_normalised == pytest.approx(0.5, abs=0.03)


def test_a_constant_reference_is_normalised_by_the_pooled_spread() -> None:
    reference = sorted_copy(np.full(100, 5.0))
    current = sorted_copy(np.array([5.0] * 50 + [7.0] * 50))
    found = numeric_stats(reference, current)
    assert found.wasserstein == pytest.approx(1.0)
    pooled = np.std(np.concatenate((reference, current)))
    assert found.wasserstein_normalised == pytest.approx(1.0 / pooled)
    assert numeric_stats(reference, reference.copy()).wasserstein_normalised == 0.0


def test_histogram_shares_edges_and_counts_every_value() -> None:
    rng = np.random.default_rng(4)
    reference = sorted_copy(rng.standard_normal(5_000))
    current = sorted_copy(np.concatenate((rng.standard_normal(4_000) + 1, [50.0])))
    histogram = numeric_histogram(reference, current)
    assert len(histogram.edges) == len(histogram.reference) + 1 == len(histogram.current) + 1
    assert sum(histogram.reference) == 5_000 and sum(histogram.current) == 4_001
    assert histogram.edges[-1] < 50  # the outlier sits in the last bin, not on the axis
    constant = numeric_histogram(sorted_copy(np.ones(10)), sorted_copy(np.ones(5)))
    assert constant.edges[0] < 1 < constant.edges[-1]


def test_chi2_and_js_match_scipy_with_unseen_categories() -> None:
    reference = {"a": 50, "b": 30, "c": 20}
    current = {"a": 20, "b": 30, "c": 25, "new": 25}
    found = categorical_stats(reference, current)
    names = ["a", "b", "c", "new"]
    table = np.array([[reference.get(k, 0) for k in names], [current.get(k, 0) for k in names]])
    statistic, pvalue, dof, _ = stats.chi2_contingency(table, correction=False)
    assert found.chi2_statistic == pytest.approx(statistic, rel=1e-12)
    assert found.chi2_pvalue == pytest.approx(pvalue, rel=1e-9)
    assert found.chi2_dof == dof == 3
    expected = jensenshannon(table[0] / table[0].sum(), table[1] / table[1].sum(), base=2)
    assert found.js_distance == pytest.approx(expected, rel=1e-12)
    assert found.new_categories == 1
    assert (found.categories_reference, found.categories_current) == (3, 4)


def test_two_categories_are_not_yates_corrected() -> None:
    ref, cur = np.array([30.0, 70.0]), np.array([45.0, 55.0])
    statistic, pvalue, dof, _ = stats.chi2_contingency(np.vstack((ref, cur)), correction=False)
    assert chi2_homogeneity(ref, cur) == pytest.approx((statistic, pvalue, dof))


def test_js_distance_is_between_zero_and_one() -> None:
    assert js_distance(np.array([3.0, 1.0]), np.array([6.0, 2.0])) == 0.0
    assert js_distance(np.array([5.0, 0.0]), np.array([0.0, 5.0])) == pytest.approx(1.0)


def test_one_category_on_both_sides_is_no_evidence() -> None:
    found = categorical_stats({"x": 10}, {"x": 400})
    assert (found.chi2_statistic, found.chi2_pvalue, found.chi2_dof) == (0.0, 1.0, 0)
    assert found.js_distance == 0.0


def test_the_histogram_keeps_the_top_categories_and_sums_the_rest() -> None:
    reference = {f"c{i:02d}": 100 - i for i in range(30)}
    found = categorical_stats(reference, {"c00": 5, "c29": 7})
    shown = found.histogram
    assert len(shown.categories) == TOP_CATEGORIES + 1 and shown.categories[-1] == OTHER
    assert shown.categories[0] == "c00"
    assert sum(shown.reference) == sum(reference.values())
    assert sum(shown.current) == 12


def test_missing_pvalue_is_a_one_sided_two_proportion_test() -> None:
    x1, n1, x2, n2 = 10, 1_000, 40, 800
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    z = (p2 - p1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    assert missing_pvalue(x1, n1, x2, n2) == pytest.approx(float(stats.norm.sf(z)), rel=1e-12)
    assert missing_pvalue(40, 800, 10, 1_000) > 0.99  # fewer missing values: no evidence
    assert missing_pvalue(0, 100, 0, 100) == 1.0
    assert missing_pvalue(100, 100, 50, 50) == 1.0
