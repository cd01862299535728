"""A pickle machine that moves symbols instead of objects.

It walks the opcodes ``pickletools.genops`` yields and keeps the unpickler's
stack, mark stack and memo exactly as ``pickle.Unpickler`` would, with strings,
numbers and containers as themselves and every import or call as a symbol
(:mod:`lockstep.supplychain.scan.values`). So it knows what ``STACK_GLOBAL``
imports even when the module and name come from the memo, and nothing is ever
imported or called. Each import is checked against the allowlist when it
happens, whether or not it is called later.
"""

from __future__ import annotations

import _compat_pickle
import contextlib
import io
import pickletools
from collections.abc import Callable
from typing import Any

from lockstep.supplychain.scan import arrays
from lockstep.supplychain.scan.allowlist import Allowlist
from lockstep.supplychain.scan.report import Finding
from lockstep.supplychain.scan.streams import ByteStream, UnreadableError
from lockstep.supplychain.scan.values import Call, Global, Opaque

# callables whose bytes argument is itself a pickle: scanned as well
NESTED_LOADS = frozenset({"pickle.loads", "pickle._loads", "_pickle.loads", "dill.loads"})
MAX_DEPTH = 8
_LITERAL_OPS = frozenset(
    {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT"}
    | {"UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8"}
    | {"BINBYTES", "SHORT_BINBYTES", "BINBYTES8"}
)
_TEXT_OPS = frozenset({"STRING", "BINSTRING", "SHORT_BINSTRING"})
_CONSTANTS: dict[str, object] = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_EMPTY: dict[str, Callable[[], object]] = {
    "EMPTY_LIST": list,
    "EMPTY_DICT": dict,
    "EMPTY_TUPLE": tuple,
    "EMPTY_SET": set,
}
_AS_PICKLE_LOAD = " (as pickle.load would read it: it takes joblib's array bytes for opcodes)"
_NO_EFFECT = frozenset({"READONLY_BUFFER"})
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})


