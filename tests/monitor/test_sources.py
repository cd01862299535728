"""Opening tables to compare: files, folders, URLs, kinds, missing values, the time
window (row groups in, out and across it), and one clear error per problem."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lockstep.errors import FileFormatError, InputError, PathError, TableReadError
from lockstep.monitor.sources import CATEGORICAL, NUMERIC, TableSource, open_source, reopen
from tests.store.remotes.conftest import (  # noqa: F401  (the S3 remote tests' fixtures)
    S3Bucket,
    aws_env,
    moto_server,
    s3_bucket,
)

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def stamps(start: datetime, count: int, step: timedelta = timedelta(minutes=1)) -> pa.Array:
    values = [start + i * step for i in range(count)]
    return pa.array(values, pa.timestamp("us", tz="UTC"))


def log_table(start: datetime, count: int, seed: int = 0) -> pa.Table:
    """Rows as the inference log writes them: inputs, prediction, probabilities, own columns."""
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "mean radius": rng.normal(14, 3, count),
            "texture": pa.array(rng.choice(["smooth", "rough"], count)),
            "prediction": pa.array(rng.integers(0, 2, count)),
            "proba_1": rng.random(count),
            "timestamp": stamps(start, count),
            "model": pa.array(["cancer"] * count),
            "version": pa.array(["1.0.0"] * count),
            "request_id": pa.array([f"r{i}" for i in range(count)]),
        }
    )


def test_parquet_kinds_and_columns(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    table = pa.table(
        {
            "f": pa.array([1.5, None, 3.0]),
            "i": pa.array([1, 2, None], pa.int64()),
            "d": pa.array([1, 2, 3], pa.decimal128(5, 0)),
            "s": pa.array(["a", None, "b"]),
            "b": pa.array([True, False, None]),
            "cat": pa.array(["x", "y", "x"]).dictionary_encode(),
            "when": stamps(T0, 3),
            "nested": pa.array([[1], [2], [3]]),
        }
    )
    pq.write_table(table, path)
    source = open_source(str(path))
    assert source.schema() == {
        "f": NUMERIC,
        "i": NUMERIC,
        "d": NUMERIC,
        "s": CATEGORICAL,
        "b": CATEGORICAL,
        "cat": CATEGORICAL,
    }
    assert source.rows == 3
    np.testing.assert_array_equal(source.column("f"), [1.5, np.nan, 3.0])
    np.testing.assert_array_equal(source.column("i"), [1.0, 2.0, np.nan])
    assert source.column("s").tolist() == ["a", None, "b"]
    assert source.column("b").tolist() == ["True", "False", None]
    assert source.value_counts("cat") == ({"x": 2, "y": 1}, 0)
    assert source.value_counts("s") == ({"a": 1, "b": 1}, 1)


def test_many_row_groups_read_one_column_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    frame = pd.DataFrame({"a.b": np.arange(10_000, dtype=float), "c": ["u", "v"] * 5_000})
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=999)
    source = open_source(str(path))
    np.testing.assert_array_equal(source.column("a.b"), frame["a.b"].to_numpy())
    assert source.value_counts("c") == ({"u": 5_000, "v": 5_000}, 0)
    assert source.files == [str(path)]


def test_csv_kinds_missing_values_and_codes(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("x,name,zip,flag\n1.5,a,0123,true\n,b,4567,false\n3,,0999,true\n")
    source = open_source(str(path))
    assert source.schema() == {
        "x": NUMERIC,
        "name": CATEGORICAL,
        "zip": CATEGORICAL,
        "flag": CATEGORICAL,
    }
    np.testing.assert_array_equal(source.column("x"), [1.5, np.nan, 3.0])
    assert source.column("name").tolist() == ["a", "b", None]
    assert source.value_counts("zip") == ({"0123": 1, "4567": 1, "0999": 1}, 0)
    assert source.value_counts("flag") == ({"True": 2, "False": 1}, 0)


def test_a_folder_is_one_table_of_its_visible_files(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    (folder / "day-2").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    pq.write_table(pa.table({"x": [1.0, 2.0], "y": ["a", "b"]}), folder / "a.parquet")
    (folder / "day-2" / "b.csv").write_text("x,y\n3,c\n")
    pq.write_table(pa.table({"x": [4.0]}), folder / "day-2" / "c.parquet")  # no y: missing
    (folder / ".hidden" / "d.csv").write_text("x,y\nnot,read\n")
    (folder / ".e.parquet").write_bytes(b"not read either")
    (folder / "notes.txt").write_text("not a table")
    source = open_source(str(folder))
    assert source.files == [
        str(folder / "a.parquet"),
        str(folder / "day-2" / "b.csv"),
        str(folder / "day-2" / "c.parquet"),
    ]
    np.testing.assert_array_equal(source.column("x"), [1.0, 2.0, 3.0, 4.0])
    assert source.column("y").tolist() == ["a", "b", "c", None]
    assert source.value_counts("y") == ({"a": 1, "b": 1, "c": 1}, 1)


def test_file_urls_open_like_paths(tmp_path: Path) -> None:
    pq.write_table(pa.table({"x": [1.0, 2.0]}), tmp_path / "a.parquet")
    source = open_source(tmp_path.as_uri())
    assert source.files == [f"{tmp_path.as_uri()}/a.parquet"]
    np.testing.assert_array_equal(source.column("x"), [1.0, 2.0])
    again = reopen(source.spec)
    np.testing.assert_array_equal(again.column("x"), [1.0, 2.0])


def test_kinds_that_disagree_name_both_files(tmp_path: Path) -> None:
    pq.write_table(pa.table({"x": [1.0]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"x": ["one"]}), tmp_path / "b.parquet")
    with pytest.raises(TableReadError) as caught:
        open_source(str(tmp_path))
    message = str(caught.value)
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    assert message == f"{second}: x: is categorical here but numeric in {first}"


def test_an_all_null_column_takes_the_kind_of_the_others(tmp_path: Path) -> None:
    pq.write_table(pa.table({"x": pa.nulls(2)}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"x": ["one"]}), tmp_path / "b.parquet")
    source = open_source(str(tmp_path))
    assert source.schema() == {"x": CATEGORICAL}
    assert source.value_counts("x") == ({"one": 1}, 2)


def test_errors_are_one_line_naming_the_path_or_column(tmp_path: Path) -> None:
    with pytest.raises(PathError, match="does not exist"):
        open_source(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(PathError, match="holds no CSV or Parquet files"):
        open_source(str(tmp_path / "empty"))
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(TableReadError, match=r"broken\.parquet: not a readable Parquet file"):
        open_source(str(broken))
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("a,b\n1,2,3\n")
    with pytest.raises(TableReadError, match=r"bad\.csv: not a readable CSV file"):
        open_source(str(bad_csv))
    pq.write_table(pa.table({"x": [1.0]}), tmp_path / "ok.parquet")
    source = open_source(str(tmp_path / "ok.parquet"))
    with pytest.raises(InputError, match=r"column 'y' is not in .*ok\.parquet"):
        source.column("y")
    with pytest.raises(PathError, match="does not exist"):
        open_source((tmp_path / "nope").as_uri())
    with pytest.raises(PathError, match="nosuch://x: cannot be opened"):
        open_source("nosuch://x")


def test_window_selects_rows_by_timestamp_across_row_groups(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    table = log_table(T0, 1_000)  # one row a minute
    pq.write_table(table, path, row_group_size=100)
    since, until = T0 + timedelta(minutes=250), T0 + timedelta(minutes=730)
    source = open_source(str(path), since=since, until=until)
    assert source.rows == 480
    expected = table.column("mean radius").to_numpy()[250:730]
    np.testing.assert_array_equal(source.column("mean radius"), expected)
    counts, missing = source.value_counts("texture")
    assert sum(counts.values()) == 480 and missing == 0
    assert source.spec.window() == "2026-11-01T04:10:00Z .. 2026-11-01T12:10:00Z"
    only_since = open_source(str(path), since=since.replace(tzinfo=None))  # naive: UTC
    assert only_since.rows == 750


@pytest.mark.parametrize("unit", ["s", "ms", "ns"])
@pytest.mark.parametrize("zone", ["UTC", None])
def test_window_with_other_time_units_and_naive_times(
    tmp_path: Path, unit: str, zone: str | None
) -> None:
    table = log_table(T0, 600)
    times = table.column("timestamp").cast(pa.timestamp(unit, tz=zone))
    table = table.set_column(table.schema.get_field_index("timestamp"), "timestamp", times)
    pq.write_table(table, tmp_path / "log.parquet", row_group_size=64)
    since = T0 + timedelta(minutes=100, microseconds=1)  # just after a row: that row is out
    source = open_source(
        str(tmp_path / "log.parquet"), since=since, until=T0 + timedelta(minutes=500)
    )
    assert source.rows == 399


def test_window_on_files_without_statistics(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    pq.write_table(log_table(T0, 300), path, row_group_size=50, write_statistics=False)
    source = open_source(str(path), until=T0 + timedelta(minutes=75))
    assert source.rows == 75


def test_log_files_written_before_the_window_are_not_opened(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    folder.mkdir()
    (folder / "20261030T120000.000000Z-41-000001.parquet").write_bytes(b"old and broken")
    pq.write_table(log_table(T0, 10), folder / "20261101T001000.000000Z-41-000002.parquet")
    source = open_source(str(folder), since=T0 - timedelta(hours=1))
    assert source.rows == 10
    with pytest.raises(TableReadError):
        open_source(str(folder))


def test_window_in_csv_reads_iso_times(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(
        "x,timestamp\n1,2026-11-01T00:00:00Z\n2,2026-11-01T01:00:00+00:00\n3,2026-11-01T02:00:00Z\n"
    )
    source = open_source(str(path), since=T0 + timedelta(minutes=30))
    np.testing.assert_array_equal(source.column("x"), [2.0, 3.0])
    path.write_text("x,timestamp\n1,yesterday\n")
    with pytest.raises(FileFormatError, match="timestamp: 'yesterday' is not an ISO 8601 time"):
        open_source(str(path), since=T0)


def test_window_needs_a_timestamp_column(tmp_path: Path) -> None:
    pq.write_table(pa.table({"x": [1.0]}), tmp_path / "a.parquet")
    source = open_source(str(tmp_path / "a.parquet"), since=T0)
    with pytest.raises(FileFormatError, match=r"a\.parquet: timestamp: no such column"):
        _ = source.rows
    (tmp_path / "b.csv").write_text("x\n1\n")
    with pytest.raises(FileFormatError, match=r"b\.csv: timestamp: no such column"):
        open_source(str(tmp_path / "b.csv"), until=T0)
    with pytest.raises(InputError, match="the time window is empty"):
        open_source(str(tmp_path / "b.csv"), since=T0, until=T0)


def test_a_data_frame_in_memory() -> None:
    source = TableSource.from_frame(pd.DataFrame({"x": [1, 2, None], "y": ["a", "b", "a"]}))
    assert source.schema() == {"x": NUMERIC, "y": CATEGORICAL}
    np.testing.assert_array_equal(source.column("x"), [1.0, 2.0, np.nan])
    assert source.value_counts("y") == ({"a": 2, "b": 1}, 0)


@pytest.mark.services
def test_an_s3_folder(s3_bucket: S3Bucket) -> None:  # noqa: F811
    buffer = io.BytesIO()
    pq.write_table(log_table(T0, 200), buffer, row_group_size=64)
    name = "20261101T040000.000000Z-7-000001.parquet"
    s3_bucket.write(f"logs/cancer/{name}", buffer.getvalue())
    s3_bucket.write("logs/cancer/extra.csv", b"mean radius,texture\n10.5,smooth\n")
    s3_bucket.write("logs/cancer/.tmp.parquet", b"hidden")
    s3_bucket.write(f"logs/windowed/{name}", buffer.getvalue())
    s3_bucket.write("logs/windowed/20261030T000000.000000Z-7-000000.parquet", b"old, broken")
    options = {"client_kwargs": {"endpoint_url": s3_bucket.endpoint}}
    url = f"s3://{s3_bucket.name}/logs/cancer"
    source = open_source(url, storage_options=options)
    assert source.files == [f"{url}/{name}", f"{url}/extra.csv"]
    assert source.rows == 201
    assert source.column("mean radius")[-1] == 10.5
    assert source.value_counts("texture")[0]["smooth"] >= 1
    windowed = f"s3://{s3_bucket.name}/logs/windowed"
    recent = open_source(windowed, since=T0 + timedelta(minutes=150), storage_options=options)
    assert recent.files == [f"{windowed}/{name}"]
    assert recent.rows == 50
    with pytest.raises(PathError, match="does not exist"):
        open_source(f"s3://{s3_bucket.name}/nothing", storage_options=options)
