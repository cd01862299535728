"""Remote commands: remote add/list/remove/default, push, pull, fetch."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from lockstep.cli.app import JSON_OPTION, echo, emit_json, open_project
from lockstep.cli.progress import bars

if TYPE_CHECKING:
    from lockstep.store.transfer import TransferResult

remote_app = typer.Typer(
    help="Manage remotes: file://, s3:// or oci:// places to push data to.",
    no_args_is_help=True,
)
REMOTE_OPTION = typer.Option(None, "--remote", "-r", help="Remote name (default: core.remote).")
JOBS_OPTION = typer.Option(None, "--jobs", "-j", min=1, max=256, help="Parallel transfers.")
PATHS_ARG = typer.Argument(None, metavar="PATH...", help="Tracked paths (default: all).")


@remote_app.command("add")
def remote_add(
    name: str = typer.Argument(..., metavar="NAME", help="A short name, e.g. origin."),
    url: str = typer.Argument(
        ..., metavar="URL", help="file:///path, s3://bucket/prefix or oci://host[:port]/repository"
    ),
    default: bool = typer.Option(False, "--default", "-d", help="Make it the default remote."),
    endpoint_url: str = typer.Option(None, "--endpoint-url", help="S3: a custom endpoint."),
    region: str = typer.Option(None, "--region", help="S3: the bucket's region."),
    profile: str = typer.Option(None, "--profile", help="S3: an AWS profile name."),
    insecure: bool = typer.Option(False, "--insecure", help="OCI: plain HTTP to the registry."),
) -> None:
    """Add a remote to .lockstep/config.toml (the first one becomes the default).

    Credentials never go into the committed config: S3 uses the usual AWS
    variables or profile; OCI uses LOCKSTEP_OCI_USERNAME/LOCKSTEP_OCI_PASSWORD
    or .lockstep/config.local.toml.
    """
    options: dict[str, object] = {
        k: v
        for k, v in {"endpoint_url": endpoint_url, "region": region, "profile": profile}.items()
        if v
    }
    if insecure:
        options["insecure"] = True
    project = open_project()
    project.remote_add(name, url, default=default, options=options)
    echo(f"Added remote {name}: {url}")


@remote_app.command("list")
def remote_list(json_output: bool = JSON_OPTION) -> None:
    """List remotes; the default is marked with *."""
    project = open_project()
    default = project.config.core.remote
    if json_output:
        emit_json(
            [
                {"name": n, "url": r.url, "default": n == default}
                for n, r in sorted(project.config.remote.items())
            ]
        )
        return
    if not project.config.remote:
        echo("No remotes. Add one with: lockstep remote add NAME URL")
    for name, conf in sorted(project.config.remote.items()):
        echo(f"{'*' if name == default else ' '} {name}\t{conf.url}")


@remote_app.command("remove")
def remote_remove(
    name: str = typer.Argument(..., metavar="NAME", help="The remote to forget."),
) -> None:
    """Remove a remote from the config (the data on it is not touched)."""
    open_project().remote_remove(name)
    echo(f"Removed remote {name}")


@remote_app.command("default")
def remote_default(
    name: str = typer.Argument(..., metavar="NAME", help="The remote to use by default."),
) -> None:
    """Make NAME the remote push, pull and fetch use by default."""
    open_project().remote_default(name)
    echo(f"Default remote: {name}")


def _report(action: str, verb: str, result: TransferResult, json_output: bool) -> None:
    if json_output:
        emit_json(result.to_dict())
    else:
        echo(
            f"{action}: {len(result.transferred)} object(s) transferred, "
            f"{result.skipped} already there."
        )
    result.raise_for_failures(verb)


def push(
    paths: list[str] = PATHS_ARG,
    remote: str = REMOTE_OPTION,
    jobs: int = JOBS_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Upload the cache objects of tracked data that the remote lacks.

    Every object is verified before it leaves; a corrupt one stops the push.
    """
    project = open_project()
    with bars(json_output) as progress:
        result = project.push(remote, paths or [], jobs=jobs, progress=progress)
    _report("Pushed", "push", result, json_output)


def fetch(
    paths: list[str] = PATHS_ARG,
    remote: str = REMOTE_OPTION,
    jobs: int = JOBS_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Download missing objects into the cache without touching the workspace."""
    project = open_project()
    with bars(json_output) as progress:
        result = project.fetch(remote, paths or [], jobs=jobs, progress=progress)
    _report("Fetched", "fetch", result, json_output)


def pull(
    paths: list[str] = PATHS_ARG,
    remote: str = REMOTE_OPTION,
    jobs: int = JOBS_OPTION,
    force: bool = typer.Option(False, "--force", "-f", help="Discard unsaved changes."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Fetch missing objects, then check out the workspace (fetch + checkout).

    Every download is verified against its digest; an interrupted pull resumes.
    """
    project = open_project()
    with bars(json_output) as progress:
        result = project.pull(remote, paths or [], jobs=jobs, force=force, progress=progress)
    if json_output:
        emit_json(
            result.fetched.to_dict()
            | {"written": list(result.checkout.written), "removed": list(result.checkout.removed)}
        )
        return
    echo(
        f"Pulled: {len(result.fetched.transferred)} object(s) fetched, "
        f"{len(result.checkout.written)} file(s) checked out."
    )


def register(app: typer.Typer) -> None:
    app.add_typer(remote_app, name="remote")
    for func in (push, pull, fetch):
        app.command(func.__name__)(func)
