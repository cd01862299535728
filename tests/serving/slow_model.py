"""A real model that takes its time: a fitted LogisticRegression whose predict sleeps
first. Pickled by the graceful-shutdown test, so a request is surely in flight when the
server gets SIGTERM; importable by the server process as ``tests.serving.slow_model``."""

from __future__ import annotations

import time
from typing import Any


class SlowModel:
    def __init__(self, model: Any, seconds: float) -> None:
        self.model = model
        self.seconds = seconds
        self.classes_ = model.classes_
        self.n_features_in_ = model.n_features_in_

    def predict(self, data: Any) -> Any:
        time.sleep(self.seconds)
        return self.model.predict(data)

    def predict_proba(self, data: Any) -> Any:
        return self.model.predict_proba(data)
