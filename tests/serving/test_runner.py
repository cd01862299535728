"""The runner: a model that cannot be served fails before anything listens; the uvicorn
factory reads the spec and token from the environment; several workers share their
metrics."""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd
import pytest

from lockstep.errors import ServingError
from lockstep.serving.app import create_app, from_env
from lockstep.serving.runner import serve
from lockstep.serving.spec import SPEC_ENV, TOKEN_ENV, Batching, LogSettings
from tests.services import free_port
from tests.serving.conftest import (
    TOKEN,
    Trained,
    make_spec,
    one_row_oip,
    start_server,
    thread_server,
)


def test_what_cannot_be_served_fails_before_listening(lr: Trained, tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "junk.skops").write_bytes(b"junk")
    broken = make_spec(lr, path=str(tmp_path / "junk.skops"))
    with pytest.raises(ServingError, match="as skops"):
        serve(broken, "127.0.0.1", port)
    with pytest.raises(ServingError, match="workers must be at least 1"):
        serve(make_spec(lr), "127.0.0.1", port, workers=0)
    with pytest.raises(ServingError, match="the bearer token is blank"):
        serve(make_spec(lr), "127.0.0.1", port, token="\n")
    with pytest.raises(ServingError, match="max_batch_size >= 1"):
        serve(make_spec(lr, batching=Batching(max_batch_size=0)), "127.0.0.1", port)
    with pytest.raises(ServingError, match=r"sample_rate 1\.5"):
        create_app(make_spec(lr, log=LogSettings(url=str(tmp_path), sample_rate=1.5)))
    with pytest.raises(ServingError, match="flush_rows >= 1"):
        create_app(make_spec(lr, log=LogSettings(url=str(tmp_path), flush_rows=0)))


def test_the_factory_reads_the_environment(
    lr: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = make_spec(lr, name="from-env", version="")
    spec.dump(tmp_path / "spec.json")
    monkeypatch.setenv(SPEC_ENV, str(tmp_path / "spec.json"))
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    app = from_env()
    assert app.state.server.spec == spec
    with thread_server(app) as url:
        assert httpx.get(url + "/v2/models/from-env").status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        metadata = httpx.get(url + "/v2/models/from-env", headers=auth).json()
        assert metadata["versions"] == []
        answer = httpx.post(
            url + "/v2/models/from-env/versions/1/infer",
            headers=auth,
            json=one_row_oip(lr.sample[0]),
        )
        assert answer.status_code == 404 and "unversioned" in answer.json()["error"]


def test_two_workers_share_their_metrics_and_write_their_own_log_files(
    lr: Trained, tmp_path: Path
) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    logs = tmp_path / "logs"
    spec = make_spec(lr, log=LogSettings(url=str(logs), flush_seconds=60))
    service, url = start_server(spec, tmp_path / "server", workers=2, env={"TMPDIR": str(temp)})
    try:
        for i in range(6):
            with httpx.Client(base_url=url) as client:  # a connection each: both workers
                answer = client.post(
                    "/v2/models/m/infer", json=one_row_oip(lr.sample[0], id=f"r{i}")
                )
                assert answer.status_code == 200
        text = httpx.get(url + "/metrics").text
    finally:
        service.stop()
    files = sorted(logs.glob("*.parquet"))
    assert 1 <= len(files) <= 2 and len({f.name.split("-")[1] for f in files}) == len(files)
    ids = pd.concat(pd.read_parquet(f) for f in files)["request_id"]
    assert sorted(ids) == [f"r{i}" for i in range(6)]
    line = next(
        ln for ln in text.splitlines()
        if ln.startswith("lockstep_requests_total{") and 'route="v2/infer"' in ln
    )  # fmt: skip
    assert float(line.rsplit(" ", 1)[1]) == 6
    assert "lockstep_model_info{" in text and 'version="1.0.0"' in text
    assert service.proc.returncode == 0
    assert list(temp.iterdir()) == []
