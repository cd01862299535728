"""The scan corpus: real benign model files, and malicious pickles written opcode by
opcode or by ``pickle.dumps`` of objects whose ``__reduce__`` names a dangerous
callable. Nothing here ever loads a malicious sample: every payload would create
the marker file if it ran, and the tests check that the marker never appears."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import runpy
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# --- a tiny pickle assembler ----------------------------------------------------------

PROTO = b"\x80"
MARK = b"("
STOP = b"."
POP = b"0"
TUPLE = b"t"
TUPLE1 = b"\x85"
TUPLE2 = b"\x86"
REDUCE = b"R"
BUILD = b"b"
NEWOBJ = b"\x81"
EMPTY_TUPLE = b")"
EMPTY_DICT = b"}"
SETITEMS = b"u"
MEMOIZE = b"\x94"
STACK_GLOBAL = b"\x93"
NONE = b"N"


def proto(n: int) -> bytes:
    return PROTO + bytes([n])


def text(value: str) -> bytes:
    """SHORT_BINUNICODE."""
    raw = value.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def data(value: bytes) -> bytes:
    """SHORT_BINBYTES."""
    return b"C" + bytes([len(value)]) + value


def small_int(value: int) -> bytes:
    return b"K" + bytes([value])


def binput(index: int) -> bytes:
    return b"q" + bytes([index])


def binget(index: int) -> bytes:
    return b"h" + bytes([index])


def stack_global(module: str, name: str) -> bytes:
    return text(module) + text(name) + STACK_GLOBAL


def global_text(module: str, name: str) -> bytes:
    """GLOBAL, the text opcode of protocols 0 and 1."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def call(func: bytes, *args: bytes) -> bytes:
    return func + MARK + b"".join(args) + TUPLE + REDUCE


class Reduce:
    """An object that pickles as ``func(*args)``: what a malicious pickle is."""

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        self.func = func
        self.args = args

    def __reduce__(self) -> tuple[Any, ...]:
        return self.func, self.args


# --- the samples ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    name: str
    path: Path
    why: str  # for a malicious sample: what the scan must flag