class Machine:
    """One unpickler's state. ``joblib`` reads joblib's raw array bytes after each
    array wrapper; without it the bytes are read as opcodes, as ``pickle.load``
    would, and the rest of the stream is only a guess (``speculative``)."""

    def __init__(
        self,
        stream: ByteStream,
        file: str,
        allow: Allowlist,
        *,
        where: str = "",
        joblib: bool = False,
        depth: int = 0,
    ) -> None:
        self.stream = stream
        self.file = file
        self.allow = allow
        self.where = where
        self.joblib = joblib
        self.depth = depth
        self.findings: list[Finding] = []
        self.memo: dict[int, object] = {}
        self.stack: list[object] = []
        self.metastack: list[list[object]] = []
        self.proto = 0
        self.pos = 0
        self.saw_wrapper = False
        self.speculative = False
        self.note = ""  # appended to each finding's detail
        self.frame_end = 0  # where the current protocol 4 frame ends

    # --- running ------------------------------------------------------------------

    def load(self) -> None:
        """One ``pickle.load``: opcodes up to STOP. Raises UnreadableError."""
        self.stack, self.metastack, self.proto = [], [], 0
        try:
            for opcode, arg, pos in pickletools.genops(self.stream):  # type: ignore[arg-type]
                self.pos = pos or 0
                self.step(opcode.name, arg)
        except (ValueError, IndexError, KeyError, TypeError, EOFError, RecursionError) as exc:
            raise UnreadableError(f"not a valid pickle at offset {self.pos}: {exc}") from exc

    def step(self, name: str, arg: Any) -> None:
        if name in _LITERAL_OPS:
            self.stack.append(arg)
        elif name in _TEXT_OPS:  # pickle decodes these to str by default
            self.stack.append(arg.decode("latin-1") if isinstance(arg, bytes) else arg)
        elif name in _CONSTANTS:
            self.stack.append(_CONSTANTS[name])
        elif name in _EMPTY:
            self.stack.append(_EMPTY[name]())
        elif name in _GET_OPS:
            self.stack.append(self.memo[arg])
        elif name in _PUT_OPS:
            self._put(arg)
        elif name not in _NO_EFFECT:
            _HANDLERS[name](self, arg)

    # --- the finding side -----------------------------------------------------------

    def here(self) -> str:
        return f"{self.where}offset {self.pos}"

    def flag(self, kind: str, detail: str, opcode: str = "", name: str = "") -> None:
        self.findings.append(
            Finding(self.file, self.here(), kind, detail + self.note, opcode, name)
        )

    def import_global(self, opcode: str, module: str, name: str) -> Global:
        shown = f"{module}.{name}"
        if self.proto < 3:  # what pickle's fix_imports does for Python 2 names
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        target = Global(module, name)
        if target.dotted != shown:
            shown = f"{shown} (read as {target.dotted})"
        refusal = self.allow.refusal(module, name)
        if refusal:
            self.flag("import", f"{opcode} {shown}: {refusal}", opcode, target.dotted)
        return target

    def check_callable(self, opcode: str, func: object) -> None:
        if not isinstance(func, Global):
            self.flag(
                "call",
                f"{opcode} calls {_kind(func)}, not an imported global: cannot tell what it runs",
                opcode,
            )

    # --- stack helpers --------------------------------------------------------------

    def pop(self) -> object:
        if not self.stack:
            raise UnreadableError(f"stack underflow at offset {self.pos}")
        return self.stack.pop()

    def top(self) -> object:
        if not self.stack:
            raise UnreadableError(f"empty stack at offset {self.pos}")
        return self.stack[-1]

    def pop_mark(self) -> list[object]:
        if not self.metastack:
            raise UnreadableError(f"no MARK to pop at offset {self.pos}")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def _put(self, index: int) -> None:
        if index < 0:
            raise UnreadableError(f"negative memo index at offset {self.pos}")
        self.memo[index] = self.top()

    # --- nested pickles ---------------------------------------------------------------

    def nested(self, stream: ByteStream, label: str, *, joblib: bool) -> Machine:
        """Scan the pickle that starts at the stream's position (a fresh unpickler)."""
        inner = Machine(
            stream,
            self.file,
            self.allow,
            where=f"{self.here()} > {label}, ",
            joblib=joblib,
            depth=self.depth + 1,
        )
        if inner.depth > MAX_DEPTH:
            raise UnreadableError(f"pickles nested more than {MAX_DEPTH} deep")
        try:
            inner.load()
        finally:
            self.findings.extend(inner.findings)
        return inner

    def maybe_nested_loads(self, func: object, args: object) -> None:
        if not (isinstance(func, Global) and func.dotted in NESTED_LOADS):
            return
        data = args[0] if isinstance(args, tuple) and args else None
        if isinstance(data, bytes | bytearray):
            stream = ByteStream(io.BytesIO(bytes(data)))
            with contextlib.suppress(UnreadableError):  # the finding for loads itself stands
                self.nested(stream, "nested pickle", joblib=False)

    # --- joblib ----------------------------------------------------------------------

    def after_build(self, inst: object) -> None:
        if not arrays.is_wrapper(inst):
            return
        self.saw_wrapper = True
        if not self.joblib:
            self.speculative, self.note = True, _AS_PICKLE_LOAD
            return
        assert isinstance(inst, Call)
        if self.stream.tell() < self.frame_end:  # joblib would read the array after the frame
            raise UnreadableError(f"a joblib array wrapper inside a frame at offset {self.pos}")
        layout = arrays.wrapper_layout(inst)
        if layout.has_object:
            self.nested(self.stream, "object array pickle", joblib=False)
        else:
            self._skip_array(layout)
        self.stack[-1] = Opaque()  # joblib replaces the wrapper by the array

    def _skip_array(self, layout: arrays.ArrayLayout) -> None:
        if layout.padded:
            pad = self.stream.read(1)
            if not pad or not self.stream.skip(pad[0]):
                raise UnreadableError(f"truncated joblib array padding at offset {self.pos}")
        if not self.stream.skip(layout.nbytes):
            raise UnreadableError(f"truncated joblib array at offset {self.pos}")


