"""The package side of the facade: push a model version to an OCI registry as an
artifact with its attestations beside it, and pull and verify such a package.

Verifying a package checks, each by name:

- ``layer <path>``: the file downloaded hashes to its layer's digest;
- ``model digest``: the model recomputed from the files (a single file: its
  sha256; a folder: lockstep's tree digest) equals the config's ``digest``;
- ``signature``: at least one DSSE envelope attached to the package is signed by a
  key in ``.lockstep/trusted-keys/``, verifies, and is about the model's digest.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockstep import git
from lockstep.errors import AttestationFormatError, LockstepError
from lockstep.project.verify import Check, Checks, model_digest
from lockstep.registry.tags import Version, iso
from lockstep.store.export import export
from lockstep.store.remotes.oci_upload import CHUNK_SIZE
from lockstep.store.tree import Tree, TreeEntry
from lockstep.supplychain import dsse, oci_package
from lockstep.supplychain.keys import PublicKey
from lockstep.supplychain.oci_package import Attachment, PackageFile, Pulled, Pushed
from lockstep.supplychain.statement import Statement

if TYPE_CHECKING:
    from lockstep.project.core import Project


@dataclass(frozen=True)
class PackageVerification(Checks):
    reference: str
    digest: str  # the package manifest's
    model: str
    checks: tuple[Check, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "manifest": f"sha256:{self.digest}",
            "model": self.model,
            "passed": self.passed,
            "checks": [c.to_dict() for c in self.checks],
        }


class Package:
    """Push model versions as OCI artifacts; pull and verify them."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def push(
        self,
        ref: str,
        target: str,
        *,
        insecure: bool = False,
        chunk_size: int = CHUNK_SIZE,
    ) -> Pushed:
        """Push version ``ref`` to ``target`` (``oci://HOST[:PORT]/REPO[:TAG]``, the tag
        ``v<version>`` by default)."""
        trust = self.project.trust()
        version = trust.resolve(ref)
        where = oci_package.parse_reference(target, default_tag=f"v{version.version}")
        attachments = [self._attachment(a.kind, a.digest) for a in trust.attestations(ref)]
        api = oci_package.connect(where, insecure)
        try:
            with tempfile.TemporaryDirectory(prefix="lockstep-package-") as tmp:
                files = self._files(version, Path(tmp))
                return oci_package.push(
                    api,
                    where,
                    files,
                    _config(version),
                    annotations=self._annotations(version),
                    attachments=[a for a in attachments if a is not None],
                    chunk_size=chunk_size,
                )
        finally:
            api.close()

    def pull(self, reference: str, dest: Path, *, insecure: bool = False) -> tuple[Pulled, Path]:
        """Download the package at ``reference`` into ``dest``: its metadata and where."""
        where = oci_package.parse_reference(reference)
        api = oci_package.connect(where, insecure)
        try:
            return oci_package.pull(api, where, dest), dest
        finally:
            api.close()

    def verify(self, reference: str, *, insecure: bool = False) -> PackageVerification:
        trusted = self.project.trust().trusted_keys()
        with tempfile.TemporaryDirectory(prefix="lockstep-verify-") as tmp:
            pulled, _ = self.pull(reference, Path(tmp) / "model", insecure=insecure)
        return check(pulled, trusted)

    # --- helpers ------------------------------------------------------------------------

    def _files(self, version: Version, tmp: Path) -> list[PackageFile]:
        """The version's files, exported from the cache (every object verified)."""
        digest = model_digest(version)
        ws = self.project.ws
        kind = export(ws, digest, str(version.meta.get("kind") or "auto"), tmp / "model")
        if kind == "file":
            name = Path(str(version.meta.get("path") or "model")).name
            size = (tmp / "model").stat().st_size
            return [PackageFile(name, tmp / "model", digest, size)]
        tree = ws.tree(digest)
        assert tree is not None  # export found it
        return [
            PackageFile(e.path, tmp / "model" / e.path, e.digest, e.size, e.mode)
            for e in tree.entries
        ]

    def _attachment(self, kind: str, digest: str) -> Attachment | None:
        if not digest:
            return None
        try:
            data = self.project.ws.store.read_bytes(digest)
        except (LockstepError, FileNotFoundError):
            return None  # not in this cache: it stays behind
        try:
            signed = dsse.is_envelope(dsse.json_object(data, kind))
        except AttestationFormatError:
            signed = False
        return Attachment(kind, data, signed)

    def _annotations(self, version: Version) -> dict[str, str]:
        created = version.meta.get("time")
        found = {
            "org.opencontainers.image.title": version.model,
            "org.opencontainers.image.version": str(version.version),
            "org.opencontainers.image.revision": version.commit,
            "org.opencontainers.image.created": str(created or iso(version.time) or ""),
        }
        source = _origin(self.project.root)
        if source:
            found["org.opencontainers.image.source"] = source
        return found


