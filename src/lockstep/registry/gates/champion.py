"""``champion: {metric, min_delta, direction}``: the candidate beats the version the
environment runs now, on the same evaluation data.

Passes when the environment runs nothing yet. The metrics come from each
version's registration (read from ``lockstep.lock`` when it was registered). When
the two versions were evaluated on different data (the digests differ), the
gate fails and says so, unless the environment gives ``reevaluate: CMD``: then
CMD evaluates both versions on the data of today. CMD runs in the workspace
with ``LOCKSTEP_MODEL`` (a copy of the model file or folder),
``LOCKSTEP_MODEL_VERSION`` and ``LOCKSTEP_METRICS`` (a JSON file CMD writes,
``{"f1": 0.91, ...}``) in its environment.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from lockstep.errors import RegistryError
from lockstep.registry.gates.base import GateContext, Verdict
from lockstep.registry.spec import GateSpec
from lockstep.registry.tags import Version
from lockstep.types import parse_digest


def evaluate(spec: GateSpec, ctx: GateContext) -> Verdict:
    metric = str(spec.options["metric"])
    current = ctx.registry.current(ctx.candidate.model, ctx.env.name)
    if current is None or current.version is None:
        return Verdict("champion", True, f"{ctx.env.name} runs no version yet", {"metric": metric})
    champion = ctx.registry.find(ctx.candidate.model, current.version)
    if champion is None:
        return Verdict("champion", True, f"{ctx.env.name} runs an unregistered version", {})
    if champion.version == ctx.candidate.version:
        return Verdict("champion", True, f"{ctx.env.name} runs this version already", {})
    ours, theirs = _eval_data(ctx.candidate), _eval_data(champion)
    if ours != theirs:
        if ctx.env.reevaluate is None:
            return _different_data(metric, ctx.candidate, champion, ours, theirs)
        values = {v.ref: _reevaluate(ctx, v, metric) for v in (ctx.candidate, champion)}
        how = "re-evaluated on the current data"
    else:
        values = {v.ref: _recorded(v, metric) for v in (ctx.candidate, champion)}
        how = "on the same evaluation data"
    return _compare(spec, (ctx.candidate, champion), values, how)


def _eval_data(version: Version) -> dict[str, str]:
    evaluation = version.meta.get("evaluation") or {}
    data = evaluation.get("data") if isinstance(evaluation, dict) else None
    return dict(data) if isinstance(data, dict) else {}


def _recorded(version: Version, metric: str) -> float | None:
    value = (version.meta.get("metrics") or {}).get(metric)
    return float(value) if isinstance(value, int | float) else None


def _different_data(
    metric: str, ours: Version, champion: Version, a: dict[str, str], b: dict[str, str]
) -> Verdict:
    changed = sorted(p for p in set(a) | set(b) if a.get(p) != b.get(p))
    summary = (
        f"{ours.ref} and {champion.ref} were evaluated on different data "
        f"({', '.join(changed)}); give the environment 'reevaluate: CMD' to compare them"
    )
    evidence = {"metric": metric, "candidate_data": a, "champion_data": b}
    return Verdict("champion", False, summary, evidence)


def _compare(
    spec: GateSpec,
    versions: tuple[Version, Version],
    values: dict[str, float | None],
    how: str,
) -> Verdict:
    ours, champion = versions
    metric = str(spec.options["metric"])
    mine, theirs = values[ours.ref], values[champion.ref]
    evidence: dict[str, Any] = {
        "metric": metric,
        "direction": spec.options["direction"],
        "min_delta": spec.options["min_delta"],
        "candidate": {"version": ours.ref, "value": mine},
        "champion": {"version": champion.ref, "value": theirs},
        "compared": how,
    }
    if mine is None or theirs is None:
        missing = ours.ref if mine is None else champion.ref
        return Verdict("champion", False, f"{missing} has no metric {metric!r}", evidence)
    gain = mine - theirs if spec.options["direction"] == "max" else theirs - mine
    evidence["delta"] = gain
    passed = gain >= float(spec.options["min_delta"])
    verb = "beats" if passed else "does not beat"
    summary = (
        f"{metric} {mine:.6g} {verb} {champion.ref}'s {theirs:.6g} by the required "
        f"{spec.options['min_delta']} ({how})"
    )
    return Verdict("champion", passed, summary, evidence)


def _reevaluate(ctx: GateContext, version: Version, metric: str) -> float | None:
    digest = parse_digest(version.meta.get("digest"))
    if digest is None:
        raise RegistryError(f"{version.ref} has no digest in its registration")
    kind = str(version.meta.get("kind", "file"))
    with tempfile.TemporaryDirectory(prefix="lockstep-reeval-") as tmp:
        model = Path(tmp) / Path(str(version.meta.get("path", "model"))).name
        ctx.materialize(digest, kind, model)
        out = Path(tmp) / "metrics.json"
        env = {
            "LOCKSTEP_MODEL": str(model),
            "LOCKSTEP_MODEL_VERSION": str(version.version),
            "LOCKSTEP_METRICS": str(out),
        }
        assert ctx.env.reevaluate is not None
        code, tail = ctx.run(ctx.env.reevaluate, env)
        if code != 0:
            raise RegistryError(f"reevaluate of {version.ref} exited {code}: {tail}")
        try:
            value = json.loads(out.read_text()).get(metric)
        except (OSError, ValueError, AttributeError) as exc:
            raise RegistryError(f"reevaluate of {version.ref} wrote no JSON metrics") from exc
    ok = isinstance(value, int | float) and math.isfinite(value)
    return float(value) if ok else None
