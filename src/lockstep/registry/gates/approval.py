"""``approval: {count: N}``: N distinct people approved this version for this
environment (``lockstep model approve REF --env ENV``)."""

from __future__ import annotations

from lockstep.registry.gates.base import GateContext, Verdict
from lockstep.registry.spec import GateSpec


def evaluate(spec: GateSpec, ctx: GateContext) -> Verdict:
    needed = int(spec.options["count"])
    version = ctx.candidate
    approvers = ctx.registry.approvers(version.model, version.version, ctx.env.name)
    passed = len(approvers) >= needed
    summary = f"{len(approvers)} of {needed} approval(s)" + (
        "" if passed else f"; run 'lockstep model approve {version.ref} --env {ctx.env.name}'"
    )
    return Verdict("approval", passed, summary, {"needed": needed, "approvers": approvers})
