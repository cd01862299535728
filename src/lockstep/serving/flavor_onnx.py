"""ONNX models through onnxruntime.

Inputs: either one 2-D tensor ``[N, F]`` (what skl2onnx makes from a numpy array;
the columns are then unnamed), or one ``[N, 1]`` tensor per column (what skl2onnx
makes from a DataFrame; the input names are the feature names and their element types
give the column types).

Outputs: one output is the prediction (``[N]`` or ``[N, 1]``, a regressor). Two
outputs are a classifier's label and probabilities, as skl2onnx writes them; the
probabilities are either a ``[N, C]`` tensor (converted with
``options={'zipmap': False}``, the faster form) or a ZipMap sequence of
``{class: p}`` dicts, turned into ``[N, C]`` here. The classes are read from the
graph's ``classlabels_*`` attributes when the ``onnx`` package is present, else from a
ZipMap's keys, else they are ``0..C-1``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lockstep.serving.flavors import Array, LoadedModel

ONNX_TYPES = {
    "tensor(float)": ("float", np.float32),
    "tensor(double)": ("double", np.float64),
    "tensor(int64)": ("long", np.int64),
    "tensor(int32)": ("integer", np.int32),
    "tensor(bool)": ("boolean", np.bool_),
    "tensor(string)": ("string", np.object_),
}


class OnnxModel(LoadedModel):
    flavor = "onnx"
    platform = "lockstep-onnx"

    def __init__(self, file: Path) -> None:
        import onnxruntime as ort  # type: ignore[import-untyped]

        self.file = file
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(file), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.inputs = list(self.session.get_inputs())
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.dtypes = [ONNX_TYPES.get(i.type, ("double", np.float64))[1] for i in self.inputs]
        if len(self.inputs) == 1:
            width = self.inputs[0].shape[1] if len(self.inputs[0].shape) == 2 else None
            self.n_features = width if isinstance(width, int) else None
        else:
            self.feature_names = [i.name for i in self.inputs]
            self.n_features = len(self.inputs)
            self.feature_types = {
                i.name: ONNX_TYPES.get(i.type, ("double", np.float64))[0] for i in self.inputs
            }
        self.has_proba = len(self.outputs) >= 2
        if self.has_proba:
            self.classes = _graph_classes(file)

    def _feed(self, data: Any) -> dict[str, Any]:
        if len(self.inputs) == 1:
            return {self.inputs[0].name: np.asarray(data, dtype=self.dtypes[0])}
        if isinstance(data, np.ndarray):
            columns = [data[:, j] for j in range(data.shape[1])]
        else:
            columns = [data[name].to_numpy() for name in self.feature_names or []]
        return {
            i.name: np.asarray(c, dtype=t).reshape(-1, 1)
            for i, c, t in zip(self.inputs, columns, self.dtypes, strict=True)
        }

    def _run(self, data: Any, names: list[str]) -> list[Any]:
        return list(self.session.run(names, self._feed(data)))

    def predict(self, data: Any) -> Array:
        (label,) = self._run(data, self.outputs[:1])
        array = np.asarray(label)
        return array.ravel() if array.ndim == 2 and array.shape[1] == 1 else array

    def predict_proba(self, data: Any) -> Array | None:
        if not self.has_proba:
            return None
        (proba,) = self._run(data, self.outputs[1:2])
        if isinstance(proba, list):
            return self._from_zipmap(proba)
        return np.asarray(proba, dtype=np.float64)

    def _from_zipmap(self, rows: list[dict[Any, float]]) -> Array:
        if not rows:
            return np.empty((0, len(self.classes or [])), dtype=np.float64)
        if self.classes is None:
            self.classes = list(rows[0])
        order = self.classes
        return np.array([[row[c] for c in order] for row in rows], dtype=np.float64)


def _graph_classes(file: Path) -> list[Any] | None:
    try:
        import onnx
    except ImportError:
        return None
    graph = onnx.load(str(file), load_external_data=False).graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.name == "classlabels_ints":
                return [int(v) for v in attribute.ints]
            if attribute.name == "classlabels_strings":
                return [v.decode("utf-8") for v in attribute.strings]
    return None


def load_onnx(file: Path) -> LoadedModel:
    return OnnxModel(file)
