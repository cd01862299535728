"""Open Inference Protocol (v2 REST) infer requests and responses.

A request's ``inputs`` come in one of two styles: one tensor per column, named by the
column (shape ``[N]`` or ``[N, 1]``), or a single 2-D tensor ``[N, F]`` of any name
whose columns are the signature's in order. ``data`` is flat (row-major) or nested and
must hold ``prod(shape)`` values of its ``datatype``. Numeric datatypes feed numeric
columns, ``BYTES`` feeds string columns.

The binary tensor data extension (KServe/Triton) is supported both ways: a request with
an ``Inference-Header-Content-Length`` header carries the JSON header first and then
the raw bytes of every input whose ``parameters.binary_data_size`` is set (fixed-size
types little-endian, ``BYTES`` as 4-byte length-prefixed elements). The reply is JSON
unless an output asks ``parameters.binary_data: true`` (or the request sets
``parameters.binary_data_output: true``, as tritonclient does when it names no
outputs); then those outputs' bytes follow the JSON header the same way.

The outputs are ``predict`` (``[N]``) and ``predict_proba`` (``[N, C]``, FP64) when
the model has it, chosen by the request's ``outputs`` or its ``predict_proba: true``
parameter; ``predict`` alone by default. JSON has no NaN or infinity: such values are
``null`` in JSON data (tritonclient reads them back as NaN), exact in binary data.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np

from lockstep.serving.tables import (
    Array,
    InputBuilder,
    ModelInput,
    RequestError,
    as_text,
    finite_or_none,
    shown,
)

DATATYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}
OUTPUTS = ("predict", "predict_proba")
_KINDS = {"BOOL": "b", "BYTES": "UO", "FP16": "iuf", "FP32": "iuf", "FP64": "iuf"}
_LENGTH = struct.Struct("<I")
_INT64_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: list[int]
    datatype: str
    values: Array  # flat


@dataclass(frozen=True)
class OipRequest:
    input: ModelInput
    request_id: str | None
    outputs: tuple[str, ...]
    binary: frozenset[str]


def decode(
    body: bytes, header_length: int | None, builder: InputBuilder, has_proba: bool
) -> OipRequest:
    """An infer request body checked against the signature; RequestError if not."""
    header, blobs = _split(body, header_length)
    doc = _json_object(header)
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise RequestError(400, "'inputs' must be a non-empty list of tensors")
    reader = _Blobs(blobs)
    tensors = [_tensor(i, item, reader) for i, item in enumerate(inputs)]
    reader.finish()
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise RequestError(400, "'id' must be a string")
    outputs, binary = _outputs(doc, has_proba)
    return OipRequest(_model_input(tensors, builder), request_id, outputs, binary)


def _split(body: bytes, header_length: int | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    if not 0 < header_length <= len(body):
        raise RequestError(
            400,
            f"Inference-Header-Content-Length {header_length} does not fit a body "
            f"of {len(body)} bytes",
        )
    return body[:header_length], body[header_length:]


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise RequestError(400, f"the body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise RequestError(400, "the body must be a JSON object")
    return doc


def _shape(value: object, where: str) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value
    ):
        raise RequestError(400, f"{where}: 'shape' must be a list of non-negative integers")
    return value


def _tensor(index: int, item: object, blobs: _Blobs) -> Tensor:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise RequestError(400, f"inputs[{index}] must be an object with a string 'name'")
    where = f"input {item['name']!r}"
    shape = _shape(item.get("shape"), where)
    datatype = item.get("datatype")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise RequestError(
            400,
            f"{where}: 'datatype' must be one of {', '.join(DATATYPES)}, got {shown(datatype)}",
        )
    parameters = item.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise RequestError(400, f"{where}: 'parameters' must be an object")
    size = parameters.get("binary_data_size")
    count = prod(shape)
    if size is not None:
        values = blobs.take(size, datatype, count, where)
    elif "data" in item:
        values = _json_values(item["data"], datatype, count, where)
    else:
        raise RequestError(400, f"{where}: no 'data' and no binary_data_size")
    return Tensor(item["name"], shape, datatype, values)


def _json_values(data: object, datatype: str, count: int, where: str) -> Array:
    if not isinstance(data, list):
        raise RequestError(400, f"{where}: 'data' must be a list")
    try:
        array = np.asarray(data)
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise RequestError(422, f"{where}: 'data' is ragged or holds non-scalars") from exc
    if array.size != count:
        raise RequestError(422, f"{where}: shape needs {count} values, 'data' holds {array.size}")
    array = array.reshape(-1)
    kinds = _KINDS.get(datatype, "iu")
    if array.dtype.kind not in kinds and not (array.dtype.kind == "O" and "f" in kinds):
        bad = _first_mismatch(array, datatype)
        raise RequestError(422, f"{where}: {datatype} data holds {shown(bad)}")
    if array.size and _out_of_range(array, datatype):
        raise RequestError(422, f"{where}: a value is out of range for {datatype}")
    return array


def _out_of_range(array: Array, datatype: str) -> bool:
    """Whether a value does not fit the datatype: an integer outside its type, a finite
    number past FP16's or FP32's largest (it would be an infinity)."""
    if array.dtype.kind not in "iuf":
        return False
    if datatype in ("FP16", "FP32"):
        with np.errstate(invalid="ignore"):
            top = np.abs(array[np.isfinite(array)]).max(initial=0)
        return bool(top > np.finfo(DATATYPES[datatype]).max)
    if datatype.startswith(("INT", "UINT")):
        info = np.iinfo(DATATYPES[datatype])
        return bool(array.min() < info.min or array.max() > info.max)
    return False


def _first_mismatch(array: Array, datatype: str) -> object:
    if array.dtype.kind == "f":
        fractional = array[np.floor(array) != array]
        return (fractional if len(fractional) else array)[0].item()
    for value in array.tolist():
        if datatype == "BYTES" and not isinstance(value, str):
            return value
        if datatype == "BOOL" and not isinstance(value, bool):
            return value
        if datatype.startswith(("INT", "UINT")) and (
            isinstance(value, bool) or not isinstance(value, int)
        ):
            return value
        if datatype.startswith("FP") and (
            isinstance(value, bool) or not isinstance(value, (int, float))
        ):
            return value
    return array[0]


class _Blobs:
    """The binary part of a request, handed out tensor by tensor in order."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.offset = 0

    def take(self, size: object, datatype: str, count: int, where: str) -> Array:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise RequestError(400, f"{where}: binary_data_size must be a non-negative integer")
        end = self.offset + size
        if end > len(self.data):
            raise RequestError(400, f"{where}: the body ends before its {size} binary bytes")
        chunk = self.data[self.offset : end]
        self.offset = end
        if datatype == "BYTES":
            return _bytes_elements(chunk, count, where)
        dtype = np.dtype(DATATYPES[datatype]).newbyteorder("<")
        if size != count * dtype.itemsize:
            raise RequestError(
                422,
                f"{where}: shape needs {count} {datatype} values ({count * dtype.itemsize} "
                f"bytes), binary_data_size is {size}",
            )
        return np.frombuffer(chunk, dtype=dtype)

    def finish(self) -> None:
        extra = len(self.data) - self.offset
        if extra:
            raise RequestError(400, f"{extra} bytes of binary data belong to no input")


