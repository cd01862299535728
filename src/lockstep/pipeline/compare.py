"""Metrics and params of two pipeline states side by side (``metrics diff``,
``params diff``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lockstep.pipeline.lockfile import LockFile


@dataclass(frozen=True)
class Change:
    stage: str
    key: str
    old: Any
    new: Any

    @property
    def changed(self) -> bool:
        return bool(self.old != self.new)

    @property
    def delta(self) -> float | None:
        if _number(self.old) and _number(self.new):
            return float(self.new) - float(self.old)
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "key": self.key,
            "old": self.old,
            "new": self.new,
            "delta": self.delta,
        }


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


Values = Mapping[str, Mapping[str, Any]]  # stage -> key -> value


def metrics_of(lock: LockFile) -> dict[str, dict[str, Any]]:
    return {name: dict(s.metrics) for name, s in lock.stages.items() if s.metrics}


def params_of(lock: LockFile) -> dict[str, dict[str, Any]]:
    return {name: dict(s.params) for name, s in lock.stages.items() if s.params}


def compare(old: Values, new: Values, *, everything: bool = False) -> list[Change]:
    """Every (stage, key) in either side; only the changed ones unless ``everything``."""
    changes = []
    for stage in sorted(set(old) | set(new)):
        before, after = old.get(stage, {}), new.get(stage, {})
        for key in sorted(set(before) | set(after)):
            change = Change(stage, key, before.get(key), after.get(key))
            if everything or change.changed:
                changes.append(change)
    return changes
