"""The payload codecs on their own: every protocol layout decodes to the same model
input, and every client mistake is a RequestError with the right status and a message
naming the field."""

from __future__ import annotations

import datetime
import decimal
import json
import re
import struct
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lockstep.serving import codec
from lockstep.serving.spec import Column, Signature
from lockstep.serving.tables import InputBuilder, RequestError
from tests.serving.conftest import PIPELINE_SIGNATURE

NUMERIC = InputBuilder(
    Signature(
        (
            Column("a", "double"),
            Column("b", "double"),
            Column("n", "long"),
            Column("flag", "boolean"),
        )
    )
)
MIXED = InputBuilder(PIPELINE_SIGNATURE)
ROWS = [[1.5, -2.0, 3, 1], [0.0, 4.25, 7, 0]]
EXPECTED = np.array(ROWS, dtype=np.float64)


def oip(body: Any, builder: InputBuilder = NUMERIC, **kw: Any) -> codec.OipRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return codec.decode_oip(raw, kw.get("header"), builder, kw.get("proba", True))


def mlflow(body: Any, builder: InputBuilder = NUMERIC, content_type: str = "application/json"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return codec.decode_invocations(raw, content_type, builder, True)


def columns_request(rows: list[list[Any]], order: list[str] | None = None) -> dict[str, Any]:
    names = ["a", "b", "n", "flag"]
    types = {"a": "FP64", "b": "FP32", "n": "INT64", "flag": "BOOL"}
    inputs = []
    for name in order or names:
        j = names.index(name)
        values = [r[j] if name != "flag" else bool(r[j]) for r in rows]
        inputs.append(
            {"name": name, "shape": [len(rows), 1], "datatype": types[name], "data": values}
        )
    return {"inputs": inputs}


# -- OIP: the layouts that work -----------------------------------------------------------


def test_oip_matrix_flat_and_nested() -> None:
    flat = oip(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [2, 4],
                    "datatype": "FP64",
                    "data": [v for r in ROWS for v in r],
                }
            ]
        }
    )
    nested = oip({"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": ROWS}]})
    for decoded in (flat, nested):
        assert decoded.input.rows == 2
        assert decoded.input.data.dtype == np.float64
        np.testing.assert_array_equal(decoded.input.data, EXPECTED)
    assert flat.outputs == ("predict",) and flat.binary == frozenset() and flat.request_id is None


def test_oip_one_tensor_per_column_in_any_order() -> None:
    decoded = oip(columns_request(ROWS, order=["flag", "n", "b", "a"]))
    np.testing.assert_array_equal(decoded.input.data, EXPECTED)


def test_oip_mixed_columns_give_a_typed_dataframe() -> None:
    body = {
        "inputs": [
            {"name": "age", "shape": [2], "datatype": "FP64", "data": [30.5, 61]},
            {"name": "city", "shape": [2, 1], "datatype": "BYTES", "data": ["paris", "nice"]},
            {"name": "visits", "shape": [2], "datatype": "INT32", "data": [3, 0]},
        ],
        "id": "req-1",
    }
    decoded = oip(body, MIXED)
    frame = decoded.input.data
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["age", "city", "visits"]
    assert [str(frame[c].dtype) for c in ("age", "visits")] == ["float64", "int64"]
    assert pd.api.types.is_string_dtype(frame["city"])
    assert frame["city"].tolist() == ["paris", "nice"]
    assert decoded.request_id == "req-1"


def test_oip_null_is_nan_in_a_double_column() -> None:
    body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [None, 1, 2, 0]}]}
    data = oip(body).input.data
    assert np.isnan(data[0, 0]) and data[0, 1:].tolist() == [1, 2, 0]


def test_oip_outputs_and_binary_choices() -> None:
    base = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ROWS[0]}]}
    assert oip({**base, "parameters": {"predict_proba": True}}).outputs == (
        "predict",
        "predict_proba",
    )
    chosen = oip(
        {
            **base,
            "outputs": [
                {"name": "predict_proba", "parameters": {"binary_data": True}},
                {"name": "predict"},
            ],
        }
    )
    assert chosen.outputs == ("predict_proba", "predict")
    assert chosen.binary == frozenset({"predict_proba"})
    every = oip({**base, "parameters": {"binary_data_output": True}})
    assert every.binary == frozenset({"predict"})


