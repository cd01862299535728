"""The tracking store on SQLite and PostgreSQL: writes, reads, prefixes, errors."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lockstep.errors import InputError, TrackingError, UnknownRunError
from lockstep.tracking import schema
from lockstep.tracking.records import MetricPoint
from lockstep.tracking.store import TrackingStore, environment_info, resolve_uri

ENV = {"python": "3.11.7", "platform": "Linux", "packages": {"numpy": "2.0"}}


def test_a_run_round_trips_everything(store: TrackingStore) -> None:
    before = time.time()
    run_id = store.create_run(
        kind="stage",
        name="train",
        stage="train",
        parent_id="f" * 32,
        git_commit="c" * 40,
        dirty=True,
        user="Ana <ana@example.com>",
        environment=ENV,
        params={"lr": 0.1, "layers": [64, 32], "opt": "adam", "on": True, "none": None},
        tags={"team": "churn"},
        fingerprint="d" * 64,
    )
    assert len(run_id) == 32 and int(run_id, 16) >= 0
    running = store.get_run(run_id)
    assert running.status == "running" and running.end_time is None
    assert running.start_time.timestamp() >= before - 0.001
    store.finish_run(
        run_id, "failed", outs={"model.pkl": "sha256:" + "e" * 64}, error="Traceback…\nBoom"
    )
    record = store.get_run(run_id)
    assert record.to_dict() | {"start_time": None, "end_time": None} == {
        "id": run_id,
        "name": "train",
        "kind": "stage",
        "parent_id": "f" * 32,
        "stage": "train",
        "status": "failed",
        "git_commit": "c" * 40,
        "dirty": True,
        "user": "Ana <ana@example.com>",
        "start_time": None,
        "end_time": None,
        "params": {"lr": 0.1, "layers": [64, 32], "opt": "adam", "on": True, "none": None},
        "metrics": {},
        "tags": {"team": "churn"},
        "outs": {"model.pkl": "sha256:" + "e" * 64},
        "environment": ENV,
        "fingerprint": "d" * 64,
        "error": "Traceback…\nBoom",
    }
    assert record.duration is not None and record.duration >= 0


safe = st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")
params_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**62), 2**62),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(safe, max_size=20),
)
names = st.text(safe, min_size=1, max_size=20)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(names, params_values, max_size=6),
    tags=st.dictionaries(names, st.text(safe, max_size=20), max_size=4),
    values=st.lists(st.floats(allow_nan=False), min_size=1, max_size=8),
)
def test_logged_values_read_back_exactly(
    store: TrackingStore, params: dict[str, Any], tags: dict[str, str], values: list[float]
) -> None:
    run_id = store.create_run(kind="adhoc")
    store.log_params(run_id, params)
    store.set_tags(run_id, tags)
    points = [MetricPoint("m", value, step, 1000.0 + step) for step, value in enumerate(values)]
    store.log_metrics(run_id, points)
    record = store.get_run(run_id)
    assert record.params == params
    assert record.tags == tags
    assert record.metrics == {"m": values[-1]}
    assert store.metric_history(run_id, "m") == points


def test_latest_value_is_the_highest_step_then_the_newest(store: TrackingStore) -> None:
    run_id = store.create_run(kind="adhoc")
    store.log_metrics(
        run_id, [MetricPoint("loss", 0.5, 5, 10.0), MetricPoint("loss", 0.9, 1, 20.0)]
    )
    assert store.get_run(run_id).metrics == {"loss": 0.5}
    store.log_metrics(run_id, [MetricPoint("loss", 0.4, 5, 30.0)])
    store.log_metrics(run_id, [MetricPoint("loss", 0.7, 4, 40.0)])
    assert store.get_run(run_id).metrics == {"loss": 0.4}
    assert [p.value for p in store.metric_history(run_id, "loss")] == [0.9, 0.7, 0.5, 0.4]
    assert store.metric_counts(run_id) == {"loss": 4}


def test_final_metrics_of_finish_become_the_latest(store: TrackingStore) -> None:
    run_id = store.create_run(kind="stage", stage="train")
    store.log_metrics(run_id, [MetricPoint("acc", 0.5, 7, 1.0)])
    store.finish_run(run_id, "finished", metrics={"acc": 0.93, "f1": 0.8})
    record = store.get_run(run_id)
    assert record.metrics == {"acc": 0.93, "f1": 0.8}
    assert record.status == "finished" and record.end_time is not None
    assert [p.step for p in store.metric_history(run_id, "acc")] == [7, 7]


def test_nan_and_infinity_are_kept(store: TrackingStore) -> None:
    run_id = store.create_run(kind="adhoc")
    store.log_metrics(
        run_id, [MetricPoint("a", math.nan, 0, 1.0), MetricPoint("b", math.inf, 0, 1.0)]
    )
    metrics = store.get_run(run_id).metrics
    assert math.isnan(metrics["a"]) and metrics["b"] == math.inf
    assert math.isnan(store.metric_history(run_id, "a")[0].value)


def test_params_and_tags_logged_again_take_the_new_value(store: TrackingStore) -> None:
    run_id = store.create_run(kind="adhoc", params={"lr": 0.1}, tags={"v": "1"})
    store.log_batch(run_id, params={"lr": 0.2, "k": 3}, tags={"v": "2"})
    record = store.get_run(run_id)
    assert record.params == {"k": 3, "lr": 0.2}
    assert record.tags == {"v": "2"}


def test_a_restored_run_is_over_when_created(store: TrackingStore) -> None:
    run_id = store.create_run(kind="stage", stage="prepare", status="restored")
    record = store.get_run(run_id)
    assert record.status == "restored" and record.end_time == record.start_time


def test_runs_share_one_copy_of_an_environment(store: TrackingStore) -> None:
    first = store.create_run(kind="adhoc", environment=ENV)
    second = store.create_run(kind="adhoc", environment=dict(ENV))
    assert store.get_run(first).environment == store.get_run(second).environment == ENV
    with store._engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(schema.environments)).scalar() == 1
        )


def test_a_run_is_found_by_a_unique_prefix(store: TrackingStore) -> None:
    ids = [store.create_run(kind="adhoc") for _ in range(17)]  # two share a first digit
    target = ids[0]
    assert store.get_run(target[:10]).id == target
    assert store.get_run(target.upper()).id == target
    firsts = [i[0] for i in ids]
    shared = next(c for c in firsts if firsts.count(c) > 1)
    with pytest.raises(UnknownRunError, match="ambiguous"):
        store.get_run(shared)
    missing = next(c for c in "0123456789abcdef" if c * 3 not in {i[:3] for i in ids})
    with pytest.raises(UnknownRunError, match="no run with this id"):
        store.get_run(missing * 3)
    for bad in ("", "xyz", "a" * 33, "12 34"):
        with pytest.raises(UnknownRunError, match="not a run id"):
            store.get_run(bad)


def test_writes_to_an_unknown_run_are_refused(store: TrackingStore) -> None:
    ghost = "0" * 32
    with pytest.raises(UnknownRunError):
        store.finish_run(ghost, "finished")
    with pytest.raises(UnknownRunError):
        store.log_metrics(ghost, [MetricPoint("a", 1.0, 0, 1.0)])
    with pytest.raises(UnknownRunError):
        store.log_params(ghost, {"a": 1})


def test_bad_values_are_input_errors(store: TrackingStore) -> None:
    run_id = store.create_run(kind="adhoc")
    with pytest.raises(InputError, match="kind"):
        store.create_run(kind="job")
    with pytest.raises(InputError, match="status"):
        store.finish_run(run_id, "done")
    with pytest.raises(InputError, match="NUL"):
        store.log_params(run_id, {"a\0b": 1})
    with pytest.raises(InputError, match="Unicode"):
        store.set_tags(run_id, {"a": "\ud800"})
    with pytest.raises(InputError, match="non-empty"):
        store.set_tags(run_id, {"": "x"})
    with pytest.raises(InputError, match="limit"):
        store.search(limit=-1)


def test_empty_batches_write_nothing(store: TrackingStore) -> None:
    run_id = store.create_run(kind="adhoc")
    store.log_batch(run_id)
    store.log_metrics(run_id, [])
    assert store.get_run(run_id).metrics == {}


def test_database_failures_become_tracking_errors(tmp_path: Any) -> None:
    with pytest.raises(TrackingError, match="unsupported database"):
        TrackingStore.open("mysql://user:secret@localhost/db")
    with pytest.raises(TrackingError) as caught:
        TrackingStore.open("postgresql://ana:secret@127.0.0.1:1/nothing")
    assert "secret" not in str(caught.value) and "***" in str(caught.value)
    (tmp_path / "file").write_text("")
    with pytest.raises(TrackingError, match="cannot create the folder"):
        TrackingStore.open(f"sqlite:///{tmp_path}/file/sub/runs.db")
    (tmp_path / "junk.db").write_bytes(b"not a database" * 100)
    with pytest.raises(TrackingError, match=r"junk\.db"):
        TrackingStore.open(f"sqlite:///{tmp_path}/junk.db")


def test_resolve_uri_order(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_uri(tmp_path, None) == f"sqlite:///{tmp_path}/.lockstep/runs.db"
    assert resolve_uri(tmp_path, "sqlite:///other.db") == f"sqlite:///{tmp_path}/other.db"
    assert resolve_uri(None, "postgres://h/db") == "postgresql+psycopg://h/db"
    monkeypatch.setenv("LOCKSTEP_TRACKING_URI", "sqlite:////elsewhere.db")
    assert resolve_uri(tmp_path, "sqlite:///other.db") == "sqlite:////elsewhere.db"
    monkeypatch.delenv("LOCKSTEP_TRACKING_URI")
    with pytest.raises(InputError, match="LOCKSTEP_TRACKING_URI"):
        resolve_uri(None, None)


def test_environment_info_is_read_once_and_copied() -> None:
    info = environment_info()
    assert info["python"].count(".") == 2
    assert "sqlalchemy" in info["packages"]
    info["packages"].clear()
    assert environment_info()["packages"]
