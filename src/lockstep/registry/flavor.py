"""What kind of model a file is, from its name and first bytes (never by loading it)."""

from __future__ import annotations

import zipfile
from pathlib import Path

_PICKLE_SUFFIXES = (".pkl", ".pickle")


def detect(path: Path) -> str:
    """skops, joblib, pickle, xgboost, lightgbm, onnx, or unknown."""
    if path.is_dir():
        return _detect_dir(path)
    name = path.name.lower()
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError:
        return "unknown"
    for check in (_by_suffix, _by_bytes):
        found = check(name, head, path)
        if found:
            return found
    return "unknown"


def _by_suffix(name: str, head: bytes, path: Path) -> str | None:
    if name.endswith(".skops"):
        return "skops"
    if name.endswith(".onnx"):
        return "onnx"
    if name.endswith(".joblib"):
        return "joblib"
    if name.endswith(".ubj") or (name.endswith(".json") and b'"learner"' in _read(path, 4096)):
        return "xgboost"
    if name.endswith(_PICKLE_SUFFIXES):
        return "pickle"
    return None


def _by_bytes(name: str, head: bytes, path: Path) -> str | None:
    if head.startswith(b"tree\nversion=v"):
        return "lightgbm"
    if head.startswith(b"binf") or head.startswith(b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner"):
        return "xgboost"
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    if head.startswith(b"PK") and _is_skops(path):
        return "skops"
    return None


def _is_skops(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "schema.json" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def _read(path: Path, size: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def _detect_dir(path: Path) -> str:
    if (path / "MLmodel").exists():
        return "mlflow"
    found = {detect(child) for child in sorted(path.iterdir())[:50] if child.is_file()}
    found.discard("unknown")
    return found.pop() if len(found) == 1 else "unknown"
