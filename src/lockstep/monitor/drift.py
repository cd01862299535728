"""Drift of each feature between a reference table and the current one.

:func:`detect` compares two :class:`~lockstep.monitor.sources.TableSource` feature
by feature and returns a :class:`DriftResult`::

    reference = open_source("data/train.parquet")
    current = open_source("s3://logs/churn/production", since=datetime(2026, 11, 1))
    result = detect(reference, current, exclude=["churned"])
    result.drifted                        # any feature drifted, or one went missing
    [f.reasons for f in result.drifted_features]   # [("PSI 0.41 > 0.2 (KS p 3e-12)",)]

**Which features.** By default the columns both sides have, in the reference's
order, except the inference log's own columns (``timestamp``, ``model``,
``version``, ``request_id``, ``row``, ``prediction``, ``proba_*``) and those in
``exclude`` (a target column). A reference column that the current data lacks is
not compared: it is listed in :attr:`DriftResult.missing_columns`, reported as an
error, and makes the result drifted (an input the model needs stopped arriving).
Features named explicitly must exist on both sides, else :class:`InputError`. A
column that is numeric on one side and categorical on the other is an error too.

**How a feature is judged.** Each feature is read on its own (one column of each
side in memory at a time) and its statistics computed by :mod:`lockstep.monitor.stats`
over the values that are not missing. It drifts when one of the rules of
:mod:`lockstep.monitor.thresholds` fires (an effect size beyond its limit that a
test at ``alpha`` also finds credible for these sample sizes); each rule that
fires adds a reason such as ``PSI 0.41 > 0.2 (KS p 3e-12)``. A side with no values
at all (every row missing) is judged on its missing rate alone.

**Executors.** ``local`` compares two features at a time in threads (reading,
sorting and merging release the GIL; more threads would multiply the memory, and
two keep a run over Parquet near 2 x 8 bytes x (reference rows + current rows)
plus one row group). ``dask`` sends each feature to a Dask cluster as a task that opens
both sources from their locations and reads its own columns there
(:mod:`lockstep.monitor.distributed`); the results are the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lockstep.errors import InputError, NoDataError
from lockstep.monitor.sources import CATEGORICAL, NUMERIC, TableSource
from lockstep.monitor.stats import (
    CategoricalStats,
    Histogram,
    NumericStats,
    categorical_stats,
    ks_critical,
    missing_pvalue,
    numeric_stats,
    sort_values,
)
from lockstep.monitor.thresholds import Limits, Thresholds

OWN_COLUMNS = ("timestamp", "model", "version", "request_id", "row", "prediction")
PROBA_PREFIX = "proba_"
EXECUTORS = ("local", "dask")
LOCAL_THREADS = 2

Statistics = dict[str, float | int | None]


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's comparison. ``n_reference`` and ``n_current`` count rows,
    missing values included; the missing rates are shares of those rows."""

    name: str
    kind: str  # "numeric" | "categorical"
    n_reference: int
    n_current: int
    missing_reference: float
    missing_current: float
    statistics: Statistics
    drifted: bool
    reasons: tuple[str, ...]
    histogram: Histogram | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "missing_reference": self.missing_reference,
            "missing_current": self.missing_current,
            "statistics": {k: _json_number(v) for k, v in self.statistics.items()},
            "drifted": self.drifted,
            "reasons": list(self.reasons),
            "histogram": None if self.histogram is None else self.histogram.to_dict(),
        }


@dataclass(frozen=True)
class SourceSummary:
    location: str
    window: str | None  # "since .. until" in ISO 8601
    rows: int
    files: int

    @classmethod
    def of(cls, source: TableSource) -> SourceSummary:
        return cls(source.location, source.spec.window(), source.rows, len(source.files))

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "window": self.window,
            "rows": self.rows,
            "files": self.files,
        }