def _write(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


def malicious(folder: Path, marker: Path) -> list[Sample]:
    """At least 15 pickles that would run code (create ``marker``) when loaded."""
    folder.mkdir(parents=True, exist_ok=True)
    touch = f"touch {marker}"
    py_touch = f"open({str(marker)!r}, 'w').close()"
    script = folder / "payload_script.py"
    script.write_text(py_touch + "\n")
    samples = []

    def add(name: str, content: bytes, why: str) -> None:
        samples.append(Sample(name, _write(folder, name, content), why))

    add("os_system_p0.pkl", pickle.dumps(Reduce(os.system, touch), protocol=0), "posix.system")
    add(
        "os_system_text.pkl",
        call(global_text("os", "system"), b"S'" + touch.encode() + b"'\n") + STOP,
        "os.system",
    )
    add(
        "subprocess_check_output_p1.pkl",
        pickle.dumps(Reduce(subprocess.check_output, ["touch", str(marker)]), protocol=1),
        "subprocess.check_output",
    )
    add(
        "subprocess_popen_p2.pkl",
        pickle.dumps(Reduce(subprocess.Popen, ["touch", str(marker)]), protocol=2),
        "subprocess.Popen",
    )
    add("eval_p3.pkl", pickle.dumps(Reduce(eval, py_touch), protocol=3), "builtins.eval")
    add("exec_p4.pkl", pickle.dumps(Reduce(exec, py_touch), protocol=4), "builtins.exec")
    add(
        "getattr_chain_p5.pkl",
        proto(5)
        + call(
            call(
                stack_global("builtins", "getattr"),
                call(stack_global("builtins", "__import__"), text("os")),
                text("system"),
            ),
            text(touch),
        )
        + STOP,
        "builtins.getattr",
    )
    add(
        "builtin_import_p2.pkl",
        pickle.dumps(Reduce(__import__, "os"), protocol=2),
        "builtins.__import__",
    )
    add(
        "importlib_p4.pkl",
        proto(4) + call(stack_global("importlib", "import_module"), text("os")) + STOP,
        "importlib.import_module",
    )
    add(
        "runpy_p3.pkl",
        pickle.dumps(Reduce(runpy.run_path, str(script)), protocol=3),
        "runpy.run_path",
    )
    inner = pickle.dumps(Reduce(os.system, touch), protocol=2)
    add(
        "nested_pickle_loads.pkl",
        pickle.dumps(Reduce(pickle.loads, inner), protocol=4),
        "_pickle.loads",
    )
    add(
        "nested_private_pickle.pkl",
        proto(5) + call(stack_global("_pickle", "loads"), data(inner)) + STOP,
        "_pickle.loads",
    )
    add(
        "inst_opcode_p0.pkl",
        MARK + b"S'" + touch.encode() + b"'\n" + b"ios\nsystem\n" + STOP,
        "os.system",
    )
    # opcode sequences, one step a line
    # fmt: off
    add(
        "obj_opcode_p1.pkl",
        MARK + global_text("os", "system")
        + b"X" + len(touch).to_bytes(4, "little") + touch.encode()  # BINUNICODE
        + b"o" + STOP,  # OBJ
        "os.system",
    )
    add(
        "memo_split_p4.pkl",
        proto(4)
        + text("posix") + binput(0) + POP  # the module name, kept in the memo
        + text("numpy") + MEMOIZE + POP  # a decoy at memo index 1
        + binget(0) + text("system") + STACK_GLOBAL
        + MARK + text(touch) + TUPLE + REDUCE + STOP,
        "posix.system",
    )
    add(
        "memo_overwrite_p4.pkl",
        proto(4)
        + text("numpy") + binput(0) + POP  # index 0 looks harmless ...
        + text("os") + binput(0) + POP  # ... until it is overwritten
        + binget(0) + text("system") + STACK_GLOBAL
        + MARK + text(touch) + TUPLE + REDUCE + STOP,
        "os.system",
    )
    add(
        "computed_module_name.pkl",
        proto(4)
        + call(stack_global("builtins", "str"), data(b"os"), text("ascii"))  # "os", made at load
        + text("system") + STACK_GLOBAL
        + MARK + text(touch) + TUPLE + REDUCE + STOP,
        "computed-import",
    )
    # fmt: on
    add(
        "dotted_name_in_allowed_package.pkl",
        proto(4) + call(stack_global("sklearn.base", "os.system"), text(touch)) + STOP,
        "sklearn.base.os.system",
    )
    add(
        "numpy_runstring.pkl",
        proto(4)
        + call(stack_global("numpy.testing._private.utils", "runstring"), text(py_touch), b"}")
        + STOP,
        "numpy.testing._private.utils.runstring",
    )
    add(
        "python2_builtin_eval_p0.pkl",
        call(global_text("__builtin__", "eval"), b"S'" + py_touch.encode() + b"'\n") + STOP,
        "builtins.eval",
    )
    add("extension_code.pkl", proto(2) + b"\x82\x01" + MARK + TUPLE + REDUCE + STOP, "extension")
    add(
        "torch_style.pt",
        _zip({"archive/data.pkl": inner, "archive/data/0": b"\0" * 16, "archive/version": b"3\n"}),
        "posix.system",
    )
    add("joblib_reduce.joblib", _joblib_dump(Reduce(os.system, touch)), "posix.system")
    add(
        "joblib_gzip.joblib",
        _joblib_dump(Reduce(os.system, touch), compress=("gzip", 3)),
        "posix.system",
    )
    add("raw_bytes_polyglot.joblib", _polyglot(touch), "posix.system")
    return samples


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _joblib_dump(value: Any, compress: Any = 0) -> bytes:
    import joblib
    import numpy as np

    buffer = io.BytesIO()
    joblib.dump({"weights": np.arange(6.0), "hook": value}, buffer, compress=compress)
    return buffer.getvalue()


def _polyglot(touch: str) -> bytes:
    """A joblib array wrapper without alignment whose 'array bytes' are a pickle
    payload: joblib.load skips them as data, pickle.load runs them."""
    payload = call(global_text("posix", "system"), text(touch)) + STOP
    dtype = call(stack_global("numpy", "dtype"), text("u1"), b"\x89", b"\x88")
    # fmt: off
    state = (
        EMPTY_DICT + MARK
        + text("subclass") + stack_global("numpy", "ndarray")
        + text("shape") + small_int(len(payload)) + TUPLE1
        + text("order") + text("C")
        + text("dtype") + dtype
        + SETITEMS
    )
    # fmt: on
    wrapper = stack_global("joblib.numpy_pickle", "NumpyArrayWrapper") + EMPTY_TUPLE + NEWOBJ
    return proto(4) + wrapper + state + BUILD + payload + STOP


# --- benign -----------------------------------------------------------------------------


def _training_data() -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    return x, y


def _estimators() -> dict[str, Any]:
    import lightgbm
    import xgboost
    from sklearn.cluster import KMeans
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    x, y = _training_data()
    return {
        "logistic_regression": LogisticRegression().fit(x, y),
        "random_forest": RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y),
        "gradient_boosting": GradientBoostingClassifier(n_estimators=3, random_state=0).fit(x, y),
        "hist_gradient_boosting": HistGradientBoostingClassifier(max_iter=3).fit(x, y),
        "pipeline": Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(
            x, y
        ),
        "kmeans": KMeans(n_clusters=2, n_init=1, random_state=0).fit(x),
        "one_hot": OneHotEncoder().fit([["a"], ["b"]]),
        "xgboost": xgboost.XGBClassifier(n_estimators=2, max_depth=2).fit(x, y),
        "lightgbm": lightgbm.LGBMClassifier(n_estimators=2, verbose=-1).fit(x, y),
    }


