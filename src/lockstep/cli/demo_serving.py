"""The demo's serving and monitoring part: deploy staging to a local server, switch it
blue-green, send traffic, read the metrics, find no drift, replay drifted traffic,
detect it, retrain on fresh data behind the gates, deploy the new version, roll back."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockstep.errors import OperationError
from lockstep.fs import atomic_write_text
from lockstep.project import Project

if TYPE_CHECKING:
    from lockstep.cli.demo_loop import Steps
    from lockstep.deploy.local import Deployed

FLUSH_WAIT = 1.0  # the demo's inference log reaches its files within 0.5 s


def smoke_request(repo: Path) -> None:
    """A held-out row as the smoke request of staging (smoke/request.json)."""
    rows = _rows(repo, 1)
    body = {"dataframe_split": {"columns": list(rows[0]), "data": [list(rows[0].values())]}}
    (repo / "smoke").mkdir(exist_ok=True)
    atomic_write_text(repo / "smoke" / "request.json", json.dumps(body) + "\n")


def run_steps(steps: Steps, repo: Path) -> None:
    state: dict[str, str] = {}

    def first() -> str:
        done = _deploy(repo)
        state["endpoint"] = done.endpoint
        checks = ", ".join(c.name for c in done.checks)
        return f"v{done.target.version} at {done.endpoint} after {checks}"

    def switch() -> str:
        Project.open(repo).models().promote("churn@v0.0.2", "staging")
        return _switched(_deploy(repo))

    def retrained() -> str:
        done = Project.open(repo).monitoring().retrain("churn", env="staging", watch="staging")
        if not done.promoted or done.version is None:
            raise OperationError(f"the demo expected the retrained model to pass: {done.reason}")
        f1 = done.version.meta.get("metrics", {}).get("f1", 0.0)
        return f"{done.version.ref} (f1 {f1:.3f}) promoted to staging: data pass, scan pass"

    def back() -> str:
        Project.open(repo).models().rollback("churn", "staging", None)
        return _switched(_deploy(repo))

    steps.run("deploy staging to a local server", first)
    steps.run("promote v0.0.2 to staging, deploy: blue-green", switch)
    steps.run("serve held-out cases (OIP and MLflow)", lambda: _traffic(repo, state, False))
    steps.run("read the server's Prometheus metrics", lambda: _metrics(state))
    steps.run("watch staging's traffic: no drift", lambda: _drift(repo, expect=False))
    steps.run("replay drifted traffic (larger tumours)", lambda: _traffic(repo, state, True))
    steps.run("detect the drift, write an HTML report", lambda: _drift(repo, expect=True))
    steps.run("retrain on fresh data, gate, promote", retrained)
    steps.run("deploy the retrained version: blue-green", lambda: _switched(_deploy(repo)))
    steps.run("roll staging back, deploy: v0.0.2 again", back)
    steps.run("stop the deployment", lambda: _stop(repo))


def _deploy(repo: Path) -> Deployed:
    from lockstep.deploy.local import Deployed

    done = Project.open(repo).deployments().deploy("churn", "staging")
    if not isinstance(done, Deployed) or not done.passed:
        raise OperationError(f"the demo expected the deploy to staging to pass: {done}")
    return done


def _switched(done: Deployed) -> str:
    return f"v{done.previous} -> v{done.target.version}; switched in {done.switch_seconds} s"


def _rows(repo: Path, count: int, drifted: bool = False) -> list[dict[str, Any]]:
    """Held-out cases as requests; drifted: larger tumours far more often."""
    import pandas as pd

    test = pd.read_csv(repo / "data" / "prepared" / "test.csv").drop(columns="target")
    if drifted:
        weights = test["mean radius"].rank() ** 4
        test = test.sample(n=count, replace=True, weights=weights, random_state=11)
    rows: list[dict[str, Any]] = test.head(count).to_dict(orient="records")
    return rows


def _traffic(repo: Path, state: dict[str, str], drifted: bool) -> str:
    import httpx

    rows = _rows(repo, 300 if drifted else 200, drifted)
    took = []
    with httpx.Client(base_url=state["endpoint"], timeout=10) as client:
        for i, row in enumerate(rows):
            path, payload = _request(i, row)
            t0 = time.perf_counter()
            answer = client.post(path, json=payload)
            took.append(time.perf_counter() - t0)
            if answer.status_code != 200:
                raise OperationError(f"{path} answered {answer.status_code}: {answer.text}")
    time.sleep(FLUSH_WAIT)  # the inference log reaches its Parquet files
    p50 = statistics.median(took) * 1000
    return f"{len(rows)} requests, all 200; p50 {p50:.1f} ms through the router"


def _request(i: int, row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if i % 2:
        return "/invocations", {"dataframe_records": [row]}
    tensor = {"name": "input-0", "shape": [1, len(row)], "datatype": "FP64"}
    return "/v2/models/churn/infer", {"inputs": [{**tensor, "data": list(row.values())}]}


def _metrics(state: dict[str, str]) -> str:
    import httpx

    text = httpx.get(f"{state['endpoint']}/metrics", timeout=10).text
    counts = {"invocations": 0.0, "v2/infer": 0.0}
    for line in text.splitlines():
        if not line.startswith("lockstep_requests_total{") or 'version="0.0.2"' not in line:
            continue
        for route in counts:
            if f'route="{route}"' in line:
                counts[route] += float(line.rsplit(" ", 1)[1])
    shown = ", ".join(f"{n:.0f} {route}" for route, n in counts.items())
    return f"lockstep_requests_total of v0.0.2: {shown} (the smoke request included)"


def _drift(repo: Path, *, expect: bool) -> str:
    report = repo.parent / "drift-report.html" if expect else None
    run = Project.open(repo).monitoring().drift("churn", env="staging", report=report)
    if run.drifted != expect:
        found = "drift" if run.drifted else "no drift"
        raise OperationError(f"the demo expected {'drift' if expect else 'no drift'}: {found}")
    rows = run.result.current.rows
    if not expect:
        return f"{len(run.result.features)} features, {rows} logged rows: no drift"
    names = [f.name for f in run.result.features if f.drifted]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"exit 1: drift in {shown}; {report}"


def _stop(repo: Path) -> str:
    done = Project.open(repo).deployments().stop("churn", "staging")
    return f"v{done['version']} stopped, port free"
