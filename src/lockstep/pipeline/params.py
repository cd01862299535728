"""``params.yaml``: the values stages declare with ``params:`` (dotted keys)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from lockstep.errors import FileFormatError

FILE = "params.yaml"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(root: Path) -> dict[str, Any]:
    """The whole params file (empty when there is none)."""
    path = root / FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise FileFormatError(FILE, None, f"cannot be read ({exc.strerror})") from exc
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise FileFormatError(FILE, None, f"not valid YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FileFormatError(FILE, None, "must be a mapping of parameters")
    return data


def lookup(params: Mapping[str, Any], key: str) -> Any:
    """The value at dotted ``key``; a KeyError names the first missing part."""
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


def select(params: Mapping[str, Any], keys: Iterable[str], stage: str) -> dict[str, Any]:
    """The values of ``keys`` for ``stage``; a missing key is an error naming both."""
    chosen = {}
    for key in keys:
        try:
            chosen[key] = plain(lookup(params, key))
        except KeyError:
            raise FileFormatError(
                FILE, key, f"missing, but stage {stage} lists it under params"
            ) from None
    return chosen


def plain(value: Any) -> Any:
    """A value as JSON can hold it: dates and other YAML scalars become strings."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys: {"train": {"lr": 0.1}} -> {"train.lr": 0.1}."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat
