"""The statistics of one feature, its reference values against its current ones.

Numeric features are compared on their sorted values. Each column is sorted once
(in place, in the array the source handed over), its missing values (NaN, and the
infinities, which no distance can weigh) cut off the end, and that sorted array
serves every statistic:

- **Kolmogorov-Smirnov** (two-sample, two-sided): D is the largest gap between the
  two empirical CDFs. Both CDFs are walked together as steps, one per distinct
  value of either sample, in pieces of about ``PIECE`` values so that the work
  stays in cache and the memory small whatever the row count. The p-value is the
  asymptotic one of ``scipy.stats.ks_2samp(method="asymp")``: the one-sample
  two-sided distribution ``kstwo`` at ``n = round(n1 * n2 / (n1 + n2))``. Where
  scipy sums the Birnbaum-Tingey series term by term (10,000 < n <= 1,000,000 in
  the tail, a few hundred milliseconds a call), the same series is summed here as
  one vectorised expression; elsewhere scipy's own function is called.
- **Wasserstein-1**: the area between the two CDFs, from the same steps, as
  ``scipy.stats.wasserstein_distance``. It is reported raw and normalised by the
  reference's standard deviation, which makes it "how many reference standard
  deviations the mass moved". A constant reference has no spread (and no IQR
  either), so it is normalised by the standard deviation of both samples pooled.
- **PSI** (population stability index): the reference's deciles (linear
  interpolation, numpy's default) cut both samples into ``PSI_BINS`` bins;
  ``PSI = sum((c - r) * ln(c / r))`` over the bins' shares, an empty bin's share
  taken as ``PSI_EPSILON``. Repeated values can merge bins (a 0/1 column has two).
- A histogram for plots: ``PLOT_BINS`` equal bins over both samples from the
  0.5th to the 99.5th percentile, the outer bins also holding what lies beyond.

Categorical features are compared on their counts per category (missing values
left out):

- **chi-squared** test of homogeneity on the 2 x k table (reference, current) of
  the categories seen in either, without Yates' correction, as
  ``scipy.stats.chi2_contingency(table, correction=False)``; a category the
  reference never saw is a column of the table like any other;
- **Jensen-Shannon distance** (base 2, so within [0, 1]) between the two shares.

Both kinds: the missing rates, and a one-sided two-proportion z-test of "the
current data misses more often".
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

PSI_BINS = 10
PSI_EPSILON = 1e-4
PLOT_BINS = 30
PLOT_TAIL = 0.005
TOP_CATEGORIES = 20
OTHER = "(other)"
PIECE = 1 << 15
_SCIPY_SUMS_ABOVE = 10_000  # below this n, scipy's kstwo is fast enough to call as is
_SCIPY_SUMS_UP_TO = 1_000_000  # above it, scipy's smirnov switches to an asymptotic form
_TERMS = 1 << 18


@dataclass(frozen=True)
class Histogram:
    """Counts for a plot. Numeric: ``edges`` (one more than the counts), no
    categories. Categorical: the ``categories`` shown (the most frequent, then
    ``(other)``), no edges."""

    edges: tuple[float, ...]
    categories: tuple[str, ...]
    reference: tuple[int, ...]
    current: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"reference": list(self.reference), "current": list(self.current)}
        if self.categories:
            found["categories"] = list(self.categories)
        else:
            found["edges"] = list(self.edges)
        return found


@dataclass(frozen=True)
class NumericStats:
    """Reference against current, over their values that are not missing."""

    ks_statistic: float
    ks_pvalue: float
    psi: float
    wasserstein: float
    wasserstein_normalised: float
    mean_reference: float
    mean_current: float
    std_reference: float
    std_current: float
    histogram: Histogram


@dataclass(frozen=True)
class CategoricalStats:
    chi2_statistic: float
    chi2_pvalue: float
    chi2_dof: int
    js_distance: float
    categories_reference: int
    categories_current: int
    new_categories: int  # seen in the current data, never in the reference
    histogram: Histogram


# --- numeric ------------------------------------------------------------------------------


def sort_values(values: FloatArray) -> tuple[FloatArray, int]:
    """Sort ``values`` in place; return the finite values (a view) and how many were
    missing (NaN or infinite)."""
    values.sort()
    start = int(np.searchsorted(values, -np.inf, "right"))
    stop = int(np.searchsorted(values, np.inf, "left"))
    return values[start:stop], len(values) - (stop - start)


def numeric_stats(reference: FloatArray, current: FloatArray) -> NumericStats:
    """Every numeric statistic of two sorted, finite, non-empty samples."""
    d, area = ks_wasserstein(reference, current)
    mean_reference, std_reference = mean_std(reference)
    mean_current, std_current = mean_std(current)
    scale = std_reference or _pooled_std(
        (len(reference), mean_reference, std_reference), (len(current), mean_current, std_current)
    )
    return NumericStats(
        ks_statistic=d,
        ks_pvalue=ks_pvalue(d, len(reference), len(current)),
        psi=psi(reference, current),
        wasserstein=area,
        wasserstein_normalised=area / scale if area > 0 else 0.0,
        mean_reference=mean_reference,
        mean_current=mean_current,
        std_reference=std_reference,
        std_current=std_current,
        histogram=numeric_histogram(reference, current),
    )


def ks_wasserstein(a: FloatArray, b: FloatArray, *, piece: int = PIECE) -> tuple[float, float]:
    """(KS D, Wasserstein-1) of two sorted samples, from one walk of their CDFs in
    pieces of about ``piece`` values of each."""
    n1, n2 = len(a), len(b)
    d = area = 0.0
    last: tuple[float, float] | None = None
    for x, count_a, count_b in _steps(a, b, piece):
        gap = count_a / n1 - count_b / n2
        d = max(d, float(np.max(np.abs(gap))))
        if last is not None:
            area += abs(last[1]) * (float(x[0]) - last[0])
        area += float(np.sum(np.abs(gap[:-1]) * np.diff(x)))
        last = (float(x[-1]), float(gap[-1]))
    return d, area


def _steps(
    a: FloatArray, b: FloatArray, piece: int
) -> Iterator[tuple[FloatArray, IntArray, IntArray]]:
    """The distinct values of ``a`` and ``b`` in order, each with how many values of
    ``a`` and of ``b`` are at or below it, in pieces.

    Every ``piece``-th value of either array is a cut. A cut's own value is a piece of
    one step (however often it repeats); the values strictly between two cuts are
    fewer than ``piece`` from each array, merged as one small piece.
    """
    cuts = np.unique(np.concatenate((a[piece::piece], b[piece::piece])))
    a_left, a_right = np.searchsorted(a, cuts, "left"), np.searchsorted(a, cuts, "right")
    b_left, b_right = np.searchsorted(b, cuts, "left"), np.searchsorted(b, cuts, "right")
    a0 = b0 = 0
    for k in range(len(cuts)):
        if a_left[k] > a0 or b_left[k] > b0:
            yield _merged(a[a0 : a_left[k]], a0, b[b0 : b_left[k]], b0)
        yield cuts[k : k + 1], a_right[k : k + 1], b_right[k : k + 1]
        a0, b0 = int(a_right[k]), int(b_right[k])
    if a0 < len(a) or b0 < len(b):
        yield _merged(a[a0:], a0, b[b0:], b0)


def _merged(
    part_a: FloatArray, a0: int, part_b: FloatArray, b0: int
) -> tuple[FloatArray, IntArray, IntArray]:
    """The steps of two sorted slices that start at ``a0`` and ``b0``.

    A stable argsort of the two runs is one merge. At merged position ``p``, a value
    that is ``a[i]`` has ``i + 1`` values of ``a`` at or before it; one that is ``b[j]``
    has ``p - j``. Only the last position of each distinct value is a step.
    """
    values = np.concatenate((part_a, part_b))
    order = np.argsort(values, kind="stable")
    values = values[order]
    last = np.empty(len(values), dtype=bool)
    np.not_equal(values[1:], values[:-1], out=last[:-1])
    last[-1] = True
    position = np.flatnonzero(last)
    source = order[position]
    size_a = len(part_a)
    count_a = np.where(source < size_a, source + 1, position - (source - size_a))
    return values[position], a0 + count_a, b0 + (position + 1 - count_a)


def ks_pvalue(d: float, n1: int, n2: int) -> float:
    """The asymptotic two-sided p-value of ``scipy.stats.ks_2samp(method="asymp")``."""
    en = _effective_n(n1, n2)
    if en < 1.0:
        return 1.0
    if _sum_here(d, en):
        return min(1.0, max(0.0, 2.0 * smirnov(int(en), d)))
    kstwo = _scipy("stats").kstwo

    return float(np.clip(kstwo.sf(d, en), 0.0, 1.0))


def _sum_here(x: float, n: float) -> bool:
    """Whether scipy would sum Birnbaum-Tingey's series term by term, and slowly:
    the branches of ``scipy.stats._ksstats._kolmogn`` for the survival function."""
    if not _SCIPY_SUMS_ABOVE < n <= _SCIPY_SUMS_UP_TO or not 1.0 < n * x < n - 1:
        return False
    return x >= 0.5 or 2.2 <= n * x * x < 370.0


def smirnov(n: int, x: float) -> float:
    """P(D+ >= x) for a one-sided one-sample KS test of ``n`` values: Birnbaum and
    Tingey's series, summed in log space, as ``scipy.special.smirnov`` does."""
    gammaln = _scipy("special").gammaln

    top = math.floor(n * (1.0 - x))
    head = float(gammaln(n + 1.0))
    total = 0.0
    with np.errstate(divide="ignore"):
        for start in range(0, top + 1, _TERMS):
            j = np.arange(start, min(top + 1, start + _TERMS), dtype=np.float64)
            p = x + j / n
            logs = head - gammaln(j + 1.0) - gammaln(n - j + 1.0)
            logs += (j - 1.0) * np.log(p) + (n - j) * np.log1p(-p)
            total += float(np.sum(np.exp(logs)))
    return x * total


