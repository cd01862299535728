"""What the pickle scanner puts on its stack instead of real objects.

Literals (str, bytes, int, float, None, bool) and containers (tuple, list, dict,
set) are kept as themselves, built from literals and the symbols below; nothing
is ever imported or called.
"""

from __future__ import annotations

from typing import Any


class Global:
    """A global the pickle imports: ``module.name``."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.name}"

    def __repr__(self) -> str:
        return f"Global({self.dotted})"


class Call:
    """What calling ``func`` (REDUCE, NEWOBJ, INST, OBJ) would return. ``attrs`` and
    ``state`` collect what BUILD later sets on it; ``how`` is the opcode."""

    __slots__ = ("args", "attrs", "func", "how", "state")

    def __init__(self, func: object, args: object, how: str) -> None:
        self.func = func
        self.args = args
        self.how = how
        self.attrs: dict[Any, object] = {}
        self.state: object = None

    @property
    def instance_of(self) -> str | None:
        """The class this call instantiates, when it visibly does."""
        if not isinstance(self.func, Global):
            return None
        if self.func.dotted in _CONSTRUCTORS:
            first = self.args[0] if isinstance(self.args, tuple) and self.args else None
            return first.dotted if isinstance(first, Global) else None
        return self.func.dotted

    def __repr__(self) -> str:
        return f"Call({self.func!r}, {self.how})"


class Opaque:
    """A value the scanner does not model (a persistent id, an out-of-band buffer)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Opaque()"


# callables whose first argument is the class they instantiate
_CONSTRUCTORS = frozenset({"copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__"})
