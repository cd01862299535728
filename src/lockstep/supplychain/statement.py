"""in-toto Statement v1: what an attestation is about (its subject) and what it says
(its predicate)::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "churn", "digest": {"sha256": "<64 hex>"}}],
     "predicateType": "https://lockstep.dev/model-version/v1",
     "predicate": {...}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lockstep.errors import AttestationFormatError

TYPE = "https://in-toto.io/Statement/v1"
MODEL_VERSION = "https://lockstep.dev/model-version/v1"  # the registration's metadata
SLSA_PROVENANCE = "https://slsa.dev/provenance/v1"
CYCLONEDX = "https://cyclonedx.org/bom"
SCAN_REPORT = "https://lockstep.dev/scan-report/v1"  # lockstep scan's findings


@dataclass(frozen=True)
class Subject:
    name: str
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "digest": {"sha256": self.sha256}}


@dataclass(frozen=True)
class Statement:
    subject: tuple[Subject, ...]
    predicate_type: str
    predicate: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "_type": TYPE,
            "subject": [s.to_dict() for s in self.subject],
            "predicateType": self.predicate_type,
            "predicate": dict(self.predicate),
        }

    def to_bytes(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces): the bytes that are signed."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), default=str)
        return text.encode("utf-8")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str) -> Statement:
        if data.get("_type") != TYPE:
            raise AttestationFormatError(source, "_type", f"is not {TYPE}")
        subjects = data.get("subject")
        if not isinstance(subjects, list) or not subjects:
            raise AttestationFormatError(source, "subject", "must be a non-empty list")
        kind, predicate = data.get("predicateType"), data.get("predicate", {})
        if not isinstance(kind, str) or not isinstance(predicate, dict):
            raise AttestationFormatError(source, "predicate", "missing or not an object")
        return cls(tuple(_subject(s, source) for s in subjects), kind, predicate)

    @classmethod
    def from_bytes(cls, data: bytes, source: str) -> Statement:
        from lockstep.supplychain.dsse import json_object

        return cls.from_dict(json_object(data, source), source)


def _subject(item: object, source: str) -> Subject:
    digest = item.get("digest") if isinstance(item, dict) else None
    if not isinstance(item, dict) or not isinstance(digest, dict):
        raise AttestationFormatError(source, "subject", "each needs a name and a digest")
    name, sha = item.get("name"), digest.get("sha256")
    if not isinstance(name, str) or not isinstance(sha, str):
        raise AttestationFormatError(source, "subject", "each needs a name and a sha256 digest")
    return Subject(name, sha)
