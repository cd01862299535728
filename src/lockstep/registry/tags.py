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
import re
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
_REF = re.compile(
    rf"(?P<model>{names.NAME})(?:@(?P<version>v?\d+\.\d+\.\d+|latest|greatest)|#(?P<env>{names.NAME}))?"
)


def ref_model(ref: str) -> str | None:
    """The model a registry reference names, or None when ``ref`` is not one."""
    found = _REF.fullmatch(ref)
    return found["model"] if found else None


def message(title: str, body: Mapping[str, Any]) -> str:
    """A tag message: the title, a blank line, the JSON metadata."""
    data = {"format": FORMAT, **body}
    return f"lockstep: {title}\n\n{json.dumps(data, indent=2, sort_keys=True, default=str)}\n"


def metadata(text: str) -> dict[str, Any]:
    """The JSON object of a tag message (anything after it, such as the signature
    block of a signed tag, is ignored); empty when there is none."""
    start = text.find("\n{")
    if start < 0:
        return {}
    try:
        data, _ = json.JSONDecoder().raw_decode(text, start + 1)
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
    cancel: bool = False  # GTO's unassignment

    @property
    def action(self) -> str:
        return "unassign" if self.cancel else str(self.meta.get("action", "promote"))

    @property
    def when(self) -> float:
        return moment(self.meta, self.time)

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
            "action": self.action,
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
    numbers: dict[str, set[int]] = field(default_factory=dict)  # every #N a model's tags use

    @classmethod
    def load(cls, root: Path) -> Registry:
        """The registry of the repository at ``root``: annotated tags only (as GTO)."""
        registry = cls()
        records = [(r, names.parse(r.name)) for r in git.tags(root) if r.annotated]
        found = [(r, n) for r, n in records if n is not None]
        dropped = {(n.model, n.version) for _, n in found if n.kind == "version" and n.cancel}
        for record, name in found:
            alive = (name.model, name.version) not in dropped
            if name.kind == "version" and not name.cancel and alive:
                registry._add_version(record, name)
            registry.numbers.setdefault(name.model, set()).add(name.number)
        for record, name in found:
            if name.kind == "assignment":
                registry._add_assignment(record, name)
            elif name.kind == "approval":
                registry._add_approval(record, name)
        for versions in registry.versions.values():
            versions.sort(key=lambda v: v.version)
        for envs in registry.assignments.values():
            for assigned in envs.values():
                assigned.sort(key=lambda a: (a.time or 0.0, a.number))
        return registry

    def _add_version(self, record: git.TagRecord, name: names.TagName) -> None:
        assert name.version is not None
        meta = metadata(record.message)
        actor = meta.get("actor") or record.tagger
        found = Version(
            name.model, name.version, record.name, record.commit, record.time, actor, meta
        )
        self.versions.setdefault(name.model, []).append(found)

    def _add_assignment(self, record: git.TagRecord, name: names.TagName) -> None:
        assert name.env is not None
        meta = metadata(record.message)
        version = self._version_at(name.model, record.commit, meta)
        actor = meta.get("actor") or record.tagger
        found = Assignment(
            name.model,
            name.env,
            name.number,
            record.name,
            record.commit,
            record.time,
            actor,
            version,
            meta,
            name.cancel,
        )
        self.assignments.setdefault(name.model, {}).setdefault(name.env, []).append(found)

    def _add_approval(self, record: git.TagRecord, name: names.TagName) -> None:
        assert name.version is not None and name.env is not None
        meta = metadata(record.message)
        actor = meta.get("actor") or record.tagger or "unknown"
        when = moment(meta, record.time)
        approval = Approval(
            name.model, name.version, name.env, actor, record.time, record.name, when
        )
        self.approvals.append(approval)

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

    def stack(self, model: str, env: str) -> list[SemVer]:
        """The versions ``env`` can fall back to, the running one last: an assignment
        puts its version on top, an unassignment takes it out, and a rollback also
        takes out the version it rolled back from."""
        stack: list[SemVer] = []
        for a in self.assignments.get(model, {}).get(env, []):
            if a.version is None:
                continue
            if a.version in stack:
                stack.remove(a.version)
            if a.cancel:
                continue
            rolled = a.meta.get("from") if a.action == "rollback" else None
            if isinstance(rolled, str):
                stack = [v for v in stack if str(v) != rolled]
            stack.append(a.version)
        return stack

    def current(self, model: str, env: str) -> Assignment | None:
        """What ``env`` runs now: the newest assignment of the version on top."""
        stack = self.stack(model, env)
        if not stack:
            return None
        found = self.assignments[model][env]
        return next(a for a in reversed(found) if a.version == stack[-1] and not a.cancel)

    def ran(self, model: str, env: str) -> list[SemVer]:
        """Every version ever assigned to ``env``."""
        found = self.assignments.get(model, {}).get(env, [])
        return sorted({a.version for a in found if a.version is not None and not a.cancel})

    def environments(self, model: str) -> dict[str, Assignment]:
        running = {env: self.current(model, env) for env in self.assignments.get(model, {})}
        return {env: a for env, a in running.items() if a is not None}

    def next_number(self, model: str) -> int:
        """One above the highest ``#N`` of the model's tags (GTO's counter)."""
        return max(self.numbers.get(model, {0}) | {0}) + 1

    def last_time(self, model: str) -> float:
        """The newest assignment's date: the next one must be later (GTO orders by date)."""
        times = [a.time or 0.0 for found in self.assignments.get(model, {}).values() for a in found]
        return max(times, default=0.0)

    def approvers(self, model: str, version: SemVer, env: str) -> list[str]:
        """Distinct approvers (one per e-mail address), as their identities."""
        found: dict[str, str] = {}
        for a in self.approvals:
            if a.model == model and a.version == version and a.env == env:
                found.setdefault(names.approver_key(a.actor), a.actor)
        return sorted(found.values())

    def resolve(self, ref: str) -> Version:
        """``NAME@vX.Y.Z``, ``NAME@latest``, ``NAME#ENV`` (what ENV runs now) or ``NAME``
        (the latest version)."""
        found = _REF.fullmatch(ref)
        if found is None:
            raise RegistryError(f"{ref!r} is not a model reference (NAME, NAME@vX.Y.Z or NAME#ENV)")
        model, version, env = found["model"], found["version"], found["env"]
        if model not in self.models():
            known = ", ".join(self.models()) or "none yet"
            raise RegistryError(f"no registered model named {model!r} (registered: {known})")
        if env is not None:
            assigned = self.current(model, env)
            if assigned is None or assigned.version is None:
                raise RegistryError(f"{ref}: environment {env} runs no version of {model}")
            return self._require(model, assigned.version, ref)
        if version is not None and version not in ("latest", "greatest"):
            return self._require(model, SemVer.parse(version), ref)
        latest = self.latest(model)
        if latest is None:
            raise RegistryError(f"{model} has no registered version")
        return latest

    def _require(self, model: str, version: SemVer, ref: str) -> Version:
        found = self.find(model, version)
        if found is None:
            raise RegistryError(f"{ref}: {model} has no version v{version}")
        return found