def ks_critical(alpha: float, n1: int, n2: int) -> float:
    """The D above which the asymptotic test rejects at ``alpha`` for these sizes."""
    en = _effective_n(n1, n2)
    return 1.0 if en < 1.0 else float(_scipy("stats").kstwo.isf(alpha, en))


def _effective_n(n1: int, n2: int) -> float:
    """``round(n1 * n2 / (n1 + n2))``, the size of the one-sample distribution used."""
    m, n = sorted((float(n1), float(n2)), reverse=True)
    return float(np.round(m * n / (m + n)))


def psi(reference: FloatArray, current: FloatArray) -> float:
    """The population stability index over the reference's deciles."""
    edges = np.unique(quantiles(reference, np.arange(1, PSI_BINS) / PSI_BINS))
    ref, cur = _shares(reference, edges), _shares(current, edges)
    ref = np.where(ref == 0, PSI_EPSILON, ref)
    cur = np.where(cur == 0, PSI_EPSILON, cur)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _shares(values: FloatArray, edges: FloatArray) -> FloatArray:
    """Shares of sorted ``values`` in the bins (-inf, e1], (e1, e2], ..., (ek, inf)."""
    cumulative = np.concatenate(([0], np.searchsorted(values, edges, "right"), [len(values)]))
    shares: FloatArray = np.diff(cumulative) / len(values)
    return shares


