"""Read the registry from the repository's tags in one ``git for-each-ref`` pass.

Each tag lockstep writes is annotated; its message is a line for people, a
blank line, then a JSON object (format ``lockstep/registry@1``)::

    lockstep: register churn v1.2.0

    {"format": "lockstep/registry@1", "action": "register", "model": "churn",
     "version": "1.2.0", "digest": "sha256:...", "flavor": "skops", ...}

Tags made by GTO itself (no JSON) are read too, with empty metadata.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lockstep import git
from lockstep.errors import RegistryError
from lockstep.registry import names
from lockstep.registry.names import SemVer

FORMAT = "lockstep/registry@1"


def message(title: str, body: Mapping[str, Any]) -> str:
    """A tag message: the title, a blank line, the JSON metadata."""
    data = {"format": FORMAT, **body}
    return f"lockstep: {title}\n\n{json.dumps(data, indent=2, sort_keys=True, default=str)}\n"


def metadata(text: str) -> dict[str, Any]:
    start = text.find("\n{")
    if start < 0:
        return {}
    try:
        data = json.loads(text[start + 1 :])
    except ValueError:
        return {}
    return data if isinstance(data, dict) and data.get("format") == FORMAT else {}


def moment(meta: Mapping[str, Any], fallback: float | None) -> float:
    """When an event happened: the precise timestamp lockstep records, else the tag's
    date (whole seconds)."""
    found = meta.get("timestamp")
    return float(found) if isinstance(found, int | float) else (fallback or 0.0)


def iso(when: float | None) -> str | None:
    if when is None:
        return None
    return datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Version:
    model: str
    version: SemVer
    tag: str
    commit: str
    time: float | None
    actor: str | None
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.model}@v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        recorded = {k: v for k, v in self.meta.items() if k not in ("format", "action")}
        return recorded | {
            "model": self.model,
            "version": f"v{self.version}",
            "tag": self.tag,
            "commit": self.commit,
            "time": iso(self.time),
            "actor": self.actor,
        }


@dataclass(frozen=True)
class Assignment:
    model: str
    env: str
    number: int
    tag: str
    commit: str
    time: float | None
    actor: str | None
    version: SemVer | None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "environment": self.env,
            "number": self.number,
            "version": f"v{self.version}" if self.version else None,
            "tag": self.tag,
            "commit": self.commit,
            "time": iso(self.time),
            "actor": self.actor,
            "action": self.meta.get("action", "assign"),
            "gates": self.meta.get("gates", []),
            "reason": self.meta.get("reason"),
        }


@dataclass(frozen=True)
class Approval:
    model: str
    version: SemVer
    env: str
    actor: str
    time: float | None
    tag: str
    when: float = 0.0


@dataclass
class Registry:
    versions: dict[str, list[Version]] = field(default_factory=dict)
    assignments: dict[str, dict[str, list[Assignment]]] = field(default_factory=dict)
    approvals: list[Approval] = field(default_factory=list)

    @classmethod
    def load(cls, root: Path) -> Registry:
        registry = cls()
        records = git.tags(root)
        for record in records:
            registry._add_version(record)
        for record in records:
            registry._add_other(record)
        for found in registry.versions.values():
            found.sort(key=lambda v: v.version)
        for envs in registry.assignments.values():
            for assigned in envs.values():
                assigned.sort(key=lambda a: a.number)
        return registry

    def _add_version(self, record: git.TagRecord) -> None:
        parsed = names.parse_version_tag(record.name)
        if parsed is None:
            return
        model, version = parsed
        meta = metadata(record.message)
        actor = meta.get("actor") or record.tagger
        found = Version(model, version, record.name, record.commit, record.time, actor, meta)
        self.versions.setdefault(model, []).append(found)

    def _add_other(self, record: git.TagRecord) -> None:
        assigned = names.parse_assignment_tag(record.name)
        if assigned is not None:
            model, env, number = assigned
            meta = metadata(record.message)
            version = self._version_at(model, record.commit, meta)
            actor = meta.get("actor") or record.tagger
            found = Assignment(
                model, env, number, record.name, record.commit, record.time, actor, version, meta
            )
            self.assignments.setdefault(model, {}).setdefault(env, []).append(found)
            return
        approval = names.parse_approval_tag(record.name)
        if approval is not None:
            model, version, env = approval
            meta = metadata(record.message)
            actor = meta.get("actor") or record.tagger or "unknown"
            when = moment(meta, record.time)
            self.approvals.append(
                Approval(model, version, env, actor, record.time, record.name, when)
            )

    def _version_at(self, model: str, commit: str, meta: Mapping[str, Any]) -> SemVer | None:
        for version in self.versions.get(model, []):
            if version.commit == commit:
                return version.version
        given = meta.get("version")
        return SemVer.parse(given) if isinstance(given, str) else None

    # --- questions ------------------------------------------------------------------

    def models(self) -> list[str]:
        return sorted(set(self.versions) | set(self.assignments))

    def latest(self, model: str) -> Version | None:
        found = self.versions.get(model)
        return found[-1] if found else None

    def find(self, model: str, version: SemVer) -> Version | None:
        return next((v for v in self.versions.get(model, []) if v.version == version), None)

    def current(self, model: str, env: str) -> Assignment | None:
        """What ``env`` runs now: its highest-numbered assignment."""
        found = self.assignments.get(model, {}).get(env)
        return found[-1] if found else None

    def environments(self, model: str) -> dict[str, Assignment]:
        return {env: found[-1] for env, found in self.assignments.get(model, {}).items() if found}

    def next_number(self, model: str) -> int:
        """One above the model's highest assignment number in any environment (GTO)."""
        numbers = [a.number for found in self.assignments.get(model, {}).values() for a in found]
        return max(numbers, default=0) + 1

    def last_time(self, model: str) -> float:
        """The newest assignment's date: the next one must be later (GTO orders by date)."""
        times = [a.time or 0.0 for found in self.assignments.get(model, {}).values() for a in found]
        return max(times, default=0.0)

    def approvers(self, model: str, version: SemVer, env: str) -> list[str]:
        return sorted(
            {
                a.actor
                for a in self.approvals
                if a.model == model and a.version == version and a.env == env
            }
        )

    def resolve(self, ref: str) -> Version:
        """``NAME@vX.Y.Z``, ``NAME#ENV`` (what ENV runs now) or ``NAME`` (latest)."""
        if "#" in ref:
            model, _, env = ref.partition("#")
            assigned = self.current(model, env)
            if assigned is None or assigned.version is None:
                raise RegistryError(f"{ref}: environment {env} runs no version of {model}")
            return self._require(model, assigned.version, ref)
        if "@" in ref:
            model, _, text = ref.partition("@")
            return self._require(model, SemVer.parse(text), ref)
        latest = self.latest(ref)
        if latest is None:
            known = ", ".join(self.models()) or "none yet"
            raise RegistryError(f"no registered model named {ref!r} (registered: {known})")
        return latest

    def _require(self, model: str, version: SemVer, ref: str) -> Version:
        found = self.find(model, version)
        if found is None:
            raise RegistryError(f"{ref}: {model} has no version v{version}")
        return found
