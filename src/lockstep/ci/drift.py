"""The drift summary of a report, read from what ``lockstep monitor drift --json`` prints::

    {"drifted": true,
     "features": [{"name": "tenure", "kind": "numeric", "drifted": true,
                   "reasons": ["psi 0.31 > 0.2"], "statistics": {"psi": 0.31}}]}

Reading is lenient, because the file may come from another lockstep version: a missing
field is unknown rather than an error; ``features`` may also be a mapping of name to
feature; a feature may say ``feature``/``column`` for its name, ``type`` for its kind,
``stats`` for its statistics, or carry its numbers at the top; ``reasons`` may be one
string; the overall verdict defaults to "any feature drifted, or a reference column
is missing" (``missing_columns``). Only a file that is not
JSON, or holds no mapping or list at all, is refused (exit 2, naming the file).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockstep.errors import FileFormatError, PathError

_NAME_KEYS = ("name", "feature", "column")
_KIND_KEYS = ("kind", "type", "dtype")
_FLAG_KEYS = ("drifted", "drift", "is_drifted")
_KNOWN = {*_NAME_KEYS, *_KIND_KEYS, *_FLAG_KEYS, "reasons", "reason", "statistics", "stats"}


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str | None = None
    drifted: bool | None = None
    reasons: tuple[str, ...] = ()
    statistics: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "drifted": self.drifted,
            "reasons": list(self.reasons),
            "statistics": dict(self.statistics),
        }


@dataclass(frozen=True)
class DriftSummary:
    source: str
    drifted: bool | None
    features: tuple[Feature, ...] = ()
    model: str | None = None
    env: str | None = None
    missing_columns: tuple[str, ...] = ()  # reference columns the current data lacks

    @property
    def drifted_features(self) -> list[Feature]:
        return [f for f in self.features if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "drifted": self.drifted,
            "model": self.model,
            "env": self.env,
            "missing_columns": list(self.missing_columns),
            "features": [f.to_dict() for f in self.features],
        }


def load(path: Path, label: str | None = None) -> DriftSummary:
    """The summary in ``path``; ``label`` names it in messages (default: the path)."""
    source = label or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PathError(source, "does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PathError(source, f"cannot be read ({exc})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(source, None, f"not JSON ({exc})") from exc
    return parse(data, source)


def parse(data: Any, source: str) -> DriftSummary:
    if isinstance(data, list):
        data = {"features": data}
    if not isinstance(data, dict):
        raise FileFormatError(source, None, "expected the JSON of 'lockstep monitor drift'")
    features = tuple(_features(data.get("features")))
    missing = _reasons(data.get("missing_columns"))
    drifted = _flag(data, ("drifted", "drift"))
    if drifted is None and (missing or any(f.drifted is not None for f in features)):
        drifted = bool(missing) or any(f.drifted for f in features)
    return DriftSummary(
        source=source,
        drifted=drifted,
        features=features,
        model=_text(data.get("model")),
        env=_text(data.get("env") or data.get("environment")),
        missing_columns=missing,
    )


def _features(given: Any) -> list[Feature]:
    if isinstance(given, dict):
        items = [
            {"name": name, **body} if isinstance(body, dict) else {"name": name}
            for name, body in given.items()
        ]
    elif isinstance(given, list):
        items = [item for item in given if isinstance(item, dict)]
    else:
        return []
    return [_feature(item, i) for i, item in enumerate(items)]


def _feature(item: Mapping[str, Any], index: int) -> Feature:
    name = next((str(item[k]) for k in _NAME_KEYS if item.get(k) is not None), None)
    kind = next((str(item[k]) for k in _KIND_KEYS if item.get(k) is not None), None)
    return Feature(
        name=name or f"feature {index + 1}",
        kind=kind,
        drifted=_flag(item, _FLAG_KEYS),
        reasons=_reasons(item.get("reasons", item.get("reason"))),
        statistics=_statistics(item),
    )


def _flag(item: Mapping[str, Any], keys: tuple[str, ...]) -> bool | None:
    for key in keys:
        value = item.get(key)
        if isinstance(value, bool):
            return value
    return None


def _reasons(given: Any) -> tuple[str, ...]:
    if isinstance(given, str):
        return (given,) if given else ()
    if isinstance(given, list):
        return tuple(str(r) for r in given if r is not None and str(r))
    return ()


def _statistics(item: Mapping[str, Any]) -> dict[str, Any]:
    given = item.get("statistics", item.get("stats"))
    if isinstance(given, dict):
        return {str(k): v for k, v in given.items() if _scalar(v)}
    return {k: v for k, v in item.items() if k not in _KNOWN and _number(v)}


def _scalar(value: Any) -> bool:
    return isinstance(value, str | bool) or _number(value) or value is None


def _number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return not isinstance(value, float) or math.isfinite(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
