"""XGBoost and LightGBM models saved in their own formats.

XGBoost (``.json``/``.ubj``): the saved objective decides the wrapper. ``binary:*`` and
``multi:*`` load as ``XGBClassifier`` (labels and probabilities, ``classes_`` restored
from the file), ``reg:*`` as ``XGBRegressor``; anything else (ranking, survival, ...)
stays a ``Booster`` fed through a ``DMatrix``.

LightGBM (``Booster(model_file=...)``): a booster predicts scores; for ``binary`` the
score is P(class 1), for ``multiclass``/``multiclassova`` one probability per class.
Labels are derived from those (threshold 0.5, argmax) with classes ``0..C-1``, which is
what LightGBM's own sklearn wrapper does for integer labels. The default feature names
``Column_0..`` are not names and are not reported.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from lockstep.serving.flavors import Array, LoadedModel

CLASSIFIER_OBJECTIVES = ("binary:", "multi:")
LGBM_CLASSIFIERS = ("binary", "multiclass", "multiclassova")
_DEFAULT_LGBM_NAME = re.compile(r"Column_\d+")


def _categorical(data: Any) -> Any:
    """String columns of a DataFrame as pandas categories, which both libraries take."""
    if isinstance(data, np.ndarray):
        return data
    out = data.copy()
    for name in out.columns:
        if out[name].dtype == object:
            out[name] = out[name].astype("category")
    return out


class XGBoostModel(LoadedModel):
    flavor = "xgboost"
    platform = "lockstep-xgboost"

    def __init__(self, file: Path) -> None:
        import xgboost as xgb

        self.file = file
        booster = xgb.Booster()
        booster.load_model(str(file))
        config = json.loads(booster.save_config())
        self.objective = str(config["learner"]["objective"]["name"])
        self.feature_names = list(booster.feature_names) if booster.feature_names else None
        self.n_features = int(booster.num_features())
        self.booster = booster
        self.estimator: Any = None
        if self.objective.startswith(CLASSIFIER_OBJECTIVES):
            self.estimator = xgb.XGBClassifier()
            self.estimator.load_model(str(file))
            self.classes = list(np.asarray(self.estimator.classes_).tolist())
            self.has_proba = not self.objective.endswith(("hinge", "softmax"))
        elif self.objective.startswith("reg:"):
            self.estimator = xgb.XGBRegressor()
            self.estimator.load_model(str(file))

    def predict(self, data: Any) -> Array:
        if self.estimator is not None:
            return np.asarray(self.estimator.predict(_categorical(data)))
        import xgboost as xgb

        matrix = xgb.DMatrix(
            _categorical(data), feature_names=self.feature_names, enable_categorical=True
        )
        return np.asarray(self.booster.predict(matrix))

    def predict_proba(self, data: Any) -> Array | None:
        if not self.has_proba:
            return None
        return np.asarray(self.estimator.predict_proba(_categorical(data)), dtype=np.float64)


def load_xgboost(file: Path) -> LoadedModel:
    return XGBoostModel(file)


class LightGBMModel(LoadedModel):
    flavor = "lightgbm"
    platform = "lockstep-lightgbm"

    def __init__(self, file: Path) -> None:
        import lightgbm as lgb

        self.file = file
        self.booster = lgb.Booster(model_file=str(file))
        self.objective = _lgbm_objective(self.booster, file)
        names = [str(n) for n in self.booster.feature_name()]
        if not all(_DEFAULT_LGBM_NAME.fullmatch(n) for n in names):
            self.feature_names = names
        self.n_features = int(self.booster.num_feature())
        if self.objective in LGBM_CLASSIFIERS:
            self.has_proba = True
            count = 2 if self.objective == "binary" else int(self.booster.num_model_per_iteration())
            self.classes = list(range(count))

    def _scores(self, data: Any) -> Array:
        return np.asarray(self.booster.predict(_categorical(data)), dtype=np.float64)

    def predict(self, data: Any) -> Array:
        scores = self._scores(data)
        if self.objective == "binary":
            return (scores > 0.5).astype(np.int64)
        if self.objective in LGBM_CLASSIFIERS:
            return np.asarray(np.argmax(scores, axis=1), dtype=np.int64)
        return scores

    def predict_proba(self, data: Any) -> Array | None:
        if not self.has_proba:
            return None
        scores = self._scores(data)
        if self.objective == "binary":
            return np.column_stack([1.0 - scores, scores])
        return scores


def _lgbm_objective(booster: Any, file: Path) -> str:
    """The objective's name (``binary``, ``regression``, ...) from the booster's params,
    else from the ``objective=`` line of the model text."""
    found = (getattr(booster, "params", None) or {}).get("objective")
    if not found:
        with open(file, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("objective="):
                    found = line.split("=", 1)[1]
                    break
                if line.startswith("Tree="):
                    break
    return str(found or "").split()[0] if found else ""


def load_lightgbm(file: Path) -> LoadedModel:
    return LightGBMModel(file)
