"""The pickle scanner on the corpus: every malicious sample flagged, no benign one,
and nothing in any sample ever runs."""

from __future__ import annotations

import pickle
import pickletools

import pytest

from lockstep.supplychain.scan import scan_path
from tests.supplychain.conftest import Corpus

PLAIN_PICKLES = (".pkl",)


def test_the_corpus_is_big_enough(corpus: Corpus) -> None:
    pickles = [s for s in corpus.malicious if s.path.suffix in (".pkl", ".pt", ".joblib")]
    assert len(pickles) >= 15
    assert len(corpus.benign) >= 10
    protocols = {s.name.rsplit("_p", 1)[-1][0] for s in pickles if "_p" in s.name}
    assert {"0", "1", "2", "3", "4", "5"} <= protocols


def test_every_malicious_sample_is_flagged_with_its_reason(corpus: Corpus) -> None:
    missed = {}
    for sample in corpus.malicious:
        report = scan_path(sample.path)
        flagged = {f.name for f in report.findings} | {f.kind for f in report.findings}
        if report.safe or sample.why not in flagged:
            missed[sample.name] = [f.detail for f in report.findings]
    assert missed == {}


def test_no_benign_sample_is_flagged(corpus: Corpus) -> None:
    flagged = {}
    for sample in corpus.benign:
        report = scan_path(sample.path)
        assert report.files == (str(sample.path),)
        assert report.skipped == (), sample.name  # every one of them is inspected
        if not report.safe:
            flagged[sample.name] = [f"{f.where}: {f.detail}" for f in report.findings]
    assert flagged == {}


def test_scanning_runs_nothing(corpus: Corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the scanner must never unpickle")

    for name in ("load", "loads", "Unpickler", "_load", "_loads"):
        monkeypatch.setattr(pickle, name, refuse)
    report = scan_path(corpus.root / "malicious")
    assert not report.safe
    assert not corpus.marker.exists()


def test_a_folder_scan_flags_exactly_the_malicious_files(corpus: Corpus) -> None:
    report = scan_path(corpus.root)
    expected = {str(s.path) for s in corpus.malicious}
    assert set(report.unsafe_files) == expected
    assert report.skipped == (str(corpus.root / "malicious" / "payload_script.py"),)
    assert not corpus.marker.exists()


def test_hand_written_samples_are_well_formed_pickles(corpus: Corpus) -> None:
    """pickletools.dis checks the stack and memo of a pickle without running it:
    the samples are pickles a loader would run, not garbage the scanner rejects."""
    for sample in corpus.malicious:
        # dis refuses to overwrite a memo entry, which pickle.load does without complaint
        if sample.path.suffix in PLAIN_PICKLES and sample.name != "memo_overwrite_p4.pkl":
            pickletools.dis(sample.path.read_bytes(), out=_Null())


class _Null:
    def write(self, text: str) -> int:
        return len(text)


def test_offsets_point_at_the_importing_opcode(corpus: Corpus) -> None:
    opcodes = {"GLOBAL": b"c", "STACK_GLOBAL": b"\x93", "INST": b"i"}
    checked = 0
    for sample in corpus.malicious:
        if sample.path.suffix != ".pkl":
            continue
        data = sample.path.read_bytes()
        for finding in scan_path(sample.path).findings:
            if finding.kind == "import" and ">" not in finding.where:
                offset = int(finding.where.removeprefix("offset "))
                assert data[offset : offset + 1] == opcodes[finding.opcode], finding
                checked += 1
    assert checked >= 15


def test_findings_say_what_and_why(corpus: Corpus) -> None:
    by_name = {s.name: s for s in corpus.malicious}
    [finding] = scan_path(by_name["os_system_text.pkl"].path).findings
    assert finding.to_dict() == {
        "file": str(by_name["os_system_text.pkl"].path),
        "where": "offset 0",
        "kind": "import",
        "detail": "GLOBAL os.system: not on the allowlist (runs commands and touches files)",
        "opcode": "GLOBAL",
        "name": "os.system",
    }
    details = [f.detail for f in scan_path(by_name["python2_builtin_eval_p0.pkl"].path).findings]
    assert details == [
        "GLOBAL __builtin__.eval (read as builtins.eval): not on the allowlist (runs code)"
    ]
    dotted = scan_path(by_name["dotted_name_in_allowed_package.pkl"].path).findings
    assert "a dotted name reaches attributes of other objects" in dotted[0].detail


def test_a_nested_pickle_is_scanned_too(corpus: Corpus) -> None:
    path = next(s.path for s in corpus.malicious if s.name == "nested_pickle_loads.pkl")
    findings = scan_path(path).findings
    assert [f.name for f in findings] == ["_pickle.loads", "posix.system"]
    assert "> nested pickle, offset 2" in findings[1].where


def test_a_pickle_inside_a_zip_names_the_member(corpus: Corpus) -> None:
    path = next(s.path for s in corpus.malicious if s.name == "torch_style.pt")
    [finding] = scan_path(path).findings
    assert finding.where == "archive/data.pkl, offset 2"
    assert finding.name == "posix.system"


def test_joblib_files_are_read_as_joblib_and_as_pickle(corpus: Corpus) -> None:
    by_name = {s.name: s for s in corpus.malicious}
    [polyglot] = scan_path(by_name["raw_bytes_polyglot.joblib"].path).findings
    assert polyglot.name == "posix.system"
    assert "as pickle.load would read it" in polyglot.detail
    [compressed] = scan_path(by_name["joblib_gzip.joblib"].path).findings
    assert compressed.where.startswith("gzip stream, offset ")
