"""Filters and sort keys against real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lockstep.errors import FilterError
from lockstep.tracking.records import MetricPoint
from lockstep.tracking.store import TrackingStore


@dataclass
class Runs:
    store: TrackingStore
    ids: dict[str, str]

    def names(self, filter: str | None = None, order_by: str | None = None) -> list[str]:
        return [r.name or "?" for r in self.store.search(filter, order_by)]

    def matching(self, filter: str) -> set[str]:
        return set(self.names(filter))


SPECS = {
    # name: (kind, stage, status, params, metrics, tags)
    "a": (
        "stage",
        "train",
        "finished",
        {"lr": 0.1, "opt": "adam"},
        {"acc": 0.9},
        {"team": "churn"},
    ),
    "b": ("stage", "train", "failed", {"lr": "0.10", "opt": "sgd"}, {"acc": 0.7}, {}),
    "c": ("stage", "eval", "finished", {"lr": 0.01}, {"acc": 0.95, "f1": 0.5}, {"team": "Churn"}),
    "d": ("adhoc", None, "running", {"lr": "fast"}, {}, {"team": "ads"}),
    "e": ("pipeline", None, "finished", {}, {"acc": 0.8}, {"note": "it's"}),
}


@pytest.fixture
def runs(store: TrackingStore) -> Runs:
    ids = {}
    for name, (kind, stage, status, params, metrics, tags) in SPECS.items():
        run_id = store.create_run(kind=kind, name=name, stage=stage, params=params, tags=tags)
        points = [MetricPoint(k, v, 1, 1.0) for k, v in metrics.items()]
        store.log_metrics(run_id, points)
        if status != "running":
            store.finish_run(run_id, status)
        ids[name] = run_id
    return Runs(store, ids)


FILTERS = [
    ("metrics.acc > 0.8", {"a", "c"}),
    ("metrics.acc >= 0.8", {"a", "c", "e"}),
    ("metrics.acc != 0.9", {"b", "c", "e"}),
    ("metrics.f1 < 1", {"c"}),
    ("metrics.acc > 0.8 and params.lr = 0.1", {"a"}),
    ("params.lr = 0.1", {"a", "b"}),
    ("params.lr = '0.10'", {"b"}),
    ("params.lr < 0.05", {"c"}),
    ("params.lr = fast", {"d"}),
    ("params.lr != 0.1", {"c", "d"}),
    ("params.opt like 'ad%'", {"a"}),
    ("params.missing = 1", set()),
    ("tags.team = churn", {"a"}),
    ("tags.team like 'churn'", {"a", "c"}),
    ("tags.team != ads", {"a", "c"}),
    ('tags.note = "it\'s"', {"e"}),
    ("status = finished", {"a", "c", "e"}),
    ("status != finished AND kind = stage", {"b"}),
    ("stage = train", {"a", "b"}),
    ("stage != train", {"c", "d", "e"}),
    ("name like 'A'", {"a"}),
    ("kind = pipeline", {"e"}),
    ("", {"a", "b", "c", "d", "e"}),
]


def test_filters(runs: Runs) -> None:
    for filter, expected in FILTERS:
        assert runs.matching(filter) == expected, filter


def test_attributes_id_parent_commit_and_user(store: TrackingStore) -> None:
    parent = store.create_run(kind="pipeline", name="p", git_commit="abc", user="ana")
    child = store.create_run(kind="stage", name="c", parent_id=parent)
    assert [r.name for r in store.search(f"parent = {parent}")] == ["c"]
    assert [r.name for r in store.search(f"id like '{child[:6]}%'")] == ["c"]
    assert [r.name for r in store.search("commit = abc and user = ana")] == ["p"]


def test_default_order_is_newest_first(runs: Runs) -> None:
    assert runs.names() == ["e", "d", "c", "b", "a"]
    assert runs.names(order_by="start_time") == ["a", "b", "c", "d", "e"]


def test_order_by_metric_puts_runs_without_it_last(runs: Runs) -> None:
    assert runs.names(order_by="-metrics.acc") == ["c", "a", "e", "b", "d"]
    assert runs.names(order_by="metrics.acc desc") == ["c", "a", "e", "b", "d"]
    assert runs.names(order_by="metrics.acc") == ["b", "e", "a", "c", "d"]
    assert runs.names(order_by="metrics.f1")[0] == "c"


def test_order_by_params_numbers_then_text_then_missing(runs: Runs) -> None:
    # lr: a 0.1, b "0.10" (a number too), c 0.01, d "fast", e none
    assert runs.names(order_by="params.lr") == ["c", "a", "b", "d", "e"]
    assert runs.names(order_by="-params.lr") == ["b", "a", "c", "d", "e"]


def test_order_by_several_keys_and_attributes(runs: Runs) -> None:
    assert runs.names(order_by="status, name desc") == ["b", "e", "c", "a", "d"]
    assert runs.names(order_by="-end_time")[-1] == "d"  # still running: no end time
    by_team = runs.names(order_by="tags.team")
    assert set(by_team[:3]) == {"a", "c", "d"} and by_team[3:] == ["e", "b"]


def test_limit(runs: Runs) -> None:
    assert [r.name for r in runs.store.search(order_by="-metrics.acc", limit=2)] == ["c", "a"]
    assert runs.store.search(limit=0) == []


def test_search_returns_full_records(runs: Runs) -> None:
    (found,) = runs.store.search("name = c")
    assert found.metrics == {"acc": 0.95, "f1": 0.5}
    assert found.params == {"lr": 0.01}
    assert found.tags == {"team": "Churn"}


def test_bad_filter_and_order_raise_filter_error(runs: Runs) -> None:
    with pytest.raises(FilterError, match="'>>'"):
        runs.store.search("metrics.acc >> 1")
    with pytest.raises(FilterError, match="order by"):
        runs.store.search(order_by="size")


def test_many_runs_are_read_in_chunks(store: TrackingStore) -> None:
    ids = {store.create_run(kind="adhoc", params={"i": i}) for i in range(600)}
    found = store.search("params.i >= 0")
    assert {r.id for r in found} == ids
    assert all("i" in r.params for r in found)
