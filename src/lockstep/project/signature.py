"""The input signature a registration records: the columns a model takes and their
types, so a server can refuse a request that does not fit before the model sees it.

From ``models.NAME.inputs`` when declared; else from the first table of the training
data (``models.NAME.data``, else the data the producing stage read), without the
``models.NAME.target`` column. The server reconciles it with what the model says of
itself (feature names, feature count)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockstep.errors import LockstepError
from lockstep.registry.spec import ModelSpec

if TYPE_CHECKING:
    import pandas as pd


def input_signature(
    root: Path, spec: ModelSpec | None, training: Iterable[str]
) -> dict[str, Any] | None:
    """``{"inputs": [{name, type}...], "source": ..., "target": ...}``, or None when
    neither lockstep.yaml nor readable training data tells."""
    if spec is not None and spec.inputs:
        return {"inputs": [dict(c) for c in spec.inputs], "source": "lockstep.yaml"}
    paths = list(spec.data) if spec is not None and spec.data else list(training)
    target = spec.target if spec is not None else None
    for path in paths:
        found = _from_table(root, path, target)
        if found is not None:
            return found
    return None


def _from_table(root: Path, path: str, target: str | None) -> dict[str, Any] | None:
    from lockstep.datacheck.tables import files_under, read_one

    try:
        name, absolute = files_under(root / path)[0]
        frame = read_one(name, absolute)
    except (LockstepError, OSError):
        return None  # not a table, or not in the workspace: nothing to learn here
    columns = [
        {"name": str(column), "type": column_type(frame[column])}
        for column in frame.columns
        if str(column) != target
    ]
    if not columns:
        return None
    source = Path(name).relative_to(root).as_posix() if Path(name).is_absolute() else path
    return {"inputs": columns, "source": source, "target": target}


def column_type(values: pd.Series) -> str:
    """The MLflow column type of a pandas column."""
    from pandas.api import types

    if types.is_bool_dtype(values.dtype):
        return "boolean"
    if types.is_integer_dtype(values.dtype):
        return "long"
    if types.is_float_dtype(values.dtype):
        return "double"
    return "string"
