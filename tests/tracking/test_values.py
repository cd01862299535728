"""How logged values are checked and encoded for storage."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lockstep.errors import InputError
from lockstep.tracking.values import (
    EncodedParam,
    encode_param,
    metric_value,
    number_text,
    step_value,
    tag_value,
)


class Scalar:
    """Stands for a numpy scalar: ``tolist()`` gives the Python value."""

    def __init__(self, value: object) -> None:
        self.value = value

    def tolist(self) -> object:
        return self.value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.1, EncodedParam("0.1", "0.1", 0.1)),
        (3, EncodedParam("3", "3", 3.0)),
        ("0.10", EncodedParam('"0.10"', "0.10", 0.1)),
        (" 1e3 ", EncodedParam('" 1e3 "', " 1e3 ", 1000.0)),
        ("adam", EncodedParam('"adam"', "adam", None)),
        (True, EncodedParam("true", "true", None)),
        (None, EncodedParam("null", "null", None)),
        ([64, 32], EncodedParam("[64, 32]", "[64, 32]", None)),
        (10**400, EncodedParam(str(10**400), str(10**400), None)),
        (math.inf, EncodedParam("Infinity", "Infinity", None)),
        (Scalar(0.5), EncodedParam("0.5", "0.5", 0.5)),
        (Path("data/raw"), EncodedParam('"data/raw"', "data/raw", None)),
    ],
)
def test_params_are_kept_as_json_text_and_number(value: object, expected: EncodedParam) -> None:
    assert encode_param("p", value) == expected


def test_number_text_spells_decimal_numbers_only() -> None:
    assert number_text("0.10") == 0.1
    assert number_text("-.5e1") == -5.0
    for text in ("nan", "inf", "1_000", "0x10", "1e999", "", "1.2.3"):
        assert number_text(text) is None


def test_metric_values_steps_and_tags() -> None:
    assert metric_value("m", "0.5") == 0.5
    assert step_value("m", None) == 0
    assert step_value("m", 7) == 7
    assert tag_value("t", 3) == "3"
    with pytest.raises(InputError, match="not a number"):
        metric_value("m", None)
    with pytest.raises(InputError, match="not an integer"):
        step_value("m", "1")
    with pytest.raises(InputError, match="NUL"):
        tag_value("t", "a\0")
