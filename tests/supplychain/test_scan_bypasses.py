"""Pickles that once slipped through: functions and foreign classes reached through
an allowed package, pickles under other names, and compressed pickles."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from lockstep.supplychain.scan import scan_path

THROUGH_ALLOWED_PACKAGES = {
    # multiprocessing.connection.Client: opens a connection where the pickle says
    "client.pkl": b"\x80\x02csklearn.callback._transport\nClient\n"
    b"X\x0b\x00\x00\x00203.0.113.5M\x5c\x11\x86\x85R.",
    # a ctypes foreign function
    "capsule.pkl": b"\x80\x02cxgboost._data_utils\nPyCapsule_GetName\nJ\xef\xbe\xad\xde\x85R.",
    "methodtype.pkl": b"\x80\x02csklearn.utils._available_if\nMethodType\n.",
    "path.pkl": b"\x80\x02csklearn.utils._repr_html.estimator\nPath\n.",
    "constant.pkl": b"\x80\x02cxgboost.core\n_LIB\n.",
}
SYSTEM = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."
UNDER_OTHER_NAMES = {
    "model.bin": b"cos\nsystem\n(S'id'\ntR.",  # protocol 0: no header
    "weights.dat": b"N0" + SYSTEM,  # the header is not at byte 0
    "model.gz": gzip.compress(SYSTEM),  # joblib opens compressed bytes by their magic
}


@pytest.mark.parametrize("name", sorted(THROUGH_ALLOWED_PACKAGES))
def test_names_an_allowed_package_imports_are_not_allowed(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(THROUGH_ALLOWED_PACKAGES[name])
    report = scan_path(path)
    assert not report.safe
    assert "not on the allowlist" in report.findings[0].detail


@pytest.mark.parametrize("name", sorted(UNDER_OTHER_NAMES))
def test_pickles_are_found_by_their_bytes_not_their_names(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(UNDER_OTHER_NAMES[name])
    report = scan_path(path)
    assert not report.safe and not report.skipped
    assert any(f.name == "os.system" for f in report.findings)


def test_text_that_happens_to_parse_is_not_a_pickle(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hello (world).\n")
    (tmp_path / "data.csv").write_text("x,y\n1,2\n")
    report = scan_path(tmp_path)
    assert report.safe and len(report.skipped) == 2


def test_changing_an_imported_object_is_flagged(tmp_path: Path) -> None:
    # SETITEM on a module-level dict of an allowed package: changes it for the process
    path = tmp_path / "links.pkl"
    path.write_bytes(b"\x80\x02csklearn._loss.link\nMultinomialLogit\nX\x01\x00\x00\x00kK\x01s.")
    report = scan_path(path)
    assert not report.safe
    assert "SETITEM changes the imported" in report.findings[-1].detail