def _bytes_elements(chunk: memoryview, count: int, where: str) -> Array:
    if count * 4 > len(chunk):
        raise RequestError(422, f"{where}: binary BYTES data holds fewer than {count} values")
    out = np.empty(count, dtype=object)
    offset = 0
    for i in range(count):
        if offset + 4 > len(chunk):
            raise RequestError(422, f"{where}: binary BYTES data holds fewer than {count} values")
        (length,) = _LENGTH.unpack_from(chunk, offset)
        offset += 4
        if offset + length > len(chunk):
            raise RequestError(422, f"{where}: binary BYTES element {i} runs past its data")
        try:
            out[i] = bytes(chunk[offset : offset + length]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RequestError(422, f"{where}: BYTES element {i} is not UTF-8") from exc
        offset += length
    if offset != len(chunk):
        raise RequestError(422, f"{where}: binary BYTES data holds more than {count} values")
    return out


def _model_input(tensors: list[Tensor], builder: InputBuilder) -> ModelInput:
    if len(tensors) == 1 and tensors[0].name not in builder.index:
        return _matrix_input(tensors[0], builder)
    names = [t.name for t in tensors]
    for name in names:
        if names.count(name) > 1:
            raise RequestError(400, f"input {name!r} is given twice")
    builder.check_names(names, "inputs")
    columns: dict[str, Array] = {}
    for tensor in tensors:
        where = f"input {tensor.name!r}"
        shape = tensor.shape
        if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
            raise RequestError(422, f"{where} has shape {shape}; a column tensor is [N] or [N, 1]")
        column = builder.columns[builder.index[tensor.name]]
        if (column.type == "string") != (tensor.datatype == "BYTES"):
            need = "BYTES" if column.type == "string" else "a numeric datatype"
            raise RequestError(
                422,
                f"{where} is {tensor.datatype}; column {column.name!r} "
                f"({column.type}) needs {need}",
            )
        columns[tensor.name] = tensor.values
    return builder.from_columns(columns)


def _matrix_input(tensor: Tensor, builder: InputBuilder) -> ModelInput:
    where = f"input {tensor.name!r}"
    if len(tensor.shape) != 2:
        raise RequestError(
            422,
            f"{where} is not a column of the model ({', '.join(builder.names)}) "
            f"and its shape {tensor.shape} is not [N, {builder.width}]",
        )
    types = {c.type == "string" for c in builder.columns}
    if types != {tensor.datatype == "BYTES"}:
        raise RequestError(
            422,
            f"{where} is {tensor.datatype}, which does not fit every column; "
            "send one tensor per column",
        )
    return builder.from_matrix(tensor.values.reshape(tensor.shape), where)


def _outputs(doc: dict[str, Any], has_proba: bool) -> tuple[tuple[str, ...], frozenset[str]]:
    parameters = doc.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise RequestError(400, "'parameters' must be an object")
    every = parameters.get("binary_data_output") is True
    requested = doc.get("outputs")
    if not requested:
        names = (
            ["predict", "predict_proba"] if parameters.get("predict_proba") is True else ["predict"]
        )
        binary = set(names) if every else set()
    else:
        names, binary = _requested(requested, every)
    if "predict_proba" in names and not has_proba:
        raise RequestError(400, "output 'predict_proba' is not available: the model has none")
    return tuple(names), frozenset(binary)


def _requested(requested: object, every: bool) -> tuple[list[str], set[str]]:
    if not isinstance(requested, list):
        raise RequestError(400, "'outputs' must be a list of {name: ...} objects")
    names: list[str] = []
    binary: set[str] = set()
    for i, item in enumerate(requested):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise RequestError(400, f"outputs[{i}] must be an object with a string 'name'")
        name = item["name"]
        if name not in OUTPUTS:
            raise RequestError(400, f"unknown output {shown(name)} (outputs: {', '.join(OUTPUTS)})")
        if name in names:
            raise RequestError(400, f"output {name!r} is requested twice")
        names.append(name)
        parameters = item.get("parameters")
        if every or (isinstance(parameters, dict) and parameters.get("binary_data") is True):
            binary.add(name)
    return names, binary


# -- responses ----------------------------------------------------------------------------


def typed(array: Array) -> tuple[str, Array]:
    """The OIP datatype of an output and the array in that type: integers as INT64
    (UINT64 when they do not fit), floats as FP64, dates as ISO text, an object array of
    numbers as numbers, and anything else as BYTES."""
    kind = array.dtype.kind
    if kind == "O":
        return _objects(array)
    if kind == "u" and array.dtype.itemsize == 8 and array.size and array.max() > _INT64_MAX:
        return "UINT64", array
    if kind in "iu":
        return "INT64", array.astype(np.int64, copy=False)
    if kind == "f":
        return "FP64", array.astype(np.float64, copy=False)
    if kind == "b":
        return "BOOL", array
    if kind in "Mm":
        return "BYTES", array.astype(str).astype(object)
    return "BYTES", array


def _objects(array: Array) -> tuple[str, Array]:
    """An object array (a pickled model's labels, say): numbers when every value is a
    number, else BYTES."""
    if array.size and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        for v in array.flat
    ):
        try:
            numbers = np.array(array.tolist())
        except (ValueError, TypeError, OverflowError):
            return "BYTES", array
        if numbers.dtype.kind in "iuf" and numbers.shape == array.shape:
            return typed(numbers)
    return "BYTES", array


def encode(
    model: str,
    version: str,
    request_id: str,
    outputs: list[tuple[str, Array]],
    binary: frozenset[str],
) -> tuple[bytes, dict[str, str] | None]:
    """The response body, and the extra headers a binary response needs."""
    entries: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, array in outputs:
        datatype, values = typed(array)
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(values.shape)}
        if name in binary:
            raw = _raw(values, datatype)
            entry["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        elif datatype == "BYTES":
            entry["data"] = [as_text(v) for v in values.ravel().tolist()]
        else:
            entry["data"] = finite_or_none(values.ravel()).tolist()
        entries.append(entry)
    doc = {"model_name": model, "model_version": version, "id": request_id, "outputs": entries}
    header = json.dumps(doc, separators=(",", ":")).encode()
    if not blobs:
        return header, None
    return header + b"".join(blobs), {"Inference-Header-Content-Length": str(len(header))}


def _raw(values: Array, datatype: str) -> bytes:
    if datatype != "BYTES":
        return np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<")).tobytes()
    parts = []
    for value in values.ravel().tolist():
        data = value if isinstance(value, bytes) else as_text(value).encode("utf-8", "replace")
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)
