"""Gates that need the supply-chain layer, handed to the registry's gate runner."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from lockstep.errors import RegistryError
from lockstep.registry.gates.base import Gate, GateContext, Verdict
from lockstep.registry.spec import GateSpec
from lockstep.types import parse_digest

if TYPE_CHECKING:
    from lockstep.project.core import Project


def supply_chain_gates(project: Project) -> Mapping[str, Gate]:
    def scan(spec: GateSpec, ctx: GateContext) -> Verdict:
        return scan_gate(project, ctx)

    def signature(spec: GateSpec, ctx: GateContext) -> Verdict:
        return signature_gate(project, ctx)

    return {"scan": scan, "signature": signature}


def signature_gate(project: Project, ctx: GateContext) -> Verdict:
    """``signature``: the model's bytes hash to the registered digest and a trusted
    key signed this version (lockstep verify)."""
    from lockstep.project.verify import verify

    result = verify(project, ctx.candidate, project.trust().trusted_keys())
    evidence = {"checks": [c.to_dict() for c in result.checks]}
    if result.passed:
        signed = sum(1 for c in result.checks if c.name.startswith("signature") and c.passed)
        return Verdict("signature", True, f"verified ({signed} signature check(s) pass)", evidence)
    name, detail = next(iter(result.failed.items()))
    return Verdict("signature", False, f"{name}: {detail}", evidence)


def scan_gate(project: Project, ctx: GateContext) -> Verdict:
    """``scan``: the version's exact bytes are safe to load (lockstep scan)."""
    from lockstep.supplychain.scan import scan_path

    version = ctx.candidate
    digest = parse_digest(version.meta.get("digest"))
    if digest is None:
        raise RegistryError(f"{version.ref} has no digest in its registration")
    kind = str(version.meta.get("kind", "file"))
    name = Path(str(version.meta.get("path", "model"))).name
    with tempfile.TemporaryDirectory(prefix="lockstep-scan-gate-") as tmp:
        copy = Path(tmp) / name
        ctx.materialize(digest, kind, copy)
        report = scan_path(copy, project.config.scan.allow)
    findings = [f.to_dict() for f in report.findings]
    for finding in findings:
        finding["file"] = str(finding.get("file", "")).replace(tmp, version.meta.get("path", ""))
    if report.safe:
        return Verdict(
            "scan", True, f"{len(report.files)} file(s) safe to load", {"files": len(report.files)}
        )
    first = report.findings[0]
    summary = f"{len(findings)} finding(s), first: {first.detail}"
    return Verdict("scan", False, summary, {"findings": findings[:20]})
