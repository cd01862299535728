"""A pickled model whose predict returns what a hand-written model might: bytes, numpy
scalars or decimals in an object array, dates, huge unsigned integers, several outputs
a row, or one value for the whole batch. Importable by the server as
``tests.serving.odd_model``."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import numpy as np


def _outputs(rows: int) -> dict[str, Any]:
    return {
        "bytes": np.array([b"yes", "no\u00e9".encode()] * rows, dtype=object)[:rows],
        "float32_objects": np.array([np.float32(1.5)] * rows, dtype=object),
        "int_objects": np.array([np.int64(3)] * rows, dtype=object),
        "decimals": np.array([decimal.Decimal("2.5")] * rows, dtype=object),
        "datetimes": np.array([datetime.datetime(2024, 5, 1, 12, 30)] * rows, dtype=object),
        "datetime64": np.full(rows, np.datetime64("2024-05-01T12:30:00", "ns")),
        "uint64": np.full(rows, 2**64 - 1, dtype=np.uint64),
        "complex": np.full(rows, 1 + 2j),
        "multi": np.arange(rows * 3, dtype=np.float64).reshape(rows, 3),
        "lone_surrogate": np.array(["\ud800"] * rows, dtype=object),
    }


class OddModel:
    n_features_in_ = 2

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def predict(self, data: Any) -> Any:
        if self.kind == "scalar":
            return np.float64(1.0)
        return _outputs(len(data))[self.kind]


KINDS = [*_outputs(1), "scalar"]
