"""``metrics show|diff`` and ``params diff``: what the pipeline measured and ran with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer

from lockstep.cli.app import JSON_OPTION, echo, emit_json, open_project

if TYPE_CHECKING:
    from lockstep.pipeline.compare import Change

metrics_app = typer.Typer(
    name="metrics", help="Metrics the pipeline's stages recorded.", no_args_is_help=True
)
params_app = typer.Typer(
    name="params", help="Parameters the stages ran with.", no_args_is_help=True
)

REVS = typer.Argument(
    None,
    metavar="[REV [REV2]]",
    help="REV: compare REV (default HEAD) with the workspace; REV REV2: two revisions.",
)
ALL = typer.Option(False, "--all", "-a", help="Show unchanged values too.")


@metrics_app.command("show")
def metrics_show(json_output: bool = JSON_OPTION) -> None:
    """Show each stage's metrics, as recorded in lockstep.lock.

    The values come from the metrics files the stages list under metrics:,
    read when the stage last ran.
    """
    from lockstep.pipeline.compare import metrics_of

    values = metrics_of(open_project().lock())
    if json_output:
        emit_json(values)
        return
    if not values:
        echo("No metrics yet: list metrics files under a stage's metrics: and run it.")
        return
    rows = [(stage, key, _fmt(v)) for stage, found in values.items() for key, v in found.items()]
    _table(("stage", "metric", "value"), rows)


@metrics_app.command("diff")
def metrics_diff(
    revs: list[str] = REVS, everything: bool = ALL, json_output: bool = JSON_OPTION
) -> None:
    """Compare metrics with another Git revision's lockstep.lock (default HEAD)."""
    from lockstep.pipeline.compare import compare, metrics_of

    old_rev, new_rev = _revs(revs)
    project = open_project()
    old = metrics_of(project.lock_or_empty(old_rev))
    new = metrics_of(project.lock_at(new_rev) if new_rev else project.lock())
    _print_changes(compare(old, new, everything=everything), "metric", json_output)


@params_app.command("diff")
def params_diff(
    revs: list[str] = REVS, everything: bool = ALL, json_output: bool = JSON_OPTION
) -> None:
    """Compare the stages' params with another revision's lockstep.lock (default HEAD).

    The workspace side is what params.yaml holds now, for the keys each stage
    declares: what the next 'lockstep run' would use.
    """
    from lockstep.pipeline.compare import compare, params_of

    old_rev, new_rev = _revs(revs)
    project = open_project()
    old = params_of(project.lock_or_empty(old_rev))
    new = params_of(project.lock_at(new_rev)) if new_rev else project.current_params()
    _print_changes(compare(old, new, everything=everything), "param", json_output)


def _revs(revs: list[str] | None) -> tuple[str | None, str | None]:
    revs = revs or []
    if len(revs) > 2:
        raise typer.BadParameter("give at most two revisions")
    return (revs[0] if revs else None), (revs[1] if len(revs) == 2 else None)


def _print_changes(changes: list[Change], noun: str, json_output: bool) -> None:
    if json_output:
        emit_json([c.to_dict() for c in changes])
        return
    if not changes:
        echo(f"No {noun} changed.")
        return
    rows = [
        (c.stage, c.key, _fmt(c.old), _fmt(c.new), _fmt(c.delta) if c.delta is not None else "")
        for c in changes
    ]
    _table(("stage", noun, "old", "new", "change"), rows)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def register(app: typer.Typer) -> None:
    app.add_typer(metrics_app)
    app.add_typer(params_app)