def _config(version: Version) -> dict[str, Any]:
    meta = {k: v for k, v in version.meta.items() if k not in ("format", "action")}
    return meta | {"model": version.model, "version": str(version.version)}


def _origin(root: Path) -> str | None:
    return git.remote_url(root, "origin")


# --- verification ---------------------------------------------------------------------


def check(pulled: Pulled, trusted: Mapping[str, PublicKey]) -> PackageVerification:
    checks = [
        Check(f"layer {f.path}", f.intact, f"sha256:{f.actual}")
        if f.intact
        else Check(
            f"layer {f.path}", False, f"hashes to sha256:{f.actual}, the layer is {f.expected}"
        )
        for f in pulled.files
    ]
    claimed = str(pulled.config.get("digest") or "").removeprefix("sha256:")
    model = str(pulled.config.get("model") or "")
    now = _model_digest(pulled)
    if now == claimed:
        checks.append(Check("model digest", True, f"sha256:{now}"))
    else:
        detail = f"the files make sha256:{now}, the config records sha256:{claimed or '(none)'}"
        checks.append(Check("model digest", False, detail))
    checks.append(_signature(pulled, trusted))
    return PackageVerification(pulled.reference, pulled.digest, model, tuple(checks))


def _model_digest(pulled: Pulled) -> str:
    files = pulled.files
    if pulled.config.get("kind", "file") == "file" and len(files) == 1:
        return files[0].actual
    entries = (TreeEntry(f.path, f.actual, f.size, f.mode) for f in files)
    return Tree.build(entries).digest


# What a package's signatures amount to; --allow-unsigned may lift the first two only.
LIFTABLE = ("unsigned", "untrusted key")


def signature_state(pulled: Pulled, trusted: Mapping[str, PublicKey]) -> str:
    """``valid``, ``unsigned`` (no signed attestation), ``untrusted key``, ``invalid``
    (a trusted key's signature that does not verify, or a malformed envelope) or
    ``other subject`` (validly signed, about other bytes)."""
    return _signature_outcome(pulled, trusted)[0]


def _signature(pulled: Pulled, trusted: Mapping[str, PublicKey]) -> Check:
    state, detail = _signature_outcome(pulled, trusted)
    return Check("signature", state == "valid", detail)


def _signature_outcome(pulled: Pulled, trusted: Mapping[str, PublicKey]) -> tuple[str, str]:
    subject = (
        str(pulled.config.get("model") or ""),
        str(pulled.config.get("digest") or "").removeprefix("sha256:"),
    )
    states: list[str] = []
    problems: list[str] = []
    for kind, data in pulled.attestations:
        source = f"{kind or 'attestation'} of {pulled.reference}"
        state, detail = _one_signature(source, kind, data, subject, trusted)
        if state == "valid":
            return state, detail
        if state != "unsigned":
            states.append(state)
            problems.append(detail)
    if not states:
        return "unsigned", "no signed attestation is attached to the package"
    worst = next(s for s in ("invalid", "other subject", "untrusted key") if s in states)
    return worst, "; ".join(problems)


def _one_signature(
    source: str, kind: str, data: bytes, subject: tuple[str, str], trusted: Mapping[str, PublicKey]
) -> tuple[str, str]:
    model, digest = subject
    try:
        parsed = dsse.json_object(data, source)
        if not dsse.is_envelope(parsed):
            return "unsigned", ""
        envelope = dsse.Envelope.from_dict(parsed, source)
        statement = Statement.from_bytes(envelope.payload, source)
    except AttestationFormatError as exc:
        return "invalid", str(exc)
    results = dsse.verify(envelope, trusted)
    known = [r for r in results if r.trusted]
    if not known:
        return "untrusted key", f"{kind}: signed by a key not in .lockstep/trusted-keys/"
    if not any(r.valid for r in known):
        return "invalid", f"{kind}: the signature by trusted key {known[0].keyid} is not valid"
    if not any(s.sha256 == digest and s.name == model for s in statement.subject):
        return "other subject", f"{kind}: not about this model's digest"
    good = next(r for r in known if r.valid)
    return "valid", f"valid signature by trusted key {good.keyid}"
