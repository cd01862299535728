"""Pipeline commands: run and dag."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import typer

from lockstep.cli.app import JSON_OPTION, echo, emit_json, open_project
from lockstep.errors import StageFailedError

if TYPE_CHECKING:
    from lockstep.pipeline.run import StageResult

_VERBS = {
    "up-to-date": "up to date",
    "restored": "restored",
    "ran": "done",
    "failed": "FAILED",
    "stopped": "stopped",
    "not-run": "not run",
    "would-run": "would run",
    "would-restore": "would restore",
}


class _Printer:
    """Prints each stage's start, end and (prefixed when stages overlap) output."""

    def __init__(self, json_output: bool, jobs: int) -> None:
        self.quiet = json_output
        self.prefix = jobs > 1
        self._lock = threading.Lock()

    def started(self, stage: str, reason: str) -> None:
        if not self.quiet:
            echo(f"Running stage {stage} ({reason})")

    def finished(self, result: StageResult) -> None:
        if self.quiet:
            return
        took = f" in {result.seconds:.1f} s" if result.action in ("ran", "failed") else ""
        why = f" ({result.reason})" if result.action not in ("ran", "failed") else ""
        echo(f"{result.name}: {_VERBS.get(result.action, result.action)}{took}{why}")
        if result.action == "failed" and result.error:
            for line in result.error.splitlines()[-10:]:
                echo(f"    {line}")

    def output(self, stage: str, line: str, is_err: bool) -> None:
        text = f"[{stage}] {line}\n" if self.prefix else line + "\n"
        stream = sys.stderr if (is_err or self.quiet) else sys.stdout
        with self._lock:
            stream.write(text)
            stream.flush()


def run(
    stages: list[str] = typer.Argument(
        None, metavar="[STAGE...]", help="Stages to bring up to date, with what they need."
    ),
    force: bool = typer.Option(False, "--force", "-f", help="Run the stages even if unchanged."),
    dry: bool = typer.Option(False, "--dry", help="Only show what would run or be restored."),
    jobs: int = typer.Option(
        None,
        "--jobs",
        "-j",
        min=1,
        max=256,
        help="Stages to run at once (default: 1 here, every worker thread on Dask).",
    ),
    keep_going: bool = typer.Option(
        False, "--keep-going", "-k", help="After a failure, go on with stages that do not need it."
    ),
    executor: str = typer.Option(
        "local", "--executor", "-e", help="Where stages run: local (processes here) or dask."
    ),
    dask_address: str = typer.Option(
        None,
        "--dask-address",
        help="Scheduler address (tcp://HOST:PORT); default: dask.address in the config, "
        "else a LocalCluster on 127.0.0.1.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Run the pipeline's stages whose inputs changed, and what depends on them.

    A stage is fingerprinted by its command, the digests of its deps and the
    values of its params. An unchanged stage is skipped; a fingerprint seen
    before is restored from the run cache (no command runs). Outputs go into
    the cache, so push and pull carry them, and lockstep.lock records each
    stage's fingerprint, deps, outs and metrics: commit it.

    Each stage runs with LOCKSTEP_RUN_ID set, so scripts can log params and
    metrics with lockstep.tracking. Exit code 1 when a stage fails.
    """
    from lockstep.pipeline.run import RunOptions

    project = open_project()
    printer = _Printer(json_output, jobs or 1)
    options = RunOptions(force=force, dry=dry, keep_going=keep_going, jobs=jobs or 0)
    with _stop_on_signals():
        report = project.run(
            stages or [],
            options,
            executor=executor,
            dask_address=dask_address,
            listener=printer,
            sink=printer.output,
        )
    if json_output:
        emit_json({"ok": report.ok, "stages": [r.to_dict() for r in report.results]})
    elif not report.results:
        echo("No stages in lockstep.yaml. Add some under 'stages:'.")
    if not report.ok:
        raise StageFailedError(report.failures)


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP stop the run as Ctrl-C does: running stages are ended
    and recorded as stopped."""

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def dag(
    dot: bool = typer.Option(False, "--dot", help="Print Graphviz DOT."),
    mermaid: bool = typer.Option(False, "--mermaid", help="Print a Mermaid flowchart."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Show the stages and which stage feeds which, in running order."""
    from lockstep.pipeline import dag as dag_mod

    pipeline = open_project().pipeline()
    if json_output:
        emit_json(
            {
                "stages": pipeline.order(),
                "edges": [[up, n] for n in pipeline.order() for up in pipeline.upstream[n]],
            }
        )
    elif dot:
        echo(dag_mod.render_dot(pipeline))
    elif mermaid:
        echo(dag_mod.render_mermaid(pipeline))
    elif not pipeline.stages:
        echo("No stages in lockstep.yaml.")
    else:
        echo(dag_mod.render_text(pipeline))


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("dag")(dag)
