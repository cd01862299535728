"""The app in process (httpx's ASGI transport; raw ASGI messages where a test plays a
client that hangs up): model outputs of any type are answered and logged, bodies are
bounded, a client that goes away is a 499 and no traceback, a trailing slash is a JSON
404, and an app whose lifespan runs twice serves twice and leaves no thread behind."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import pickle
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI

from lockstep.errors import ServingError
from lockstep.serving.app import create_app
from lockstep.serving.spec import Column, LogSettings, Signature
from tests.serving.conftest import TOKEN, Trained, make_spec, one_row_oip
from tests.serving.odd_model import KINDS, OddModel

INFER = "/v2/models/m/infer"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TWO = Signature((Column("a", "double"), Column("b", "double")))


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def _sample(app: FastAPI, name: str, **labels: str) -> float:
    registry = app.state.server.metrics.registry
    return registry.get_sample_value(name, {"model": "m", "version": "1.0.0", **labels}) or 0.0


EXPECTED: dict[str, tuple[str, list[Any]]] = {  # kind: OIP datatype, values for 2 rows
    "bytes": ("BYTES", ["yes", "no\u00e9"]),
    "float32_objects": ("FP64", [1.5, 1.5]),
    "int_objects": ("INT64", [3, 3]),
    "decimals": ("BYTES", ["2.5", "2.5"]),
    "datetimes": ("BYTES", ["2024-05-01 12:30:00"] * 2),
    "datetime64": ("BYTES", ["2024-05-01T12:30:00.000000000"] * 2),
    "uint64": ("UINT64", [2**64 - 1] * 2),
    "complex": ("BYTES", ["(1+2j)"] * 2),
    "multi": ("FP64", [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
    "lone_surrogate": ("BYTES", ["\ud800"] * 2),
}


@pytest.mark.parametrize("kind", KINDS)
def test_model_outputs_of_any_type(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A pickled model's strings, bytes, numpy scalars, decimals, dates or several
    outputs a row are answered over both protocols and logged; one value for a whole
    batch is the model's fault (a 500 saying so), not the client's (a 422)."""
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(OddModel(kind)))
    logs = tmp_path / "logs"
    trained = Trained(tmp_path / "model.pkl", "pickle", None, None)
    app = create_app(make_spec(trained, signature=TWO, log=LogSettings(url=str(logs))))
    rows = {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [1, 2, 3, 4]}]}

    async def run() -> list[httpx.Response]:
        async with running(app) as client:
            return [
                await client.post(INFER, json=rows),
                await client.post(INFER, json={**rows, "parameters": {"binary_data_output": True}}),
                await client.post("/invocations", json={"instances": [[1, 2], [3, 4]]}),
            ]

    with caplog.at_level(logging.ERROR, logger="lockstep"):
        oip, binary, invocations = asyncio.run(run())
    if kind == "scalar":
        for answer in (oip, binary, invocations):
            assert answer.status_code == 500
            assert answer.json() == {"error": "the model returned one value for 2 rows"}
        assert not logs.exists()
        return
    datatype, values = EXPECTED[kind]
    assert (oip.status_code, binary.status_code, invocations.status_code) == (200, 200, 200)
    (output,) = oip.json()["outputs"]
    assert (output["datatype"], output["data"]) == (datatype, values)
    assert binary.headers["content-type"] == "application/octet-stream"
    predictions = invocations.json()["predictions"]
    assert np.asarray(predictions).ravel().tolist() == values
    assert "Traceback" not in caplog.text and "could not write" not in caplog.text
    logged = pd.concat(pd.read_parquet(f) for f in sorted(logs.glob("*.parquet")))
    assert len(logged) == 6


def test_bodies_over_the_limit_are_413(lr: Trained) -> None:
    app = create_app(make_spec(lr))
    app.state.server.max_body = 2000
    body = json.dumps(one_row_oip(lr.sample[0])).encode()
    assert len(body) < 2000

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 100

    async def run() -> list[httpx.Response]:
        async with running(app) as client:
            return [
                await client.post(INFER, content=body),
                await client.post(INFER, content=body + b" " * 2000),
                await client.post("/invocations", content=chunks()),  # chunked: no length
            ]

    fits, declared, streamed = asyncio.run(run())
    assert fits.status_code == 200
    for answer in (declared, streamed):
        assert answer.status_code == 413
        assert answer.json() == {"error": "the body is larger than 2000 bytes"}


