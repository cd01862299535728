"""The limits a feature's drift is judged by, with their defaults and why.

A feature drifts when an effect is large enough to matter *and* too large to be
chance for these sample sizes. Effect sizes alone flag noise in small samples
(30 rows move PSI and the Jensen-Shannon distance a lot); tests alone flag
everything in large ones (a million rows make a 0.01 shift "significant"). So each
rule pairs an effect-size floor with a test:

================  =======  ==============================================================
setting           default  rule
================  =======  ==============================================================
``alpha``         0.001    the significance level of every test below
``ks``            0.1      numeric: KS D above ``max(ks, D's critical value at alpha)``
``psi``           0.2      numeric: PSI above it, and the KS p-value below ``alpha``
``wasserstein``   0.1      numeric: Wasserstein-1 in reference standard deviations above
                           it, and the KS p-value below ``alpha``
``js``            0.1      categorical: Jensen-Shannon distance (base 2) above it, and
                           the chi-squared p-value below ``alpha``
``missing``       0.05     both: the missing rate up by more than this (absolute), and
                           the one-sided two-proportion test's p-value below ``alpha``
================  =======  ==============================================================

Why these values:

- ``alpha`` 0.001 rather than the customary 0.05 or 0.01: a run tests every feature,
  and a false alarm can start a retraining. At 0.001, 20 features of unchanged data
  raise a false alarm in fewer than 2% of runs; at 0.01 it would be about 1 in 6.
  Real drift is rarely near the edge: a shift of half a standard deviation over
  5,000 rows has a KS p-value near 1e-80.
- ``ks`` 0.1: the KS D between two normal distributions whose means differ by a
  quarter of a standard deviation. Below that, a million rows still yield
  "significant" D values that no model would notice.
- ``psi`` 0.2: the usual line between "some change" (0.1 to 0.2) and "a
  significant shift" in credit-risk practice, where PSI comes from.
- ``wasserstein`` 0.1: the mass moved by a tenth of a reference standard
  deviation on average; the default of Evidently's normed Wasserstein test. It is
  the rule that notices a change of spread that leaves the median in place.
- ``js`` 0.1: a change of about 10 points in the share of one category of three
  (20% to 30%, the other two 40% to 35%); the Jensen-Shannon threshold Evidently
  uses by default.
- ``missing`` 0.05: five more rows in a hundred without a value, the size of an
  upstream field going missing for part of the traffic, well above day-to-day noise.

:class:`Thresholds` holds the defaults and per-feature overrides;
:meth:`Thresholds.from_mapping` reads them from ``lockstep.yaml``::

    monitor:
      alpha: 0.001
      psi: 0.25
      features:
        mean radius: {psi: 0.3}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from lockstep.errors import ConfigError

CONFIG_FILE = "lockstep.yaml"
FEATURES_KEY = "features"


@dataclass(frozen=True)
class Limits:
    """The limits one feature is judged by (see the module docstring)."""

    alpha: float = 0.001
    ks: float = 0.1
    psi: float = 0.2
    wasserstein: float = 0.1
    js: float = 0.1
    missing: float = 0.05

    def to_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}


LIMIT_NAMES = tuple(f.name for f in fields(Limits))


def _open_unit(value: float) -> bool:
    return 0.0 < value < 1.0


def _unit(value: float) -> bool:
    return 0.0 <= value <= 1.0


def _non_negative(value: float) -> bool:
    return value >= 0.0


_CHECKS: dict[str, tuple[Callable[[float], bool], str]] = {
    "alpha": (_open_unit, "a number between 0 and 1 (exclusive)"),
    "ks": (_unit, "a number from 0 to 1"),
    "psi": (_non_negative, "a number >= 0"),
    "wasserstein": (_non_negative, "a number >= 0"),
    "js": (_unit, "a number from 0 to 1"),
    "missing": (_unit, "a number from 0 to 1"),
}


@dataclass(frozen=True)
class Thresholds:
    """Default limits, and the limits of the features that override some of them."""

    defaults: Limits = field(default_factory=Limits)
    features: Mapping[str, Limits] = field(default_factory=dict)

    def for_feature(self, name: str) -> Limits:
        return self.features.get(name, self.defaults)

    def to_dict(self) -> dict[str, Any]:
        return {
            "defaults": self.defaults.to_dict(),
            FEATURES_KEY: {name: limits.to_dict() for name, limits in self.features.items()},
        }

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str) -> Thresholds:
        """Parse ``{alpha: ..., psi: ..., features: {NAME: {psi: ...}}}``.

        Raises :class:`ConfigError` naming ``lockstep.yaml`` and ``where.<field>`` for
        an unknown key or a value out of range.
        """
        if data is None:
            return cls()
        _require_mapping(data, where)
        defaults = replace(Limits(), **_limits(data, where, allow_features=True))
        overrides = data.get(FEATURES_KEY)
        if overrides is None:
            return cls(defaults)
        _require_mapping(overrides, f"{where}.{FEATURES_KEY}")
        features = {}
        for name, body in overrides.items():
            here = f"{where}.{FEATURES_KEY}.{name}"
            _require_mapping(body, here)
            features[str(name)] = replace(defaults, **_limits(body, here, allow_features=False))
        return cls(defaults, features)


def _require_mapping(value: object, where: str) -> None:
    if not isinstance(value, Mapping):
        problem = f"must be a mapping of thresholds ({', '.join(LIMIT_NAMES)}), not {value!r}"
        raise ConfigError(CONFIG_FILE, where, problem)


def _limits(data: Mapping[str, Any], where: str, *, allow_features: bool) -> dict[str, float]:
    found = {}
    for key, value in data.items():
        if key == FEATURES_KEY and allow_features:
            continue
        if key not in _CHECKS:
            known = [*LIMIT_NAMES, FEATURES_KEY] if allow_features else list(LIMIT_NAMES)
            problem = f"unknown setting (known: {', '.join(known)})"
            raise ConfigError(CONFIG_FILE, f"{where}.{key}", problem)
        found[str(key)] = _number(key, value, f"{where}.{key}")
    return found


def _number(key: str, value: object, where: str) -> float:
    check, expected = _CHECKS[key]
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if number is None or not math.isfinite(number) or not check(float(number)):
        raise ConfigError(CONFIG_FILE, where, f"must be {expected}, not {value!r}")
    return float(number)
