"""``lockstep runs list`` and ``lockstep runs show``, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockstep.tracking.client import close_shared_stores
from lockstep.tracking.records import MetricPoint
from lockstep.tracking.store import TrackingStore
from tests.conftest import cli
from tests.pg import pg_cluster, pg_uri

__all__ = ["pg_cluster", "pg_uri"]  # fixtures


@pytest.fixture(params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TrackingStore]:
    """The workspace's own runs.db, or a PostgreSQL database named by the environment."""
    if request.param == "sqlite":
        uri = f"sqlite:///{ws}/.lockstep/runs.db"
    else:
        uri = request.getfixturevalue("pg_uri")
        monkeypatch.setenv("LOCKSTEP_TRACKING_URI", uri)
    opened = TrackingStore.open(uri)
    try:
        yield opened
    finally:
        opened.close()
        close_shared_stores()


@pytest.fixture
def three_runs(store: TrackingStore) -> dict[str, str]:
    ids = {}
    for name, stage, acc in (
        ("prep", "prepare", None),
        ("fit", "train", 0.91),
        ("fit2", "train", 0.7),
    ):
        run_id = store.create_run(
            kind="stage", name=name, stage=stage, params={"lr": 0.1}, git_commit="a" * 40
        )
        if acc is not None:
            store.log_metrics(run_id, [MetricPoint("acc", acc - 0.1, 0, 1.0)])
            store.finish_run(
                run_id, "finished", metrics={"acc": acc, "f1": 0.5, "auc": 0.8, "r": 1}
            )
        ids[name] = run_id
    store.finish_run(ids["prep"], "failed", error="line 1\nValueError: no data\n")
    return ids


def test_list_shows_a_table_newest_first(three_runs: dict[str, str]) -> None:
    result = cli("runs", "list")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["id", "name", "status", "started", "duration", "metrics"]
    assert [line.split()[1] for line in lines[1:]] == ["fit2", "fit", "prep"]
    assert lines[1].startswith(three_runs["fit2"][:8] + " ")
    assert "acc=0.7 auc=0.8 f1=0.5 (+1)" in lines[1]
    assert "failed" in lines[3]


def test_list_filters_sorts_limits_and_prints_json(three_runs: dict[str, str]) -> None:
    result = cli("runs", "list", "--filter", "metrics.acc > 0.5", "--order-by", "-metrics.acc")
    assert [line.split()[1] for line in result.out.splitlines()[1:]] == ["fit", "fit2"]
    result = cli("runs", "list", "--stage", "train", "--limit", "1", "--json")
    assert result.code == 0, result.err
    (only,) = json.loads(result.out)
    assert only["id"] == three_runs["fit2"] and only["stage"] == "train"
    assert only["metrics"] == {"acc": 0.7, "auc": 0.8, "f1": 0.5, "r": 1.0}
    assert cli("runs", "list", "--stage", "deploy").out == "No runs match.\n"


def test_an_empty_database_says_how_runs_appear(ws: Path) -> None:
    result = cli("runs", "list")
    assert result.code == 0 and "lockstep run" in result.out
    assert json.loads(cli("runs", "list", "--json").out) == []


def test_a_bad_filter_is_one_line_naming_the_token(three_runs: dict[str, str]) -> None:
    result = cli("runs", "list", "--filter", "metrics.acc >> 1")
    assert result.code == 2
    assert result.err.splitlines() == [
        "error: filter 'metrics.acc >> 1': unexpected '>>' at position 13: "
        "expected an operator (= != < <= > >= like)"
    ]
    result = cli("runs", "list", "--order-by", "size")
    assert result.code == 2 and "'size'" in result.err


def test_show_tells_everything_about_a_run(three_runs: dict[str, str]) -> None:
    result = cli("runs", "show", three_runs["fit"][:6])
    assert result.code == 0, result.err
    out = result.out
    assert out.startswith(f"run {three_runs['fit']}\n")
    for expected in ("stage:", "train", "status:", "finished", "commit:", "a" * 12, "lr  0.1"):
        assert expected in out
    assert "acc  0.91  (2 point(s))" in out
    failed = cli("runs", "show", three_runs["prep"]).out
    assert "error:\n  line 1\n  ValueError: no data" in failed


def test_show_json(three_runs: dict[str, str]) -> None:
    result = cli("runs", "show", three_runs["fit"], "--json")
    data = json.loads(result.out)
    assert data["id"] == three_runs["fit"]
    assert data["params"] == {"lr": 0.1}
    assert data["metric_points"] == {"acc": 2, "auc": 1, "f1": 1, "r": 1}
    assert data["end_time"].endswith("Z")


def test_show_unknown_or_ambiguous_ids_exit_2(three_runs: dict[str, str]) -> None:
    result = cli("runs", "show", "zzz")
    assert result.code == 2 and "not a run id" in result.err
    missing = next(
        c for c in "0123456789abcdef" if not any(i.startswith(c) for i in three_runs.values())
    )
    result = cli("runs", "show", missing)
    assert result.code == 2
    assert result.err.splitlines() == [
        f"error: run {missing}: no run with this id",
        "hint: list the runs with 'lockstep runs list'",
    ]


def test_an_unreachable_database_is_exit_1(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKSTEP_TRACKING_URI", "postgresql://ana:secret@127.0.0.1:1/runs")
    result = cli("runs", "list")
    assert result.code == 1
    assert "secret" not in result.err and "LOCKSTEP_TRACKING_URI" in result.err