def _binary_request(tensors: list[tuple[str, str, list[int], bytes]]) -> tuple[bytes, int]:
    header = {
        "inputs": [
            {"name": n, "datatype": d, "shape": s, "parameters": {"binary_data_size": len(raw)}}
            for n, d, s, raw in tensors
        ]
    }
    head = json.dumps(header).encode()
    return head + b"".join(t[3] for t in tensors), len(head)


def _bytes_tensor(values: list[str]) -> bytes:
    return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)


def test_oip_binary_tensors() -> None:
    body, length = _binary_request(
        [
            ("visits", "INT64", [2, 1], np.array([3, 0], "<i8").tobytes()),
            ("city", "BYTES", [2, 1], _bytes_tensor(["paris", "nîce"])),
            ("age", "FP32", [2], np.array([30.5, 61], "<f4").tobytes()),
        ]
    )
    frame = oip(body, MIXED, header=length).input.data
    assert frame["city"].tolist() == ["paris", "nîce"]
    assert frame["age"].tolist() == [30.5, 61.0] and frame["visits"].tolist() == [3, 0]
    matrix, length = _binary_request([("x", "FP64", [2, 4], EXPECTED.astype("<f8").tobytes())])
    np.testing.assert_array_equal(oip(matrix, header=length).input.data, EXPECTED)


def test_oip_encode_json_and_binary() -> None:
    from tritonclient.http import InferResult

    labels = np.array([1, 0])
    proba = np.array([[0.25, 0.75], [0.5, 0.5]])
    body, headers = codec.encode_oip(
        "m", "1", "r", [("predict", labels), ("predict_proba", proba)], frozenset()
    )
    assert headers is None
    doc = json.loads(body)
    assert doc["outputs"][0] == {
        "name": "predict",
        "datatype": "INT64",
        "shape": [2],
        "data": [1, 0],
    }
    assert doc["outputs"][1]["shape"] == [2, 2] and doc["outputs"][1]["datatype"] == "FP64"
    strings = np.array(["yes", "no"], dtype=object)
    body, headers = codec.encode_oip(
        "m",
        "1",
        "r",
        [("predict", strings), ("predict_proba", proba)],
        frozenset({"predict", "predict_proba"}),
    )
    assert headers is not None
    result = InferResult.from_response_body(
        body, header_length=int(headers["Inference-Header-Content-Length"])
    )
    assert [v.decode() for v in result.as_numpy("predict")] == ["yes", "no"]
    np.testing.assert_array_equal(result.as_numpy("predict_proba"), proba)


# -- OIP: client mistakes --------------------------------------------------------------------


def _x(data: Any, shape: Any = (1, 4), datatype: str = "FP64", **more: Any) -> dict[str, Any]:
    return {
        "inputs": [{"name": "x", "shape": list(shape), "datatype": datatype, "data": data}],
        **more,
    }