def _kind(value: object) -> str:
    if isinstance(value, Call):
        return "the result of another call"
    if isinstance(value, Opaque):
        return "a value the pickle builds at load time"
    return f"a {type(value).__name__}"


# --- opcode handlers (the others are in Machine.step) -------------------------------


def _mark(m: Machine, _: Any) -> None:
    m.metastack.append(m.stack)
    m.stack = []


def _tuple(m: Machine, _: Any) -> None:
    items = m.pop_mark()  # first: it replaces m.stack
    m.stack.append(tuple(items))


def _tuple_n(size: int) -> Callable[[Machine, Any], None]:
    def handler(m: Machine, _: Any) -> None:
        items = [m.pop() for _ in range(size)]
        m.stack.append(tuple(reversed(items)))

    return handler


def _list(m: Machine, _: Any) -> None:
    items = m.pop_mark()
    m.stack.append(list(items))


def _dict(m: Machine, _: Any) -> None:
    items = m.pop_mark()
    m.stack.append({items[i]: items[i + 1] for i in range(0, len(items), 2)})


def _frozenset(m: Machine, _: Any) -> None:
    items = m.pop_mark()
    m.stack.append(frozenset(items))


def _append(m: Machine, _: Any) -> None:
    value = m.pop()
    target = m.top()
    _no_global_target(m, target, "APPEND")
    if isinstance(target, list):
        target.append(value)


def _appends(m: Machine, _: Any) -> None:
    items = m.pop_mark()
    target = m.top()
    _no_global_target(m, target, "APPENDS")
    if isinstance(target, list):
        target.extend(items)


def _setitem(m: Machine, _: Any) -> None:
    value = m.pop()
    key = m.pop()
    target = m.top()
    _no_global_target(m, target, "SETITEM")
    if isinstance(target, dict):
        target[key] = value


def _setitems(m: Machine, _: Any) -> None:
    items = m.pop_mark()
    target = m.top()
    _no_global_target(m, target, "SETITEMS")
    for i in range(0, len(items), 2):
        if isinstance(target, dict):
            target[items[i]] = items[i + 1]


def _no_global_target(m: Machine, target: Any, opcode: str) -> None:
    """Adding to an imported object changes that object for the whole process
    (a module-level list or dict of an allowed package): never allowed."""
    if isinstance(target, Global):
        m.flag(
            "build", f"{opcode} changes the imported {target.dotted} itself", opcode, target.dotted
        )


def _additems(m: Machine, _: Any) -> None:
    items = m.pop_mark()
    target = m.top()
    if isinstance(target, set):
        target.update(items)


def _pop(m: Machine, _: Any) -> None:
    if m.stack:
        m.stack.pop()
    else:
        m.pop_mark()


def _pop_mark(m: Machine, _: Any) -> None:
    m.pop_mark()


def _dup(m: Machine, _: Any) -> None:
    m.stack.append(m.top())


def _memoize(m: Machine, _: Any) -> None:
    m.memo[len(m.memo)] = m.top()


def _persid(m: Machine, _: Any) -> None:
    m.stack.append(Opaque())


def _binpersid(m: Machine, _: Any) -> None:
    m.pop()
    m.stack.append(Opaque())


def _bytearray8(m: Machine, arg: Any) -> None:
    m.stack.append(bytearray(arg))


def _next_buffer(m: Machine, _: Any) -> None:
    m.stack.append(Opaque())


def _frame(m: Machine, arg: Any) -> None:
    m.frame_end = m.stream.tell() + arg


def _proto(m: Machine, arg: Any) -> None:
    m.proto = arg


def _global(m: Machine, arg: Any) -> None:
    module, _, name = str(arg).partition(" ")
    m.stack.append(m.import_global("GLOBAL", module, name))


