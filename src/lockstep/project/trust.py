"""The trust side of the facade: signing keys, signatures, provenance and the ML-BOM
of registered model versions, and their verification.

Keys live in the workspace's ``.lockstep/`` folder::

    .lockstep/keys/NAME.key            private, mode 0600, ignored by Git
    .lockstep/trusted-keys/NAME.pub    public, committed (.lockstep/.gitignore unignores it)

Each attestation is a JSON object in the content-addressed store, listed by an
``attestation/...`` tag on the version's commit (see registry/attestations.py).
"""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockstep import config as cfg
from lockstep import fs, git
from lockstep.errors import LockstepError, RegistryError, SigningKeyError, VerificationError
from lockstep.project.verify import Verification, model_bytes, model_digest, verify
from lockstep.registry import attestations
from lockstep.registry.attestations import AttestationRef
from lockstep.registry.tags import Registry, Version
from lockstep.supplychain import dsse, keys
from lockstep.supplychain.keys import PublicKey, SigningKey
from lockstep.supplychain.provenance import Build
from lockstep.supplychain.statement import MODEL_VERSION, Statement, Subject

if TYPE_CHECKING:
    from lockstep.project.core import Project
    from lockstep.supplychain.bom import ModelFacts
    from lockstep.tracking.records import RunRecord

KEYS_DIR = "keys"
TRUSTED_DIR = "trusted-keys"
UNIGNORE_TRUSTED = "!/trusted-keys/"


@dataclass(frozen=True)
class NewKey:
    key: PublicKey
    private: str  # workspace-relative
    public: str
    ignore_updated: bool  # .lockstep/.gitignore gained the trusted-keys line

    def to_dict(self) -> dict[str, Any]:
        return self.key.to_dict() | {"private_key": self.private, "public_key": self.public}


@dataclass(frozen=True)
class Attested:
    """A document written about a version, and where it is recorded."""

    version: Version
    kind: str
    document: dict[str, Any]  # the statement (signature, provenance) or the BOM
    attestation: AttestationRef
    keyid: str | None  # None: stored unsigned

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version.ref,
            "kind": self.kind,
            "signed": self.keyid is not None,
            "attestation": self.attestation.to_dict(),
        }


