"""``model register``: a new version as the annotated tag ``NAME@vX.Y.Z`` on HEAD."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockstep import git
from lockstep.errors import RegistryError
from lockstep.registry import names, tags
from lockstep.registry.lineage import Lineage
from lockstep.registry.names import SemVer
from lockstep.registry.tags import Registry, Version
from lockstep.store.pointer import Pointer
from lockstep.types import format_digest


@dataclass(frozen=True)
class Candidate:
    """A model file as committed at ``commit``, with where it came from."""

    model: str
    path: str
    pointer: Pointer  # the committed pointer or lock entry
    commit: str
    flavor: str
    lineage: Lineage
    actor: str
    signature: dict[str, Any] | None = None  # the input columns, when known


def next_version(registry: Registry, model: str, given: str | None) -> SemVer:
    if given is not None:
        return SemVer.parse(given)
    latest = registry.latest(model)
    return latest.version.bump_patch() if latest else SemVer(0, 0, 1)


def register(
    root: Path,
    registry: Registry,
    candidate: Candidate,
    given: str | None,
    *,
    reason: str | None = None,
) -> str:
    """Create the version tag; its name. Refuses a version that exists, and a second
    version of the model on one commit (as GTO)."""
    version = next_version(registry, candidate.model, given)
    existing = registry.find(candidate.model, version)
    if existing is not None:
        raise RegistryError(
            f"{existing.ref} is registered already (commit {existing.commit[:12]}); "
            "give another --version"
        )
    on_commit = _on_commit(registry.versions.get(candidate.model, []), candidate.commit)
    if on_commit is not None:
        raise RegistryError(
            f"commit {candidate.commit[:12]} already holds {on_commit.ref}; one commit holds "
            "at most one version of a model: commit the new model first"
        )
    tag = names.version_tag(candidate.model, version)
    body = {
        "action": "register",
        "model": candidate.model,
        "version": str(version),
        "path": candidate.path,
        "digest": format_digest(candidate.pointer.digest),
        "kind": candidate.pointer.kind,
        "size": candidate.pointer.size,
        "flavor": candidate.flavor,
        "commit": candidate.commit,
        "actor": candidate.actor,
        "time": tags.iso(time.time()),
        "timestamp": time.time(),
        **candidate.lineage.to_dict(),
    }
    if candidate.signature is not None:
        body["signature"] = candidate.signature
    if reason:
        body["reason"] = reason
    git.create_tag(root, tag, tags.message(f"register {candidate.model} v{version}", body))
    return tag


def _on_commit(versions: list[Version], commit: str) -> Version | None:
    return next((v for v in versions if v.commit == commit), None)
