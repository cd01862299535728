"""Where a version's attestations are listed: one annotated tag each, on the
version's commit::

    attestation/churn/v1.2.0/signature/<12 hex of the object's digest>
    attestation/churn/v1.2.0/provenance/<12 hex>   (also signature, bom, scan)
    attestation/churn/v1.2.0/bom/<12 hex>

The object itself (a DSSE envelope, or an unsigned in-toto statement) is in the
content-addressed store under the digest the tag message records::

    lockstep: attest churn v1.2.0 signature

    {"format": "lockstep/registry@1", "action": "attest", "kind": "signature",
     "digest": "sha256:<hex>", "model": "churn", "version": "1.2.0",
     "keyid": "<16 hex or null>", "actor": "...", "time": "..."}

The names hold no '@' or '#', so GTO ignores them.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockstep import git
from lockstep.registry import tags
from lockstep.registry.names import NAME, SemVer
from lockstep.registry.tags import Version

PREFIX = "attestation/"
KINDS = ("signature", "provenance", "bom", "scan")
_TAG = re.compile(
    rf"attestation/(?P<model>{NAME})/v(?P<version>\d+\.\d+\.\d+)"
    rf"/(?P<kind>{'|'.join(KINDS)})/(?P<short>[0-9a-f]{{12}})"
)


@dataclass(frozen=True)
class AttestationRef:
    """One attestation of a version: its kind and the digest of its object."""

    model: str
    version: SemVer
    kind: str
    digest: str  # 64 hex; empty when the tag message records none
    tag: str
    commit: str
    keyid: str | None = None
    actor: str | None = None
    time: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": f"v{self.version}",
            "kind": self.kind,
            "digest": f"sha256:{self.digest}" if self.digest else None,
            "tag": self.tag,
            "commit": self.commit,
            "keyid": self.keyid,
            "actor": self.actor,
            "time": self.time,
        }


def tag_name(model: str, version: SemVer, kind: str, digest: str) -> str:
    return f"{PREFIX}{model}/v{version}/{kind}/{digest[:12]}"


def record(
    root: Path, version: Version, kind: str, digest: str, *, keyid: str | None, actor: str
) -> AttestationRef:
    """Tag the object ``digest`` (64 hex) as an attestation of ``version``; an
    attestation with that very object exists already: that one."""
    name = tag_name(version.model, version.version, kind, digest)
    existing = next(
        (a for a in attestations(root, version.model, version.version) if a.tag == name), None
    )
    if existing is not None:
        return existing
    body = {
        "action": "attest",
        "kind": kind,
        "digest": f"sha256:{digest}",
        "model": version.model,
        "version": str(version.version),
        "keyid": keyid,
        "actor": actor,
        "time": tags.iso(time.time()),
    }
    title = f"attest {version.model} v{version.version} {kind}"
    git.create_tag(root, name, tags.message(title, body), commit=version.commit)
    return AttestationRef(
        version.model,
        version.version,
        kind,
        digest,
        name,
        version.commit,
        keyid,
        actor,
        body["time"],
    )


def attestations(root: Path, model: str, version: SemVer) -> list[AttestationRef]:
    """Every attestation tag of one version, oldest first."""
    found = [parse(r) for r in git.tags(root) if r.annotated and r.name.startswith(PREFIX)]
    mine = [a for a in found if a is not None and a.model == model and a.version == version]
    return sorted(mine, key=lambda a: (a.time or "", a.tag))


def parse(record: git.TagRecord) -> AttestationRef | None:
    match = _TAG.fullmatch(record.name)
    if match is None:
        return None
    meta = tags.metadata(record.message)
    digest = str(meta.get("digest") or "").removeprefix("sha256:")
    if not digest.startswith(match["short"]):
        digest = ""  # the message does not name the object the tag name does
    return AttestationRef(
        model=match["model"],
        version=SemVer.parse(match["version"]),
        kind=match["kind"],
        digest=digest,
        tag=record.name,
        commit=record.commit,
        keyid=_text(meta.get("keyid")),
        actor=_text(meta.get("actor")) or record.tagger,
        time=_text(meta.get("time")) or tags.iso(record.time),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def all_attestations(root: Path) -> list[AttestationRef]:
    """Every attestation tag of the repository (for gc, push and pull)."""
    found = [parse(r) for r in git.tags(root) if r.annotated and r.name.startswith(PREFIX)]
    return [a for a in found if a is not None and a.digest]
