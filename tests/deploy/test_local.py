"""``lockstep deploy`` to the ``local`` target: blue-green behind a router, a failed
deploy that leaves the old version serving, rollback, status and stop."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import cli
from tests.deploy.conftest import FEATURES, commit_version, config
from tests.services import free_port

ROW = {name: 0.5 for name in FEATURES}
SMOKE_SCRIPT = """\
import json, os, sys, urllib.request
url = os.environ["LOCKSTEP_ENDPOINT"] + "/v2/models/churn/infer"
body = {"inputs": [{"name": "x", "shape": [1, 20], "datatype": "FP64", "data": [0.5] * 20}]}
req = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
answer = json.load(urllib.request.urlopen(req))
sys.exit(0 if answer["outputs"][0]["shape"] == [1] else 1)
"""


@pytest.fixture
def staging(model_ws: Path) -> Iterator[tuple[Path, int]]:
    port = free_port()
    (model_ws / "smoke.py").write_text(SMOKE_SCRIPT)
    smoke = {
        "requests": [{"body": {"dataframe_records": [ROW]}, "shape": [1]}],
        "command": "python smoke.py",
    }
    config(model_ws, staging={"target": "local", "port": port, "smoke": smoke})
    yield model_ws, port
    cli("deploy", "stop", "churn", "--env", "staging")


def deploy() -> dict:  # type: ignore[type-arg]
    result = cli("deploy", "churn", "--env", "staging", "--json")
    found = json.loads(result.out)
    found["code"] = result.code
    found["err"] = result.err
    return found


def served_version(port: int) -> str:
    answer = httpx.get(f"http://127.0.0.1:{port}/v2/models/churn", timeout=5)
    return str(answer.json()["versions"][0])


def predict(port: int) -> httpx.Response:
    body = {"dataframe_records": [ROW]}
    return httpx.post(f"http://127.0.0.1:{port}/invocations", json=body, timeout=10)


class Traffic:
    """Requests through the router while a deploy runs: one client opens a new
    connection for each request, two keep their connections alive."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.codes: list[int | str] = []
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(keep,), daemon=True)
            for keep in (False, True, True)
        ]

    def _run(self, keep_alive: bool) -> None:
        base = f"http://127.0.0.1:{self.port}"
        body = {"dataframe_records": [ROW]}
        with httpx.Client(base_url=base, timeout=10) as client:
            while not self.stop.is_set():
                try:
                    if keep_alive:
                        answer = client.post("/invocations", json=body)
                    else:
                        answer = predict(self.port)
                    self.codes.append(answer.status_code)
                except httpx.HTTPError as exc:
                    self.codes.append(type(exc).__name__)
                time.sleep(0.002)

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def test_deploy_switch_fail_and_rollback(staging: tuple[Path, int]) -> None:
    root, port = staging
    assert cli("model", "promote", "churn@v0.0.1", "--to", "staging").code == 0
    first = deploy()
    assert first["code"] == 0, first["err"]
    assert first["passed"] and first["previous"] is None
    assert [c["passed"] for c in first["checks"]] == [True, True, True]
    assert served_version(port) == "0.0.1"
    assert predict(port).json()["predictions"] in ([0], [1])
    again = deploy()
    assert again["already"] is True

    commit_version(root, 0.01, "Second model")
    assert cli("model", "promote", "churn@v0.0.2", "--to", "staging").code == 0
    with Traffic(port) as traffic:
        second = deploy()
    assert second["code"] == 0, second["err"]
    assert second["previous"] == "0.0.1" and second["switch_seconds"] < 5
    assert served_version(port) == "0.0.2"
    assert traffic.codes and set(traffic.codes) == {200}, traffic.codes

    # a version trained on 5 of the 20 features fails the smoke request: v0.0.2 stays
    commit_version(root, 1.0, "Third model", FEATURES[:5])
    assert cli("model", "promote", "churn@v0.0.3", "--to", "staging").code == 0
    third = deploy()
    assert third["code"] == 1 and not third["passed"]
    assert "v0.0.2 keeps serving" in third["err"]
    failed = [c for c in third["checks"] if not c["passed"]]
    assert failed and failed[0]["check"] == "smoke request 1"
    assert served_version(port) == "0.0.2"

    # roll back: the registry first, then the deployment follows it
    assert cli("model", "rollback", "churn", "--env", "staging").code == 0
    assert deploy()["already"] is True  # staging runs v0.0.2 again, which serves
    assert cli("model", "rollback", "churn", "--env", "staging", "--to", "0.0.1").code == 0
    back = deploy()
    assert back["code"] == 0 and back["version"] == "0.0.1"
    assert served_version(port) == "0.0.1"

    status = json.loads(cli("deploy", "status", "--json").out)
    assert [(s["model"], s["env"], s["version"], s["serving"]) for s in status] == [
        ("churn", "staging", "0.0.1", True)
    ]
    stopped = cli("deploy", "stop", "churn", "--env", "staging")
    assert stopped.code == 0 and "Stopped" in stopped.out
    with pytest.raises(httpx.HTTPError):
        predict(port)
    assert json.loads(cli("deploy", "status", "--json").out)[0]["serving"] is False

    # every server flushed its sample of requests to the inference log on the way out
    import pandas as pd

    logged = pd.concat(
        pd.read_parquet(p) for p in (root / ".lockstep/monitor/churn/staging").iterdir()
    )
    assert set(logged["version"]) >= {"0.0.1", "0.0.2"}
    assert {"x0", "x19", "prediction", "timestamp"} <= set(logged.columns)


def test_a_taken_port_is_refused(staging: tuple[Path, int]) -> None:
    import socket

    _, port = staging
    assert cli("model", "promote", "churn@v0.0.1", "--to", "staging").code == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        result = cli("deploy", "churn", "--env", "staging")
    assert result.code == 1
    assert f"port {port}" in result.err and "environments.staging.port" in result.err


def test_an_unsigned_version_is_never_deployed_once_a_key_is_trusted(
    staging: tuple[Path, int],
) -> None:
    from tests.conftest import commit_keys

    root, port = staging
    assert cli("keygen", "--name", "alice").code == 0
    commit_keys(root)
    assert cli("model", "promote", "churn@v0.0.1", "--to", "staging").code == 0
    refused = deploy()
    assert refused["code"] == 1 and not refused["passed"]
    [ready] = refused["checks"]
    assert ready["check"] == "ready" and "signature" in ready["detail"]
    with pytest.raises(httpx.HTTPError):
        predict(port)
    assert cli("sign", "churn@v0.0.1").code == 0
    signed = deploy()
    assert signed["code"] == 0, signed["err"]
    assert served_version(port) == "0.0.1"
