"""What a scan found: one :class:`Finding` per reason a file is unsafe to load, and
the :class:`ScanReport` of every file looked at."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Finding:
    """One reason ``file`` is unsafe to load.

    ``where`` is a byte offset (``offset 42``), an archive member, or both
    (``archive/data.pkl, offset 42``); ``kind`` tells findings apart (``import``,
    ``computed-import``, ``call``, ``unreadable``, ``path-traversal``,
    ``lambda-layer``, ``external-data``, ...); ``detail`` says why in one line.
    For pickles, ``opcode`` is the opcode and ``name`` the global (``module.name``)
    it imports, when there is one.
    """

    file: str
    where: str
    kind: str
    detail: str
    opcode: str = ""
    name: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "file": self.file,
            "where": self.where,
            "kind": self.kind,
            "detail": self.detail,
            "opcode": self.opcode,
            "name": self.name,
        }


@dataclass(frozen=True)
class ScanReport:
    """Every file scanned (sorted), the findings, and the files that are in no
    format lockstep inspects (``skipped``: listed in ``files`` too, never unsafe)."""

    files: tuple[str, ...]
    findings: tuple[Finding, ...]
    skipped: tuple[str, ...] = ()

    @property
    def safe(self) -> bool:
        return not self.findings

    @property
    def unsafe_files(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.file for f in self.findings))

    def findings_for(self, file: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.file == file)

    def to_dict(self) -> dict[str, Any]:
        return {
            "safe": self.safe,
            "files": list(self.files),
            "skipped": list(self.skipped),
            "unsafe": list(self.unsafe_files),
            "findings": [f.to_dict() for f in self.findings],
        }

    @classmethod
    def combine(cls, reports: Iterable[ScanReport]) -> ScanReport:
        """One report for several scanned paths (a file scanned twice counts once)."""
        files: dict[str, None] = {}
        skipped: dict[str, None] = {}
        findings: dict[Finding, None] = {}
        for report in reports:
            files.update(dict.fromkeys(report.files))
            skipped.update(dict.fromkeys(report.skipped))
            findings.update(dict.fromkeys(report.findings))
        return cls(tuple(files), tuple(findings), tuple(skipped))
