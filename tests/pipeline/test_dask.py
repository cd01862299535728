"""lockstep run --executor dask on a real LocalCluster on 127.0.0.1: in a shared
workspace, through the artifact remote, with failures, resources and stops."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from lockstep.errors import InputError, PipelineError
from lockstep.pipeline.executors.base import Job, Outcome
from lockstep.pipeline.executors.dask import (
    DaskExecutor,
    check_offered,
    metered,
    resource_claims,
)
from lockstep.pipeline.run import Runner, RunOptions, StageResult
from lockstep.pipeline.spec import Resources
from lockstep.project import Project
from lockstep.store.hashing import hash_file
from lockstep.store.tree import Tree
from tests.conftest import cli
from tests.pipeline.conftest import STAGES, write_pipeline
from tests.services import free_port

distributed = pytest.importorskip("distributed")


@dataclass
class Cluster:
    local: Any  # the LocalCluster
    directory: Path  # the workers' local directories are below it

    @property
    def address(self) -> str:
        return str(self.local.scheduler_address)


def start_cluster(directory: Path, **options: Any) -> Cluster:
    """A LocalCluster whose workers find this venv's python on PATH."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
        local = distributed.LocalCluster(
            host="127.0.0.1",
            dashboard_address=None,
            local_directory=str(directory),
            silence_logs=logging.ERROR,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # not 8787
            **options,
        )
    return Cluster(local, directory)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two worker processes with one thread each, offering CPU 1 and 1 GiB."""
    local = start_cluster(
        tmp_path_factory.mktemp("dask"),
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        resources={"CPU": 1, "MEMORY": 2**30},
    )
    yield local
    local.local.close()


@pytest.fixture(scope="module")
def gpu_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One in-process worker (over TCP, as a remote one) that offers a GPU and does
    not meter CPU or memory."""
    local = start_cluster(
        tmp_path_factory.mktemp("dask-gpu"),
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        resources={"GPU": 1},
    )
    yield local
    local.local.close()


class NoExecutor:
    """For runs where every stage must be up to date: nothing may be submitted."""

    def submit(self, job: Job) -> Future[Outcome]:
        raise AssertionError(f"stage {job.stage} was submitted")

    def stop(self) -> None:
        return None

    def close(self) -> None:
        return None


def connect(project: Project, address: str | None, shared_fs: str = "auto") -> DaskExecutor:
    return DaskExecutor.connect(
        project.ws, address, shared_fs=shared_fs, remote=lambda: project.remote(None), jobs=2
    )


def run_with(project: Project, executor: Any) -> dict[str, StageResult]:
    runner = Runner(project.ws, project.pipeline(), executor, options=RunOptions(jobs=2))
    return {r.name: r for r in runner.run().results}


def run_on_dask(
    root: Path, address: str | None, shared_fs: str = "auto"
) -> tuple[dict[str, StageResult], bool]:
    """Run the pipeline of ``root`` on the cluster; the results and whether the
    workers shared the workspace."""
    project = Project.open(root)
    try:
        executor = connect(project, address, shared_fs)
        try:
            return run_with(project, executor), executor.shares_workspace
        finally:
            executor.close()
    finally:
        project.close()


def actions(results: dict[str, StageResult]) -> dict[str, str]:
    return {name: r.action for name, r in results.items()}


