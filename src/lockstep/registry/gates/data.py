"""``data``: the version's training data passes the model's schema.

The schema file is the model's ``schema:`` in ``lockstep.yaml``, read at the
version's commit. The data are the version's recorded inputs (the deps of the
stage that produced it), or the model's ``data:`` paths among them; each is
read from the cache by the digest the registration recorded, so the check is
of the exact bytes the model was trained on.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from lockstep.errors import InputError
from lockstep.registry.gates.base import GateContext, Verdict
from lockstep.registry.spec import GateSpec
from lockstep.types import parse_digest

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def evaluate(spec: GateSpec, ctx: GateContext) -> Verdict:
    model, version = ctx.model, ctx.candidate
    if model is None or model.schema is None:
        return Verdict("data", False, "the model has no 'schema:' in lockstep.yaml", {})
    schema = ctx.read_at(version.commit, model.schema)
    if schema is None:
        return Verdict("data", False, f"{model.schema} is not in commit {version.commit[:12]}", {})
    inputs = _inputs(version.meta.get("inputs"), model.data)
    if not inputs:
        return Verdict("data", False, "no training data recorded for this version", {})
    text = schema.decode("utf-8")
    reports = {path: _check(ctx, (path, held, digest), text) for path, held, digest in inputs}
    failed = sorted(p for p, r in reports.items() if not r.get("ok"))
    summary = (
        f"{len(reports)} dataset(s) pass {model.schema}"
        if not failed
        else f"{', '.join(failed)} fail(s) {model.schema}: " + _first_failures(reports, failed)
    )
    evidence = {"schema": model.schema, "datasets": reports}
    return Verdict("data", not failed, summary, evidence)


def _inputs(recorded: object, chosen: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(path to check, recorded path holding it, its digest): every recorded table, or
    the model's ``data:`` paths, which may lie inside a recorded folder."""
    if not isinstance(recorded, dict):
        return []
    pairs = sorted((str(p), str(d)) for p, d in recorded.items())
    if not chosen:
        return [(p, p, d) for p, d in pairs if _tabular(p)]
    found = []
    for wanted in chosen:
        for path, digest in pairs:
            if wanted == path or wanted.startswith(path + "/"):
                found.append((wanted, path, digest))
                break
    return found


def _tabular(path: str) -> bool:
    name = path.lower()
    return name.endswith(TABLE_SUFFIXES) or "." not in name.rpartition("/")[2]


def _check(ctx: GateContext, where: tuple[str, str, str], schema: str) -> dict[str, Any]:
    """Validate one recorded dataset (or a part of a recorded folder); problems
    reading it fail it, with the reason."""
    from lockstep.datacheck import files_under, load_table, validate

    path, held, digest = where
    hex_digest = parse_digest(digest)
    if hex_digest is None:
        return {"ok": False, "error": f"bad digest {digest!r}"}
    with tempfile.TemporaryDirectory(prefix="lockstep-data-gate-") as tmp:
        copy = Path(tmp) / Path(held).name
        ctx.materialize(hex_digest, "auto", copy)
        dest = copy / path[len(held) + 1 :] if path != held else copy
        try:
            files = [(_shown(name, dest, path), real) for name, real in files_under(dest)]
            report = validate(load_table(files), schema, str(ctx.model.schema if ctx.model else ""))
        except InputError as exc:
            return {"ok": False, "error": str(exc).replace(str(dest), path)}
    return {"ok": report.ok, **report.to_dict()}


def _shown(name: str, dest: Path, path: str) -> str:
    """A file's name as the workspace knows it, not its temporary copy's."""
    return path + name[len(str(dest)) :] if name.startswith(str(dest)) else name


def _first_failures(reports: dict[str, dict[str, Any]], failed: list[str]) -> str:
    shown = []
    for path in failed:
        for failure in reports[path].get("failures", [])[:3]:
            shown.append(f"{failure.get('column')}: {failure.get('check')}")
        if "error" in reports[path]:
            shown.append(str(reports[path]["error"]))
    return "; ".join(shown[:5])
