"""The served input columns: the spec's signature, else what the model tells.

With a signature in the spec, it is checked against the model. When the model names its
features, each must be in the signature; the model's columns are served, in its order,
with the signature's types (training data often holds columns a model does not use).
When it only counts them, the signature must have that many columns. Without one,
the model's feature names become ``double`` columns (typed when the model declares
types, as ONNX does), else ``x0..x{n-1}`` doubles from its feature count. A model that
tells neither needs a signature.
"""

from __future__ import annotations

from lockstep.errors import ServingError
from lockstep.serving.flavors import LoadedModel
from lockstep.serving.spec import Column, ServeSpec, Signature


def resolve(spec: ServeSpec, model: LoadedModel) -> Signature:
    """The signature requests are checked against; ServingError when none fits."""
    where = f"{model.file} ({spec.flavor})"
    given = spec.signature
    names = model.feature_names
    if given is not None:
        columns = [c.name for c in given.inputs]
        if names is not None and columns != names:
            return _narrowed(given, names, where)
        if names is None and model.n_features not in (None, len(columns)):
            raise ServingError(
                f"{where}: the signature has {len(columns)} columns; "
                f"the model takes {model.n_features} features"
            )
        return given
    if names is not None:
        types = model.feature_types or {}
        return Signature(tuple(Column(n, types.get(n, "double")) for n in names))
    if model.n_features:
        return Signature(tuple(Column(f"x{i}", "double") for i in range(model.n_features)))
    raise ServingError(f"{where}: the model does not tell its input columns; give it a signature")


def _narrowed(given: Signature, names: list[str], where: str) -> Signature:
    """The model's columns with the signature's types; each must be in the signature."""
    types = {c.name: c.type for c in given.inputs}
    if any(n not in types for n in names):
        difference = describe_difference(list(types), names)
        raise ServingError(f"{where}: the signature does not fit the model: {difference}")
    return Signature(tuple(Column(n, types[n]) for n in names))


def describe_difference(signature: list[str], model: list[str]) -> str:
    missing = [n for n in model if n not in signature]
    extra = [n for n in signature if n not in model]
    parts = []
    if missing:
        parts.append("missing from the signature: " + ", ".join(missing))
    if extra:
        parts.append("not model features: " + ", ".join(extra))
    if not parts:
        parts.append("same columns in another order; the model takes " + ", ".join(model))
    return "; ".join(parts)