def test_a_client_that_hangs_up_mid_body_is_a_499_not_a_server_error(
    lr: Trained, caplog: pytest.LogCaptureFixture
) -> None:
    """Starlette's ClientDisconnect used to escape as an unexpected error: a logged
    traceback and a 500 in the metrics for every impatient client."""
    app = create_app(make_spec(lr))
    messages = [{"type": "http.request", "body": b'{"inp', "more_body": True}]
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": INFER, "raw_path": INFER.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"content-length", b"1000")],
        "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8080),
    }  # fmt: skip

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)

    with caplog.at_level(logging.ERROR, logger="lockstep.serve"):
        asyncio.run(run())
    assert sent[0]["status"] == 499
    assert "unexpected error" not in caplog.text
    assert _sample(app, "lockstep_errors_total", route="v2/infer", kind="client") == 1
    assert _sample(app, "lockstep_errors_total", route="v2/infer", kind="server") == 0


def test_every_path_answers_json_and_a_trailing_slash_is_no_redirect(lr: Trained) -> None:
    """A trailing slash was a 307 with an empty body to a Location built from the
    client's Host header."""
    app = create_app(make_spec(lr), token=TOKEN)

    async def run() -> list[tuple[str, str, dict[str, str], httpx.Response]]:
        out = []
        async with running(app) as client:
            for method, path, headers in (
                ("GET", "/v2/models/m/", AUTH),
                ("POST", INFER + "/", AUTH),
                ("GET", "/v2/health/live/", {}),
                ("OPTIONS", "/v2/health/live", {}),
                ("OPTIONS", INFER, AUTH),
                ("HEAD", "/nowhere", AUTH),
                ("OPTIONS", "/metrics", {}),
                ("HEAD", "/v2", {"Authorization": "Bearer nope"}),
            ):
                answer = await client.request(method, path, headers=headers)
                out.append((method, path, headers, answer))
        return out

    statuses = []
    for method, path, headers, answer in asyncio.run(run()):
        statuses.append(answer.status_code)
        assert answer.headers["content-type"] == "application/json", (method, path)
        if method != "HEAD":
            assert answer.json()["error"], (method, path)
        if path.endswith("/") and headers:
            assert answer.status_code == 404 and "location" not in answer.headers
    assert statuses == [404, 404, 401, 405, 405, 404, 401, 401]


def test_an_app_serves_again_after_a_restart_and_leaves_no_thread(
    lr: Trained, tmp_path: Path
) -> None:
    """The batcher closed for good at the first shutdown (every later request a 503), the
    inference log's thread started with the app even if it never ran, and the frozen
    objects of a stopped app could never be collected."""

    def ours() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("lockstep-")}

    before = ours()
    app = create_app(make_spec(lr, log=LogSettings(url=str(tmp_path))))
    assert ours() == before

    async def run() -> list[int]:
        statuses = []
        for i in range(2):
            async with running(app) as client:
                answer = await client.post(INFER, json=one_row_oip(lr.sample[0], id=f"run{i}"))
                statuses.append(answer.status_code)
        return statuses

    assert asyncio.run(run()) == [200, 200]
    assert ours() == before
    assert gc.get_freeze_count() == 0
    files = sorted(tmp_path.glob("*.parquet"))
    assert len(files) == 2
    assert [pd.read_parquet(f)["request_id"].tolist() for f in files] == [["run0"], ["run1"]]


def test_a_token_with_a_trailing_newline_still_lets_its_clients_in(lr: Trained) -> None:
    """HTTP trims the header value, so a token read from a file ("s3cret\\n") could never
    match: every request was a 401."""
    app = create_app(make_spec(lr), token=TOKEN + "\n")

    async def run() -> list[int]:
        async with running(app) as client:
            return [
                (await client.get("/v2", headers=headers)).status_code
                for headers in (AUTH, {"Authorization": "Bearer "}, {})
            ]

    assert asyncio.run(run()) == [200, 401, 401]
    with pytest.raises(ServingError, match="the bearer token is blank"):
        create_app(make_spec(lr), token=" \n")