BAD_OIP: list[tuple[Any, int, str]] = [
    (b"{not json", 400, "not valid JSON"),
    (b"\xff\xfe", 400, "not valid JSON"),
    ([1, 2], 400, "must be a JSON object"),
    ({}, 400, "'inputs' must be a non-empty list"),
    ({"inputs": []}, 400, "'inputs' must be a non-empty list"),
    ({"inputs": [7]}, 400, "inputs[0] must be an object"),
    ({"inputs": [{"name": "x", "datatype": "FP64", "data": [1]}]}, 400, "'shape'"),
    (
        {"inputs": [{"name": "x", "shape": [-1, 4], "datatype": "FP64", "data": [1]}]},
        400,
        "'shape'",
    ),
    (
        {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP65", "data": [1]}]},
        400,
        "'datatype'",
    ),
    ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64"}]}, 400, "no 'data'"),
    (_x(5), 400, "'data' must be a list"),
    (_x([1, 2, 3]), 422, "shape needs 4 values, 'data' holds 3"),
    (_x([[1, 2], [3]]), 422, "ragged"),
    (_x([1, "x", 2, 1]), 422, "FP64 data holds '1'"),
    (_x([1, {"a": 1}, 2, 1]), 422, "column 'b' (double) needs numbers"),
    (_x([1, 2, 1.5, 1], datatype="INT64"), 422, "INT64 data holds 1.5"),
    (_x([1, 2, 300, 1], datatype="INT8"), 422, "out of range for INT8"),
    (_x([1, 2, 70000.0, 1], datatype="FP16"), 422, "out of range for FP16"),
    (_x([1e300, 2, 3, 1], datatype="FP32"), 422, "out of range for FP32"),
    (_x([True, False, True, True]), 422, "FP64 data holds True"),
    (_x([True, False, True, True], datatype="INT32"), 422, "INT32 data holds True"),
    (_x([1, 2, 3, 1], datatype="BOOL"), 422, "BOOL data holds 1"),
    (_x(["a", "b", "c", "d"], datatype="BYTES"), 422, "does not fit every column"),
    (_x([1, 2, 3], shape=(1, 3)), 422, "has shape [1, 3]; expected [N, 4]"),
    (_x([1, 2, 3, 4], shape=(1, 2, 2)), 422, "is not a column of the model"),
    (_x([], shape=(0, 4)), 422, "holds no rows"),
    (_x([1, 2, None, 1]), 422, "column 'n' (long) cannot be null"),
    (b'{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[1,2,NaN,1]}]}', 422, "'n'"),
    (_x([1, 2, 2.5, 1]), 422, "column 'n' (long) needs an integral number, got 2.5"),
    (_x([1, 2, 3, 2]), 422, "column 'flag' (boolean) needs 0/1"),
    (_x([1, 2, 3, 1], outputs=[{"name": "foo"}]), 400, "unknown output 'foo'"),
    (
        _x([1, 2, 3, 1], outputs=[{"name": "predict"}, {"name": "predict"}]),
        400,
        "output 'predict' is requested twice",
    ),
    (_x([1, 2, 1e30, 1]), 422, "column 'n' (long) needs a value within its type's range"),
    (_x([1, 2, 3, 1], outputs={"name": "predict"}), 400, "'outputs' must be a list"),
    (_x([1, 2, 3, 1], outputs=[{"nom": "predict"}]), 400, "outputs[0]"),
    (_x([1, 2, 3, 1], parameters=[1]), 400, "'parameters' must be an object"),
    (_x([1, 2, 3, 1], id=5), 400, "'id' must be a string"),
    (
        {"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}] * 2},
        400,
        "input 'a' is given twice",
    ),
    ({"inputs": columns_request(ROWS)["inputs"][:3]}, 422, "missing column(s) 'flag'"),
    (
        {
            "inputs": [
                *columns_request(ROWS)["inputs"],
                {"name": "zzz", "shape": [2], "datatype": "FP64", "data": [1, 2]},
            ]
        },
        422,
        "unknown column(s) 'zzz'",
    ),
    (
        {
            "inputs": [
                dict(t, datatype="BYTES", data=["1", "2"]) if t["name"] == "a" else t
                for t in columns_request(ROWS)["inputs"]
            ]
        },
        422,
        "input 'a' is BYTES; column 'a' (double) needs a numeric datatype",
    ),
    (
        {
            "inputs": [
                dict(t, shape=[1, 2]) if t["name"] == "a" else t
                for t in columns_request(ROWS)["inputs"]
            ]
        },
        422,
        "input 'a' has shape [1, 2]; a column tensor is [N] or [N, 1]",
    ),
    (
        {
            "inputs": [
                dict(t, data=[1.0], shape=[1]) if t["name"] == "a" else t
                for t in columns_request(ROWS)["inputs"]
            ]
        },
        422,
        "column 'b' has 2 values; the others have 1",
    ),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_OIP)
def test_oip_client_mistakes(body: Any, status: int, message: str) -> None:
    with pytest.raises(RequestError) as caught:
        oip(body)
    assert caught.value.status == status
    assert message in caught.value.message


def test_oip_mistakes_of_mixed_and_binary_requests() -> None:
    age = {"name": "age", "shape": [1], "datatype": "FP64", "data": [3]}
    visits = {"name": "visits", "shape": [1], "datatype": "INT64", "data": [1]}
    numeric_city = {"name": "city", "shape": [1], "datatype": "FP64", "data": [1]}
    null_city = {"name": "city", "shape": [1], "datatype": "BYTES", "data": [None]}
    body, length = _binary_request([("x", "FP64", [1, 4], np.zeros(4).tobytes())])
    short, short_length = _binary_request([("x", "FP64", [2, 4], np.zeros(4).tobytes())])
    strings, strings_length = _binary_request([("city", "BYTES", [2], _bytes_tensor(["a"]))])
    huge, huge_length = _binary_request([("city", "BYTES", [10**12], _bytes_tensor(["a"]))])
    bad_utf8, bad_length = _binary_request([("city", "BYTES", [1], b"\x02\x00\x00\x00\xff\xfe")])
    cases: list[tuple[Any, InputBuilder, int | None, int, str]] = [
        ({"inputs": [age, numeric_city, visits]}, MIXED, None, 422, "'city' (string) needs BYTES"),
        ({"inputs": [age, null_city, visits]}, MIXED, None, 422, "needs strings, got None"),
        (body, NUMERIC, len(body) + 5, 400, "does not fit a body"),
        (body + b"extra", NUMERIC, length, 400, "5 bytes of binary data belong to no input"),
        (body[:-3], NUMERIC, length, 400, "the body ends before its 32 binary bytes"),
        (short, NUMERIC, short_length, 422, "shape needs 8 FP64 values"),
        (strings, MIXED, strings_length, 422, "fewer than 2 values"),
        (huge, MIXED, huge_length, 422, f"fewer than {10**12} values"),
        (bad_utf8, MIXED, bad_length, 422, "is not UTF-8"),
    ]
    for request, builder, header, status, message in cases:
        with pytest.raises(RequestError) as caught:
            oip(request, builder, header=header)
        assert caught.value.status == status
        assert message in caught.value.message, caught.value.message


def test_oip_predict_proba_needs_a_model_that_has_it() -> None:
    with pytest.raises(RequestError, match="'predict_proba' is not available") as caught:
        oip(_x([1, 2, 3, 1], outputs=[{"name": "predict_proba"}]), proba=False)
    assert caught.value.status == 400


# -- MLflow /invocations --------------------------------------------------------------------


def test_invocations_every_layout_gives_the_same_input() -> None:
    records = [dict(zip(["a", "b", "n", "flag"], r, strict=True)) for r in ROWS]
    csv_body = b"flag,n,a,b\n1,3,1.5,-2\n0,7,0,4.25\n"
    bodies = [
        {"dataframe_split": {"columns": ["a", "b", "n", "flag"], "data": ROWS, "index": [0, 1]}},
        {
            "dataframe_split": {
                "columns": ["b", "a", "flag", "n"],
                "data": [[r[1], r[0], r[3], r[2]] for r in ROWS],
            }
        },
        {"dataframe_split": {"data": ROWS}},
        {"dataframe_records": records},
        {"instances": ROWS},
        {"instances": records},
        {"inputs": {"a": [1.5, 0.0], "b": [-2, 4.25], "n": [3, 7], "flag": [True, False]}},
        {"inputs": ROWS, "params": {"predict_proba": False}},
    ]
    for body in bodies:
        decoded = mlflow(body)
        np.testing.assert_array_equal(decoded.input.data, EXPECTED)
        assert decoded.proba is False
    np.testing.assert_array_equal(
        mlflow(csv_body, content_type="text/csv; charset=utf-8").input.data, EXPECTED
    )
    single = mlflow({"instances": {"a": 1.5, "b": -2, "n": 3, "flag": 1}})
    np.testing.assert_array_equal(single.input.data, EXPECTED[:1])
    assert mlflow({"instances": ROWS, "params": {"predict_proba": True}}).proba is True


def test_invocations_mixed_columns_and_one_column_models() -> None:
    frame = mlflow(
        {"dataframe_records": [{"age": 40, "city": "lyon", "visits": 2}]}, MIXED
    ).input.data
    assert frame.to_dict("records") == [{"age": 40.0, "city": "lyon", "visits": 2}]
    csv_frame = mlflow(b"age,city,visits\n40,lyon,2\n,nice,0\n", MIXED, "text/csv").input.data
    assert csv_frame["city"].tolist() == ["lyon", "nice"] and np.isnan(csv_frame["age"][1])
    one = InputBuilder(Signature((Column("only", "double"),)))
    np.testing.assert_array_equal(mlflow({"instances": [1, 2, 3]}, one).input.data, [[1], [2], [3]])


BAD_MLFLOW: list[tuple[Any, str, int, str]] = [
    (b"{", "application/json", 400, "not valid JSON"),
    (b"[]", "application/json", 400, "must be a JSON object"),
    ({"instances": ROWS}, "text/plain", 415, "unsupported Content-Type 'text/plain'"),
    (
        {},
        "application/json",
        400,
        "exactly one of dataframe_split, dataframe_records, instances, inputs, got none",
    ),
    ({"instances": ROWS, "inputs": ROWS}, "application/json", 400, "got instances, inputs"),
    ({"instances": ROWS, "extra": 1}, "application/json", 400, "unknown field(s): extra"),
    ({"instances": ROWS, "params": 3}, "application/json", 400, "'params' must be an object"),
    (
        {"instances": ROWS, "params": {"predict_proba": "yes"}},
        "application/json",
        400,
        "true or false",
    ),
    ({"dataframe_split": [1]}, "application/json", 400, "dataframe_split must be an object"),
    (
        {"dataframe_split": {"columns": ["a", "b", "n"], "data": [[1, 2, 3]]}},
        "application/json",
        422,
        "missing column(s) 'flag'",
    ),
    (
        {"dataframe_split": {"columns": ["a", "a", "n", "flag"], "data": [[1, 2, 3, 1]]}},
        "application/json",
        422,
        "given twice: 'a'",
    ),
    (
        {"dataframe_split": {"columns": ["b", "a", "n", "flag"], "data": [[1, 2, 3]]}},
        "application/json",
        422,
        "dataframe_split.data[0] must be a list of 4 values",
    ),
    (
        {"dataframe_split": {"columns": ["a", "b", "n", "flag"], "data": [[1, 2, 3]]}},
        "application/json",
        422,
        "dataframe_split.data[0] has 3 values; the model takes 4",
    ),
    (
        {"dataframe_split": {"data": "rows"}},
        "application/json",
        400,
        "dataframe_split.data must be a list of rows",
    ),
    ({"dataframe_records": {"a": 1}}, "application/json", 400, "dataframe_records must be a list"),
    (
        {"dataframe_records": [{"a": 1, "b": 2, "n": 3, "flag": 1}, {"a": 1, "n": 3, "flag": 0}]},
        "application/json",
        422,
        "dataframe_records[1]: missing column(s) 'b'",
    ),
    (
        {"dataframe_records": [{"a": 1, "b": 2, "n": 3, "flag": 1, "zz": 0}]},
        "application/json",
        422,
        "unknown column(s) 'zz'",
    ),
    (
        {"instances": [{"a": 1, "b": 2, "n": 3, "flag": 1}, [1, 2, 3, 1]]},
        "application/json",
        422,
        "instances[1] must be an object",
    ),
    (
        {"instances": [1, 2, 3]},
        "application/json",
        422,
        "instances must hold rows (lists) or records",
    ),
    ({"instances": []}, "application/json", 422, "instances holds no rows"),
    ({"instances": "x"}, "application/json", 400, "instances must be a list"),
    (
        {"instances": [[1, "oops", 3, 1]]},
        "application/json",
        422,
        "column 'b' (double) needs numbers, got 'oops'",
    ),
    (
        {"instances": [[1, 2, "3", 1]]},
        "application/json",
        422,
        "column 'n' (long) needs numbers, got '3'",
    ),
    ({"instances": [[1, 2, 3, [1]]]}, "application/json", 422, "column 'flag'"),
    (
        {"inputs": {"a": [1], "b": 2, "n": [3], "flag": [1]}},
        "application/json",
        422,
        "give every column a list",
    ),
    (
        {"inputs": {"a": [1], "b": [2], "n": [3]}},
        "application/json",
        422,
        "missing column(s) 'flag'",
    ),
    (b"", "text/csv", 400, "CSV body is empty"),
    (b"a,b,n\n1,2,3\n", "text/csv", 422, "CSV header: missing column(s) 'flag'"),
    (b"a,b,n,flag\n1,2,3\n", "text/csv", 422, "CSV row 2: 3 values, the header has 4"),
    (b"a,b,n,flag\n1,abc,3,1\n", "text/csv", 422, "CSV column 'b' (double): 'abc' is not a number"),
    (b"a,b,n,flag\n1,2,,1\n", "text/csv", 422, "CSV column 'n' (long): '' is not a number"),
    (b"a,b,n,flag\n\xff,2,3,1\n", "text/csv", 400, "not UTF-8"),
    (b",,a,b\n1,2,3,4\n", "text/csv", 422, "CSV header: column(s) given twice: ''"),
    (
        {"instances": [[1, 2, 2**70, 1]]},
        "application/json",
        422,
        "column 'n' (long) needs a value within its type's range, got 1180591620717411303424",
    ),
]


@pytest.mark.parametrize(("body", "content_type", "status", "message"), BAD_MLFLOW)
def test_invocations_client_mistakes(
    body: Any, content_type: str, status: int, message: str
) -> None:
    with pytest.raises(RequestError) as caught:
        mlflow(body, content_type=content_type)
    assert caught.value.status == status
    assert message in caught.value.message, caught.value.message


def test_values_a_column_type_cannot_hold_are_refused() -> None:
    """pandas would wrap 2**40 in an int32 column and 1e300 in a float32 one into an
    infinity, silently: the model would get another value than the client sent."""
    typed = InputBuilder(
        Signature((Column("i", "integer"), Column("f", "float"), Column("s", "string")))
    )
    for record, message in (
        ({"i": 2**40, "f": 1.0, "s": "a"}, "column 'i' (integer) needs a value within"),
        ({"i": 1, "f": 1e300, "s": "a"}, "column 'f' (float) needs a value within"),
    ):
        with pytest.raises(RequestError, match=re.escape(message)) as caught:
            mlflow({"dataframe_records": [record]}, typed)
        assert caught.value.status == 422
    frame = mlflow(
        {"dataframe_records": [{"i": 2**31 - 1, "f": -3.4e38, "s": "a"}]}, typed
    ).input.data
    assert frame["i"].tolist() == [2**31 - 1] and frame["f"].tolist()[0] < -3e38
    with pytest.raises(RequestError, match=r"'n' \(long\) needs a value within"):
        mlflow({"instances": [[1, 2, 2.0**63, 1]]})
    assert mlflow({"instances": [[1, 2, -(2.0**63), 1]]}).input.data[0, 2] == -(2.0**63)


def test_a_lone_surrogate_in_a_string_column_is_a_422() -> None:
    """JSON lets a client escape half a surrogate pair; pandas' Arrow-backed strings
    refuse it, which was a 500 for both protocols."""
    for body, decode in (
        (b'{"instances": [[1, "\\ud800", 2]]}', mlflow),
        (
            b'{"inputs":[{"name":"age","shape":[1],"datatype":"FP64","data":[1]},'
            b'{"name":"city","shape":[1],"datatype":"BYTES","data":["ok\\udc00"]},'
            b'{"name":"visits","shape":[1],"datatype":"INT64","data":[1]}]}',
            oip,
        ),
    ):
        with pytest.raises(
            RequestError, match=r"column 'city' \(string\): .* is not valid"
        ) as caught:
            decode(body, MIXED)
        assert caught.value.status == 422


def test_invocations_string_column_mistakes() -> None:
    with pytest.raises(
        RequestError, match=r"column 'city' \(string\) needs strings, got 3"
    ) as caught:
        mlflow({"dataframe_records": [{"age": 1, "city": 3, "visits": 1}]}, MIXED)
    assert caught.value.status == 422
    with pytest.raises(RequestError, match=r"column 'visits' \(long\) cannot be null"):
        mlflow({"dataframe_records": [{"age": 1, "city": "a", "visits": None}]}, MIXED)


def test_invocations_encode() -> None:
    assert json.loads(codec.encode_invocations(np.array([1, 0]))) == {"predictions": [1, 0]}
    assert json.loads(codec.encode_invocations(np.array([[0.5, 0.5]]))) == {
        "predictions": [[0.5, 0.5]]
    }


def test_outputs_of_any_type_encode() -> None:
    """What a hand-written model returns: bytes are text (not "b'yes'"), numbers in an
    object array are numbers, uint64 past int64 is UINT64 (not -1), dates are ISO text;
    /invocations encodes them all instead of a 500."""
    from tritonclient.http import InferResult

    cases: list[tuple[Any, str, list[Any]]] = [
        (np.array([b"yes", "no\u00e9".encode()], dtype=object), "BYTES", ["yes", "no\u00e9"]),
        (np.array([b"yes", b"no"]), "BYTES", ["yes", "no"]),
        (np.array([np.float32(1.5), np.int64(2)], dtype=object), "FP64", [1.5, 2.0]),
        (np.array([np.int64(3), 4], dtype=object), "INT64", [3, 4]),
        (np.full(2, 2**64 - 1, dtype=np.uint64), "UINT64", [2**64 - 1] * 2),
        (np.full(2, np.datetime64("2024-05-01", "D")), "BYTES", ["2024-05-01"] * 2),
        (np.array([decimal.Decimal("2.5"), None], dtype=object), "BYTES", ["2.5", "None"]),
    ]
    for values, datatype, expected in cases:
        body, _ = codec.encode_oip("m", "1", "r", [("predict", values)], frozenset())
        (entry,) = json.loads(body)["outputs"]
        assert (entry["datatype"], entry["data"]) == (datatype, expected), values
        body, headers = codec.encode_oip(
            "m", "1", "r", [("predict", values)], frozenset({"predict"})
        )
        assert headers is not None
        result = InferResult.from_response_body(
            body, header_length=int(headers["Inference-Header-Content-Length"])
        )
        found = result.as_numpy("predict").tolist()
        if datatype == "BYTES":
            found = [v.decode() for v in found]
        assert found == expected, values
    odd = np.array(
        [b"yes", np.float32(1.5), decimal.Decimal("2.5"), datetime.date(2024, 5, 1), 1 + 2j],
        dtype=object,
    )
    assert json.loads(codec.encode_invocations(odd)) == {
        "predictions": ["yes", 1.5, "2.5", "2024-05-01", "(1+2j)"]
    }
    dates = np.full(1, np.datetime64("2024-05-01T12:30", "s"))
    assert json.loads(codec.encode_invocations(dates)) == {"predictions": ["2024-05-01T12:30:00"]}


def test_json_answers_hold_no_nan_or_infinity() -> None:
    """``NaN``/``Infinity`` literals are not JSON: strict parsers (JavaScript, Go) failed
    on the answer of a model that returns them (ONNX does, given an infinity)."""
    from tritonclient.http import InferResult

    def strict(body: bytes) -> Any:
        return json.loads(body, parse_constant=lambda name: pytest.fail(f"{name} in {body!r}"))

    values = np.array([1.5, np.nan, np.inf, -np.inf])
    proba = np.array([[0.5, 0.5], [np.nan, np.nan]])
    body, _ = codec.encode_oip(
        "m", "1", "r", [("predict", values), ("predict_proba", proba)], frozenset()
    )
    doc = strict(body)
    assert doc["outputs"][0]["data"] == [1.5, None, None, None]
    assert doc["outputs"][1]["data"] == [0.5, 0.5, None, None]
    result = InferResult.from_response_body(body)
    assert np.isnan(result.as_numpy("predict")[1:]).all()
    assert strict(codec.encode_invocations(proba)) == {"predictions": [[0.5, 0.5], [None, None]]}
    body, headers = codec.encode_oip("m", "1", "r", [("predict", values)], frozenset({"predict"}))
    assert headers is not None
    binary = InferResult.from_response_body(
        body, header_length=int(headers["Inference-Header-Content-Length"])
    )
    np.testing.assert_array_equal(binary.as_numpy("predict"), values)
