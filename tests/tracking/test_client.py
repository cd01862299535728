"""The client API scripts use: start_run, current, search_runs, get_run, run handles."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from lockstep import tracking
from lockstep.errors import (
    InputError,
    NoActiveRunError,
    NotAGitRepositoryError,
    NotInitializedError,
    TrackingError,
)
from lockstep.tracking.handle import Run
from lockstep.tracking.records import MetricPoint
from lockstep.tracking.store import TrackingStore
from tests.conftest import git


def test_public_names_and_a_light_import() -> None:
    assert tracking.__all__ == [
        "MetricPoint",
        "Run",
        "RunRecord",
        "TrackingStore",
        "current",
        "environment_info",
        "get_run",
        "resolve_uri",
        "search_runs",
        "start_run",
    ]
    code = (
        "import sys, threading; from lockstep import tracking; "
        "print(json.dumps([sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'alembic', 'psycopg')), threading.active_count()]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == [[], 1]
    assert tracking.TrackingStore is TrackingStore


def test_start_run_in_a_workspace_records_git_user_and_environment(ws: Path) -> None:
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "init")
    head = git(ws, "rev-parse", "HEAD").strip()
    with tracking.start_run(name="sweep-3", params={"seed": 1}) as run:
        run.log_params({"lr": 0.1})
        run.log_param("k", 5)
        run.log_metric("loss", 0.31, step=1)
        run.log_metrics({"acc": 0.90, "f1": 0.84}, step=1)
        run.set_tags({"team": "churn"})
        run.set_tag("try", 2)  # type: ignore[arg-type]
    assert (ws / ".lockstep" / "runs.db").exists()
    record = tracking.get_run(run.id[:8])
    assert record.name == "sweep-3" and record.kind == "adhoc"
    assert record.status == "finished" and record.end_time is not None
    assert record.params == {"seed": 1, "lr": 0.1, "k": 5}
    assert record.metrics == {"loss": 0.31, "acc": 0.90, "f1": 0.84}
    assert record.tags == {"team": "churn", "try": "2"}
    assert record.git_commit == head and record.dirty is False
    assert record.user and record.environment["python"]
    found = tracking.search_runs(filter="metrics.acc > 0.8 and params.lr = 0.1")
    assert [r.id for r in found] == [run.id]


def test_a_block_that_raises_fails_the_run(tracking_uri: str) -> None:
    with pytest.raises(ValueError), tracking.start_run(uri=tracking_uri) as run:
        run.log_metric("loss", 1.0)
        raise ValueError("diverged")
    record = tracking.get_run(run.id, uri=tracking_uri)
    assert record.status == "failed"
    assert record.error == "ValueError: diverged"
    assert record.metrics == {"loss": 1.0}
    with pytest.raises(KeyboardInterrupt), tracking.start_run(uri=tracking_uri) as stopped:
        raise KeyboardInterrupt
    assert tracking.get_run(stopped.id, uri=tracking_uri).status == "stopped"


def test_a_finished_handle_refuses_more_values(tracking_uri: str) -> None:
    with tracking.start_run(uri=tracking_uri) as run:
        pass
    with pytest.raises(InputError, match="finished"):
        run.log_metric("late", 1.0)
    run.finish()  # a second end changes nothing


def test_bad_values_fail_where_they_are_logged(tracking_uri: str) -> None:
    with tracking.start_run(uri=tracking_uri) as run:
        with pytest.raises(InputError, match="not a number"):
            run.log_metric("acc", "high")  # type: ignore[arg-type]
        with pytest.raises(InputError, match="step"):
            run.log_metric("acc", 1.0, step=1.5)  # type: ignore[arg-type]
        with pytest.raises(InputError, match="non-empty"):
            run.log_params({"": 1})
        with pytest.raises(InputError, match="NUL"):
            run.log_params({"a": "b\0"})
        run.log_params({"ok": 1})
    assert run.record().params == {"ok": 1}


def test_current_needs_the_run_id_of_a_stage(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(NoActiveRunError):
        tracking.current()
    with TrackingStore.open(tracking_uri) as store:
        run_id = store.create_run(kind="stage", stage="train")
    monkeypatch.setenv("LOCKSTEP_RUN_ID", run_id)
    monkeypatch.setenv("LOCKSTEP_TRACKING_URI", tracking_uri)
    with tracking.current() as run:
        run.log_metric("acc", 0.5)
    assert run.id == run_id
    record = tracking.get_run(run_id)
    assert record.metrics == {"acc": 0.5}
    assert record.status == "running"  # lockstep run ends it, not the script
    with tracking.start_run(name="inner") as inner:
        pass
    assert tracking.get_run(inner.id).parent_id == run_id


def test_outside_a_workspace_the_uri_must_be_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotAGitRepositoryError):
        tracking.search_runs()
    git(tmp_path, "init", "-q")
    with pytest.raises(NotInitializedError):
        tracking.start_run()


def test_values_wait_for_a_full_batch(store: TrackingStore) -> None:
    run_id = store.create_run(kind="adhoc")
    run = Run(run_id, lambda: store, finish_on_exit=True, batch_size=100, interval=3600)
    for step in range(99):
        run.log_metric("m", float(step), step=step)
    assert store.metric_counts(run_id) == {}
    run.log_metric("m", 99.0, step=99)  # the hundredth pending value: written now
    assert store.metric_counts(run_id) == {"m": 100}
    run.log_params({"a": 1})
    run.flush()
    assert store.get_run(run_id).params == {"a": 1}
    run.finish()
    assert store.get_run(run_id).status == "finished"


def test_a_background_thread_flushes_within_the_interval(store: TrackingStore) -> None:
    run_id = store.create_run(kind="adhoc")
    run = Run(run_id, lambda: store, finish_on_exit=False, interval=0.05)
    run.log_metric("m", 1.0)
    deadline = time.monotonic() + 5
    while not store.metric_counts(run_id) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.metric_counts(run_id) == {"m": 1}
    run.finish()
    assert store.get_run(run_id).status == "running"


class FlakyStore:
    """Fails the first write, then records what it is given."""

    def __init__(self) -> None:
        self.calls = 0
        self.points: list[MetricPoint] = []
        self.params: dict[str, Any] = {}

    def log_batch(
        self,
        run_id: str,
        *,
        params: Mapping[str, Any] | None = None,
        metrics: Sequence[MetricPoint] = (),
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        self.calls += 1
        if self.calls == 1:
            raise TrackingError("sqlite:///x", "database is locked")
        self.points += metrics
        self.params.update(params or {})


def test_a_failed_flush_keeps_the_values_for_the_next(tmp_path: Path) -> None:
    flaky = FlakyStore()
    run = Run("0" * 32, lambda: flaky, finish_on_exit=False, interval=3600)  # type: ignore[arg-type,return-value]
    run.log_metric("m", 1.0, step=1)
    run.log_params({"a": 1})
    with pytest.raises(TrackingError):
        run.flush()
    run.log_metric("m", 2.0, step=2)
    run.log_params({"a": 2})
    run.flush()
    assert [p.value for p in flaky.points] == [1.0, 2.0]
    assert flaky.params == {"a": 2}
    run.finish()
