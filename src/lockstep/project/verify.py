"""``verify``: does a model version hold the bytes it was registered with, and do
its attestations, checked with the trusted keys, say so?

Each check has a name and a detail; verification passes when every check does:

- ``model bytes``: the model, re-hashed from the workspace when the workspace
  holds this version, else exported from the cache, has the registered digest;
- ``signature``: the version has at least one signature attestation;
- ``<kind> <12 hex> object|key|signature|statement|subject|predicate``: for each
  attestation, its object is intact, its signatures are by trusted keys and valid,
  its statement is about this model's digest, and (signatures) its predicate is
  the version tag's metadata as it is now.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockstep.errors import AttestationFormatError, CorruptObjectError, MissingObjectsError
from lockstep.registry.attestations import AttestationRef, attestations
from lockstep.registry.tags import Version
from lockstep.store.build import FileState, Snapshot, scan
from lockstep.store.hashing import hash_file
from lockstep.supplychain import dsse
from lockstep.supplychain.keys import PublicKey
from lockstep.supplychain.statement import MODEL_VERSION, Statement

if TYPE_CHECKING:
    from lockstep.project.core import Project


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "passed": self.passed, "detail": self.detail}


class Checks:
    """A verdict made of named checks: it passes when every one does."""

    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> dict[str, str]:
        return {c.name: c.detail for c in self.checks if not c.passed}


@dataclass(frozen=True)
class Verification(Checks):
    version: Version
    checks: tuple[Check, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version.ref,
            "digest": self.version.meta.get("digest"),
            "passed": self.passed,
            "checks": [c.to_dict() for c in self.checks],
        }


def model_digest(version: Version) -> str:
    """The registered digest (64 hex); empty when the tag records none."""
    return str(version.meta.get("digest") or "").removeprefix("sha256:")


def verify(project: Project, version: Version, trusted: Mapping[str, PublicKey]) -> Verification:
    checks = [model_bytes(project, version)]
    found = attestations(project.root, version.model, version.version)
    if not any(a.kind == "signature" for a in found):
        checks.append(Check("signature", False, "not signed (run 'lockstep sign REF')"))
    for attestation in found:
        checks += attestation_checks(project, version, attestation, trusted)
    return Verification(version, tuple(checks))


# --- the model's bytes ----------------------------------------------------------------


def rehash(root: Path, target: str) -> str | None:
    """The digest ``target`` has now, every byte read again; None when it is absent."""
    found = scan(root, target)
    if found is None:
        return None
    files = tuple(
        FileState(f.rel, f.abspath, hash_file(f.abspath), f.stat[2], f.mode, f.stat)
        for f in found.found
    )
    return Snapshot(target, found.kind, files).digest


def model_bytes(project: Project, version: Version) -> Check:
    digest, path = model_digest(version), str(version.meta.get("path") or "")
    if not digest:
        return Check("model bytes", False, f"the tag {version.tag} records no digest")
    now = rehash(project.root, path) if path else None
    if now == digest:
        return Check("model bytes", True, f"{path} in the workspace is sha256:{digest}")
    claimed = any(p.target == path and p.digest == digest for p in project.pointers())
    if now is not None and claimed:
        return Check(
            "model bytes",
            False,
            f"{path} hashes to sha256:{now}, the registration records sha256:{digest}",
        )
    return _cached_bytes(project, version, digest)


def _cached_bytes(project: Project, version: Version, digest: str) -> Check:
    from lockstep.store.export import export

    kind = str(version.meta.get("kind") or "auto")
    with tempfile.TemporaryDirectory(prefix="lockstep-verify-") as tmp:
        try:
            export(project.ws, digest, kind, Path(tmp) / "model")
        except (CorruptObjectError, MissingObjectsError) as exc:
            return Check("model bytes", False, f"the cache's copy: {exc}")
        now = rehash(Path(tmp), "model")
    if now != digest:
        detail = f"the cache's copy hashes to sha256:{now}, the registration records {digest}"
        return Check("model bytes", False, detail)
    return Check("model bytes", True, f"the cache's copy is sha256:{digest}")


# --- attestations ---------------------------------------------------------------------


def attestation_checks(
    project: Project, version: Version, found: AttestationRef, trusted: Mapping[str, PublicKey]
) -> list[Check]:
    label = f"{found.kind} {found.tag.rsplit('/', 1)[-1]}"
    try:
        envelope, statement = _load(project, found)
    except (CorruptObjectError, AttestationFormatError, FileNotFoundError) as exc:
        missing = isinstance(exc, FileNotFoundError)
        detail = f"object sha256:{found.digest} is not in the cache" if missing else str(exc)
        return [Check(f"{label} object", False, detail)]
    checks = [Check(f"{label} object", True, f"sha256:{found.digest}")]
    if envelope is not None:
        checks += _signature_checks(label, envelope, trusted)
    elif found.kind == "signature":
        checks.append(Check(f"{label} signature", False, "the object is not a DSSE envelope"))
    checks.append(_subject_check(label, version, statement))
    if found.kind == "signature":
        checks.append(_predicate_check(label, version, statement))
    return checks


def _load(project: Project, found: AttestationRef) -> tuple[dsse.Envelope | None, Statement]:
    if not found.digest:
        raise AttestationFormatError(found.tag, "digest", "the tag message names no object")
    data = project.ws.store.read_bytes(found.digest)
    source = f"attestation sha256:{found.digest[:12]}"
    try:
        parsed = json.loads(data)
    except ValueError as exc:
        raise AttestationFormatError(source, None, f"not JSON ({exc})") from exc
    if isinstance(parsed, dict) and dsse.is_envelope(parsed):
        envelope = dsse.Envelope.from_dict(parsed, source)
        if envelope.payload_type != dsse.PAYLOAD_TYPE:
            raise AttestationFormatError(source, "payloadType", f"is not {dsse.PAYLOAD_TYPE}")
        return envelope, Statement.from_bytes(envelope.payload, source)
    if not isinstance(parsed, dict):
        raise AttestationFormatError(source, None, "not a JSON object")
    return None, Statement.from_dict(parsed, source)


def _signature_checks(
    label: str, envelope: dsse.Envelope, trusted: Mapping[str, PublicKey]
) -> list[Check]:
    results = dsse.verify(envelope, trusted)
    ids = ", ".join(r.keyid or "(none)" for r in results) or "(no signatures)"
    known = [r for r in results if r.trusted]
    if not known:
        detail = f"signed by key id {ids}, which is not in .lockstep/trusted-keys/"
        return [Check(f"{label} key", False, detail)]
    names = ", ".join(f"{r.keyid} ({trusted[r.keyid].name})" for r in known)
    valid = [r for r in known if r.valid]
    sig = (
        Check(f"{label} signature", True, f"valid signature by {valid[0].keyid}")
        if valid
        else Check(f"{label} signature", False, f"the signature by {known[0].keyid} is not valid")
    )
    return [Check(f"{label} key", True, f"trusted key {names}"), sig]


def _subject_check(label: str, version: Version, statement: Statement) -> Check:
    digest = model_digest(version)
    if any(s.sha256 == digest and s.name == version.model for s in statement.subject):
        return Check(f"{label} subject", True, f"{version.model} sha256:{digest}")
    said = ", ".join(f"{s.name} sha256:{s.sha256}" for s in statement.subject)
    detail = f"the statement is about {said}, the model is {version.model} sha256:{digest}"
    return Check(f"{label} subject", False, detail)


def _predicate_check(label: str, version: Version, statement: Statement) -> Check:
    if statement.predicate_type != MODEL_VERSION:
        detail = f"predicateType {statement.predicate_type} is not {MODEL_VERSION}"
        return Check(f"{label} predicate", False, detail)
    signed, now = dict(statement.predicate), dict(version.meta)
    if signed == now:
        return Check(f"{label} predicate", True, f"the metadata of {version.tag} as signed")
    changed = sorted(k for k in signed.keys() | now.keys() if signed.get(k) != now.get(k))
    detail = f"the metadata of {version.tag} differs from what was signed in: {', '.join(changed)}"
    return Check(f"{label} predicate", False, detail)
