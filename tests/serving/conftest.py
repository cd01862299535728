"""Tiny real models of every flavor, trained once per session, and servers to run them:
uvicorn in a thread for the app, or ``lockstep.serving.runner.serve`` in a subprocess
when a test needs signals or the runner itself."""

from __future__ import annotations

import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lockstep.serving.spec import Column, ServeSpec, Signature
from tests.services import Service, free_port

ROOT = Path(__file__).resolve().parents[2]
WIDTH = 20
TOKEN = "s3cret-token"
SERVE = (
    "import os, sys\n"
    "from pathlib import Path\n"
    "from lockstep.serving.spec import ServeSpec\n"
    "from lockstep.serving.runner import serve\n"
    "serve(ServeSpec.load(Path(sys.argv[1])), '127.0.0.1', int(sys.argv[2]),\n"
    "      workers=int(sys.argv[3]), token=os.environ.get('TEST_SERVE_TOKEN') or None)\n"
)


@dataclass(frozen=True)
class Trained:
    path: Path
    flavor: str
    model: Any  # the in-memory model, for reference predictions
    sample: Any  # a few input rows (ndarray or DataFrame)


def make_spec(trained: Trained, **changes: Any) -> ServeSpec:
    fields: dict[str, Any] = {
        "name": "m",
        "version": "1.0.0",
        "digest": "ab" * 32,
        "flavor": trained.flavor,
        "path": str(trained.path),
        **changes,
    }
    return ServeSpec(**fields)


def _data(rows: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, WIDTH))
    y = (x[:, 0] + 0.5 * x[:, 1] - x[:, 2] > 0).astype(np.int64)
    return x, y


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def lr(model_dir: Path) -> Trained:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    x, y = _data()
    model = LogisticRegression().fit(x, y)
    path = model_dir / "lr.skops"
    sio.dump(model, path)
    return Trained(path, "skops", model, x[:8])


def pipeline_frame(rows: int = 200, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.uniform(18, 80, rows),
            "city": rng.choice(["paris", "lyon", "nice"], rows),
            "visits": rng.integers(0, 20, rows),
        }
    )
    y = ((frame["age"] > 45) ^ (frame["city"] == "nice")).to_numpy().astype(np.int64)
    return frame, y


PIPELINE_SIGNATURE = Signature(
    (Column("age", "double"), Column("city", "string"), Column("visits", "long"))
)


@pytest.fixture(scope="session")
def pipeline(model_dir: Path) -> Trained:
    """Strings in a column: OneHotEncoder rejects an unknown city (a real model error)."""
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame, y = pipeline_frame()
    model = make_pipeline(
        ColumnTransformer(
            [("num", StandardScaler(), ["age", "visits"]), ("cat", OneHotEncoder(), ["city"])]
        ),
        LogisticRegression(),
    ).fit(frame, y)
    path = model_dir / "pipeline.skops"
    sio.dump(model, path)
    return Trained(path, "skops", model, frame.head(6))


@pytest.fixture(scope="session")
def xgb_model(model_dir: Path) -> Trained:
    import xgboost as xgb

    x, y = _data(seed=2)
    model = xgb.XGBClassifier(n_estimators=8, max_depth=3, n_jobs=1).fit(x, y)
    path = model_dir / "model.json"
    model.save_model(path)
    return Trained(path, "xgboost", model, x[:8])


@pytest.fixture(scope="session")
def lgbm_model(model_dir: Path) -> Trained:
    import lightgbm as lgb

    x, y = _data(seed=3)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1}, lgb.Dataset(x, y), 8
    )
    path = model_dir / "lgbm.txt"
    booster.save_model(path)
    return Trained(path, "lightgbm", booster, x[:8])


@pytest.fixture(scope="session")
def onnx_model(model_dir: Path) -> Trained:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    x, y = _data(seed=4)
    model = LogisticRegression().fit(x, y)
    onx = to_onnx(model, x[:1].astype(np.float32), options={id(model): {"zipmap": False}})
    path = model_dir / "lr.onnx"
    path.write_bytes(onx.SerializeToString())
    return Trained(path, "onnx", model, x[:8])


@pytest.fixture(scope="session")
def joblib_model(model_dir: Path) -> Trained:
    import joblib
    from sklearn.tree import DecisionTreeRegressor

    x, _ = _data(seed=5)
    model = DecisionTreeRegressor(max_depth=4).fit(x, x[:, 0] * 2)
    folder = model_dir / "joblib-folder"
    folder.mkdir()
    joblib.dump(model, folder / "model.joblib")
    (folder / "MLmodel").write_text("flavors: {}\n")
    return Trained(folder, "joblib", model, x[:8])


@pytest.fixture(scope="session")
def slow_model(model_dir: Path, lr: Trained) -> Trained:
    import pickle

    from tests.serving.slow_model import SlowModel

    path = model_dir / "slow.pkl"
    path.write_bytes(pickle.dumps(SlowModel(lr.model, 1.5)))
    return Trained(path, "pickle", lr.model, lr.sample)


# -- servers ------------------------------------------------------------------------------


@contextmanager
def thread_server(app: Any) -> Iterator[str]:
    """``app`` on uvicorn in a thread; yields its base URL; stops it after."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def start_server(
    spec: ServeSpec,
    folder: Path,
    token: str | None = None,
    workers: int = 1,
    env: dict[str, str] | None = None,
) -> tuple[Service, str]:
    """``lockstep.serving.runner.serve`` in a subprocess; its log is ``folder/server.log``."""
    folder.mkdir(parents=True, exist_ok=True)
    spec_file = folder / "spec.json"
    spec.dump(spec_file)
    port = free_port()
    service = Service(
        [sys.executable, "-c", SERVE, str(spec_file), str(port), str(workers)],
        port,
        folder / "server.log",
        env={"TEST_SERVE_TOKEN": token or "", "PYTHONPATH": str(ROOT), **(env or {})},
    )
    return service, f"http://127.0.0.1:{port}"


def one_row_oip(row: np.ndarray, **extra: Any) -> dict[str, Any]:
    return {
        "inputs": [{"name": "x", "shape": [1, len(row)], "datatype": "FP64", "data": row.tolist()}],
        **extra,
    }


@pytest.fixture(autouse=True)
def _no_sklearn_noise() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield
