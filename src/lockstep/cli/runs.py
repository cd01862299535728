"""``runs list`` and ``runs show``: the runs recorded in the tracking database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from lockstep.cli.app import JSON_OPTION, echo, emit_json, open_project

if TYPE_CHECKING:
    from lockstep.tracking.records import RunRecord
    from lockstep.tracking.store import TrackingStore

runs_app = typer.Typer(
    help="Runs of the pipeline, its stages and ad-hoc scripts, with their params and metrics.",
    no_args_is_help=True,
)
SHOWN_METRICS = 3
ID_WIDTH = 8


@contextmanager
def _store() -> Iterator[TrackingStore]:
    from lockstep.tracking.store import TrackingStore, resolve_uri

    project = open_project()
    store = TrackingStore.open(resolve_uri(project.root, project.config.tracking.uri))
    try:
        yield store
    finally:
        store.close()


@runs_app.command("list")
def list_runs(
    filter_expr: str = typer.Option(
        None,
        "--filter",
        "-f",
        metavar="EXPR",
        help="Clauses joined by 'and', e.g. \"metrics.acc > 0.8 and params.lr = 0.1\".",
    ),
    order_by: str = typer.Option(
        None,
        "--order-by",
        "-o",
        metavar="KEY",
        help="Sort key, e.g. -metrics.acc or 'params.lr asc' (default: newest first).",
    ),
    limit: int = typer.Option(20, "--limit", "-n", min=0, metavar="N", help="Show at most N runs."),
    stage: str = typer.Option(
        None, "--stage", "-s", metavar="STAGE", help="Only runs of this pipeline stage."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """List runs, newest first: id, name or stage, status, start, duration, metrics.

    A filter compares metrics.KEY (latest value) with a number, params.KEY with a
    number or text, tags.KEY with text, or one of status, name, stage, kind,
    commit, user, id, parent, using = != < <= > >= or like (% matches any text).
    Runs without a sort key come last. See docs/tracking.md.
    """
    from lockstep.tracking.filter import parse_filter, quote

    clauses = [f"stage = {quote(stage)}"] if stage else []
    if filter_expr:
        parse_filter(filter_expr)  # errors name the user's own text
        clauses.append(filter_expr)
    with _store() as store:
        runs = store.search(" and ".join(clauses) or None, order_by, limit)
    if json_output:
        emit_json([run.to_dict() for run in runs])
        return
    if not runs:
        echo("No runs match." if clauses else "No runs yet: 'lockstep run' records them.")
        return
    _table(("id", "name", "status", "started", "duration", "metrics"), [_row(r) for r in runs])


@runs_app.command("show")
def show(
    run_id: str = typer.Argument(..., metavar="ID", help="A run id, or a unique prefix of one."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Show one run with its params, metrics, tags, outputs and environment.

    Metrics show their latest value and how many points were logged; a failed
    run shows the end of its error output; outputs show their sha256 digests.
    """
    with _store() as store:
        run = store.get_run(run_id)
        counts = store.metric_counts(run.id)
    if json_output:
        emit_json(run.to_dict() | {"metric_points": counts})
        return
    for line in _describe(run, counts):
        echo(line)


def _row(run: RunRecord) -> tuple[str, ...]:
    shown = sorted(run.metrics.items())[:SHOWN_METRICS]
    text = " ".join(f"{key}={_number(value)}" for key, value in shown)
    if len(run.metrics) > SHOWN_METRICS:
        text += f" (+{len(run.metrics) - SHOWN_METRICS})"
    return (
        run.id[:ID_WIDTH],
        run.label,
        run.status,
        _local(run.start_time),
        _duration(run.duration),
        text,
    )


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _describe(run: RunRecord, counts: dict[str, int]) -> Iterator[str]:
    yield f"run {run.id}"
    yield from _facts(run)
    yield from _section("params", {k: _value(v) for k, v in run.params.items()})
    metrics = {
        key: f"{_number(value)}  ({counts.get(key, 0)} point(s))"
        for key, value in run.metrics.items()
    }
    yield from _section("metrics", metrics)
    yield from _section("tags", run.tags)
    yield from _section("outs", run.outs)
    if run.error:
        yield "error:"
        yield from (f"  {line}" for line in run.error.rstrip().splitlines()[-20:])
    env = run.environment
    if env:
        packages = len(env.get("packages") or {})
        python, system = env.get("python", "?"), env.get("platform", "?")
        yield f"environment: Python {python} on {system}, {packages} package(s)"


def _facts(run: RunRecord) -> Iterator[str]:
    commit = run.git_commit[:12] if run.git_commit else None
    if commit and run.dirty:
        commit += " (with uncommitted changes)"
    facts: list[tuple[str, Any]] = [
        ("name", run.name),
        ("kind", run.kind),
        ("stage", run.stage),
        ("parent", run.parent_id),
        ("status", run.status),
        ("commit", commit),
        ("user", run.user),
        ("started", _local(run.start_time)),
        ("ended", _local(run.end_time) if run.end_time else None),
        ("duration", _duration(run.duration) if run.end_time else None),
        ("fingerprint", run.fingerprint),
    ]
    for label, value in facts:
        if value is not None:
            yield f"  {label + ':':<13}{value}"


def _section(title: str, values: dict[str, str]) -> Iterator[str]:
    if not values:
        return
    yield f"{title}:"
    width = max(len(key) for key in values)
    for key in sorted(values):
        yield f"  {key:<{width}}  {values[key]}"


def _local(moment: dt.datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _number(value: float) -> str:
    return f"{value:.4g}"


def _value(value: object) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
