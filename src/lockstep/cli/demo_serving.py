"""The demo's serving part: deploy staging to a local server, switch it blue-green to
a new version, send requests, read the server's metrics, roll back, stop."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lockstep.errors import OperationError
from lockstep.fs import atomic_write_text
from lockstep.project import Project

if TYPE_CHECKING:
    from lockstep.cli.demo_loop import Steps
    from lockstep.deploy.local import Deployed

REQUESTS = 200


def smoke_request(repo: Path) -> None:
    """A held-out row as the smoke request of staging (smoke/request.json)."""
    import pandas as pd

    row = pd.read_csv(repo / "data" / "prepared" / "test.csv").drop(columns="target").iloc[:1]
    body = {"dataframe_split": row.to_dict(orient="split", index=False)}
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
        done = _deploy(repo)
        return f"v{done.previous} -> v{done.target.version}; switched in {done.switch_seconds} s"

    def back() -> str:
        models = Project.open(repo).models()
        models.rollback("churn", "staging", None)
        done = _deploy(repo)
        return f"v{done.previous} -> v{done.target.version}; switched in {done.switch_seconds} s"

    steps.run("deploy staging to a local server", first)
    steps.run("promote v0.0.2 to staging, deploy: blue-green", switch)
    steps.run(f"send {REQUESTS} requests (OIP and MLflow)", lambda: _traffic(repo, state))
    steps.run("read the server's Prometheus metrics", lambda: _metrics(state))
    steps.run("roll staging back, deploy: v0.0.1 again", back)
    steps.run("stop the deployment", lambda: _stop(repo))


def _deploy(repo: Path) -> Deployed:
    from lockstep.deploy.local import Deployed

    done = Project.open(repo).deployments().deploy("churn", "staging")
    if not isinstance(done, Deployed) or not done.passed:
        raise OperationError(f"the demo expected the deploy to staging to pass: {done}")
    return done


def _traffic(repo: Path, state: dict[str, str]) -> str:
    import httpx

    body = json.loads((repo / "smoke" / "request.json").read_text())
    split = body["dataframe_split"]
    oip = {
        "inputs": [
            {
                "name": "input-0",
                "shape": [1, len(split["columns"])],
                "datatype": "FP64",
                "data": split["data"][0],
            }
        ]
    }
    took = []
    with httpx.Client(base_url=state["endpoint"], timeout=10) as client:
        for i in range(REQUESTS):
            path, payload = ("/invocations", body) if i % 2 else ("/v2/models/churn/infer", oip)
            t0 = time.perf_counter()
            answer = client.post(path, json=payload)
            took.append(time.perf_counter() - t0)
            if answer.status_code != 200:
                raise OperationError(f"{path} answered {answer.status_code}: {answer.text}")
    p50 = statistics.median(took) * 1000
    return f"all 200; p50 {p50:.1f} ms through the router"


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


def _stop(repo: Path) -> str:
    done = Project.open(repo).deployments().stop("churn", "staging")
    return f"v{done['version']} stopped, port free"
