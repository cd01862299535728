"""``lockstep demo``: the whole loop, end to end, in a project left behind to explore."""

from __future__ import annotations

from pathlib import Path

import typer

from lockstep.cli.app import echo


def demo(
    directory: Path = typer.Argument(
        None, metavar="DIR", help="Where to build the demo (default: a new temporary folder)."
    ),
) -> None:
    """Run the whole loop on generated data in a project you can explore afterwards.

    Creates a Git repository, tracks a dataset, pushes it to a local remote,
    changes it, rolls the data back to the first commit, and restores
    everything in a fresh clone with pull. Then runs a pipeline (prepare,
    train, evaluate) twice to show the cache, makes a signing key, registers
    the model with its scan report, provenance, ML-BOM and signature, verifies
    it and refuses a tampered copy, promotes it behind gates (one promotion
    fails, one passes), deploys staging to a local server, switches it
    blue-green to a new version, serves requests, reads the server's metrics,
    finds no drift, replays drifted traffic, detects the drift, retrains on
    fresh data behind the gates, deploys the new version, rolls back and prints
    the history.
    """
    import tempfile

    base = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="lockstep-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    repo, remote, clone = base / "project", base / "remote", base / "clone"
    if repo.exists():
        raise typer.BadParameter(f"{repo} exists already; pick an empty folder")
    echo(f"lockstep demo in {base}")
    from lockstep.cli import demo_pipeline, demo_registry
    from lockstep.cli.demo_loop import Steps, run_loop

    steps = Steps()
    run_loop(steps, repo, remote, clone)
    demo_pipeline.run_steps(steps, repo)
    demo_registry.run_steps(steps, repo)
    echo(f"Done in {steps.total():.1f} s. Look around:")
    echo(f"  cd {repo} && git log --oneline && lockstep status && lockstep runs list")
    echo("  lockstep model list && lockstep model history churn")
    echo("  lockstep monitor drift churn --env staging; open ../drift-report.html")
    echo("  lockstep serve churn#staging   # then open http://127.0.0.1:8080/v2/models/churn")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
