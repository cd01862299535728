"""Round trips of the tracking records, property-tested."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import given
from hypothesis import strategies as st

from lockstep.tracking.records import KINDS, STATUSES, MetricPoint, RunRecord, format_time

UTC = dt.timezone.utc
texts = st.text(max_size=20)
keys = st.text(min_size=1, max_size=20)
hex32 = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
moments = st.datetimes(
    min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.just(UTC)
)
finite = st.floats(allow_nan=False, allow_infinity=False)

records = st.builds(
    RunRecord,
    id=hex32,
    kind=st.sampled_from(KINDS),
    status=st.sampled_from(STATUSES),
    start_time=moments,
    name=st.none() | texts,
    parent_id=st.none() | hex32,
    stage=st.none() | texts,
    git_commit=st.none() | st.text(alphabet="0123456789abcdef", min_size=40, max_size=40),
    dirty=st.none() | st.booleans(),
    user=st.none() | texts,
    end_time=st.none() | moments,
    params=st.dictionaries(keys, scalars, max_size=5),
    metrics=st.dictionaries(keys, finite, max_size=5),
    tags=st.dictionaries(keys, texts, max_size=5),
    outs=st.dictionaries(keys, hex32.map(lambda h: "sha256:" + h * 2), max_size=3),
    environment=st.fixed_dictionaries(
        {"python": st.just("3.11.7"), "packages": st.dictionaries(keys, texts, max_size=3)}
    ),
    fingerprint=st.none() | hex32,
    error=st.none() | st.text(max_size=200),
)


@given(records)
def test_run_record_round_trips_through_json(record: RunRecord) -> None:
    data = json.loads(json.dumps(record.to_dict()))
    assert RunRecord.from_dict(data) == record


@given(st.builds(MetricPoint, key=keys, value=finite, step=st.integers(), timestamp=finite))
def test_metric_point_round_trips(point: MetricPoint) -> None:
    assert MetricPoint.from_dict(json.loads(json.dumps(point.to_dict()))) == point


def test_times_are_utc_iso_with_z() -> None:
    moment = dt.datetime(2024, 5, 1, 14, 0, 0, 250, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert format_time(moment) == "2024-05-01T12:00:00.000250Z"
    record = RunRecord(id="a" * 32, kind="adhoc", status="running", start_time=moment)
    assert record.to_dict()["start_time"] == "2024-05-01T12:00:00.000250Z"
    assert record.to_dict()["end_time"] is None
    assert record.duration is None


def test_duration_and_label() -> None:
    start = dt.datetime(2024, 5, 1, tzinfo=UTC)
    record = RunRecord(
        id="b" * 32,
        kind="stage",
        status="finished",
        start_time=start,
        end_time=start + dt.timedelta(seconds=90.5),
        stage="train",
    )
    assert record.duration == 90.5
    assert record.label == "train"
