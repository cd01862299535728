"""Load a verified model file by flavor behind one small interface.

:func:`load` picks the loader for ``spec.flavor`` and returns a :class:`LoadedModel`:
``predict``/``predict_proba`` over a 2-D float array or a DataFrame, plus what the
model tells about its inputs (``feature_names``, ``n_features``) and outputs
(``classes``). The server never imports a flavor's library it does not serve.

* ``skops``: :func:`skops.io.load` trusting, beyond skops' own defaults, only what
  :mod:`.skops_trust` allows (scikit-learn's internals, pure numpy and scipy functions,
  public builtins and collections classes); anything else is refused, naming the type.
* ``joblib`` / ``pickle``: a plain load. The project layer has scanned the file before
  the server is started, so it is not scanned again here.
* ``xgboost``, ``lightgbm`` (see :mod:`.flavor_boosters`) and ``onnx`` (see
  :mod:`.flavor_onnx`).

A path may be a file or a folder holding exactly one model file. Any failure is one
:class:`~lockstep.errors.ServingError` line naming the file and the flavor.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lockstep.errors import ServingError
from lockstep.serving.spec import ServeSpec

Array = npt.NDArray[Any]

EXTENSIONS: dict[str, tuple[str, ...]] = {
    "skops": (".skops",),
    "joblib": (".joblib", ".pkl", ".pickle", ".jl"),
    "pickle": (".pkl", ".pickle", ".p"),
    "xgboost": (".json", ".ubj", ".model", ".bst"),
    "lightgbm": (".txt", ".model", ".lgb"),
    "onnx": (".onnx",),
}


class LoadedModel:
    """A model ready to predict. Subclasses set the attributes and implement
    :meth:`predict` (and :meth:`predict_proba` when ``has_proba``)."""

    flavor: str = ""
    platform: str = "lockstep"
    file: Path
    classes: list[Any] | None = None
    feature_names: list[str] | None = None
    n_features: int | None = None
    # Column types the model declares for its named inputs (ONNX), else None.
    feature_types: dict[str, str] | None = None
    has_proba: bool = False

    def predict(self, data: Any) -> Array:
        raise NotImplementedError

    def predict_proba(self, data: Any) -> Array | None:
        return None

    @property
    def output_datatype(self) -> str:
        """The OIP datatype of ``predict``'s output, as far as the model tells."""
        if self.classes is None:
            return "FP64"
        kind = np.asarray(self.classes).dtype.kind
        return {"i": "INT64", "u": "INT64", "f": "FP64", "b": "BOOL"}.get(kind, "BYTES")


class EstimatorModel(LoadedModel):
    """Any object with scikit-learn's ``predict``/``predict_proba`` methods."""

    def __init__(self, estimator: Any, flavor: str, file: Path) -> None:
        if not callable(getattr(estimator, "predict", None)):
            raise ServingError(
                f"{file} ({flavor}): a {type(estimator).__name__} has no predict method"
            )
        self.estimator = estimator
        self.flavor = flavor
        self.file = file
        module = type(estimator).__module__.split(".")[0]
        self.platform = "lockstep-sklearn" if module == "sklearn" else f"lockstep-{flavor}"
        self.has_proba = callable(getattr(estimator, "predict_proba", None))
        classes = getattr(estimator, "classes_", None)
        self.classes = None if classes is None else list(np.asarray(classes).tolist())
        names = getattr(estimator, "feature_names_in_", None)
        self.feature_names = None if names is None else [str(n) for n in names]
        count = getattr(estimator, "n_features_in_", None)
        self.n_features = int(count) if isinstance(count, (int, np.integer)) else None

    def predict(self, data: Any) -> Array:
        return np.asarray(self.estimator.predict(data))

    def predict_proba(self, data: Any) -> Array | None:
        if not self.has_proba:
            return None
        return np.asarray(self.estimator.predict_proba(data), dtype=np.float64)


def load(spec: ServeSpec) -> LoadedModel:
    """The model of ``spec``, loaded by its flavor; ServingError when it cannot be."""
    loader = _loaders().get(spec.flavor)
    if loader is None:
        known = ", ".join(sorted(EXTENSIONS))
        raise ServingError(f"unknown model flavor {spec.flavor!r} (known: {known})")
    file = model_file(Path(spec.path), spec.flavor)
    try:
        return loader(file)
    except ServingError:
        raise
    except Exception as exc:
        raise ServingError(f"cannot load {file} as {spec.flavor}: {one_line(exc)}") from exc


def one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def model_file(path: Path, flavor: str) -> Path:
    """``path`` itself, or the one model file of the folder ``path``."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise ServingError(f"{path} ({flavor}): no such model file or folder")
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    found = [p for p in files if p.name.lower().endswith(EXTENSIONS[flavor])] or files
    if len(found) != 1:
        what = "no files" if not found else ", ".join(p.name for p in found)
        raise ServingError(
            f"{path} ({flavor}): a model folder must hold exactly one model file, found {what}"
        )
    return found[0]


def _loaders() -> dict[str, Callable[[Path], LoadedModel]]:
    from lockstep.serving import flavor_boosters, flavor_onnx

    return {
        "skops": _load_skops,
        "joblib": _load_joblib,
        "pickle": _load_pickle,
        "xgboost": flavor_boosters.load_xgboost,
        "lightgbm": flavor_boosters.load_lightgbm,
        "onnx": flavor_onnx.load_onnx,
    }


def _load_skops(file: Path) -> LoadedModel:
    import skops.io as sio  # type: ignore[import-untyped]

    from lockstep.serving.skops_trust import untrusted_reason

    untrusted = sio.get_untrusted_types(file=file)
    for name in untrusted:
        reason = untrusted_reason(name)
        if reason is not None:
            raise ServingError(f"{file} (skops): refusing to load type {name} ({reason})")
    return EstimatorModel(sio.load(file, trusted=untrusted), "skops", file)


def _load_joblib(file: Path) -> LoadedModel:
    import joblib  # type: ignore[import-untyped]

    return EstimatorModel(joblib.load(file), "joblib", file)


def _load_pickle(file: Path) -> LoadedModel:
    import pickle

    with open(file, "rb") as handle:
        return EstimatorModel(pickle.load(handle), "pickle", file)
