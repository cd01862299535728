"""ONNX models: external data stored outside the model's folder.

A tensor whose bytes live in another file names it in ``external_data``
(``location``, relative to the model's folder). A location that is absolute or
climbs out of the folder (``../../etc/passwd``) makes a loader read, and a
server expose, any file of the machine. The protobuf is read here with a small
wire-format walker that follows only the fields that can hold tensors (the
``onnx`` package is not needed)::

    ModelProto.graph(7) / training_info(20) / functions(25)
    GraphProto.node(1) / initializer(5) / sparse_initializer(15)
    NodeProto.attribute(5)      FunctionProto.node(7) / attribute_proto(11)
    AttributeProto.t(5) / g(6) / tensors(10) / graphs(11) / sparse_tensor(22) / sparse_tensors(23)
    TrainingInfoProto.initialization(1) / algorithm(2)
    SparseTensorProto.values(1) / indices(2)
    TensorProto.name(8) / external_data(13): StringStringEntryProto key(1) value(2)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lockstep.supplychain.scan.archives import escape
from lockstep.supplychain.scan.report import Finding
from lockstep.supplychain.scan.streams import UnreadableError

_CHILDREN: dict[str, dict[int, str]] = {
    "model": {7: "graph", 20: "training", 25: "function"},
    "training": {1: "graph", 2: "graph"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "node": {5: "attribute"},
    "function": {7: "node", 11: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
}
_LENGTH_DELIMITED = 2
_MAX_NESTING = 64


def scan_onnx(path: Path, file: str, where: str, folder: Path | None) -> list[Finding]:
    """Findings in the ONNX model at ``path``; ``folder`` is the model's folder on
    disk (None inside an archive: then only the location's text is checked)."""
    data = path.read_bytes()  # a protobuf is at most 2 GB; big tensors live outside it
    if not data:
        raise UnreadableError("an empty file")
    locations = list(external_locations(memoryview(data)))
    findings = []
    for tensor, location in locations:
        why = _outside(location, folder)
        if why:
            detail = f"external data location {location!r} {why}: loading reads that file"
            findings.append(Finding(file, f"{where}tensor {tensor!r}", "external-data", detail))
    return findings


def _outside(location: str, folder: Path | None) -> str | None:
    why = escape(location)
    if why or folder is None:
        return why
    target = folder / location
    if target.exists() and not target.resolve().is_relative_to(folder.resolve()):
        return "resolves (through a link) outside the model's folder"
    return None


def external_locations(data: memoryview) -> Iterator[tuple[str, str]]:
    """(tensor name, location) of every tensor stored as external data."""
    pending: list[tuple[str, memoryview, int]] = [("model", data, 0)]
    while pending:
        kind, body, depth = pending.pop()
        if depth > _MAX_NESTING:
            raise UnreadableError(f"messages nested more than {_MAX_NESTING} deep")
        if kind == "tensor":
            yield from _tensor_location(body)
            continue
        children = _CHILDREN[kind]
        found = [
            (children[number], value, depth + 1)
            for number, wire, value in _fields(body)
            if number in children and wire == _LENGTH_DELIMITED
        ]
        pending.extend(reversed(found))  # type: ignore[arg-type]  # memoryviews, by the wire type


def _tensor_location(body: memoryview) -> Iterator[tuple[str, str]]:
    name = ""
    locations = []
    for number, wire, value in _fields(body):
        if wire != _LENGTH_DELIMITED:
            continue
        assert isinstance(value, memoryview)
        if number == 8:
            name = _text(value)
        elif number == 13:
            entry = {key: _text(item) for key, w, item in _fields(value) if w == 2}  # type: ignore[arg-type]
            if entry.get(1) == "location":
                locations.append(entry.get(2, ""))
    for location in locations:
        yield name, location


def _text(value: memoryview) -> str:
    return bytes(value).decode("utf-8", "replace")


def _fields(body: memoryview) -> Iterator[tuple[int, int, memoryview | int]]:
    """(field number, wire type, value) of one protobuf message, in order."""
    pos = 0
    while pos < len(body):
        key, pos = _varint(body, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(body, pos)
            yield number, wire, value
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            yield number, wire, 0
        elif wire == _LENGTH_DELIMITED:
            size, pos = _varint(body, pos)
            if pos + size > len(body):
                raise UnreadableError("not an ONNX protobuf: a field runs past its message")
            yield number, wire, body[pos : pos + size]
            pos += size
        else:
            raise UnreadableError(f"not an ONNX protobuf: wire type {wire}")
    if pos != len(body):
        raise UnreadableError("not an ONNX protobuf: a field runs past its message")


def _varint(body: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while pos < len(body) and shift < 70:
        byte = body[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
    raise UnreadableError("not an ONNX protobuf: a truncated number")
