"""``model history``: every registration, approval and assignment in time order,
and the commits between consecutive versions with the issues they mention."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockstep import git
from lockstep.registry.tags import Assignment, Registry, Version, iso, moment

ISSUE_REF = re.compile(r"(?<![\w&])(?:[\w.-]+/[\w.-]+)?#\d+\b|\b[A-Z][A-Z0-9]+-\d+\b")
# NAME-123 words that are standards or encodings, not tickets
NOT_ISSUES = frozenset({"SHA", "UTF", "ISO", "RFC", "PY", "CVE", "TLS", "SSL", "HTTP", "IPV", "MD"})


@dataclass(frozen=True)
class Change:
    """A commit between two versions."""

    sha: str
    subject: str
    author: str
    issues: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "commit": self.sha,
            "subject": self.subject,
            "author": self.author,
            "issues": list(self.issues),
        }


@dataclass(frozen=True)
class Event:
    time: float | None
    action: str  # register | promote | rollback | approve
    model: str
    version: str | None
    env: str | None
    actor: str | None
    commit: str
    tag: str
    gates: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None
    changes: list[Change] = field(default_factory=list)  # since the previous version
    when: float = 0.0  # for ordering: precise when recorded, else the tag's date

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": iso(self.time),
            "action": self.action,
            "model": self.model,
            "version": self.version,
            "environment": self.env,
            "actor": self.actor,
            "commit": self.commit,
            "tag": self.tag,
            "gates": self.gates,
            "reason": self.reason,
            "changes": [c.to_dict() for c in self.changes],
        }


def history(root: Path, registry: Registry, model: str, env: str | None = None) -> list[Event]:
    """The model's events, oldest first; with ``env``, only that environment's
    assignments and approvals (and the registrations of the versions it ran)."""
    assigned = [
        a
        for e, found in registry.assignments.get(model, {}).items()
        if env in (None, e)
        for a in found
    ]
    versions = registry.versions.get(model, [])
    if env is not None:
        ran = {a.version for a in assigned}
        versions = [v for v in versions if v.version in ran]
    events = _registrations(root, versions) + [_assignment(a) for a in assigned]
    events += [
        Event(p.time, "approve", model, f"v{p.version}", p.env, p.actor, "", p.tag, when=p.when)
        for p in registry.approvals
        if p.model == model and env in (None, p.env)
    ]
    return sorted(events, key=lambda e: (e.when, e.tag))


def _registrations(root: Path, versions: list[Version]) -> list[Event]:
    events = []
    previous: Version | None = None
    for version in sorted(versions, key=lambda v: v.version):
        changes = _changes(root, previous.commit, version.commit) if previous else []
        events.append(
            Event(
                version.time,
                "register",
                version.model,
                f"v{version.version}",
                None,
                version.actor,
                version.commit,
                version.tag,
                changes=changes,
                reason=_text(version.meta.get("reason")),
                when=moment(version.meta, version.time),
            )
        )
        previous = version
    return events


def _assignment(a: Assignment) -> Event:
    gates = a.meta.get("gates")
    return Event(
        a.time,
        str(a.meta.get("action", "promote")),
        a.model,
        f"v{a.version}" if a.version else None,
        a.env,
        a.actor,
        a.commit,
        a.tag,
        gates=list(gates) if isinstance(gates, list) else [],
        reason=_text(a.meta.get("reason")),
        when=moment(a.meta, a.time),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _changes(root: Path, old: str, new: str) -> list[Change]:
    if old == new:
        return []
    return [
        Change(c.sha, c.subject, c.author, tuple(dict.fromkeys(_issues(c))))
        for c in git.log(root, f"{old}..{new}")
    ]


def _issues(commit: git.Commit) -> list[str]:
    found = ISSUE_REF.findall(f"{commit.subject}\n{commit.body}")
    return [ref for ref in found if ref.split("-", 1)[0] not in NOT_ISSUES]


def running_at(registry: Registry, model: str, env: str, when: float) -> Assignment | None:
    """What ``env`` ran at time ``when``: the newest assignment made by then."""
    found = [a for a in registry.assignments.get(model, {}).get(env, []) if (a.time or 0.0) <= when]
    return found[-1] if found else None
