"""The server over real HTTP: ``lockstep.serving.runner.serve`` in a subprocess, driven
with httpx and with tritonclient unchanged."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from lockstep.serving.spec import LogSettings
from tests.serving.conftest import TOKEN, WIDTH, Trained, make_spec, one_row_oip, start_server

AUTH = {"Authorization": f"Bearer {TOKEN}"}
INFER = "/v2/models/m/infer"


@pytest.fixture(scope="module")
def served(lr: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("served")
    service, url = start_server(make_spec(lr), folder, token=TOKEN)
    try:
        yield url, folder / "server.log"
    finally:
        service.stop()


@pytest.fixture
def client(served: tuple[str, Path]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[0], headers=AUTH, timeout=30) as c:
        yield c


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_every_route(client: httpx.Client, lr: Trained) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").status_code == 200
    assert client.get("/ping").status_code == 200
    assert client.get("/v2").json()["extensions"] == ["binary_tensor_data"]
    metadata = client.get("/v2/models/m").json()
    assert metadata["name"] == "m" and metadata["versions"] == ["1.0.0"]
    assert metadata["platform"] == "lockstep-sklearn"
    assert [i["name"] for i in metadata["inputs"]] == [f"x{i}" for i in range(WIDTH)]
    assert metadata["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
    ]
    assert client.get("/v2/models/m/versions/1.0.0").json() == metadata
    assert client.get("/v2/models/m/ready").json() == {"name": "m", "ready": True}
    assert client.get("/v2/models/m/versions/1.0.0/ready").status_code == 200
    row = lr.sample[0]
    expected = int(lr.model.predict(lr.sample[:1])[0])
    for path in (INFER, "/v2/models/m/versions/1.0.0/infer"):
        answer = client.post(path, json=one_row_oip(row, id="abc"))
        assert answer.status_code == 200
        doc = answer.json()
        assert (doc["model_name"], doc["model_version"], doc["id"]) == ("m", "1.0.0", "abc")
        assert doc["outputs"] == [
            {"name": "predict", "datatype": "INT64", "shape": [1], "data": [expected]}
        ]
    answer = client.post("/invocations", json={"dataframe_split": {"data": [row.tolist()]}})
    assert answer.json() == {"predictions": [expected]}
    proba = client.post(
        "/invocations", json={"instances": [row.tolist()], "params": {"predict_proba": True}}
    )
    np.testing.assert_allclose(proba.json()["predictions"], lr.model.predict_proba(lr.sample[:1]))
    csv_body = ",".join(f"x{i}" for i in range(WIDTH)) + "\n" + ",".join(map(str, row.tolist()))
    answer = client.post("/invocations", content=csv_body, headers={"Content-Type": "text/csv"})
    assert answer.json() == {"predictions": [expected]}


def test_errors_are_json(client: httpx.Client, lr: Trained) -> None:
    cases = [
        (
            client.post("/v2/models/other/infer", json=one_row_oip(lr.sample[0])),
            404,
            "unknown model 'other'",
        ),
        (
            client.post("/v2/models/m/versions/9/infer", json=one_row_oip(lr.sample[0])),
            404,
            "no version '9'",
        ),
        (client.get("/v2/models/other"), 404, "unknown model"),
        (client.get("/v2/models/m/versions/2.0.0/ready"), 404, "no version '2.0.0'"),
        (client.get("/nowhere"), 404, "no route /nowhere"),
        (client.get(INFER), 405, "method not allowed"),
        (client.post(INFER, content=b"{"), 400, "not valid JSON"),
        (client.post(INFER, json=one_row_oip(lr.sample[0][:5])), 422, "expected [N, 20]"),
        (
            client.post(INFER, content=b"{}", headers={"Inference-Header-Content-Length": "x"}),
            400,
            "not an integer",
        ),
        (client.post(INFER, content=b"{}", headers={"Content-Encoding": "gzip"}), 415, "gzip"),
        (
            client.post("/invocations", json={"instances": [[None] * WIDTH]}),
            422,
            "the model rejected the input: ValueError: ",
        ),
    ]
    for answer, status, message in cases:
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("application/json")
        assert message in answer.json()["error"], answer.text


def test_token(served: tuple[str, Path], lr: Trained) -> None:
    url = served[0]
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        for method, path in (
            ("POST", INFER),
            ("GET", "/metrics"),
            ("GET", "/v2"),
            ("GET", "/nowhere"),
        ):
            answer = httpx.request(
                method, url + path, headers=headers, json=one_row_oip(lr.sample[0])
            )
            assert answer.status_code == 401
            assert answer.headers["www-authenticate"] == "Bearer"
            assert "bearer token" in answer.json()["error"]
    for path in ("/v2/health/live", "/v2/health/ready", "/ping"):
        assert httpx.get(url + path).status_code == 200
    assert (
        httpx.post(
            url + INFER,
            headers={"Authorization": f"bearer {TOKEN}"},
            json=one_row_oip(lr.sample[0]),
        ).status_code
        == 200
    )


def test_batched_answers_are_the_unbatched_ones(served: tuple[str, Path], lr: Trained) -> None:
    rows = np.random.default_rng(11).normal(size=(50, WIDTH))
    bodies = [
        one_row_oip(r, outputs=[{"name": "predict"}, {"name": "predict_proba"}]) for r in rows
    ]
    with httpx.Client(base_url=served[0], headers=AUTH) as client:
        alone = [client.post(INFER, json=b).json()["outputs"] for b in bodies]

    async def together() -> list[Any]:
        async with httpx.AsyncClient(base_url=served[0], headers=AUTH, timeout=30) as client:
            answers = await asyncio.gather(*(client.post(INFER, json=b) for b in bodies))
        return [a.json()["outputs"] for a in answers]

    batched = asyncio.run(together())
    for one, many in zip(alone, batched, strict=True):
        assert one[0] == many[0]
        # BLAS may round the last bit differently for another row count.
        np.testing.assert_allclose(one[1]["data"], many[1]["data"], rtol=1e-13)
    assert [a[0]["data"][0] for a in alone] == lr.model.predict(rows).tolist()
    text = httpx.get(served[0] + "/metrics", headers=AUTH).text
    count = _metric(text, "lockstep_batch_requests_count")
    assert count - _metric(text, "lockstep_batch_requests_bucket", le="1.0") > 0


def test_metrics(client: httpx.Client, lr: Trained) -> None:
    client.post(INFER, json=one_row_oip(lr.sample[0]))
    client.post(INFER, json={"inputs": []})
    answer = client.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    labels = {"model": "m", "version": "1.0.0"}
    assert _metric(text, "lockstep_requests_total", route="v2/infer", code="200", **labels) >= 1
    assert _metric(text, "lockstep_requests_total", route="v2/infer", code="400", **labels) >= 1
    assert _metric(text, "lockstep_errors_total", route="v2/infer", kind="client", **labels) >= 1
    assert _metric(text, "lockstep_request_duration_seconds_bucket", le="0.0005", **labels) >= 0
    assert 'le="0.0005"' in text
    labels_text = f'digest="{"ab" * 32}",flavor="skops",model="m",unsigned="false",version="1.0.0"'
    assert f"lockstep_model_info{{{labels_text}}} 1.0" in text
    assert _metric(text, "lockstep_batch_rows_count", **labels) >= 1


def test_malformed_bodies_never_get_a_500(client: httpx.Client, lr: Trained) -> None:
    rng = random.Random(5)
    valid = one_row_oip(lr.sample[0], outputs=[{"name": "predict"}])
    junk: list[Any] = [
        None,
        True,
        -1,
        1.5,
        1e308,
        10**30,
        "x",
        "",
        [],
        {},
        [[]],
        {"a": [1]},
        [None] * 3,
    ]
    bodies: list[bytes] = [
        b"", b"\x00\xff", b"[" * 50000, b'{"inputs":' * 3000, b"null", b"NaN", b"1e999",
    ]  # fmt: skip
    huge = {
        "name": "x",
        "shape": [10**12],
        "datatype": "BYTES",
        "parameters": {"binary_data_size": 4},
    }
    bodies.append(json.dumps({"inputs": [huge]}).encode())
    for _ in range(150):
        body = json.loads(json.dumps(valid))
        tensor = body["inputs"][0]
        target = rng.choice([body, tensor, tensor, body["outputs"][0]])
        key = rng.choice([*target.keys(), "parameters", "extra"])
        if rng.random() < 0.3:
            target.pop(key, None)
        elif key == "data" and rng.random() < 0.5:
            tensor["data"][rng.randrange(WIDTH)] = rng.choice(junk)
        else:
            target[key] = rng.choice(junk)
        bodies.append(json.dumps(body).encode())
    statuses = set()
    for i, body in enumerate(bodies):
        path = INFER if i % 3 else "/invocations"
        headers = {"Content-Type": "application/json"}
        if i % 7 == 0:
            headers["Inference-Header-Content-Length"] = str(rng.randrange(0, 40))
        answer = client.post(path, content=body, headers=headers)
        statuses.add(answer.status_code)
        assert answer.status_code < 500, (body[:200], answer.text)
        assert "Traceback" not in answer.text
        if answer.status_code != 200:
            assert answer.json()["error"]
    assert statuses - {200} <= {400, 415, 422}


def test_tritonclient(served: tuple[str, Path], lr: Trained) -> None:
    import tritonclient.http as httpclient

    # tritonclient writes its own headers into the dict it is given: a fresh one each call.
    client = httpclient.InferenceServerClient(url=served[0].removeprefix("http://"))
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("m", headers=dict(AUTH))
        assert client.is_model_ready("m", "1.0.0", headers=dict(AUTH))
        assert client.get_model_metadata("m", headers=dict(AUTH))["platform"] == "lockstep-sklearn"
        data = lr.sample.astype(np.float64)
        for binary_in in (True, False):
            for binary_out in (True, False):
                tensor = httpclient.InferInput("features", list(data.shape), "FP64")
                tensor.set_data_from_numpy(data, binary_data=binary_in)
                outputs = [
                    httpclient.InferRequestedOutput("predict", binary_data=binary_out),
                    httpclient.InferRequestedOutput("predict_proba", binary_data=not binary_out),
                ]
                result = client.infer(
                    "m", [tensor], outputs=outputs, headers=dict(AUTH), request_id="t1"
                )
                np.testing.assert_array_equal(result.as_numpy("predict"), lr.model.predict(data))
                np.testing.assert_allclose(
                    result.as_numpy("predict_proba"), lr.model.predict_proba(data)
                )
                assert result.get_response()["id"] == "t1"
        columns = []
        for j in range(WIDTH):
            column = httpclient.InferInput(f"x{j}", [len(data)], "FP32")
            column.set_data_from_numpy(data[:, j].astype(np.float32))
            columns.append(column)
        result = client.infer("m", columns, model_version="1.0.0", headers=dict(AUTH))
        expected = lr.model.predict(data.astype(np.float32).astype(np.float64))
        np.testing.assert_array_equal(result.as_numpy("predict"), expected)
        with pytest.raises(Exception, match="unknown output 'nope'"):
            client.infer(
                "m", columns, outputs=[httpclient.InferRequestedOutput("nope")], headers=dict(AUTH)
            )
    finally:
        client.close()


def test_access_log(served: tuple[str, Path], client: httpx.Client, lr: Trained) -> None:
    client.post(INFER, json=one_row_oip(lr.sample[0], id="find-me-in-the-log"))
    client.get("/v2/health/live")
    lines = [
        json.loads(line) for line in served[1].read_text().splitlines() if line.startswith("{")
    ]
    (entry,) = [e for e in lines if e.get("request_id") == "find-me-in-the-log"]
    assert entry["method"] == "POST" and entry["path"] == INFER and entry["status"] == 200
    assert entry["model"] == "m" and entry["version"] == "1.0.0" and entry["batch"] == 1
    assert isinstance(entry["ms"], float) and entry["time"].endswith("Z")


def test_graceful_shutdown_and_the_inference_log(slow_model: Trained, tmp_path: Path) -> None:
    logs = tmp_path / "inference"
    spec = make_spec(slow_model, log=LogSettings(url=str(logs), flush_seconds=60))
    service, url = start_server(spec, tmp_path / "server")
    answers: list[httpx.Response] = []
    body = one_row_oip(slow_model.sample[0], id="in-flight", parameters={"predict_proba": True})
    sender = threading.Thread(
        target=lambda: answers.append(httpx.post(url + INFER, json=body, timeout=30))
    )
    try:
        assert (
            httpx.post(
                url + "/invocations", json={"instances": slow_model.sample[:2].tolist()}, timeout=30
            ).status_code
            == 200
        )
        sender.start()
        threading.Event().wait(0.5)
        os.kill(service.proc.pid, signal.SIGTERM)
        sender.join(30)
        assert service.proc.wait(30) == 0
    finally:
        service.stop()
    assert answers and answers[0].status_code == 200, answers
    assert (
        answers[0].json()["outputs"][0]["data"]
        == slow_model.model.predict(slow_model.sample[:1]).tolist()
    )
    files = list(logs.glob("*.parquet"))
    assert len(files) == 1
    rows = pd.read_parquet(files[0])
    assert list(rows.columns) == [
        *(f"x{i}" for i in range(WIDTH)), "prediction", "proba_0", "proba_1",
        "timestamp", "model", "version", "request_id", "row",
    ]  # fmt: skip
    assert len(rows) == 3 and rows["request_id"].iloc[2] == "in-flight"
    np.testing.assert_array_equal(
        rows[[f"x{i}" for i in range(WIDTH)]].to_numpy(), slow_model.sample[[0, 1, 0]]
    )
    assert (
        rows["prediction"].tolist()
        == slow_model.model.predict(slow_model.sample[[0, 1, 0]]).tolist()
    )
