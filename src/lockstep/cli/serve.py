"""``lockstep serve REF``: verify a model, then serve it over HTTP (Open Inference
Protocol and MLflow's /invocations)."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import typer

from lockstep.cli.app import JSON_OPTION, echo, emit_json, open_project
from lockstep.errors import InputError, NotAGitRepositoryError, NotInitializedError
from lockstep.project import Project

REF_HELP = (
    "NAME@vX.Y.Z, NAME#ENV (what ENV runs now), NAME (latest), "
    "oci://HOST[:PORT]/REPO:TAG (a pushed package) or a model file or folder."
)


def serve(
    ref: str = typer.Argument(..., metavar="REF", help=REF_HELP),
    host: str = typer.Option(None, "--host", help="Address to listen on [serve] host: 127.0.0.1)."),
    port: int = typer.Option(
        None, "--port", "-p", help="Port ([serve] port: 8080).", min=1, max=65535
    ),
    workers: int = typer.Option(
        None, "--workers", "-w", help="Server processes ([serve] workers: 1).", min=1, max=64
    ),
    allow_unsigned: bool = typer.Option(
        False,
        "--allow-unsigned",
        help="Serve even without a signature by a trusted key (a warning says so, and the "
        'lockstep_model_info metric carries unsigned="True"). Never lifts a signature '
        "that does not verify.",
    ),
    digest: str = typer.Option(
        None, "--digest", metavar="sha256:HEX", help="A model path must hash to this digest."
    ),
    env: str = typer.Option(
        None, "--env", help="Apply this environment's trust rules (its signature gate)."
    ),
    insecure: bool = typer.Option(False, "--insecure", help="Plain HTTP to an oci:// registry."),
    dry: bool = typer.Option(
        False, "--dry", help="Verify and print what would be served; serve nothing."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Verify a model and serve it.

    Before anything loads the model: its digest is checked (always); its signature
    when the workspace trusts a key or the environment has a signature gate; and a
    pickle or joblib file must pass 'lockstep scan'. Then it answers the Open
    Inference Protocol (/v2/health/live, /v2/health/ready, /v2/models/NAME,
    /v2/models/NAME/infer), MLflow scoring on /invocations, and Prometheus
    /metrics, batching concurrent requests. A bearer token is required when
    LOCKSTEP_SERVE_TOKEN or [serve] token is set. SIGTERM or Ctrl-C stops it after
    the requests in flight.
    """
    from lockstep.project.serving import Options, prepare

    # SIGTERM while verifying or loading (deploy gives up on a slow server) still
    # removes the copy of the model; the server installs its own handler later
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    project = _project()
    settings = project.config.serve if project is not None else None
    options = Options(allow_unsigned, _digest(digest), insecure, env)
    with tempfile.TemporaryDirectory(prefix="lockstep-serve-") as tmp:
        prepared = prepare(ref, project, Path(tmp), options)
        for warning in prepared.warnings:
            typer.echo(f"WARNING: {warning}", err=True)
        if json_output and dry:
            emit_json(prepared.to_dict())
            return
        _describe(prepared.to_dict())
        if dry:
            return
        from lockstep.serving.runner import serve as run_server

        token = os.environ.get("LOCKSTEP_SERVE_TOKEN") or (settings.token if settings else None)
        run_server(
            prepared.spec,
            host or (settings.host if settings else "127.0.0.1"),
            port or (settings.port if settings else 8080),
            workers or (settings.workers if settings else 1),
            token,
        )


def _project() -> Project | None:
    try:
        return open_project()
    except (NotInitializedError, NotAGitRepositoryError):
        return None


def _digest(value: str | None) -> str | None:
    if value is None:
        return None
    hexa = value.removeprefix("sha256:")
    if len(hexa) != 64 or any(c not in "0123456789abcdef" for c in hexa):
        raise InputError(f"--digest {value}: must be sha256: and 64 lowercase hex digits")
    return hexa


def _describe(found: dict[str, Any]) -> None:
    version = f" v{found['version']}" if found["version"] else ""
    signed = "signed" if found["signed"] else "unsigned"
    echo(f"{found['model']}{version} ({found['flavor']}, {found['digest']}, {signed})")
    for check in found["checks"]:
        mark = "ok" if check["passed"] else "FAILED"
        echo(f"  {mark:6} {check['check']}: {check['detail']}")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