def quantiles(values: FloatArray, q: FloatArray) -> FloatArray:
    """Quantiles of sorted ``values`` by linear interpolation (numpy's default)."""
    position = q * (len(values) - 1)
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, len(values) - 1)
    found: FloatArray = values[low] + (position - low) * (values[high] - values[low])
    return found


def numeric_histogram(reference: FloatArray, current: FloatArray) -> Histogram:
    tails = np.array([PLOT_TAIL, 1.0 - PLOT_TAIL])
    ref_low, ref_high = quantiles(reference, tails)
    cur_low, cur_high = quantiles(current, tails)
    low, high = float(min(ref_low, cur_low)), float(max(ref_high, cur_high))
    if not high > low:
        low = float(min(reference[0], current[0]))
        high = float(max(reference[-1], current[-1]))
    if not high > low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, PLOT_BINS + 1)
    return Histogram(
        tuple(float(e) for e in edges), (), _counts(reference, edges), _counts(current, edges)
    )


def _counts(values: FloatArray, edges: FloatArray) -> tuple[int, ...]:
    inner = np.searchsorted(values, edges[1:-1], "left")
    cumulative = np.concatenate(([0], inner, [len(values)]))
    return tuple(int(c) for c in np.diff(cumulative))


def mean_std(values: FloatArray) -> tuple[float, float]:
    """Mean and (population) standard deviation, in slices: ``np.std`` would hold a
    temporary copy of the whole column."""
    mean = float(np.mean(values))
    squares = 0.0
    for start in range(0, len(values), _TERMS):
        gaps = values[start : start + _TERMS] - mean
        squares += float(np.sum(gaps * gaps))
    return mean, math.sqrt(squares / len(values))


