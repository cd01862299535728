"""``lockstep ci init --provider github|gitlab`` and ``lockstep report [--vs REV]``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from lockstep.cli.app import JSON_OPTION, echo, emit_json, open_project

if TYPE_CHECKING:
    from lockstep.ci.report import Written

ci_app = typer.Typer(
    name="ci",
    help="CI workflows that run lockstep: 'lockstep ci init --provider github|gitlab'.",
    no_args_is_help=True,
)


@ci_app.command("init")
def init(
    provider: str = typer.Option(
        ...,
        "--provider",
        "-p",
        metavar="github|gitlab",
        help="github: one file per trigger in .github/workflows/; gitlab: .gitlab-ci.yml.",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite files that exist already."),
    branch: str = typer.Option(
        "main",
        "--branch",
        metavar="NAME",
        help="The default branch (GitHub; GitLab uses $CI_DEFAULT_BRANCH): pull "
        "requests into it are checked, pushes to it register.",
    ),
    check_env: str = typer.Option(
        None,
        "--check-env",
        metavar="ENV",
        help="The environment whose gates a pull request must pass "
        "(default: staging, else the first environment in lockstep.yaml).",
    ),
    python: str = typer.Option(
        "3.11", "--python", metavar="VERSION", help="The Python version the jobs use."
    ),
    install: str = typer.Option(
        None,
        "--install",
        metavar="SPEC",
        help="What the jobs pip install (default: lockstep-ml pinned to this version).",
    ),
    schedule: str = typer.Option(
        None,
        "--schedule",
        metavar="CRON",
        help="When GitHub runs drift monitoring (default '0 6 * * *'); on GitLab, "
        "create a pipeline schedule instead.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Write CI workflows that call only lockstep commands.

    Models and environments come from lockstep.yaml. On a pull (merge) request:
    pull, run, register the candidate in the job only (nothing is pushed), report
    against the base branch (posted as a comment), then check it against the gates
    of --check-env. On the default branch, when lockstep.lock or a pointer file
    changed: pull, register each model and push its tag, push. On a tag NAME#ENV#N
    (made by 'lockstep model promote'): deploy NAME to ENV. On a schedule: monitor
    drift NAME in production (else the last environment) and, when it drifted
    (exit code 1), monitor retrain NAME for staging (else the first).

    Credentials come from CI secrets (GitHub) or CI/CD variables (GitLab) named like
    the variables lockstep reads: AWS_*, LOCKSTEP_OCI_*, LOCKSTEP_TRACKING_URI,
    LOCKSTEP_SERVE_TOKEN, LOCKSTEP_SIGNING_KEY; the files list the ones they read.
    An existing file is refused (exit 2) unless --force is given. See docs/ci.md.
    """
    from lockstep.ci import workflows
    from lockstep.project.report import workflow_settings

    project = open_project()
    settings = workflow_settings(
        project,
        check_env=check_env,
        branch=branch,
        python=python,
        install=install,
        schedule=schedule,
    )
    files = workflows.render(provider, settings)
    written = workflows.write(project.root, files, force=force)
    names = workflows.variables(provider, settings)
    if json_output:
        emit_json(_init_json(provider, written, settings, names))
        return
    purposes = workflows.purposes(provider)
    for path in written:
        echo(f"Wrote {path}: {purposes.get(path, '')}".rstrip(": "))
    if not settings.models:
        echo("No models in lockstep.yaml: only the pull request checks were written.")
    kind = "secrets" if provider == "github" else "CI/CD variables"
    echo(f"The jobs read these {kind} when set: {', '.join(names)} (see docs/ci.md).")


def _init_json(provider: str, written: list[str], settings: Any, names: list[str]) -> Any:
    return {
        "provider": provider,
        "files": written,
        "models": list(settings.models),
        "environments": list(settings.environments),
        "check_env": settings.check_env,
        "variables": names,
    }


def report(
    vs: str = typer.Option(
        None,
        "--vs",
        metavar="REV",
        help="The revision to compare with (default: origin/main when it exists, else HEAD).",
    ),
    out: Path = typer.Option(
        Path("report.md"),
        "--out",
        "-o",
        metavar="FILE",
        help="The Markdown file; plots go to FILE's stem + '_files/' beside it.",
    ),
    drift: Path = typer.Option(
        None,
        "--drift",
        metavar="FILE.json",
        help="Add a drift section from the output of 'lockstep monitor drift --json'.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Write a Markdown report of the workspace against a revision, for a pull request.

    Sections: the metrics and params of lockstep.lock at REV against the workspace
    (old, new, change); the gates of every environment that has gates, run on each
    model's latest registered version as 'lockstep check' does ("not registered"
    when there is none; nothing is promoted); the drift summary of --drift; and PNG
    plots of the metrics and of the stages' plots: files, in FILE_files/ beside the
    report and linked relatively. A failed gate does not change the exit code: a
    report is not a check (0, or 2 for a bad revision or file).
    """
    from lockstep.project.report import report as make_report

    written = make_report(open_project(), vs, out, drift)
    if json_output:
        emit_json(_report_json(written))
        return
    plots = len(written.files)
    where = f" and {plots} plot(s) in {written.files[0].parent}/" if plots else ""
    echo(f"Wrote {written.report}{where}")
    for image in written.images:
        if image.file is None:
            echo(f"  {image.title}: {image.note}")


def _report_json(written: Written) -> dict[str, Any]:
    return {
        "report": str(written.report),
        "files": [str(p) for p in written.files],
        "skipped": [{"plot": i.title, "reason": i.note} for i in written.images if not i.file],
        **(written.data.to_dict() if written.data else {}),
    }


def register(app: typer.Typer) -> None:
    app.add_typer(ci_app)
    app.command("report")(report)