def lock(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((root / "lockstep.lock").read_text())
    return data["stages"]


def test_shared_workspace_runs_stages_in_place_and_then_is_up_to_date(pipe: Path) -> None:
    results, shared = run_on_dask(pipe, None)  # a LocalCluster of its own, closed after
    assert shared
    assert actions(results) == dict.fromkeys(("prepare", "train", "evaluate"), "ran")
    assert sorted(p.name for p in (pipe / "data" / "prepared").iterdir()) == [
        f"part-{i}.txt" for i in range(4)
    ]
    assert (pipe / "models" / "model.json").exists()
    assert lock(pipe)["evaluate"]["metrics"] == {"score": 0.09, "nested.loss": 1.5}
    assert (pipe / "executions.log").read_text().split() == ["prepare", "train", "evaluate"]
    assert not list((pipe / ".lockstep").glob("dask-probe-*"))
    assert_up_to_date(pipe)


def assert_up_to_date(root: Path) -> None:
    """A second run finds every stage up to date and submits nothing."""
    project = Project.open(root)
    try:
        again = run_with(project, NoExecutor())
    finally:
        project.close()
    assert set(actions(again).values()) == {"up-to-date"}


def test_workers_without_the_workspace_go_through_the_remote(
    pipe: Path, cluster: Cluster, tmp_path: Path
) -> None:
    remote = tmp_path / "remote"
    assert cli("remote", "add", "store", f"file://{remote}").code == 0
    stages = {**STAGES, "where": {"cmd": "pwd > where.txt", "outs": ["where.txt"]}}
    write_pipeline(pipe, stages)
    results, shared = run_on_dask(pipe, cluster.address, shared_fs="no")
    assert not shared
    assert set(actions(results).values()) == {"ran"}, results
    # outputs came back into the workspace and the lock file
    assert len(list((pipe / "data" / "prepared").iterdir())) == 4
    assert lock(pipe)["evaluate"]["metrics"] == {"score": 0.09, "nested.loss": 1.5}
    assert not (pipe / "executions.log").exists()  # the stages ran elsewhere
    # ... in a scratch folder under a worker's local directory, removed afterwards
    scratch = Path((pipe / "where.txt").read_text().strip())
    assert scratch.is_relative_to(cluster.directory) and scratch.name == "workspace"
    assert not scratch.parent.exists()
    assert not list(Path(cluster.directory).rglob("lockstep-stage-*"))
    # every dep and every output is in the remote, tree objects included
    wanted = {hash_file(pipe / "params.yaml")}
    for entry in lock(pipe).values():
        wanted |= {d["digest"].removeprefix("sha256:") for d in entry["deps"]}
        for out in entry["outs"]:
            digest = out["digest"].removeprefix("sha256:")
            wanted.add(digest)
            if out["kind"] == "dir":
                tree = Tree.from_bytes(
                    (remote / "blobs/sha256" / digest[:2] / digest).read_bytes(), "t"
                )
                wanted |= {e.digest for e in tree.entries}
    held = {p.name for p in (remote / "blobs" / "sha256").glob("*/*")}
    assert wanted <= held
    # the user's scripts were copied into the cache, never linked
    assert os.stat(pipe / "prepare.py").st_nlink == 1
    assert_up_to_date(pipe)


def test_a_failing_stage_reports_its_stderr_tail(ws: Path, cluster: Cluster) -> None:
    write_pipeline(ws, {"broken": {"cmd": "echo working && echo 'bad things' >&2 && exit 3"}})
    results, _ = run_on_dask(ws, cluster.address)
    broken = results["broken"]
    assert broken.action == "failed"
    assert broken.error is not None
    assert "exit code 3" in broken.error and "bad things" in broken.error
    assert "working" not in broken.error


GPU_STAGE = {
    "gpu": {
        "cmd": "echo ok > gpu.txt",
        "outs": ["gpu.txt"],
        "resources": {"gpus": 1, "memory": "1MB"},
    }
}


def test_a_stage_needing_a_gpu_fails_clearly_without_one(ws: Path, cluster: Cluster) -> None:
    write_pipeline(ws, GPU_STAGE)
    started = time.monotonic()
    results, _ = run_on_dask(ws, cluster.address)
    gpu = results["gpu"]
    assert gpu.action == "failed"
    assert gpu.error is not None and "stage gpu" in gpu.error and "GPU 1" in gpu.error
    assert "CPU" not in gpu.error.split("(")[0]  # only what is missing is named
    assert time.monotonic() - started < 10


def test_a_stage_needing_a_gpu_runs_where_one_is_offered(ws: Path, gpu_cluster: Cluster) -> None:
    write_pipeline(ws, GPU_STAGE)
    results, _ = run_on_dask(ws, gpu_cluster.address)
    assert actions(results) == {"gpu": "ran"}
    assert (ws / "gpu.txt").read_text() == "ok\n"


def test_resources_map_to_worker_resources_and_must_fit_one_worker() -> None:
    assert resource_claims(None) == {}
    assert resource_claims(Resources(cpus=2, gpus=0, memory=4 * 10**9)) == {
        "CPU": 2,
        "MEMORY": 4e9,
    }
    workers = {
        "a": {"resources": {"CPU": 4, "MEMORY": 8e9}},
        "b": {"resources": {"CPU": 1, "GPU": 1}},
    }
    claims = {"CPU": 2, "GPU": 1}
    check_offered("s", {"CPU": 4}, workers)
    with pytest.raises(PipelineError, match=r"needs CPU 2, GPU 1, but .* all of it on one worker"):
        check_offered("s", claims, workers)
    with pytest.raises(PipelineError, match="stage s needs GPU 2, but no dask worker offers it"):
        check_offered("s", {"CPU": 1, "GPU": 2}, workers)
    # a cluster that declares no MEMORY does not meter it; GPU claims always stay
    assert metered({"CPU": 1, "MEMORY": 1e6, "GPU": 1}, {"b": workers["b"]}) == {
        "CPU": 1,
        "GPU": 1,
    }


def test_stop_ends_a_running_stage(ws: Path, cluster: Cluster) -> None:
    project = Project.open(ws)
    executor = connect(project, cluster.address)
    try:
        future = executor.submit(
            Job("sleeper", ("echo started > started.txt && sleep 60",), str(ws))
        )
        deadline = time.monotonic() + 20
        while not (ws / "started.txt").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.monotonic()
        executor.stop()
        outcome = future.result(timeout=20)
        assert outcome.returncode < 0
        assert time.monotonic() - started < 10
    finally:
        executor.close()
        project.close()


def test_capacity_counts_the_worker_threads(ws: Path, cluster: Cluster) -> None:
    project = Project.open(ws)
    executor = connect(project, cluster.address)
    try:
        assert executor.capacity == 2
    finally:
        executor.close()
        project.close()


def test_workers_without_the_workspace_need_a_remote(ws: Path, cluster: Cluster) -> None:
    project = Project.open(ws)
    try:
        with pytest.raises(InputError, match="lockstep remote add"):
            connect(project, cluster.address, shared_fs="no")
    finally:
        project.close()


# --- through the CLI ------------------------------------------------------------------


def test_cli_runs_on_the_cluster_and_fails_with_exit_code_1(ws: Path, cluster: Cluster) -> None:
    write_pipeline(
        ws,
        {
            "ok": {"cmd": "echo fine > ok.txt", "outs": ["ok.txt"]},
            "broken": {"cmd": "echo 'no luck' >&2 && exit 5"},
        },
    )
    result = cli("run", "--executor", "dask", "--dask-address", cluster.address)
    assert result.code == 1
    assert "ok: done" in result.out and "broken: FAILED" in result.out
    assert "no luck" in result.out + result.err
    assert (ws / "ok.txt").read_text() == "fine\n"
    assert "Traceback" not in result.err


def test_cli_reports_an_unreachable_scheduler_in_one_line(ws: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = cli("run", "--executor", "dask", "--dask-address", address)
    assert time.monotonic() - started < 20
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert lines[0].startswith(f"error: dask cluster {address}: cannot connect")
    assert "Traceback" not in result.err


def test_cli_rejects_a_malformed_address(ws: Path) -> None:
    result = cli("run", "--executor", "dask", "--dask-address", "nowhere::")
    assert result.code == 2
    assert result.err.startswith("error: dask address 'nowhere::' is not valid")
