"""Which globals a pickle may import: an allowlist, never a blocklist.

A pickle runs code only through the globals it imports (``GLOBAL``,
``STACK_GLOBAL``, ``INST``): it can call them, and call what they return. So a
pickle is safe to load when every global it imports builds data and nothing
else. Three kinds of entry:

* exact globals (``numpy.dtype``, ``builtins.dict``, ``copyreg._reconstructor``);
* classes of the model libraries (``sklearn``, ``xgboost``, ``lightgbm``): a name
  that looks like a class (``LogisticRegression``, ``_BinMapper``) in any of their
  modules, outside test, dataset-download and cluster sub-modules. Instantiating
  an estimator stores its parameters; its functions (``sklearn.datasets.fetch_…``)
  and what its modules import (``sklearn.utils._testing.check_output``, a
  lower-case name; ``lightgbm.basic.NamedTemporaryFile``, listed) stay out;
* the user's extra entries (``[scan] allow`` in ``.lockstep/config.toml``,
  ``--allow``): ``pkg.module`` allows every name of that module and below,
  ``pkg.module.Class`` one global.

A dotted name (protocol 4 resolves ``STACK_GLOBAL("sklearn.base", "np.load")`` to
``numpy.load`` through attributes) is allowed only when it is listed whole.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import re
from collections.abc import Iterable
from dataclasses import dataclass

from lockstep.errors import InputError


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# protocol 0 and 1 rebuild plain objects with copyreg._reconstructor(cls, object, None):
# calling ``object`` makes an empty object and nothing more
_BUILTINS = _words(
    "dict list set frozenset tuple bytearray bytes complex slice range int float str bool object"
)

_NUMPY_SCALARS = _words(
    "bool bool_ int8 int16 int32 int64 uint8 uint16 uint32 uint64 intc uintc intp uintp "
    "longlong ulonglong float16 float32 float64 longdouble half single double complex64 "
    "complex128 clongdouble str_ bytes_ void object_ datetime64 timedelta64"
)

_TORCH_STORAGES = _words(
    "Double Float Half BFloat16 Long Int Short Char Byte Bool ComplexDouble ComplexFloat "
    "QUInt8 QInt8 QInt32 QUInt4x2 QUInt2x4"
)

_TORCH_DTYPES = _words(
    "float64 float32 float16 bfloat16 int64 int32 int16 int8 uint8 bool complex64 complex128"
)


def _exact() -> frozenset[str]:
    names = {f"builtins.{n}" for n in _BUILTINS}
    names |= {f"numpy.{n}" for n in (*_NUMPY_SCALARS, "dtype", "ndarray")}
    for core in ("numpy.core", "numpy._core"):  # numpy 1 and numpy 2
        names |= {
            f"{core}.multiarray._reconstruct",
            f"{core}.multiarray.scalar",
            f"{core}.numeric._frombuffer",
        }
    names |= {
        "_codecs.encode",  # protocol 0-2 write bytes as _codecs.encode(text, "latin1")
        "copyreg._reconstructor",  # cls.__new__ of a class that must itself be allowed
        "copyreg.__newobj__",
        "copyreg.__newobj_ex__",
        "collections.OrderedDict",
        "collections.defaultdict",
        "collections.Counter",
        "collections.deque",
        "datetime.date",
        "datetime.datetime",
        "datetime.time",
        "datetime.timedelta",
        "datetime.timezone",
        "decimal.Decimal",
        "numpy.ma.core._mareconstruct",
        "numpy.ma.core.MaskedArray",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random.bit_generator.SeedSequence",
        "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
        "numpy.random._mt19937.MT19937",
        "numpy.random._pcg64.PCG64",
        "numpy.random._pcg64.PCG64DXSM",
        "numpy.random._philox.Philox",
        "numpy.random._sfc64.SFC64",
        "numpy.random.mtrand.RandomState",
        "numpy.random._generator.Generator",
        "joblib.numpy_pickle.NumpyArrayWrapper",
        # what torch.load(weights_only=True) accepts for tensors and state dicts
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "torch.Size",
        "torch.device",
        "torch.storage.UntypedStorage",
    }
    names |= {f"torch.{n}Storage" for n in _TORCH_STORAGES}
    names |= {f"torch.{n}" for n in _TORCH_DTYPES}
    return frozenset(names)


EXACT = _exact()
CLASS_PACKAGES = ("sklearn", "xgboost", "lightgbm")
# sub-modules of those packages whose classes are never allowed: test helpers,
# downloaders, distributed trackers that open sockets
DENIED_PARTS = frozenset(
    {"testing", "_testing", "tests", "datasets", "externals", "tracker", "collective"}
    | {"federated", "dask", "spark", "distutils", "callback", "conftest", "_data_utils"}
    | {"config", "libpath"}
)
# standard-library classes those packages import into their modules, which a pickle
# could reach through them and which act on files, threads or processes when built
IMPORTED_CLASSES = frozenset(
    {"NamedTemporaryFile", "TemporaryDirectory", "TemporaryFile", "SpooledTemporaryFile"}
    | {"GzipFile", "Thread", "ThreadPoolExecutor", "ProcessPoolExecutor", "Popen"}
    | {"Request", "Mock", "MagicMock", "CDLL", "PyDLL"}
)
# a class-like name: capitalised and with a lower-case letter (not an ALL_CAPS constant)
_CLASS_NAME = re.compile(r"(__pyx_unpickle_)?_*[A-Z](?=[A-Za-z0-9_]*[a-z])[A-Za-z0-9_]*")
_SPARSE_NAME = re.compile(r"(csr|csc|coo|bsr|dia|dok|lil)_(matrix|array)")

# Why well-known globals are dangerous, shown beside "not on the allowlist".
_WHY = {
    "os": "runs commands and touches files",
    "posix": "runs commands and touches files",
    "nt": "runs commands and touches files",
    "subprocess": "runs commands",
    "pty": "runs commands",
    "commands": "runs commands",
    "builtins.eval": "runs code",
    "builtins.exec": "runs code",
    "builtins.compile": "compiles code",
    "builtins.getattr": "reaches any attribute of what it is given",
    "builtins.setattr": "changes any attribute",
    "builtins.__import__": "imports any module",
    "builtins.open": "opens files",
    "builtins.breakpoint": "starts a debugger",
    "importlib": "imports any module",
    "runpy": "runs a module or script",
    "pickle": "loads a nested pickle",
    "_pickle": "loads a nested pickle",
    "dill": "loads a nested pickle",
    "cloudpickle": "loads a nested pickle",
    "joblib.load": "loads a nested pickle",
    "marshal": "loads code objects",
    "types": "builds code and functions",
    "ctypes": "loads native libraries",
    "socket": "opens network connections",
    "shutil": "copies and deletes files",
    "webbrowser": "opens URLs",
    "code": "runs code",
    "codeop": "compiles code",
    "functools.partial": "calls what it wraps",
    "operator": "calls and reaches attributes (attrgetter, methodcaller)",
}


def is_dotted_name(text: str) -> bool:
    """``pkg.module.Name``: identifiers joined by dots."""
    return bool(text) and all(part.isidentifier() for part in text.split("."))


@dataclass(frozen=True)
class Allowlist:
    """The built-in allowlist plus the user's extra entries."""

    extra: tuple[str, ...] = ()

    @classmethod
    def with_extra(cls, entries: Iterable[str]) -> Allowlist:
        entries = tuple(entries)
        for entry in entries:
            if not is_dotted_name(entry):
                raise InputError(
                    f"allow entry {entry!r} is not a dotted name such as "
                    "'mypkg.module' or 'mypkg.module.Class'"
                )
        return cls(tuple(dict.fromkeys(entries)))

    def refusal(self, module: str, name: str) -> str | None:
        """None when ``module.name`` may be imported, else why not."""
        full = f"{module}.{name}"
        if full in EXACT or full in self.extra:
            return None
        if not is_dotted_name(module) or not is_dotted_name(name):
            return "not an importable name"
        if "." in name:
            return "a dotted name reaches attributes of other objects"
        if self._by_rule(module, name):
            return None
        why = _WHY.get(full) or _WHY.get(module) or _WHY.get(module.split(".", maxsplit=1)[0])
        return f"not on the allowlist ({why})" if why else "not on the allowlist"

    def extends(self, module: str, name: str = "") -> bool:
        """Whether the user's extra entries allow ``module.name`` (or all of ``module``)."""
        full = f"{module}.{name}" if name else module
        return full in self.extra or any(
            module == e or module.startswith(e + ".") for e in self.extra
        )

    def _by_rule(self, module: str, name: str) -> bool:
        if self.extends(module):
            return True
        parts = module.split(".")
        if module == "scipy.sparse" or module.startswith("scipy.sparse."):
            return _SPARSE_NAME.fullmatch(name) is not None
        return (
            parts[0] in CLASS_PACKAGES
            and not DENIED_PARTS.intersection(parts)
            and name not in IMPORTED_CLASSES
            and _CLASS_NAME.fullmatch(name) is not None
            and _defined_by_package(module, name)
        )


@functools.lru_cache(maxsize=4096)
def _defined_by_package(module: str, name: str) -> bool:
    """Whether ``module.name`` is a class (or a Cython unpickle helper) that the
    package itself defines, not a function or a class it imported from elsewhere
    (``multiprocessing.connection.Client``, ``pathlib.Path``, ctypes functions).

    The installed package is imported to look; its modules are trusted code, the
    scanned file is not touched. A package that is not installed cannot be
    checked this way, and the name rule alone decides (see docs/scan.md).
    """
    package = module.split(".", 1)[0]
    if importlib.util.find_spec(package) is None:
        return True
    try:
        obj = getattr(importlib.import_module(module), name)
    except Exception:
        return False
    home = str(getattr(obj, "__module__", "") or "")
    ours = home == package or home.startswith(package + ".")
    if name.startswith("__pyx_unpickle_"):
        return ours and callable(obj)
    return ours and isinstance(obj, type)