class Trust:
    """Make keys; sign, attest and verify model versions."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.root = project.root
        self.dir = project.root / cfg.DIR

    # --- keys -----------------------------------------------------------------------

    def keygen(self, name: str | None, *, force: bool = False) -> NewKey:
        """A new ed25519 key pair; refuses to replace a key of that name unless ``force``."""
        name = keys.check_name(name or _default_name())
        private, public = self._private_path(name), self._public_path(name)
        if not force and (private.exists() or public.exists()):
            raise SigningKeyError(name, f"{self._rel(private)} exists already; pass --force")
        key = keys.generate(name)
        keys.save(key, private, public)
        updated = self._unignore_trusted()
        return NewKey(key.public, self._rel(private), self._rel(public), updated)

    def signing_key(self, name: str | None = None) -> SigningKey:
        """``name``, else ``[signing] key``, else the only key in .lockstep/keys/."""
        chosen = name or self.project.config.signing.key
        if chosen is None:
            found = keys.names(self.dir / KEYS_DIR)
            if len(found) != 1:
                problem = "none in .lockstep/keys/ (run 'lockstep keygen')"
                if found:
                    problem = f"several ({', '.join(found)}): pass --key or set [signing] key"
                raise SigningKeyError(None, problem)
            chosen = found[0]
        return keys.load_private(self._private_path(keys.check_name(chosen)), chosen)

    def has_key(self) -> bool:
        return bool(self.project.config.signing.key or keys.names(self.dir / KEYS_DIR))

    def trusted_keys(self) -> dict[str, PublicKey]:
        """The public keys in .lockstep/trusted-keys/ as HEAD has them: a key file
        that is not committed, or differs from its committed bytes, is not trusted
        (anyone who can write to the work tree could otherwise add their own)."""
        found = keys.trusted(self.dir / TRUSTED_DIR)
        committed = {}
        for keyid, key in found.items():
            rel = f"{cfg.DIR}/{TRUSTED_DIR}/{key.name}{keys.PUBLIC_SUFFIX}"
            on_disk = (self.root / rel).read_bytes() if (self.root / rel).exists() else None
            known = git.read_file_at(self.root, "HEAD", rel) if git.has_commits(self.root) else None
            if on_disk is not None and known == on_disk:
                committed[keyid] = key
        return committed

    # --- attestations ------------------------------------------------------------------

    def sign(self, ref: str, key_name: str | None = None) -> Attested:
        """Sign the version's registration (its tag metadata) over the model's digest,
        after checking the model's bytes."""
        version = self.resolve(ref)
        key = self.signing_key(key_name)
        checked = model_bytes(self.project, version)
        if not checked.passed:
            raise VerificationError(version.ref, {checked.name: checked.detail})
        statement = Statement(_subject(version), MODEL_VERSION, dict(version.meta))
        return self._attest(version, "signature", statement, key)

    def verify(self, ref: str) -> Verification:
        return verify(self.project, self.resolve(ref), self.trusted_keys())

    def provenance(self, ref: str, *, sign: bool | None = None) -> Attested:
        from lockstep.supplychain.provenance import predicate
        from lockstep.supplychain.statement import SLSA_PROVENANCE

        version = self.resolve(ref)
        build = _build(self.root, version, self._run(version))
        statement = Statement(_subject(version), SLSA_PROVENANCE, predicate(build, os.environ))
        return self._attest(version, "provenance", statement, self._key_for(sign))

    def bom(self, ref: str, *, sign: bool | None = None) -> Attested:
        from lockstep.supplychain.bom import bom
        from lockstep.supplychain.statement import CYCLONEDX

        version = self.resolve(ref)
        spec = self.project.project_file.models.get(version.model)
        facts = _bom_facts(version, spec if isinstance(spec, dict) else {}, self._run(version))
        document = bom(facts)
        statement = Statement(_subject(version), CYCLONEDX, document)
        found = self._attest(version, "bom", statement, self._key_for(sign))
        return Attested(version, "bom", document, found.attestation, found.keyid)

    def scan_report(self, ref: str, *, sign: bool | None = None) -> Attested:
        """Scan the version's exact bytes and record the report (signed when a key exists)."""
        from lockstep.supplychain.statement import SCAN_REPORT

        version = self.resolve(ref)
        report = _scan_version(self.project, version)
        statement = Statement(_subject(version), SCAN_REPORT, report)
        return self._attest(version, "scan", statement, self._key_for(sign))

    def evidence(self, ref: str) -> list[Attested]:
        """What registration attaches: the scan report, provenance and the ML-BOM, and
        the signature when a signing key exists."""
        found = [self.scan_report(ref), self.provenance(ref), self.bom(ref)]
        if self.has_key():
            found.append(self.sign(ref))
        return found

    def attestations(self, ref: str) -> list[AttestationRef]:
        version = self.resolve(ref)
        return attestations.attestations(self.root, version.model, version.version)

    # --- helpers ------------------------------------------------------------------------

    def resolve(self, ref: str) -> Version:
        version = Registry.load(self.root).resolve(ref)
        if not model_digest(version):
            raise RegistryError(f"{version.tag} records no digest (a tag lockstep did not make)")
        return version

    def _attest(
        self, version: Version, kind: str, statement: Statement, key: SigningKey | None
    ) -> Attested:
        payload = statement.to_bytes()
        data = dsse.sign(payload, key).to_bytes() if key is not None else payload
        digest = self.project.ws.store.put_bytes(data)
        keyid = key.keyid if key is not None else None
        found = attestations.record(
            self.root, version, kind, digest, keyid=keyid, actor=self._actor()
        )
        return Attested(version, kind, statement.to_dict(), found, keyid)

    def _key_for(self, sign: bool | None) -> SigningKey | None:
        """``True``: the signing key (an error without one); ``None``: it if there is one."""
        if sign is False or (sign is None and not self.has_key()):
            return None
        return self.signing_key()

    def _run(self, version: Version) -> RunRecord | None:
        run_id = version.meta.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            return None
        from lockstep.tracking import get_run

        try:
            return get_run(run_id, uri=self.project.tracking_uri())
        except LockstepError:
            return None  # the run lives in a database this workspace cannot reach

    def _actor(self) -> str:
        return git.identity(self.root) or getpass.getuser()

    def _private_path(self, name: str) -> Path:
        return self.dir / KEYS_DIR / f"{name}{keys.PRIVATE_SUFFIX}"

    def _public_path(self, name: str) -> Path:
        return self.dir / TRUSTED_DIR / f"{name}{keys.PUBLIC_SUFFIX}"

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _unignore_trusted(self) -> bool:
        """Make .lockstep/.gitignore let Git see the trusted keys; True when changed."""
        ignore = self.dir / ".gitignore"
        text = ignore.read_text(encoding="utf-8") if ignore.exists() else ""
        if UNIGNORE_TRUSTED in text.splitlines():
            return False
        separator = "" if not text or text.endswith("\n") else "\n"
        fs.atomic_write_text(ignore, f"{text}{separator}{UNIGNORE_TRUSTED}\n")
        return True


