"""The gate framework: each gate is a function from its options and a context to a
:class:`Verdict` (pass or fail, a one-line summary, and the evidence)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockstep.errors import LockstepError
from lockstep.registry.spec import EnvironmentSpec, GateSpec, ModelSpec
from lockstep.registry.tags import Registry, Version


@dataclass(frozen=True)
class Verdict:
    gate: str
    passed: bool
    summary: str
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "passed": self.passed,
            "summary": self.summary,
            "evidence": dict(self.evidence),
        }


@dataclass(frozen=True)
class GateContext:
    """What a gate may look at. ``materialize(digest, kind, dest)`` puts a cached
    file or folder at ``dest`` (a missing object raises); ``run(cmd, env)`` runs a
    command in the workspace and returns (exit code, output tail)."""

    root: Path
    registry: Registry
    candidate: Version
    env: EnvironmentSpec
    model: ModelSpec | None
    materialize: Callable[[str, str, Path], None]
    read_at: Callable[[str, str], bytes | None]  # (commit, path) -> bytes
    run: Callable[[str, Mapping[str, str]], tuple[int, str]]


Gate = Callable[[GateSpec, GateContext], Verdict]


def run_gates(ctx: GateContext, more: Mapping[str, Gate] | None = None) -> list[Verdict]:
    """Every gate of the environment, in order; one that cannot be evaluated fails.
    ``more`` supplies gates the registry does not implement itself (scan, signature)."""
    from lockstep.registry.gates import approval, champion, data

    table: dict[str, Gate] = {
        "data": data.evaluate,
        "champion": champion.evaluate,
        "approval": approval.evaluate,
        **(more or {}),
    }
    verdicts = []
    for spec in ctx.env.gates:
        gate = table.get(spec.name)
        if gate is None:
            verdicts.append(Verdict(spec.name, False, "this gate is not available here"))
            continue
        try:
            verdicts.append(gate(spec, ctx))
        except LockstepError as exc:
            verdicts.append(Verdict(spec.name, False, f"could not be evaluated: {exc}"))
    return verdicts
