"""Registry commands: ``model register|list|show|approve|promote|rollback|history``
and ``check``."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import typer

from lockstep.cli.app import JSON_OPTION, echo, emit_json, open_project
from lockstep.errors import GatesFailedError, InputError

if TYPE_CHECKING:
    from lockstep.registry.gates.base import Verdict
    from lockstep.registry.history import Event
    from lockstep.registry.tags import Registry, Version

model_app = typer.Typer(
    name="model",
    no_args_is_help=True,
    help="The model registry: versions and environments as Git tags (GTO's conventions).",
)

REF = typer.Argument(
    ..., metavar="REF", help="NAME@vX.Y.Z, NAME#ENV (what ENV runs now) or NAME (latest)."
)
PUSH = typer.Option(
    None,
    "--push/--no-push",
    help="Push the new tag to the registry remote ([registry] remote, default origin); "
    "default: [registry] push in the config.",
)


@model_app.command("register")
def register(
    name: str = typer.Argument(..., help="The model's name (as in lockstep.yaml models:)."),
    path: str = typer.Option(
        None, "--path", "-p", help="The model file or folder (default: the model's path:)."
    ),
    version: str = typer.Option(
        None, "--version", help="X.Y.Z (default: the latest version with its patch bumped)."
    ),
    push: bool = PUSH,
    json_output: bool = JSON_OPTION,
) -> None:
    """Register the committed model as version NAME@vX.Y.Z (an annotated tag on HEAD).

    The model's pointer file or lockstep.lock entry must be committed and the
    workspace must hold the same bytes. The tag message records the digest,
    the flavor, and from lockstep.lock the metrics, params, run id and input
    data of the stage that produced it, with who registered it and when.
    """
    project = open_project()
    found = project.models().register(name, path, version, push=push)
    pushed = project.config.registry.push if push is None else push
    if json_output:
        emit_json(found.to_dict())
        return
    meta = found.meta
    what = f"{meta.get('flavor')}, {meta.get('digest')}"
    echo(f"Registered {found.ref} ({what}) on {found.commit[:12]}")
    metrics = meta.get("metrics") or {}
    if metrics:
        echo("  metrics: " + ", ".join(f"{k}={_num(v)}" for k, v in sorted(metrics.items())))
    if pushed:
        echo(f"Pushed {found.tag} to {project.config.registry.remote}.")
        echo(f"Next: lockstep model promote {found.ref} --to ENV")
    else:
        remote = project.config.registry.remote
        echo(
            f"Next: git push {remote} {found.tag}, then lockstep model promote {found.ref} --to ENV"
        )


@model_app.command("list")
def list_models(json_output: bool = JSON_OPTION) -> None:
    """List registered models: the latest version and what each environment runs."""
    registry = open_project().models().registry()
    rows = [_summary(registry, name) for name in registry.models()]
    if json_output:
        emit_json(rows)
        return
    if not rows:
        echo("No registered models. Register one with: lockstep model register NAME --path PATH")
        return
    envs = sorted({env for row in rows for env in row["environments"]})
    header = ["model", "latest", *[f"#{e}" for e in envs]]
    table = [
        [r["model"], r["latest"] or "-", *[r["environments"].get(e) or "-" for e in envs]]
        for r in rows
    ]
    _table(header, table)


def _summary(registry: Registry, name: str) -> dict[str, Any]:
    latest = registry.latest(name)
    envs = {
        env: f"v{a.version}" if a.version else None
        for env, a in sorted(registry.environments(name).items())
    }
    return {
        "model": name,
        "latest": f"v{latest.version}" if latest else None,
        "versions": [f"v{v.version}" for v in registry.versions.get(name, [])],
        "environments": envs,
    }


@model_app.command("show")
def show(ref: str = REF, json_output: bool = JSON_OPTION) -> None:
    """Show one version: digest, flavor, metrics, params, lineage, environments."""
    registry = open_project().models().registry()
    version = registry.resolve(ref)
    running = [
        env
        for env, a in sorted(registry.environments(version.model).items())
        if a.version == version.version
    ]
    if json_output:
        emit_json(version.to_dict() | {"environments": running})
        return
    _print_version(version, running)


def _print_version(version: Version, running: list[str]) -> None:
    meta = version.meta
    echo(f"{version.ref}")
    for label, value in (
        ("digest", meta.get("digest")),
        ("path", meta.get("path")),
        ("flavor", meta.get("flavor")),
        ("commit", version.commit[:12]),
        ("registered", f"{_when(version.time)} by {version.actor}"),
        ("stage", meta.get("stage")),
        ("run", meta.get("run_id")),
        ("runs in", ", ".join(running) or "no environment"),
    ):
        if value:
            echo(f"  {label + ':':<12}{value}")
    for title in ("metrics", "params", "inputs"):
        values = meta.get(title) or {}
        if values:
            echo(f"  {title}:")
            for key, value in sorted(values.items()):
                echo(f"    {key:<24}{_num(value)}")


@model_app.command("approve")
def approve(
    ref: str = REF,
    env: str = typer.Option(..., "--env", "-e", help="The environment the approval is for."),
    push: bool = PUSH,
    json_output: bool = JSON_OPTION,
) -> None:
    """Approve a version for an environment, as your Git identity (for the approval gate)."""
    models = open_project().models()
    version, tag = models.approve(ref, env, push=push)
    if json_output:
        emit_json({"version": version.ref, "environment": env, "tag": tag, "new": tag is not None})
        return
    if tag is None:
        echo(f"{models.actor()} approved {version.ref} for {env} already.")
    else:
        echo(f"Approved {version.ref} for {env} as {models.actor()} ({tag}).")


@model_app.command("promote")
def promote(
    ref: str = REF,
    to: str = typer.Option(..., "--to", help="The environment to promote to."),
    push: bool = PUSH,
    json_output: bool = JSON_OPTION,
) -> None:
    """Run the environment's gates and, only if all pass, assign the version to it.

    The assignment is the annotated tag NAME#ENV#N with every gate's verdict and
    evidence in its message. Exit code 1, and nothing assigned, when a gate fails.
    """
    result = open_project().models().promote(ref, to, push=push)
    if json_output:
        emit_json(
            {
                "version": result.version.ref,
                "environment": to,
                "promoted": result.tag is not None and not result.already,
                "tag": result.tag,
                "gates": [v.to_dict() for v in result.verdicts],
            }
        )
    elif result.already:
        echo(f"{to} runs {result.version.ref} already ({result.tag}); nothing to do.")
    else:
        _print_verdicts(result.verdicts)
        if result.tag:
            echo(f"Promoted {result.version.ref} to {to} ({result.tag}).")
    if result.tag is None:
        raise GatesFailedError(result.version.ref, to, result.failed)


@model_app.command("rollback")
def rollback(
    name: str = typer.Argument(..., help="The model."),
    env: str = typer.Option(..., "--env", "-e", help="The environment to roll back."),
    to: str = typer.Option(
        None, "--to", help="X.Y.Z to assign (default: what the environment ran before)."
    ),
    push: bool = PUSH,
    json_output: bool = JSON_OPTION,
) -> None:
    """Assign the version the environment ran before (or --to VERSION) as a new tag.

    No tag is moved or deleted: the rollback is one more assignment, and the
    history keeps it. Gates are not run: a rollback only returns to a version the
    environment ran before (any other version needs 'model promote').
    """
    target, current, tag = open_project().models().rollback(name, env, to, push=push)
    was = f"v{current.version}" if current and current.version else None
    if json_output:
        emit_json({"model": name, "environment": env, "from": was, "to": target.ref, "tag": tag})
        return
    echo(f"Rolled {name}#{env} back from {was} to v{target.version} ({tag}).")


@model_app.command("history")
def history(
    name: str = typer.Argument(..., help="The model."),
    env: str = typer.Option(None, "--env", "-e", help="Only this environment."),
    at: str = typer.Option(
        None,
        "--at",
        help="With --env: what ran there at this date or time (ISO 8601, UTC if no zone).",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Every registration, approval and assignment in time order: who, when, the gates'
    verdicts, the commit, and the commits between versions with their issue references."""
    models = open_project().models()
    if at is not None:
        registry = models.registry()
        models.known(registry, name, env)
        _print_at(registry, name, env, at, json_output)
        return
    events = models.history(name, env)
    if json_output:
        emit_json([e.to_dict() for e in events])
        return
    for event in events:
        _print_event(event)


