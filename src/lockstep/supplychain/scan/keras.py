"""Keras models: layers that carry Python code, and classes from outside Keras.

A ``Lambda`` layer stores its function as marshalled bytecode that Keras runs
when it rebuilds the model (``TFOpLambda`` calls TensorFlow functions by name,
``__lambda__`` is Keras 3's serialized lambda); a class whose ``module`` is not
Keras's makes Keras import that module. Both are findings, read from the model
configuration without loading the model:

* ``.keras`` (a zip): ``config.json`` (see :mod:`archives`);
* ``.h5`` (HDF5, Keras 2): the root attribute ``model_config``, a JSON text. With
  h5py installed it is read exactly; without it, lockstep finds the JSON by
  searching the file's bytes (an HDF5 attribute is stored uncompressed, so a
  file Keras wrote is read right; a hand-made file can hide a configuration
  from this search, which is why installing h5py is recommended).
"""

from __future__ import annotations

import json
import mmap
import re
from pathlib import Path
from typing import Any

from lockstep.supplychain.scan.allowlist import Allowlist
from lockstep.supplychain.scan.report import Finding
from lockstep.supplychain.scan.streams import UnreadableError

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
LAMBDA_CLASSES = frozenset({"Lambda", "TFOpLambda", "__lambda__"})
KERAS_PACKAGES = frozenset(
    {"keras", "tf_keras", "tensorflow", "keras_hub", "keras_cv", "keras_nlp"}
)
_JSON_START = re.compile(rb'\{\s*"')
_MAX_JSON = 64 << 20


def config_findings(config: object, file: str, where: str, allow: Allowlist) -> list[Finding]:
    """Every Lambda layer and foreign class anywhere in a Keras configuration."""
    findings: list[Finding] = []
    pending = [config]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(reversed(node))
        elif isinstance(node, dict):
            found = _object_findings(node, file, where, allow)
            findings += found
            if not found:
                pending.extend(reversed(list(node.values())))
    return findings


def _object_findings(
    node: dict[str, Any], file: str, where: str, allow: Allowlist
) -> list[Finding]:
    cls = node.get("class_name")
    if not isinstance(cls, str):
        return []
    here = f"{where}layer {_label(node, cls)!r}"
    if cls in LAMBDA_CLASSES:
        detail = f"a {cls} layer: loading the model runs the Python code stored with it"
        return [Finding(file, here, "lambda-layer", detail, name=cls)]
    module = node.get("module")
    if isinstance(module, str) and module and not _keras_module(module, cls, allow):
        detail = (
            f"class {module}.{cls} comes from outside Keras: loading the model imports "
            f"{module} and runs its code"
        )
        return [Finding(file, here, "custom-object", detail, name=f"{module}.{cls}")]
    return []


def _keras_module(module: str, cls: str, allow: Allowlist) -> bool:
    return module.split(".", maxsplit=1)[0] in KERAS_PACKAGES or allow.extends(module, cls)


def _label(node: dict[str, Any], cls: str) -> str:
    config = node.get("config")
    for source in (config if isinstance(config, dict) else {}, node):
        name = source.get("name")
        if isinstance(name, str):
            return name
    return cls


# --- HDF5 ---------------------------------------------------------------------------


def scan_h5(path: Path, file: str, where: str, allow: Allowlist) -> list[Finding]:
    """Findings in a Keras 2 ``.h5`` model (none for a weights-only file)."""
    try:
        configs = configs_with_h5py(path)
    except ImportError:
        configs = configs_in_bytes(path)
    findings: list[Finding] = []
    for config in configs:
        findings += config_findings(config, file, f"{where}model_config, ", allow)
    return findings


def configs_with_h5py(path: Path) -> list[object]:
    """The ``model_config`` attribute, read with h5py (ImportError without it)."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("model_config")
    except OSError as exc:
        raise UnreadableError(f"not an HDF5 file h5py can read ({exc})") from exc
    if raw is None:
        return []
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str):
        raise UnreadableError("model_config is not a text attribute")
    try:
        return [json.loads(raw)]
    except ValueError as exc:
        raise UnreadableError(f"model_config is not valid JSON ({exc})") from exc


def configs_in_bytes(path: Path) -> list[object]:
    """Every JSON object found in the file's bytes."""
    with open(path, "rb") as handle:
        if not handle.seek(0, 2):
            raise UnreadableError("an empty file")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            configs = _json_objects(data)
            named = data.find(b"model_config") >= 0
    if named and not configs:
        raise UnreadableError(
            "the file has a model_config attribute but lockstep found no JSON configuration "
            "in its bytes (install h5py to read it exactly)"
        )
    return configs


def _json_objects(data: mmap.mmap) -> list[object]:
    decoder = json.JSONDecoder()
    found: list[object] = []
    pos = 0
    while (match := _JSON_START.search(data, pos)) is not None:
        start = match.start()
        end = data.find(b"\x00", start, start + _MAX_JSON)
        text = data[start : end if end >= 0 else start + _MAX_JSON].decode("latin-1")
        try:
            value, size = decoder.raw_decode(text)
        except ValueError:
            pos = start + 1
            continue
        found.append(value)  # a dict: walked whole, wherever the classes hide in it
        pos = start + size  # latin-1: one character per byte
    return found
