"""``lockstep deploy NAME --env ENV | deploy status | deploy stop NAME --env ENV``."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from lockstep.cli.app import JSON_OPTION, echo, emit_json, open_project
from lockstep.errors import DeployCheckFailedError


class _DeployGroup(TyperGroup):
    """``deploy NAME`` runs the hidden ``to`` command; ``status`` and ``stop`` are
    subcommands."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["to", *args]
        return super().parse_args(ctx, args)


deploy_app = typer.Typer(
    name="deploy",
    cls=_DeployGroup,
    no_args_is_help=True,
    help="Deploy what NAME#ENV points to: 'lockstep deploy NAME --env ENV'; "
    "'deploy status'; 'deploy stop NAME --env ENV'.",
)

ENV_OPTION = typer.Option(..., "--env", "-e", help="The environment (from lockstep.yaml).")


@deploy_app.command("to", hidden=True)
def deploy(
    name: str = typer.Argument(..., metavar="NAME", help="The registered model."),
    env: str = ENV_OPTION,
    force: bool = typer.Option(
        False, "--force", help="Deploy again even when this version serves already."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Deploy the version NAME#ENV points to, to the environment's target.

    local: a server in the background on the environment's port. The new version
    starts beside the old one, must answer /v2/health/ready and pass the
    environment's smoke requests and command (run with LOCKSTEP_ENDPOINT set to
    the new server), and only then takes over the port; if it fails, the old one
    keeps serving and deploy exits 1. After 'lockstep model rollback', deploy
    brings the previous version back.

    kubernetes: Deployment, Service and HorizontalPodAutoscaler manifests in
    deploy/NAME/ENV/, applied with kubectl when a context is set.

    container: a build context (Dockerfile, pinned requirements, the model),
    built with buildah when it is installed.
    """
    from lockstep.project.deploy import Deployments, Rendered

    done = Deployments(open_project()).deploy(name, env, force=force)
    if json_output:
        emit_json(done.to_dict())
    elif isinstance(done, Rendered):
        _rendered(done.to_dict())
    else:
        _deployed(done.to_dict())
    if not isinstance(done, Rendered) and not done.passed:
        raise DeployCheckFailedError(
            f"{name} v{done.target.version} did not pass its checks in {env}; "
            + (
                "nothing served before"
                if done.previous is None
                else f"v{done.previous} keeps serving"
            )
        )


def _deployed(found: dict[str, Any]) -> None:
    for check in found["checks"]:
        mark = "ok" if check["passed"] else "FAILED"
        echo(f"  {mark:6} {check['check']}: {check['detail']}")
    if not found["passed"]:
        return
    model, version, env = found["model"], found["version"], found["env"]
    if found["already"]:
        echo(f"{model} v{version} serves {env} already at {found['endpoint']}")
        return
    was = f" (was v{found['previous']})" if found["previous"] else ""
    echo(f"Deployed {model} v{version} to {env} at {found['endpoint']}{was}")
    echo(f"  switch: {found['switch_seconds']:.3f} s; deploy: {found['total_seconds']:.1f} s")


def _rendered(found: dict[str, Any]) -> None:
    echo(f"{found['model']} v{found['version']} for {found['env']} ({found['target']}):")
    for path in found["files"]:
        echo(f"  {path}")
    echo(found["detail"])


@deploy_app.command("status")
def status(json_output: bool = JSON_OPTION) -> None:
    """The local deployments of this workspace: version, endpoint, serving or not."""
    from lockstep.project.deploy import Deployments

    found = Deployments(open_project()).status()
    if json_output:
        emit_json(found)
        return
    if not found:
        echo("No local deployments.")
        return
    for item in found:
        state = "serving" if item["serving"] else "stopped"
        version = f"v{item['version']}" if item["version"] else "-"
        echo(f"{item['model']:20} {item['env']:12} {version:10} {item['endpoint']:24} {state}")


@deploy_app.command("stop")
def stop(
    name: str = typer.Argument(..., help="The deployed model."),
    env: str = ENV_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Stop a local deployment: its server (after in-flight requests) and its router."""
    from lockstep.project.deploy import Deployments

    done = Deployments(open_project()).stop(name, env)
    if json_output:
        emit_json(done)
        return
    echo(f"Stopped {name} in {env}" if done["stopped"] else f"{name} in {env} was not running")


def register(app: typer.Typer) -> None:
    app.add_typer(deploy_app)
