"""Every flavor loads behind the same interface and predicts what the library itself
predicts; what cannot be served is one ServingError line naming the file and flavor."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lockstep.errors import ServingError
from lockstep.serving import flavors, signature
from lockstep.serving.spec import Column, Signature
from tests.serving.conftest import PIPELINE_SIGNATURE, WIDTH, Trained, make_spec, pipeline_frame
from tests.serving.slow_model import SlowModel


def test_skops_logistic_regression(lr: Trained) -> None:
    model = flavors.load(make_spec(lr))
    np.testing.assert_array_equal(model.predict(lr.sample), lr.model.predict(lr.sample))
    np.testing.assert_array_equal(model.predict_proba(lr.sample), lr.model.predict_proba(lr.sample))
    assert (model.classes, model.n_features, model.feature_names) == ([0, 1], WIDTH, None)
    assert model.has_proba and model.platform == "lockstep-sklearn"
    assert model.output_datatype == "INT64"


def test_skops_pipeline_with_a_string_column(pipeline: Trained) -> None:
    model = flavors.load(make_spec(pipeline))
    assert model.feature_names == ["age", "city", "visits"]
    np.testing.assert_array_equal(
        model.predict(pipeline.sample), pipeline.model.predict(pipeline.sample)
    )


def test_xgboost_classifier_json(xgb_model: Trained) -> None:
    model = flavors.load(make_spec(xgb_model))
    assert model.platform == "lockstep-xgboost" and model.classes == [0, 1]
    assert model.n_features == WIDTH and model.feature_names is None
    np.testing.assert_array_equal(
        model.predict(xgb_model.sample), xgb_model.model.predict(xgb_model.sample)
    )
    np.testing.assert_allclose(
        model.predict_proba(xgb_model.sample), xgb_model.model.predict_proba(xgb_model.sample)
    )


def test_xgboost_multiclass_ubj_with_names_and_a_regressor(tmp_path: Path) -> None:
    import xgboost as xgb

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(150, 3)), columns=["p", "q", "r"])
    labels = rng.integers(0, 3, 150)
    classifier = xgb.XGBClassifier(n_estimators=4, n_jobs=1).fit(frame, labels)
    classifier.save_model(tmp_path / "multi.ubj")
    model = flavors.load(make_spec(Trained(tmp_path / "multi.ubj", "xgboost", None, None)))
    assert model.feature_names == ["p", "q", "r"] and model.classes == [0, 1, 2]
    proba = model.predict_proba(frame.to_numpy()[:5])
    assert proba is not None and proba.shape == (5, 3)
    np.testing.assert_array_equal(
        model.predict(frame.to_numpy()[:5]), classifier.predict(frame[:5])
    )
    regressor = xgb.XGBRegressor(n_estimators=4, n_jobs=1).fit(frame, frame["p"])
    regressor.save_model(tmp_path / "reg.json")
    reg = flavors.load(make_spec(Trained(tmp_path / "reg.json", "xgboost", None, None)))
    assert not reg.has_proba and reg.classes is None and reg.output_datatype == "FP64"
    np.testing.assert_allclose(reg.predict(frame.to_numpy()[:5]), regressor.predict(frame[:5]))


def test_lightgbm_booster(lgbm_model: Trained) -> None:
    model = flavors.load(make_spec(lgbm_model))
    scores = lgbm_model.model.predict(lgbm_model.sample)
    assert model.classes == [0, 1] and model.n_features == WIDTH and model.feature_names is None
    np.testing.assert_array_equal(model.predict(lgbm_model.sample), (scores > 0.5).astype(int))
    np.testing.assert_allclose(model.predict_proba(lgbm_model.sample)[:, 1], scores)


def test_lightgbm_multiclass_and_regression(tmp_path: Path) -> None:
    import lightgbm as lgb

    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 4))
    multi = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1},
        lgb.Dataset(pd.DataFrame(x, columns=list("abcd")), rng.integers(0, 3, 120)),
        3,
    )
    multi.save_model(tmp_path / "multi.txt")
    model = flavors.load(make_spec(Trained(tmp_path / "multi.txt", "lightgbm", None, None)))
    assert model.feature_names == ["a", "b", "c", "d"] and model.classes == [0, 1, 2]
    proba = model.predict_proba(x[:4])
    assert proba is not None
    np.testing.assert_array_equal(model.predict(x[:4]), proba.argmax(axis=1))
    reg = lgb.train(
        {"objective": "regression", "verbose": -1, "num_threads": 1}, lgb.Dataset(x, x[:, 0]), 3
    )
    reg.save_model(tmp_path / "reg.txt")
    loaded = flavors.load(make_spec(Trained(tmp_path / "reg.txt", "lightgbm", None, None)))
    assert not loaded.has_proba
    np.testing.assert_allclose(loaded.predict(x[:4]), reg.predict(x[:4]))


def test_onnx_classifier(onnx_model: Trained) -> None:
    model = flavors.load(make_spec(onnx_model))
    assert model.classes == [0, 1] and model.n_features == WIDTH and model.feature_names is None
    np.testing.assert_array_equal(
        model.predict(onnx_model.sample), onnx_model.model.predict(onnx_model.sample)
    )
    np.testing.assert_allclose(
        model.predict_proba(onnx_model.sample),
        onnx_model.model.predict_proba(onnx_model.sample),
        atol=1e-5,
    )


def test_onnx_zipmap_and_per_column_inputs(tmp_path: Path) -> None:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame, y = pipeline_frame()
    frame = frame.drop(columns=["visits"]).assign(city=frame["city"].astype(object))
    pipe = make_pipeline(
        ColumnTransformer([("num", "passthrough", ["age"]), ("cat", OneHotEncoder(), ["city"])]),
        LogisticRegression(),
    ).fit(frame, y)
    onx = to_onnx(
        pipe,
        initial_types=[("age", FloatTensorType([None, 1])), ("city", StringTensorType([None, 1]))],
    )
    (tmp_path / "zip.onnx").write_bytes(onx.SerializeToString())
    model = flavors.load(make_spec(Trained(tmp_path / "zip.onnx", "onnx", None, None)))
    assert model.feature_names == ["age", "city"]
    assert model.feature_types == {"age": "float", "city": "string"}
    sample = frame.head(5).reset_index(drop=True)
    np.testing.assert_array_equal(model.predict(sample), pipe.predict(sample))
    np.testing.assert_allclose(model.predict_proba(sample), pipe.predict_proba(sample), atol=1e-5)
    assert model.classes == [0, 1]


def test_joblib_model_in_a_folder(joblib_model: Trained) -> None:
    model = flavors.load(make_spec(joblib_model))
    assert model.file.name == "model.joblib"
    assert not model.has_proba and model.predict_proba(joblib_model.sample) is None
    np.testing.assert_array_equal(
        model.predict(joblib_model.sample), joblib_model.model.predict(joblib_model.sample)
    )


def test_what_cannot_be_served(tmp_path: Path, lr: Trained) -> None:
    import skops.io as sio
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    def refused(path: Path, flavor: str, match: str) -> None:
        with pytest.raises(ServingError, match=match):
            flavors.load(make_spec(Trained(path, flavor, None, None)))

    with pytest.raises(ServingError, match="unknown model flavor 'tensorflow'"):
        flavors.load(make_spec(lr, flavor="tensorflow"))
    sio.dump(make_pipeline(FunctionTransformer(eval)), tmp_path / "eval.skops")
    refused(
        tmp_path / "eval.skops", "skops", r"refusing to load type builtins.eval \(not a class\)"
    )
    sio.dump(SlowModel(lr.model, 0), tmp_path / "foreign.skops")
    refused(
        tmp_path / "foreign.skops",
        "skops",
        "refusing to load type tests.serving.slow_model.SlowModel",
    )
    (tmp_path / "junk.skops").write_bytes(b"not a zip file")
    refused(tmp_path / "junk.skops", "skops", r"cannot load .*junk.skops as skops: ")
    (tmp_path / "junk.json").write_text("{}")
    refused(tmp_path / "junk.json", "xgboost", "as xgboost")
    (tmp_path / "junk.onnx").write_bytes(b"\x00\x01")
    refused(tmp_path / "junk.onnx", "onnx", "as onnx")
    (tmp_path / "dict.pkl").write_bytes(pickle.dumps({"w": 1}))
    refused(tmp_path / "dict.pkl", "pickle", "a dict has no predict method")
    refused(tmp_path / "missing.pkl", "pickle", "no such model file or folder")
    two = tmp_path / "two"
    two.mkdir()
    (two / "a.pkl").write_bytes(b"")
    (two / "b.pkl").write_bytes(b"")
    refused(two, "pickle", "exactly one model file, found a.pkl, b.pkl")
    empty = tmp_path / "empty"
    empty.mkdir()
    refused(empty, "onnx", "found no files")


def test_signature_from_the_model_or_the_spec(
    lr: Trained, pipeline: Trained, tmp_path: Path
) -> None:
    plain = flavors.load(make_spec(lr))
    derived = signature.resolve(make_spec(lr), plain)
    assert [c.name for c in derived.inputs] == [f"x{i}" for i in range(WIDTH)]
    assert {c.type for c in derived.inputs} == {"double"}
    named = flavors.load(make_spec(pipeline))
    assert [c.name for c in signature.resolve(make_spec(pipeline), named).inputs] == [
        "age",
        "city",
        "visits",
    ]
    spec = make_spec(pipeline, signature=PIPELINE_SIGNATURE)
    assert signature.resolve(spec, named) == PIPELINE_SIGNATURE

    def misfit(spec_signature: Signature, model: flavors.LoadedModel, match: str) -> None:
        with pytest.raises(ServingError, match=match):
            signature.resolve(make_spec(lr, signature=spec_signature), model)

    typo = Signature((Column("age", "double"), Column("city", "string"), Column("vists", "long")))
    misfit(typo, named, "missing from the signature: visits; not model features: vists")
    # the model's own order wins; columns it does not use (a label, say) are dropped
    reordered = Signature(PIPELINE_SIGNATURE.inputs[::-1])
    assert signature.resolve(make_spec(pipeline, signature=reordered), named) == PIPELINE_SIGNATURE
    wider = Signature((*PIPELINE_SIGNATURE.inputs, Column("churned", "long")))
    assert signature.resolve(make_spec(pipeline, signature=wider), named) == PIPELINE_SIGNATURE
    misfit(PIPELINE_SIGNATURE, plain, "the signature has 3 columns; the model takes 20 features")
    silent = SlowModel(lr.model, 0)
    del silent.n_features_in_
    (tmp_path / "silent.pkl").write_bytes(pickle.dumps(silent))
    mute = flavors.load(make_spec(Trained(tmp_path / "silent.pkl", "pickle", None, None)))
    with pytest.raises(ServingError, match="does not tell its input columns; give it a signature"):
        signature.resolve(make_spec(lr, flavor="pickle"), mute)