def _default_name() -> str:
    found = re.sub(r"[^A-Za-z0-9._-]+", "-", getpass.getuser()).strip("-._")
    return found or "default"


def _subject(version: Version) -> tuple[Subject, ...]:
    return (Subject(version.model, model_digest(version)),)


def _build(root: Path, version: Version, run: RunRecord | None) -> Build:
    meta = version.meta
    registered = meta.get("time") if isinstance(meta.get("time"), str) else None
    started = run.start_time.isoformat() if run is not None else registered
    ended = run.end_time if run is not None else None
    return Build(
        stage=_str(meta.get("stage")),
        params=_dict(meta.get("params")),
        repository=git.remote_url(root, "origin") or str(root),
        commit=version.commit,
        inputs=_dict(meta.get("inputs")),
        run_id=_str(meta.get("run_id")),
        started=started,
        finished=ended.isoformat() if ended is not None else registered,
    )


def _bom_facts(version: Version, spec: dict[str, Any], run: RunRecord | None) -> ModelFacts:
    from lockstep.supplychain.bom import ModelFacts
    from lockstep.tracking import environment_info

    meta = version.meta
    evaluation = _dict(meta.get("evaluation"))
    packages = _dict((run.environment if run is not None else {}).get("packages"))
    return ModelFacts(
        name=version.model,
        version=str(version.version),
        digest=model_digest(version),
        flavor=_str(meta.get("flavor")),
        registered=_str(meta.get("time")),
        metrics=_dict(meta.get("metrics")),
        description=_str(spec.get("description")),
        intended_use=_str(spec.get("intended_use")),
        training=_dict(meta.get("inputs")),
        evaluation=_dict(evaluation.get("data")),
        packages=packages or environment_info()["packages"],
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _scan_version(project: Project, version: Version) -> dict[str, Any]:
    """lockstep scan of the version's bytes, copied out of the cache."""
    import tempfile

    from lockstep.store.export import export
    from lockstep.supplychain.scan import scan_path

    kind = str(version.meta.get("kind", "file"))
    shown = str(version.meta.get("path", "model"))
    with tempfile.TemporaryDirectory(prefix="lockstep-scan-") as tmp:
        copy = Path(tmp) / Path(shown).name
        export(project.ws, model_digest(version), kind, copy)
        report = scan_path(copy, project.config.scan.allow).to_dict()
    renamed: dict[str, Any] = _renamed(report, tmp, str(Path(shown).parent))
    return renamed


def _renamed(value: Any, old: str, new: str) -> Any:
    """The report with the temporary folder's name replaced by the model's folder."""
    if isinstance(value, str):
        return value.replace(old, new if new != "." else "").lstrip("/")
    if isinstance(value, list):
        return [_renamed(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _renamed(v, old, new) for k, v in value.items()}
    return value
