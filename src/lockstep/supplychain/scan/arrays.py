"""How many raw bytes joblib writes after an array wrapper, worked out from the
wrapper's pickled attributes without building the array.

joblib's format is a pickle in which each numpy array is replaced by a
``joblib.numpy_pickle.NumpyArrayWrapper`` (subclass, shape, order, dtype,
alignment); right after the BUILD opcode of a wrapper come, outside the pickle,
one padding-length byte and that many padding bytes (when the wrapper has an
alignment), then the array's bytes; or, for a dtype holding Python objects, a
nested pickle of the array::

    ... NEWOBJ {shape, dtype, ...} BUILD | pad-len | pad | count*itemsize bytes | ...
    ... NEWOBJ {shape, dtype=O, ...} BUILD | nested pickle ... STOP | ...

Anything the layout cannot be worked out from exactly is unreadable: skipping
the wrong number of bytes would hide what follows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lockstep.supplychain.scan.streams import UnreadableError
from lockstep.supplychain.scan.values import Call, Global, Opaque

WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"
ALIGNMENT = "numpy_array_alignment_bytes"
_TYPESTR = re.compile(r"[<>|=]?([biufcmMOSUV])(\d+)")
_FLEXIBLE = "SUV"  # numpy takes the item size of these from the pickled state
_HASOBJECT = 0x01
_MAX_COUNT = 1 << 62


@dataclass(frozen=True)
class ArrayLayout:
    nbytes: int
    has_object: bool
    padded: bool


def is_wrapper(value: object) -> bool:
    return isinstance(value, Call) and value.instance_of == WRAPPER


def wrapper_layout(call: Call) -> ArrayLayout:
    """What follows the BUILD of the wrapper ``call``; raises UnreadableError."""
    _check_built_without_init(call)
    count = _count(call.attrs.get("shape"))
    itemsize, has_object = dtype_layout(call.attrs.get("dtype"))
    return ArrayLayout(count * itemsize, has_object, _padded(call.attrs))


def _check_built_without_init(call: Call) -> None:
    func = call.func
    assert isinstance(func, Global)
    if func.dotted == WRAPPER and call.how in ("NEWOBJ", "NEWOBJ_EX"):
        return
    if func.dotted == "copyreg.__newobj__":
        return
    base = call.args[1] if isinstance(call.args, tuple) and len(call.args) == 3 else None
    object_new = isinstance(base, Global) and base.dotted == "builtins.object"
    if func.dotted == "copyreg._reconstructor" and object_new:  # object.__new__: no __init__
        return
    raise UnreadableError(f"a joblib array wrapper made by {call.how} of {func.dotted}")


def _count(shape: object) -> int:
    if not isinstance(shape, tuple | list) or not all(isinstance(n, int) for n in shape):
        raise UnreadableError("a joblib array wrapper without a literal shape")
    count = 1
    for n in shape:
        if n < 0:
            raise UnreadableError(f"a joblib array of negative shape {shape!r}")
        count *= n
        if count > _MAX_COUNT:
            raise UnreadableError(f"a joblib array of impossible shape {shape!r}")
    return count


def dtype_layout(dtype: object) -> tuple[int, bool]:
    """(item size, holds Python objects) of a pickled ``numpy.dtype(...)``."""
    if not (isinstance(dtype, Call) and isinstance(dtype.func, Global)):
        raise UnreadableError("a joblib array wrapper without a literal dtype")
    args = dtype.args
    typestr = args[0] if isinstance(args, tuple) and args else None
    match = _TYPESTR.fullmatch(typestr) if isinstance(typestr, str) else None
    if dtype.func.dotted != "numpy.dtype" or match is None:
        raise UnreadableError(f"a joblib array of a dtype lockstep does not read: {typestr!r}")
    kind, digits = match.group(1), int(match.group(2))
    itemsize = digits * 4 if kind == "U" else digits
    flags = 0x3F if kind == "O" else 0
    if dtype.state is not None:
        itemsize, flags = _from_state(dtype.state, kind, itemsize)
    has_object = bool(flags & _HASOBJECT)
    if kind == "O" and not has_object:
        raise UnreadableError("an object dtype whose flags say it holds no objects")
    if itemsize <= 0:
        raise UnreadableError(f"a joblib array of item size {itemsize}")
    return itemsize, has_object


def _from_state(state: object, kind: str, itemsize: int) -> tuple[int, int]:
    if not isinstance(state, tuple) or len(state) < 8:
        raise UnreadableError("a dtype state lockstep does not read")
    elsize, flags = state[5], state[7]
    if not isinstance(elsize, int) or not isinstance(flags, int):
        raise UnreadableError("a dtype state lockstep does not read")
    if -128 <= flags < 0:  # numpy once pickled the flags as a signed char
        flags += 128
    return (elsize if kind in _FLEXIBLE else itemsize), flags


def _padded(attrs: dict[object, object]) -> bool:
    value = attrs.get(ALIGNMENT)
    if isinstance(value, Opaque):
        raise UnreadableError("a joblib array wrapper whose alignment is not a literal")
    return value is not None
