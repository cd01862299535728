"""Checking and encoding what runs log: keys, parameter values, metric values, tags.

A parameter is stored three ways: its JSON (read back exactly), its text (the
string itself for strings, the JSON otherwise; what ``like`` and text compares
see) and its number (for numbers and numeric strings, so ``params.lr = 0.1``
matches both ``0.1`` and ``"0.10"``).
"""

from __future__ import annotations

import json
import math
import operator
import re
from dataclasses import dataclass
from typing import Any

from lockstep.errors import InputError

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True, slots=True)
class EncodedParam:
    json: str
    text: str
    number: float | None


def check_key(key: object, what: str) -> str:
    if not isinstance(key, str) or not key:
        raise InputError(f"a {what} name must be a non-empty string, not {key!r}")
    return check_text(key, f"{what} name")


def check_text(value: str, what: str) -> str:
    """``value``, if a database can store it: no NUL, valid Unicode (no lone surrogates)."""
    if "\x00" in value:
        raise InputError(f"{what} {value!r} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"{what} {value!r} is not valid Unicode ({exc.reason})") from exc
    return value


def metric_value(key: str, value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InputError(f"metric {key!r}: {value!r} is not a number") from exc


def step_value(key: str, step: object) -> int:
    if step is None:
        return 0
    try:
        return operator.index(step)  # type: ignore[arg-type]
    except TypeError as exc:
        raise InputError(f"metric {key!r}: step {step!r} is not an integer") from exc


def tag_value(key: str, value: object) -> str:
    return check_text(value if isinstance(value, str) else str(value), f"tag {key!r} value")


def encode_param(key: str, value: object) -> EncodedParam:
    try:
        text_json = json.dumps(value, default=_plain, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InputError(f"param {key!r}: {value!r} cannot be stored as JSON") from exc
    plain = json.loads(text_json)
    text = plain if isinstance(plain, str) else text_json
    return EncodedParam(text_json, check_text(text, f"param {key!r} value"), _number(plain))


def decode_param(text: str) -> Any:
    return json.loads(text)


def number_text(text: str) -> float | None:
    """The number a string spells, or None (``"0.10"`` gives 0.1; ``"1e999"`` gives None)."""
    if _NUMBER.fullmatch(text) is None:
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return number_text(value.strip())
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            return None
        return number if math.isfinite(number) else None
    return None


def _plain(value: object) -> Any:
    """numpy scalars and arrays, and other foreign values: their Python value, else their text."""
    convert = getattr(value, "tolist", None)
    if callable(convert):
        return convert()
    return str(value)
