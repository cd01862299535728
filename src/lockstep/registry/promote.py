"""Assignments: promote a version to an environment behind its gates, approve one,
roll an environment back. Every change is a new annotated tag; none is moved or
deleted, so the tags are the history."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lockstep import git
from lockstep.errors import GitError, PromotionRaceError, RegistryError
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
    """Push one new tag. If the remote refuses it, ours is removed, so the local
    registry never shows what the team's does not: a tag of that name there means
    another change won the race; anything else is reported as it is."""
    try:
        git.push_tag(root, remote, tag)
    except git.TagPushRejectedError as exc:
        git.delete_tag(root, tag)
        raise PromotionRaceError(tag, remote) from exc
    except GitError:
        git.delete_tag(root, tag)
        raise


def gate_record(verdicts: Sequence[Verdict]) -> list[dict[str, Any]]:
    return [v.to_dict() for v in verdicts]


def approve(root: Path, registry: Registry, version: Version, env: str, actor: str) -> str | None:
    """Record ``actor``'s approval; None when they approved this already."""
    known = registry.approvers(version.model, version.version, env)
    if names.approver_key(actor) in {names.approver_key(a) for a in known}:
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
    """The version to roll back to: ``to`` (one ``env`` ran before), else the one it
    ran before the current one. A rollback never reaches a version the environment
    did not run: that is a promotion, with its gates."""
    current = registry.current(model, env)
    if current is None or current.version is None:
        raise RegistryError(f"{model}#{env}: the environment runs nothing to roll back from")
    if to is not None:
        return _earlier(registry, model, env, SemVer.parse(to), current.version)
    stack = registry.stack(model, env)
    if len(stack) < 2:
        raise RegistryError(
            f"{model}#{env} has nothing earlier to go back to than v{current.version}; "
            "give --to VERSION (one it ran before)"
        )
    return _registered(registry, model, stack[-2])


def _earlier(registry: Registry, model: str, env: str, wanted: SemVer, running: SemVer) -> Version:
    if wanted == running:
        raise RegistryError(f"{model}#{env} runs v{wanted} already")
    if wanted not in registry.ran(model, env):
        raise RegistryError(
            f"{model}#{env} never ran v{wanted}: promote it with 'lockstep model promote' "
            "(a rollback returns only to a version the environment ran before)"
        )
    return _registered(registry, model, wanted)


def _registered(registry: Registry, model: str, version: SemVer) -> Version:
    found = registry.find(model, version)
    if found is None:
        raise RegistryError(f"{model} has no registered version v{version}")
    return found
