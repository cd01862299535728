"""The skops trust policy: what real scikit-learn models use loads; a crafted file that
chains trusted-looking functions into code execution or file access is refused before
anything in it runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lockstep.errors import ServingError
from lockstep.serving import flavors
from lockstep.serving.skops_trust import untrusted_reason
from tests.serving.conftest import Trained, make_spec

LEGIT = [
    "functools.partial",  # HistGradientBoosting with categorical features
    "sklearn.utils.validation.check_array",
    "sklearn.tree._tree.Tree",
    "sklearn.feature_selection._univariate_selection.f_classif",
    "sklearn.neighbors._kd_tree.KDTree",
    "scipy.interpolate._bsplines.BSpline",
    "scipy._lib.array_api_compat.numpy._aliases.asarray",  # SplineTransformer
    "scipy.stats._stats_py.zscore",
    "numpy.clip",
    "numpy.dtype",
    "numpy.random.mtrand.RandomState",
    "builtins.object",
    "collections.OrderedDict",
]
REFUSED = [
    ("numpy.testing._private.utils.runstring", "a test module"),  # exec(string)
    ("numpy.load", "numpy file I/O"),  # allow_pickle=True
    ("numpy.savetxt", "numpy file I/O"),
    ("numpy.memmap", "numpy file I/O"),
    ("scipy._lib.array_api_compat.numpy.load", "it is numpy.load"),  # a re-export
    ("scipy.sparse.save_npz", "it is scipy.sparse._matrix_io.save_npz"),
    ("sklearn.utils._testing.assert_run_python_script_without_output", "runs code"),
    ("sklearn.datasets.fetch_openml", "reads or writes files"),
    ("sklearn.tree.export_graphviz", "it is sklearn.tree._export.export_graphviz"),
    ("sklearn.set_config", "it is sklearn._config.set_config"),
    ("skops.io.loads", "outside the types"),
    ("builtins.eval", "not a class"),
    ("builtins.__loader__", "not a public class"),
    ("numpy.testing", "a test module"),
    ("numpy.char", "not a class or function"),
    ("sklearn.no_such_thing", "not a class or function of a module"),
    ("sklearn.tree._classes.DecisionTreeClassifier.fit", "a method of an object"),
    ("numpy.ndarray.tofile", "outside the types"),
    ("sklearn.tests.test_base.K", "a test module"),
]


@pytest.mark.parametrize("name", LEGIT)
def test_what_models_are_made_of_is_trusted(name: str) -> None:
    assert untrusted_reason(name) is None


@pytest.mark.parametrize(("name", "reason"), REFUSED)
def test_code_execution_and_file_access_are_refused(name: str, reason: str) -> None:
    found = untrusted_reason(name)
    assert found is not None and reason in found, found


def test_a_crafted_pipeline_that_would_exec_a_string_is_refused(
    lr: Trained, tmp_path: Path
) -> None:
    """full_like turns the input into the file's string, take picks it out, runstring
    exec's it: every step a numpy function, so "trust anything under numpy" ran it."""
    import skops.io as sio
    from numpy.testing._private.utils import runstring
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    proof = tmp_path / "proof"
    steps = [
        FunctionTransformer(
            np.full_like, kw_args={"fill_value": f"open({str(proof)!r}, 'w')", "dtype": object}
        ),
        FunctionTransformer(np.take, kw_args={"indices": 0}),
        FunctionTransformer(runstring, kw_args={"dict": {}}),
    ]
    for step in steps:
        step.fit(lr.sample)
    crafted = Pipeline([(f"s{i}", s) for i, s in enumerate(steps)] + [("lr", lr.model)])
    sio.dump(crafted, tmp_path / "crafted.skops")
    with pytest.raises(ServingError, match=r"refusing to load type numpy\.testing\._private"):
        flavors.load(make_spec(Trained(tmp_path / "crafted.skops", "skops", None, None)))
    assert not proof.exists()


def test_histgradientboosting_with_categories_loads(tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    x = np.column_stack([rng.integers(0, 3, 200), rng.normal(size=200)]).astype(np.float64)
    y = (x[:, 0] == 1).astype(np.int64)
    model = HistGradientBoostingClassifier(max_iter=3, categorical_features=[0]).fit(x, y)
    sio.dump(model, tmp_path / "hgb.skops")
    assert "functools.partial" in sio.get_untrusted_types(file=tmp_path / "hgb.skops")
    loaded = flavors.load(make_spec(Trained(tmp_path / "hgb.skops", "skops", None, None)))
    np.testing.assert_array_equal(loaded.predict(x[:10]), model.predict(x[:10]))