@dataclass(frozen=True)
class DriftResult:
    features: list[FeatureDrift]
    reference: SourceSummary
    current: SourceSummary
    thresholds: Thresholds
    missing_columns: list[str] = field(default_factory=list)
    new_columns: list[str] = field(default_factory=list)
    executor: str = "local"

    @property
    def drifted(self) -> bool:
        """Whether any feature drifted or a reference column is missing."""
        return bool(self.missing_columns) or any(f.drifted for f in self.features)

    @property
    def drifted_features(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.drifted]

    @property
    def errors(self) -> list[str]:
        return [
            f"column {name!r} of the reference is not in the current data ({self.current.location})"
            for name in self.missing_columns
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe; keys never clash with a caller's ``model``, ``version``, ``env``,
        ``reference``, ``current``, ``window`` or ``report``."""
        return {
            "drifted": self.drifted,
            "drifted_features": [f.name for f in self.drifted_features],
            "features": [f.to_dict() for f in self.features],
            "missing_columns": list(self.missing_columns),
            "new_columns": list(self.new_columns),
            "errors": self.errors,
            "sources": {"reference": self.reference.to_dict(), "current": self.current.to_dict()},
            "thresholds": self.thresholds.to_dict(),
            "executor": self.executor,
        }


@dataclass(frozen=True)
class Plan:
    """What to compare: (feature, kind) pairs, and the columns left out."""

    features: list[tuple[str, str]]
    missing_columns: list[str]
    new_columns: list[str]


def detect(
    reference: TableSource,
    current: TableSource,
    *,
    features: list[str] | None = None,
    exclude: Sequence[str] = (),
    thresholds: Thresholds | None = None,
    executor: str = "local",
    dask_address: str | None = None,
) -> DriftResult:
    """Compare ``current`` with ``reference`` feature by feature (module docstring)."""
    if executor not in EXECUTORS:
        raise InputError(f"executor {executor!r}: use {' or '.join(EXECUTORS)}")
    limits = thresholds or Thresholds()
    for source in (reference, current):
        if source.rows == 0:
            raise NoDataError(f"{source.describe()} has no rows to compare")
    plan = make_plan(reference, current, features, exclude)
    if executor == "dask":
        from lockstep.monitor.distributed import compare_on_dask

        found = compare_on_dask(reference, current, plan.features, limits, dask_address)
    else:
        found = compare_local(reference, current, plan.features, limits)
    return DriftResult(
        found,
        SourceSummary.of(reference),
        SourceSummary.of(current),
        limits,
        plan.missing_columns,
        plan.new_columns,
        executor,
    )


def make_plan(
    reference: TableSource,
    current: TableSource,
    features: list[str] | None,
    exclude: Sequence[str] = (),
) -> Plan:
    ref, cur = reference.schema(), current.schema()
    left_out = set(exclude)
    if features is not None:
        chosen = [n for n in dict.fromkeys(features) if n not in left_out]
        for name in chosen:
            _require(name, ref, "reference", reference)
        names = [n for n in chosen if n in cur]
        missing = [n for n in chosen if n not in cur]
    else:
        wanted = [n for n in ref if n not in left_out and not is_own_column(n)]
        names = [n for n in wanted if n in cur]
        missing = [n for n in wanted if n not in cur]
    if not names and not missing:
        raise InputError(
            f"no columns to compare: {reference.describe()} and {current.describe()} "
            "share no features"
        )
    new = [n for n in cur if n not in ref and n not in left_out and not is_own_column(n)]
    for name in names:
        if ref[name] != cur[name]:
            raise InputError(
                f"column {name!r} is {ref[name]} in the reference ({reference.describe()}) "
                f"but {cur[name]} in the current data ({current.describe()})"
            )
    return Plan([(n, ref[n]) for n in names], missing, new)


def is_own_column(name: str) -> bool:
    """A column the inference log adds beside the model's inputs."""
    return name in OWN_COLUMNS or name.startswith(PROBA_PREFIX)


def _require(name: str, schema: dict[str, str], side: str, source: TableSource) -> None:
    if name not in schema:
        raise InputError(f"feature {name!r} is not in the {side} data ({source.describe()})")


def compare_local(
    reference: TableSource,
    current: TableSource,
    features: list[tuple[str, str]],
    thresholds: Thresholds,
) -> list[FeatureDrift]:
    def one(item: tuple[str, str]) -> FeatureDrift:
        name, kind = item
        return compare_feature(reference, current, name, kind, thresholds.for_feature(name))

    if len(features) < 2:
        return [one(item) for item in features]
    with ThreadPoolExecutor(LOCAL_THREADS, thread_name_prefix="lockstep-drift") as pool:
        return list(pool.map(one, features))


def compare_feature(
    reference: TableSource, current: TableSource, name: str, kind: str, limits: Limits
) -> FeatureDrift:
    """Read one feature from both sides, compute its statistics and judge it."""
    if kind == NUMERIC:
        return _numeric(reference, current, name, limits)
    return _categorical(reference, current, name, limits)


def _numeric(
    reference: TableSource, current: TableSource, name: str, limits: Limits
) -> FeatureDrift:
    ref_values, ref_missing = sort_values(reference.numeric(name))
    cur_values, cur_missing = sort_values(current.numeric(name))
    missing = _Missing(ref_missing, reference.rows, cur_missing, current.rows)
    if not len(ref_values) or not len(cur_values):
        return missing.feature(name, NUMERIC, _Found(), limits)
    stats = numeric_stats(ref_values, cur_values)
    critical = ks_critical(limits.alpha, len(ref_values), len(cur_values))
    reasons = numeric_reasons(stats, critical, limits)
    found = _Found(_numeric_statistics(stats, critical), tuple(reasons), stats.histogram)
    return missing.feature(name, NUMERIC, found, limits)


def _categorical(
    reference: TableSource, current: TableSource, name: str, limits: Limits
) -> FeatureDrift:
    ref_counts, ref_missing = reference.value_counts(name)
    cur_counts, cur_missing = current.value_counts(name)
    missing = _Missing(ref_missing, reference.rows, cur_missing, current.rows)
    if not ref_counts or not cur_counts:
        return missing.feature(name, CATEGORICAL, _Found(), limits)
    stats = categorical_stats(ref_counts, cur_counts)
    reasons = categorical_reasons(stats, limits)
    found = _Found(_categorical_statistics(stats), tuple(reasons), stats.histogram)
    return missing.feature(name, CATEGORICAL, found, limits)


@dataclass(frozen=True)
class _Found:
    """What the statistics found about a feature, before its missing values."""

    statistics: Statistics = field(default_factory=dict)
    reasons: tuple[str, ...] = ()
    histogram: Histogram | None = None


@dataclass(frozen=True)
class _Missing:
    reference: int
    n_reference: int
    current: int
    n_current: int

    def feature(self, name: str, kind: str, found: _Found, limits: Limits) -> FeatureDrift:
        rate_ref = self.reference / self.n_reference
        rate_cur = self.current / self.n_current
        pvalue = missing_pvalue(self.reference, self.n_reference, self.current, self.n_current)
        extra = missing_reason(rate_ref, rate_cur, pvalue, limits)
        reasons = found.reasons + ((extra,) if extra else ())
        return FeatureDrift(
            name=name,
            kind=kind,
            n_reference=self.n_reference,
            n_current=self.n_current,
            missing_reference=rate_ref,
            missing_current=rate_cur,
            statistics={**found.statistics, "missing_pvalue": pvalue},
            drifted=bool(reasons),
            reasons=reasons,
            histogram=found.histogram,
        )


def _numeric_statistics(found: NumericStats, critical: float) -> Statistics:
    return {
        "ks_statistic": found.ks_statistic,
        "ks_pvalue": found.ks_pvalue,
        "ks_critical": critical,
        "psi": found.psi,
        "wasserstein": found.wasserstein,
        "wasserstein_normalised": found.wasserstein_normalised,
        "mean_reference": found.mean_reference,
        "mean_current": found.mean_current,
        "std_reference": found.std_reference,
        "std_current": found.std_current,
    }


def _categorical_statistics(found: CategoricalStats) -> Statistics:
    return {
        "chi2_statistic": found.chi2_statistic,
        "chi2_pvalue": found.chi2_pvalue,
        "chi2_dof": found.chi2_dof,
        "js_distance": found.js_distance,
        "categories_reference": found.categories_reference,
        "categories_current": found.categories_current,
        "new_categories": found.new_categories,
    }


# --- verdicts -----------------------------------------------------------------------------


def numeric_reasons(found: NumericStats, critical: float, limits: Limits) -> list[str]:
    """The rules that fire, as human strings (empty: no drift)."""
    credible = found.ks_pvalue < limits.alpha
    p = f"KS p {format_pvalue(found.ks_pvalue)}"
    reasons = []
    if credible and found.psi > limits.psi:
        reasons.append(f"PSI {found.psi:.2f} > {limits.psi:g} ({p})")
    bar = max(limits.ks, critical)
    if found.ks_statistic > bar:
        reasons.append(f"KS D {found.ks_statistic:.3f} > {bar:.3g} ({p})")
    if credible and found.wasserstein_normalised > limits.wasserstein:
        shift = found.wasserstein_normalised
        reasons.append(f"Wasserstein {shift:.2f} std > {limits.wasserstein:g} ({p})")
    return reasons


def categorical_reasons(found: CategoricalStats, limits: Limits) -> list[str]:
    if found.chi2_pvalue < limits.alpha and found.js_distance > limits.js:
        p = format_pvalue(found.chi2_pvalue)
        return [f"JS distance {found.js_distance:.3f} > {limits.js:g} (chi2 p {p})"]
    return []


def missing_reason(reference: float, current: float, pvalue: float, limits: Limits) -> str | None:
    rise = current - reference
    if rise > limits.missing and pvalue < limits.alpha:
        return (
            f"missing {reference:.1%} -> {current:.1%} "
            f"(+{rise:.1%} > {limits.missing:.1%}, p {format_pvalue(pvalue)})"
        )
    return None


def format_pvalue(value: float) -> str:
    return "< 1e-300" if value < 1e-300 else f"{value:.2g}"


def _json_number(value: float | int | None) -> float | int | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