def _pooled_std(*samples: tuple[int, float, float]) -> float:
    """The standard deviation of samples (size, mean, std) taken together."""
    total = sum(n for n, _, _ in samples)
    mean = sum(n * m for n, m, _ in samples) / total
    variance = sum(n * (s * s + (m - mean) ** 2) for n, m, s in samples) / total
    return math.sqrt(variance)


# --- categorical --------------------------------------------------------------------------


def categorical_stats(reference: Mapping[str, int], current: Mapping[str, int]) -> CategoricalStats:
    """Every categorical statistic of two non-empty count tables (category -> count)."""
    names = sorted(
        set(reference) | set(current), key=lambda k: (-(reference.get(k, 0) + current.get(k, 0)), k)
    )
    ref = np.array([reference.get(k, 0) for k in names], dtype=np.float64)
    cur = np.array([current.get(k, 0) for k in names], dtype=np.float64)
    statistic, pvalue, dof = chi2_homogeneity(ref, cur)
    return CategoricalStats(
        chi2_statistic=statistic,
        chi2_pvalue=pvalue,
        chi2_dof=dof,
        js_distance=js_distance(ref, cur),
        categories_reference=int(np.count_nonzero(ref)),
        categories_current=int(np.count_nonzero(cur)),
        new_categories=int(np.count_nonzero((ref == 0) & (cur > 0))),
        histogram=_top(names, ref, cur),
    )


def chi2_homogeneity(reference: FloatArray, current: FloatArray) -> tuple[float, float, int]:
    """(statistic, p-value, degrees of freedom) of the 2 x k table, without Yates'
    correction; categories that neither sample has are left out."""
    chdtrc = _scipy("special").chdtrc

    seen = (reference + current) > 0
    ref, cur = reference[seen], current[seen]
    if len(ref) < 2:
        return 0.0, 1.0, 0
    column = ref + cur
    total = float(column.sum())
    expected_ref = column * (float(ref.sum()) / total)
    expected_cur = column * (float(cur.sum()) / total)
    statistic = float(
        np.sum((ref - expected_ref) ** 2 / expected_ref + (cur - expected_cur) ** 2 / expected_cur)
    )
    dof = len(ref) - 1
    return statistic, float(chdtrc(dof, statistic)), dof


def js_distance(reference: FloatArray, current: FloatArray) -> float:
    """The Jensen-Shannon distance (base 2) between two count vectors' shares."""
    p = reference / reference.sum()
    q = current / current.sum()
    m = (p + q) / 2.0
    divergence = (_kl(p, m) + _kl(q, m)) / 2.0
    return float(min(1.0, math.sqrt(max(0.0, divergence))))


def _kl(p: FloatArray, m: FloatArray) -> float:
    used = p > 0
    return float(np.sum(p[used] * np.log2(p[used] / m[used])))


def _top(names: list[str], ref: FloatArray, cur: FloatArray) -> Histogram:
    shown = names[:TOP_CATEGORIES]
    ref_counts = [int(c) for c in ref[:TOP_CATEGORIES]]
    cur_counts = [int(c) for c in cur[:TOP_CATEGORIES]]
    if len(names) > TOP_CATEGORIES:
        shown = [*shown, OTHER]
        ref_counts.append(int(ref[TOP_CATEGORIES:].sum()))
        cur_counts.append(int(cur[TOP_CATEGORIES:].sum()))
    return Histogram((), tuple(shown), tuple(ref_counts), tuple(cur_counts))


# --- missing values -----------------------------------------------------------------------


def missing_pvalue(
    missing_reference: int, n_reference: int, missing_current: int, n_current: int
) -> float:
    """One-sided two-proportion z-test: the p-value of "the current data misses no
    more often than the reference"; 1.0 when nothing is missing (or everything is)."""
    ndtr = _scipy("special").ndtr

    if n_reference == 0 or n_current == 0:
        return 1.0
    pooled = (missing_reference + missing_current) / (n_reference + n_current)
    if pooled <= 0.0 or pooled >= 1.0:
        return 1.0
    gap = missing_current / n_current - missing_reference / n_reference
    z = gap / math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_reference + 1.0 / n_current))
    return float(ndtr(-z))


def _scipy(module: str) -> Any:
    """``scipy.<module>``, imported when first needed (scipy has no type stubs)."""
    return importlib.import_module(f"scipy.{module}")
