"""Real processes: values flushed at exit, kill -9, several writers at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockstep.tracking.store import TrackingStore

WRITERS = 4
POINTS = 500


def start(script: str, cwd: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    path = cwd / f"script-{time.monotonic_ns()}.py"
    path.write_text(textwrap.dedent(script))
    return subprocess.Popen(
        [sys.executable, str(path), *args],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


@pytest.fixture
def stage_run(tracking_uri: str) -> Iterator[tuple[TrackingStore, dict[str, str]]]:
    """A stage's run as ``lockstep run`` makes it, and the environment it passes on."""
    store = TrackingStore.open(tracking_uri)
    run_id = store.create_run(kind="stage", stage="train")
    try:
        yield store, {"LOCKSTEP_RUN_ID": run_id, "LOCKSTEP_TRACKING_URI": tracking_uri}
    finally:
        store.close()


EXIT_SCRIPT = """
    from lockstep import tracking

    run = tracking.current()
    for step in range(250):
        run.log_metric("loss", 1 / (step + 1), step=step)
    run.log_params({"lr": 0.1})
    loose = tracking.start_run(name="loose")   # no with: ended at exit
    loose.log_metric("x", 1.0)
    print(loose.id, flush=True)
    raise RuntimeError("boom")
"""


def test_values_are_written_at_exit_and_a_crash_fails_the_run(
    stage_run: tuple[TrackingStore, dict[str, str]], tmp_path: Path
) -> None:
    store, env = stage_run
    code, out, err = finish(start(EXIT_SCRIPT, tmp_path, env))
    assert code == 1 and "RuntimeError: boom" in err
    stage = store.get_run(env["LOCKSTEP_RUN_ID"])
    assert stage.status == "running"  # lockstep run ends it
    assert store.metric_counts(stage.id) == {"loss": 250}
    assert stage.params == {"lr": 0.1}
    loose = store.get_run(out.strip())
    assert loose.status == "failed" and loose.error == "RuntimeError: boom"
    assert loose.metrics == {"x": 1.0} and loose.parent_id == stage.id


KILL_SCRIPT = """
    import time
    from lockstep import tracking

    run = tracking.current()
    for step in range(500):
        run.log_metric("m", float(step), step=step)
    run.flush()
    for step in range(500, 600):
        run.log_metric("m", float(step), step=step)
    print("logged", flush=True)
    time.sleep(60)
"""


def test_kill_9_loses_nothing_flushed_and_at_most_the_last_second(
    stage_run: tuple[TrackingStore, dict[str, str]], tmp_path: Path
) -> None:
    store, env = stage_run
    proc = start(KILL_SCRIPT, tmp_path, env)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "logged\n"
        logged = time.monotonic()
        while store.metric_counts(env["LOCKSTEP_RUN_ID"]).get("m", 0) < 600:
            assert time.monotonic() - logged < 5, "the background flush did not come"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    history = store.metric_history(env["LOCKSTEP_RUN_ID"], "m")
    assert [p.step for p in history] == list(range(600))


WRITER_SCRIPT = """
    import sys, time
    from pathlib import Path
    from lockstep import tracking

    n = int(sys.argv[1])
    shared = tracking.current()
    with tracking.start_run(name=f"writer-{n}") as own:
        print("ready", flush=True)
        while not Path("go").exists():
            time.sleep(0.005)
        for i in range(POINTS):
            shared.log_metric("shared", float(i), step=n * 10_000 + i)
            shared.log_metric(f"w{n}", float(i), step=i)
            own.log_metric("x", float(i), step=i)
            if i % 50 == 49:
                shared.flush()
                own.flush()
    shared.flush()
"""


def test_parallel_writers_lose_nothing(
    stage_run: tuple[TrackingStore, dict[str, str]], tmp_path: Path
) -> None:
    store, env = stage_run
    script = WRITER_SCRIPT.replace("POINTS", str(POINTS))
    procs = [start(script, tmp_path, env, str(n)) for n in range(WRITERS)]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    (tmp_path / "go").touch()
    for proc in procs:
        code, _, err = finish(proc)
        assert code == 0, err
    shared = env["LOCKSTEP_RUN_ID"]
    expected = {"shared": WRITERS * POINTS} | {f"w{n}": POINTS for n in range(WRITERS)}
    assert store.metric_counts(shared) == expected
    assert store.get_run(shared).metrics["shared"] == POINTS - 1  # the highest step's value
    own = store.search("name like 'writer-%'")
    assert len(own) == WRITERS
    for run in own:
        assert run.status == "finished" and run.parent_id == shared
        assert store.metric_counts(run.id) == {"x": POINTS}


OPEN_SCRIPT = """
    import sys, time
    from pathlib import Path
    from lockstep.tracking.store import TrackingStore

    print("ready", flush=True)
    while not Path("go").exists():
        time.sleep(0.005)
    with TrackingStore.open(sys.argv[1]) as store:
        store.create_run(kind="adhoc", name="first")
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database without a schema yet."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/fresh/runs.db"
    uri: str = request.getfixturevalue("pg_uri")
    return uri


def test_processes_opening_a_new_database_at_once_all_succeed(
    empty_uri: str, tmp_path: Path
) -> None:
    procs = [start(OPEN_SCRIPT, tmp_path, {}, empty_uri) for _ in range(WRITERS)]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    (tmp_path / "go").touch()
    for proc in procs:
        code, _, err = finish(proc)
        assert code == 0, err
    with TrackingStore.open(empty_uri) as store:
        assert len(store.search("name = first")) == WRITERS