def _stack_global(m: Machine, _: Any) -> None:
    name = m.pop()
    module = m.pop()
    if isinstance(module, str) and isinstance(name, str):
        m.stack.append(m.import_global("STACK_GLOBAL", module, name))
        return
    m.flag(
        "computed-import",
        f"STACK_GLOBAL imports a module or name made at load time ({_kind(module)}, "
        f"{_kind(name)}): cannot tell what it imports",
        "STACK_GLOBAL",
    )
    m.stack.append(Opaque())


def _inst(m: Machine, arg: Any) -> None:
    module, _, name = str(arg).partition(" ")
    cls = m.import_global("INST", module, name)
    args = tuple(m.pop_mark())
    m.stack.append(Call(cls, args, "INST"))


def _obj(m: Machine, _: Any) -> None:
    args = m.pop_mark()
    if not args:
        raise UnreadableError(f"OBJ without a class at offset {m.pos}")
    m.check_callable("OBJ", args[0])
    m.stack.append(Call(args[0], tuple(args[1:]), "OBJ"))


def _newobj(m: Machine, _: Any) -> None:
    args = m.pop()
    cls = m.pop()
    m.check_callable("NEWOBJ", cls)
    m.stack.append(Call(cls, args, "NEWOBJ"))


def _newobj_ex(m: Machine, _: Any) -> None:
    m.pop()  # keyword arguments
    args = m.pop()
    cls = m.pop()
    m.check_callable("NEWOBJ_EX", cls)
    m.stack.append(Call(cls, args, "NEWOBJ_EX"))


def _reduce(m: Machine, _: Any) -> None:
    args = m.pop()
    func = m.top()
    m.check_callable("REDUCE", func)
    m.maybe_nested_loads(func, args)
    m.stack[-1] = Call(func, args, "REDUCE")


def _build(m: Machine, _: Any) -> None:
    state = m.pop()
    inst = m.top()
    if isinstance(inst, Global):
        m.flag(
            "build",
            f"BUILD sets attributes of the imported {inst.dotted} itself",
            "BUILD",
            inst.dotted,
        )
    elif isinstance(inst, Call):
        _set_state(inst, state)
        m.after_build(inst)


def _set_state(inst: Call, state: object) -> None:
    slots: object = None
    if isinstance(state, tuple) and len(state) == 2:
        state, slots = state
    for part in (state, slots):
        if isinstance(part, dict):
            inst.attrs.update(part)
        elif part is not None:
            inst.state = part


def _ext(m: Machine, arg: Any) -> None:
    m.flag(
        "extension",
        f"extension code {arg} imports whatever the loading process registered under "
        "it (copyreg): cannot tell what it imports",
        "EXT",
    )
    m.stack.append(Opaque())


def _stop(m: Machine, _: Any) -> None:
    m.pop()


_HANDLERS: dict[str, Callable[[Machine, Any], None]] = {
    "MARK": _mark,
    "TUPLE": _tuple,
    "TUPLE1": _tuple_n(1),
    "TUPLE2": _tuple_n(2),
    "TUPLE3": _tuple_n(3),
    "LIST": _list,
    "DICT": _dict,
    "FROZENSET": _frozenset,
    "APPEND": _append,
    "APPENDS": _appends,
    "SETITEM": _setitem,
    "SETITEMS": _setitems,
    "ADDITEMS": _additems,
    "POP": _pop,
    "POP_MARK": _pop_mark,
    "DUP": _dup,
    "MEMOIZE": _memoize,
    "PERSID": _persid,
    "BINPERSID": _binpersid,
    "BYTEARRAY8": _bytearray8,
    "NEXT_BUFFER": _next_buffer,
    "PROTO": _proto,
    "FRAME": _frame,
    "GLOBAL": _global,
    "STACK_GLOBAL": _stack_global,
    "INST": _inst,
    "OBJ": _obj,
    "NEWOBJ": _newobj,
    "NEWOBJ_EX": _newobj_ex,
    "REDUCE": _reduce,
    "BUILD": _build,
    "EXT1": _ext,
    "EXT2": _ext,
    "EXT4": _ext,
    "STOP": _stop,
}