def _arrays() -> dict[str, Any]:
    import numpy as np
    import scipy.sparse as sp

    return {
        "float": np.linspace(0, 1, 12).reshape(3, 4),
        "int": np.arange(10, dtype="int8"),
        "big_endian": np.arange(5, dtype=">u4"),
        "complex": np.ones(3, dtype="complex128"),
        "bool": np.array([True, False]),
        "text": np.array(["ab", "cde"]),
        "bytes": np.array([b"x", b"yz"]),
        "dates": np.array(["2024-01-01"], dtype="datetime64[s]"),
        "record": np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "empty": np.zeros((0, 3)),
        "objects": np.array([1, "x", None], dtype=object),
        "scalar": np.float64(1.5),
        "sparse": sp.csr_matrix(np.eye(3)),
        "random_state": np.random.RandomState(0),
        "generator": np.random.default_rng(1),
    }


def _plain() -> dict[str, Any]:
    import collections

    return {
        "list": [1, 2.5, "x", None, True],
        "tuple": (1, (2, 3)),
        "set": {1, 2},
        "frozenset": frozenset({3}),
        "bytes": b"\x00\x01",
        "bytearray": bytearray(b"ab"),
        "complex": 3j,
        "range": range(3),
        "ordered": collections.OrderedDict(a=1),
        "default": collections.defaultdict(list, {"k": [1]}),
    }


def benign(folder: Path) -> list[Sample]:
    """At least 10 real model files, all safe to load."""
    import joblib

    folder.mkdir(parents=True, exist_ok=True)
    samples = []

    def add(name: str, content: bytes) -> None:
        samples.append(Sample(name, _write(folder, name, content), "benign"))

    estimators = _estimators()
    protocols = {"logistic_regression": 5, "random_forest": 4, "kmeans": 2, "one_hot": 3}
    protocols |= {"hist_gradient_boosting": 0, "pipeline": 1, "xgboost": 5, "lightgbm": 4}
    for name, protocol in protocols.items():
        add(f"{name}_p{protocol}.pkl", pickle.dumps(estimators[name], protocol=protocol))
    for name in ("gradient_boosting", "xgboost", "lightgbm", "random_forest"):
        buffer = io.BytesIO()
        joblib.dump(estimators[name], buffer)
        add(f"{name}.joblib", buffer.getvalue())
    for compress in ("zlib", "gzip", "bz2", "xz", "lzma"):
        buffer = io.BytesIO()
        joblib.dump(estimators["pipeline"], buffer, compress=(compress, 3))
        add(f"pipeline_{compress}.joblib", buffer.getvalue())
    buffer = io.BytesIO()
    joblib.dump(_arrays(), buffer, protocol=0)
    add("arrays_p0.joblib", buffer.getvalue())
    for protocol in range(6):
        add(f"arrays_p{protocol}.pkl", pickle.dumps(_arrays(), protocol=protocol))
        add(f"plain_p{protocol}.pkl", pickle.dumps(_plain(), protocol=protocol))
    buffer = io.BytesIO()
    joblib.dump(_arrays(), buffer)
    add("arrays.joblib", buffer.getvalue())
    add("arrays.pkl.gz", gzip.compress(pickle.dumps(_arrays(), protocol=4)))
    add("torch_style.pt", _zip(_torch_members()))
    return samples


def _torch_members() -> dict[str, bytes]:
    """What torch.save writes for {"weight": a 2x2 float tensor}, written by hand:
    the tensor is _rebuild_tensor_v2 of a persistent storage ("archive/data/0")."""
    storage = MARK + text("storage") + stack_global("torch", "FloatStorage") + text("0")
    storage += text("cpu") + small_int(4) + TUPLE + b"Q"  # BINPERSID
    ordered = call(stack_global("collections", "OrderedDict"))
    tensor = call(
        stack_global("torch._utils", "_rebuild_tensor_v2"),
        storage,
        small_int(0),
        small_int(2) + small_int(2) + TUPLE2,
        small_int(2) + small_int(1) + TUPLE2,
        b"\x89",  # requires_grad False
        ordered,
    )
    state = ordered + MARK + text("weight") + tensor + SETITEMS
    return {
        "archive/data.pkl": proto(2) + state + STOP,
        "archive/data/0": b"\0" * 16,
        "archive/version": b"3\n",
        "archive/byteorder": b"little",
    }