def _print_at(registry: Registry, name: str, env: str | None, at: str, json_output: bool) -> None:
    from lockstep.registry.history import running_at

    if env is None:
        raise InputError("--at needs --env ENV")
    when = _parse_time(at)
    found = running_at(registry, name, env, when.timestamp())
    if json_output:
        emit_json(found.to_dict() if found else None)
    elif found is None:
        echo(f"{name}#{env} ran nothing at {when.isoformat()}.")
    else:
        echo(
            f"At {when.isoformat()}, {env} ran {name} v{found.version}: {found.tag}, "
            f"{found.meta.get('action', 'promote')} by {found.actor} at {_when(found.time)}."
        )


def _parse_time(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--at {text!r} is not an ISO 8601 date or time") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _print_event(event: Event) -> None:
    where = f" -> {event.env}" if event.env else ""
    echo(f"{_when(event.time)}  {event.action:<9}{event.version}{where}  by {event.actor}")
    if event.commit:
        echo(f"    commit {event.commit[:12]}  tag {event.tag}")
    if event.reason:
        echo(f"    {event.reason}")
    for gate in event.gates:
        verdict = "pass" if gate.get("passed") else "FAIL"
        echo(f"    gate {gate.get('gate')}: {verdict}: {gate.get('summary')}")
    for change in event.changes:
        issues = f"  [{', '.join(change.issues)}]" if change.issues else ""
        echo(f"    {change.sha[:9]} {change.subject}{issues}")


def check(
    ref: str = REF,
    env: str = typer.Option(..., "--env", "-e", help="The environment whose gates to run."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Run an environment's gates on a version and show each verdict with its evidence;
    promote nothing. Exit code 1 when a gate fails."""
    version, verdicts = open_project().models().check(ref, env)
    if json_output:
        emit_json(
            {"version": version.ref, "environment": env, "gates": [v.to_dict() for v in verdicts]}
        )
    else:
        echo(f"Gates of {env} for {version.ref}:")
        _print_verdicts(verdicts)
    failed = [v.gate for v in verdicts if not v.passed]
    if failed:
        raise GatesFailedError(version.ref, env, failed)


def _print_verdicts(verdicts: list[Verdict]) -> None:
    if not verdicts:
        echo("  (no gates)")
    for verdict in verdicts:
        mark = "pass" if verdict.passed else "FAIL"
        echo(f"  {mark}  {verdict.gate}: {verdict.summary}")
        if verdict.evidence:
            text = json.dumps(verdict.evidence, sort_keys=True, default=str)
            echo(f"        evidence: {text if len(text) <= 300 else text[:297] + '...'}")


def _when(when: float | None) -> str:
    if when is None:
        return "?"
    return datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _num(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def register_commands(app: typer.Typer) -> None:
    app.add_typer(model_app)
    app.command("check")(check)
