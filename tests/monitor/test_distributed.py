"""executor="dask" on a real LocalCluster (2 worker processes, 1 thread each): the tasks
read their own columns from the files and the result equals the local one."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lockstep.errors import FileFormatError, InputError, TableReadError
from lockstep.monitor.distributed import TaskFailure, compare_task
from lockstep.monitor.drift import detect
from lockstep.monitor.sources import SourceSpec, TableSource, open_source
from lockstep.monitor.thresholds import Limits, Thresholds

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    import distributed

    with distributed.LocalCluster(
        host="127.0.0.1",
        dashboard_address=None,
        processes=True,
        n_workers=2,
        threads_per_worker=1,
        silence_logs=logging.ERROR,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    ) as started:
        yield started


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dask-drift")
    rng = np.random.default_rng(0)
    (root / "log").mkdir()
    for part in range(3):
        rows = 4_000
        table = pa.table(
            {
                **{f"x{i}": rng.normal(0.3 * (i % 2), 1, rows) for i in range(5)},
                "level": pa.array(rng.choice(["a", "b", "c"], rows, p=[0.5, 0.3, 0.2])),
                "timestamp": pa.array(
                    [T0 + timedelta(seconds=part * rows + i) for i in range(rows)],
                    pa.timestamp("us", tz="UTC"),
                ),
            }
        )
        pq.write_table(table, root / "log" / f"part-{part}.parquet", row_group_size=1_000)
    reference = {f"x{i}": rng.normal(0, 1, 6_000) for i in range(5)}
    reference["level"] = rng.choice(["a", "b", "c"], 6_000, p=[0.2, 0.3, 0.5])
    (root / "train.csv").write_text(
        "x0,x1,x2,x3,x4,level\n"
        + "".join(
            f"{','.join(str(reference[f'x{i}'][r]) for i in range(5))},{reference['level'][r]}\n"
            for r in range(6_000)
        )
    )
    return root


def test_dask_gives_the_local_result(cluster: Any, data: Path) -> None:
    thresholds = Thresholds.from_mapping({"features": {"x1": {"wasserstein": 5.0}}}, "t")
    since = T0 + timedelta(seconds=1_500)

    def run(executor: str) -> dict[str, Any]:
        reference = open_source(str(data / "train.csv"))
        current = open_source(str(data / "log"), since=since)
        result = detect(
            reference,
            current,
            thresholds=thresholds,
            executor=executor,
            dask_address=cluster.scheduler_address if executor == "dask" else None,
        )
        return result.to_dict()

    local, remote = run("local"), run("dask")
    assert remote.pop("executor") == "dask" and local.pop("executor") == "local"
    assert remote == local
    assert local["sources"]["current"]["rows"] == 12_000 - 1_500
    assert local["drifted_features"] == ["x1", "x3", "level"]


def test_a_lockstep_error_in_a_task_comes_back_whole(cluster: Any, data: Path) -> None:
    import distributed

    broken = data / "broken.parquet"
    broken.write_bytes(b"PAR1 nothing")
    spec = open_source(str(data / "train.csv")).spec
    bad = SourceSpec(str(broken), ((str(broken), str(broken)),))
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        future = client.submit(
            compare_task,
            "run-1",
            reference=spec,
            current=bad,
            name="x0",
            kind="numeric",
            limits=Limits(),
            pure=False,
        )
        found = future.result()
    assert isinstance(found, TaskFailure)
    error = pickle.loads(pickle.dumps(found)).error()
    assert type(error) is TableReadError
    assert (error.file, error.field) == (str(broken), None)
    assert str(error).startswith(f"{broken}: not a readable Parquet file")


def test_task_failures_keep_class_and_fields() -> None:
    error = TaskFailure.of(FileFormatError("a.parquet", "timestamp", "no such column")).error()
    assert type(error) is FileFormatError
    assert (error.file, error.field, error.problem) == ("a.parquet", "timestamp", "no such column")
    assert str(error) == "a.parquet: timestamp: no such column"


def test_a_cluster_of_its_own_when_no_address_is_given(data: Path) -> None:
    result = detect(
        open_source(str(data / "train.csv")),
        open_source(str(data / "log")),
        features=["x0", "level"],
        executor="dask",
    )
    assert [f.name for f in result.features] == ["x0", "level"]
    assert result.executor == "dask"


def test_data_in_memory_and_bad_addresses_are_refused(data: Path) -> None:
    import pandas as pd

    memory = TableSource.from_frame(pd.DataFrame({"x0": [1.0, 2.0]}))
    with pytest.raises(InputError, match="held in memory: a Dask cluster cannot read it"):
        detect(
            memory,
            open_source(str(data / "log")),
            executor="dask",
            dask_address="tcp://127.0.0.1:1",
        )
    with pytest.raises(InputError, match="dask address 'nowhere::' is not valid"):
        detect(
            open_source(str(data / "train.csv")),
            open_source(str(data / "log")),
            executor="dask",
            dask_address="nowhere::",
        )
