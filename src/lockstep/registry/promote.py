"""Assignments: promote a version to an environment behind its gates, approve one,
roll an environment back. Every change is a new annotated tag; none is moved or
deleted, so the tags are the history."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lockstep import git
from lockstep.errors import PromotionRaceError, RegistryError
from lockstep.registry import names, tags
from lockstep.registry.gates.base import Verdict
from lockstep.registry.names import SemVer
from lockstep.registry.tags import Registry, Version


def assign(
    root: Path,
    registry: Registry,
    version: Version,
    env: str,
    *,
    actor: str,
    extra: Mapping[str, Any],
    push_to: str | None = None,
) -> str:
    """Create ``NAME#ENV#N`` (N one above the highest) on the version's commit."""
    current = registry.current(version.model, env)
    number = registry.next_number(version.model)
    when = max(int(time.time()), int(registry.last_time(version.model)) + 1)
    tag = names.assignment_tag(version.model, env, number)
    body = {
        "action": "promote",
        "model": version.model,
        "environment": env,
        "number": number,
        "version": str(version.version),
        "digest": version.meta.get("digest"),
        "previous": str(current.version) if current and current.version else None,
        "actor": actor,
        "time": tags.iso(when),
        "timestamp": time.time(),  # when it happened, finer than the tag's date
        **extra,
    }
    title = f"{body['action']} {version.model} v{version.version} to {env}"
    git.create_tag(root, tag, tags.message(title, body), version.commit, when=when)
    if push_to is not None:
        publish(root, tag, push_to)
    return tag


def publish(root: Path, tag: str, remote: str) -> None:
    """Push one new tag; if the remote has it already, remove ours and say who won."""
    try:
        git.push_tag(root, remote, tag)
    except git.TagPushRejectedError as exc:
        git.delete_tag(root, tag)
        raise PromotionRaceError(tag, remote) from exc


def gate_record(verdicts: Sequence[Verdict]) -> list[dict[str, Any]]:
    return [v.to_dict() for v in verdicts]


def approve(root: Path, registry: Registry, version: Version, env: str, actor: str) -> str | None:
    """Record ``actor``'s approval; None when they approved this already."""
    if actor in registry.approvers(version.model, version.version, env):
        return None
    tag = names.approval_tag(version.model, version.version, env, actor)
    body = {
        "action": "approve",
        "model": version.model,
        "version": str(version.version),
        "environment": env,
        "actor": actor,
        "time": tags.iso(time.time()),
        "timestamp": time.time(),
    }
    title = f"approve {version.model} v{version.version} for {env}"
    git.create_tag(root, tag, tags.message(title, body), version.commit)
    return tag


def rollback_target(registry: Registry, model: str, env: str, to: str | None) -> Version:
    """The version to roll back to: ``to``, else the one ``env`` ran before this one."""
    current = registry.current(model, env)
    if current is None or current.version is None:
        raise RegistryError(f"{model}#{env}: the environment runs nothing to roll back from")
    if to is not None:
        wanted = SemVer.parse(to)
        found = registry.find(model, wanted)
        if found is None:
            raise RegistryError(f"{model} has no version v{wanted}")
        return found
    for earlier in reversed(registry.assignments[model][env][:-1]):
        if earlier.version is not None and earlier.version != current.version:
            found = registry.find(model, earlier.version)
            if found is not None:
                return found
    raise RegistryError(
        f"{model}#{env} has run only v{current.version}; give --to VERSION to pick another"
    )
