"""The ``lockstep`` command: entry point, shared options and error presentation."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import typer

from lockstep import __version__
from lockstep.cli import errors as error_table
from lockstep.errors import LockstepError
from lockstep.project import Project

app = typer.Typer(
    name="lockstep",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")


_OPENED: list[Project] = []


def open_project() -> Project:
    """The workspace around the current directory; closed when the command ends."""
    project = Project.open(Path.cwd())
    _OPENED.append(project)
    return project


def _close_projects() -> None:
    while _OPENED:
        _OPENED.pop().close()


def emit_json(data: Any) -> None:
    """Strict JSON on stdout: NaN and infinities (possible in logged metrics) are null."""
    sys.stdout.write(json.dumps(_finite(data), indent=2, sort_keys=True) + "\n")


def _finite(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def echo(message: str = "") -> None:
    typer.echo(message)


def fail(code: int, message: str, hint: str | None = None) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    if hint:
        typer.echo(f"hint: {hint}", err=True)
    raise SystemExit(code)


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size} B"  # pragma: no cover


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lockstep {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Version data and models beside your code, in a plain Git repository.

    Exit codes: 0 success, 1 a failed check or operation, 2 bad input.
    Set LOCKSTEP_DEBUG=1 to see tracebacks.
    """


def _register() -> None:
    from lockstep.cli import (
        ci,
        data,
        demo,
        deploy,
        metrics,
        model,
        monitor,
        pipeline,
        remote,
        runs,
        scan,
        schema,
        serve,
        trust,
    )
    from lockstep.cli import package as packaging

    data.register(app)
    remote.register(app)
    pipeline.register(app)
    metrics.register(app)
    runs.register(app)
    schema.register(app)
    scan.register(app)
    trust.register(app)
    packaging.register(app)
    model.register_commands(app)
    serve.register(app)
    deploy.register(app)
    ci.register(app)
    monitor.register(app)
    demo.register(app)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code instead of exiting."""
    try:
        return _run(argv)
    finally:
        _close_projects()


def _run(argv: list[str] | None) -> int:
    try:
        app(args=argv, prog_name="lockstep", standalone_mode=True)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except LockstepError as error:
        if os.environ.get("LOCKSTEP_DEBUG"):
            raise
        code, message, hint = error_table.present(error)
        try:
            fail(code, message, hint)
        except SystemExit:
            return code
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except OSError as error:
        if os.environ.get("LOCKSTEP_DEBUG"):
            raise
        where = f": {error.filename}" if error.filename else ""
        typer.echo(f"error: {error.strerror or error}{where}", err=True)
        return 1
    except Exception as error:
        if os.environ.get("LOCKSTEP_DEBUG"):
            raise
        typer.echo(f"error: internal error: {type(error).__name__}: {error}", err=True)
        typer.echo("hint: run again with LOCKSTEP_DEBUG=1 for the traceback", err=True)
        return 1
    return 0


def main() -> NoReturn:
    import gc

    gc.freeze()  # the modules just imported never die: keep them out of every collection
    sys.exit(run())


def command(parent: typer.Typer, name: str, **kwargs: Any) -> Callable[[Any], Any]:
    return parent.command(name, **kwargs)


_register()
