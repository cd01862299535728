"""Which names a skops file may use beyond skops' own trusted defaults.

skops never unpickles: it rebuilds an object graph from a schema and only imports the
types and functions the file names. Those it does not trust by default (estimator
internals such as ``sklearn.tree._tree.Tree``, score functions, ``numpy.clip``, ...)
are checked here before :func:`skops.io.load` is told to trust them. A function in the
graph is a callable the model may run with arguments the file chooses (a
``FunctionTransformer`` calls ``func(X, **kw_args)``; chained ones can turn ``X`` into a
string of the file's choice), so trusting "anything under numpy" lets a crafted file
reach ``numpy.testing``'s ``exec``, ``numpy.save`` or ``numpy.load(allow_pickle=True)``.

The policy is an allowlist, checked on the name the file gives and again on the
resolved object's own module (so a re-export such as
``scipy._lib.array_api_compat.numpy.load`` is judged as ``numpy.load``):

* ``builtins`` and ``collections``: public classes only;
* a method bound to an object (``module.Class.method``) never; nor anything in a test
  module;
* ``functools.partial`` (binds arguments; every function it binds is checked too);
* ``sklearn``: everything but the modules that read or write files, fetch data, run
  code or change global settings (:data:`REFUSED`);
* ``numpy``: its public top-level classes and functions except file I/O and global
  settings (:data:`NUMPY_REFUSED`), ``numpy.random`` and ``numpy.dtypes``; every ufunc;
* ``scipy``: ``sparse`` (not its file I/O), ``interpolate``, ``special``, ``stats`` and
  the array-API aliases scikit-learn's splines use.
"""

from __future__ import annotations

import builtins
import collections
import importlib
from typing import Any

CLASS_ONLY_ROOTS = {"builtins": builtins, "collections": collections}
TRUSTED = (
    "sklearn",
    "numpy.random",
    "numpy.dtypes",
    "scipy.sparse",
    "scipy.interpolate",
    "scipy.special",
    "scipy.stats",
    "scipy._lib.array_api_compat",
)
REFUSED = (
    "sklearn.datasets",
    "sklearn.externals",
    "sklearn.utils._testing",
    "sklearn.utils.estimator_checks",
    "sklearn.utils.parallel",
    "sklearn.utils._joblib",
    "sklearn.utils._show_versions",
    "sklearn.utils.discovery",
    "sklearn.utils.fixes",
    "sklearn.utils._mocking",
    "sklearn.tree._export",  # export_graphviz(out_file=...)
    "sklearn.utils._estimator_html_repr",
    "sklearn.utils._repr_html",
    "sklearn._config",
    "sklearn._build_utils",
    "sklearn.__check_build",
    "scipy.sparse._matrix_io",
)
NUMPY_REFUSED = frozenset(
    {
        "load", "save", "savez", "savez_compressed", "savetxt", "loadtxt", "genfromtxt",
        "fromfile", "fromregex", "memmap", "DataSource", "info", "show_config",
        "show_runtime", "get_include", "seterr", "seterrcall", "setbufsize",
        "set_printoptions", "printoptions",
    }
)  # fmt: skip
TEST_PARTS = frozenset({"tests", "testing", "_testing", "conftest"})
PARTIAL = "functools.partial"


def untrusted_reason(type_name: str) -> str | None:
    """Why a name a skops file uses is not trusted, or None when it is."""
    root, _, rest = type_name.partition(".")
    module = CLASS_ONLY_ROOTS.get(root)
    if module is not None:
        return _class_only(module, rest)
    if type_name == PARTIAL:
        return None
    reason = _name_reason(type_name)
    if reason is not None:
        return reason
    found = _resolve(type_name)
    if found is None:
        return "not a class or function of a module (a method of an object, say)"
    return _object_reason(found)


def _class_only(module: Any, rest: str) -> str | None:
    if "." in rest or rest.startswith("_"):
        return "not a public class"
    return None if isinstance(getattr(module, rest, None), type) else "not a class"


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _name_reason(name: str) -> str | None:
    """The allowlist on a dotted name (the file's, or the resolved object's)."""
    if _under(name, REFUSED):
        return "its module reads or writes files, runs code or changes global settings"
    if TEST_PARTS.intersection(name.split(".")):
        return "a test module"
    root, _, rest = name.partition(".")
    if root == "numpy" and "." not in rest:
        return _numpy_reason(rest)
    if _under(name, TRUSTED):
        return None
    return "outside the types and functions models are made of (sklearn, numpy, scipy)"


def _numpy_reason(attribute: str) -> str | None:
    if attribute.startswith("_"):
        return "a private numpy name"
    if attribute in NUMPY_REFUSED:
        return "numpy file I/O or global settings"
    return None


def _resolve(name: str) -> object | None:
    """The object ``module.attribute`` names (what skops would load), or None."""
    module_name, _, attribute = name.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception:
        return None
    return getattr(module, attribute, None)


def _object_reason(found: object) -> str | None:
    import numpy as np

    if isinstance(found, np.ufunc):
        return None
    if not isinstance(found, type) and not callable(found):
        return "not a class or function"
    module = getattr(found, "__module__", None)
    name = getattr(found, "__name__", None)
    if not isinstance(module, str) or not isinstance(name, str):
        return "a callable of unknown origin"
    reason = _name_reason(f"{module}.{name}")
    return None if reason is None else f"it is {module}.{name}: {reason}"
