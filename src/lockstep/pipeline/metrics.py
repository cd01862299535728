"""Metrics files a stage writes (JSON or YAML), read as flat ``dotted.key: number``."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from lockstep.errors import FileFormatError
from lockstep.pipeline.params import flatten

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_file(path: Path, label: str) -> dict[str, float]:
    """The numeric values of one metrics file, keys flattened with dots."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FileFormatError(label, None, f"cannot be read ({exc.strerror})") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=_Loader)
    except (ValueError, yaml.YAMLError) as exc:
        raise FileFormatError(label, None, f"not a JSON or YAML metrics file ({exc})") from exc
    if not isinstance(data, dict):
        raise FileFormatError(label, None, "a metrics file must hold a mapping of names to numbers")
    return numeric(flatten(data))


def numeric(values: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers among ``values`` (named by a non-empty key)."""
    found = {}
    for key, value in values.items():
        if not key or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        try:
            number = float(value)
        except OverflowError:
            continue
        if math.isfinite(number):
            found[key] = number
    return found


def read_all(root: Path, paths: Iterable[str]) -> dict[str, float]:
    """Every metrics file's values; with several files, keys are prefixed ``file:``."""
    paths = list(paths)
    values: dict[str, float] = {}
    for path in paths:
        found = read_file(root / path, path)
        prefix = f"{path}:" if len(paths) > 1 else ""
        values.update((prefix + k, v) for k, v in found.items())
    return values
