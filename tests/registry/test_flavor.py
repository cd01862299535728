"""Flavor detection reads names and first bytes, never loads the model."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest

from lockstep.registry.flavor import detect


def _skops(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("schema.json", "{}")


@pytest.mark.parametrize(
    ("name", "content", "flavor"),
    [
        ("m.pkl", pickle.dumps({"a": 1}, protocol=4), "pickle"),
        ("model", pickle.dumps([1], protocol=2), "pickle"),
        ("m.joblib", b"\x80\x04anything", "joblib"),
        ("m.onnx", b"\x08\x07\x12\x07pytorch", "onnx"),
        ("m.json", b'{"learner": {"attributes": {}}, "version": [2, 0, 0]}', "xgboost"),
        ("m.ubj", b"{L\x00", "xgboost"),
        ("model.txt", b"tree\nversion=v4\nnum_class=1\n", "lightgbm"),
        ("notes.txt", b"hello", "unknown"),
    ],
)
def test_detect(tmp_path: Path, name: str, content: bytes, flavor: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert detect(path) == flavor


def test_skops_by_suffix_and_by_content(tmp_path: Path) -> None:
    _skops(tmp_path / "m.skops")
    _skops(tmp_path / "model.bin")
    assert detect(tmp_path / "m.skops") == "skops"
    assert detect(tmp_path / "model.bin") == "skops"


def test_a_folder_takes_its_files_flavor(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.pkl").write_bytes(pickle.dumps(1))
    assert detect(tmp_path / "m") == "pickle"
    (tmp_path / "mlflow").mkdir()
    (tmp_path / "mlflow" / "MLmodel").write_text("flavors: {}\n")
    assert detect(tmp_path / "mlflow") == "mlflow"
