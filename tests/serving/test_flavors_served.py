"""Every flavor behind the app on a real uvicorn (in a thread): what the server answers
over both protocols is what the loaded model predicts."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest

from lockstep.serving import flavors
from lockstep.serving.app import create_app
from tests.serving.conftest import PIPELINE_SIGNATURE, Trained, make_spec, thread_server

NUMERIC = ["xgb_model", "lgbm_model", "onnx_model", "joblib_model"]


@pytest.mark.parametrize("name", NUMERIC)
def test_numeric_flavors(name: str, request: pytest.FixtureRequest) -> None:
    trained: Trained = request.getfixturevalue(name)
    spec = make_spec(trained)
    model = flavors.load(spec)
    sample = np.asarray(trained.sample, dtype=np.float64)
    expected = model.predict(sample).tolist()
    outputs = [{"name": "predict"}] + ([{"name": "predict_proba"}] if model.has_proba else [])
    body = {
        "inputs": [
            {"name": "in", "shape": list(sample.shape), "datatype": "FP64", "data": sample.tolist()}
        ],
        "outputs": outputs,
    }
    with thread_server(create_app(spec)) as url, httpx.Client(base_url=url) as client:
        answer = client.post("/v2/models/m/infer", json=body)
        assert answer.status_code == 200, answer.text
        found = answer.json()["outputs"]
        assert found[0]["data"] == expected
        if model.has_proba:
            proba = model.predict_proba(sample)
            assert proba is not None
            np.testing.assert_allclose(np.reshape(found[1]["data"], found[1]["shape"]), proba)
        names = [f"x{i}" for i in range(sample.shape[1])]
        split = {"dataframe_split": {"columns": names, "data": sample.tolist()}}
        assert client.post("/invocations", json=split).json() == {"predictions": expected}
        metadata = client.get("/v2/models/m").json()
        assert metadata["platform"] == model.platform


def test_pipeline_with_a_string_column(pipeline: Trained) -> None:
    import tritonclient.http as httpclient

    spec = make_spec(pipeline, signature=PIPELINE_SIGNATURE)
    frame = pipeline.sample
    expected = pipeline.model.predict(frame).tolist()
    columns: list[dict[str, Any]] = [
        {"name": "age", "shape": [len(frame)], "datatype": "FP64", "data": frame["age"].tolist()},
        {
            "name": "city",
            "shape": [len(frame), 1],
            "datatype": "BYTES",
            "data": frame["city"].tolist(),
        },
        {
            "name": "visits",
            "shape": [len(frame)],
            "datatype": "INT64",
            "data": frame["visits"].tolist(),
        },
    ]
    with thread_server(create_app(spec)) as url, httpx.Client(base_url=url) as client:
        metadata = client.get("/v2/models/m").json()
        assert [i["datatype"] for i in metadata["inputs"]] == ["FP64", "BYTES", "INT64"]
        answer = client.post("/v2/models/m/infer", json={"inputs": columns})
        assert answer.json()["outputs"][0]["data"] == expected
        records = {"dataframe_records": frame.to_dict("records")}
        assert client.post("/invocations", json=records).json() == {"predictions": expected}
        unknown = {"dataframe_records": [{"age": 30.0, "city": "atlantis", "visits": 1}]}
        rejected = client.post("/invocations", json=unknown)
        assert rejected.status_code == 422 and "atlantis" in rejected.json()["error"]
        triton = httpclient.InferenceServerClient(url=url.removeprefix("http://"))
        try:
            tensors = []
            for name, datatype, values in (
                ("age", "FP64", frame["age"].to_numpy()),
                ("city", "BYTES", frame["city"].to_numpy(dtype=object)),
                ("visits", "INT64", frame["visits"].to_numpy()),
            ):
                tensor = httpclient.InferInput(name, [len(frame)], datatype)
                tensor.set_data_from_numpy(values, binary_data=True)
                tensors.append(tensor)
            result = triton.infer("m", tensors)
            assert result.as_numpy("predict").tolist() == expected
        finally:
            triton.close()
