"""The run filter and sort languages, parsed into values (``query`` turns them into SQL).

::

    filter   := clause ("and" clause)*              "and" in any case
    clause   := field op value
    field    := ("metrics" | "params" | "tags") "." key  |  attribute
    attribute:= status | name | stage | kind | commit | user | id | parent
    key      := bare | `back-ticked`                bare: no spaces, quotes or = ! < > ,
    op       := = | != | < | <= | > | >= | like     (== and <> are accepted too)
    value    := number | 'text' | "text" | bare     backslash escapes a quote

    order_by := item ("," item)*
    item     := ["-"] (field | start_time | end_time) ["asc" | "desc"]

``metrics.KEY`` compares the latest value with a number. ``params.KEY`` compares
numerically when the value is an unquoted number (``0.1`` matches ``"0.10"``),
as text otherwise. ``like`` matches text with ``%`` (any run) and ``_`` (one
character), ignoring case. Errors are :class:`FilterError` naming the token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from lockstep.errors import FilterError
from lockstep.tracking.records import KINDS, STATUSES
from lockstep.tracking.values import number_text

FieldKind = Literal["metric", "param", "tag", "attribute"]
NAMESPACES: dict[str, FieldKind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
}
ATTRIBUTES = {
    "status": "status",
    "name": "name",
    "stage": "stage",
    "kind": "kind",
    "commit": "git_commit",
    "user": "username",
    "id": "id",
    "parent": "parent_id",
}
ORDER_ATTRIBUTES = {**ATTRIBUTES, "start_time": "start_time", "end_time": "end_time"}
OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "like")
_CHOICES = {"status": STATUSES, "kind": KINDS}

_SPACE = re.compile(r"\s*")
_FIELD = re.compile(r"([A-Za-z_]+)(?:\.(?:`([^`]*)`|([^\s=!<>'\"`,]+)))?")
_OP = re.compile(r"[=!<>]+|like(?![\w])", re.IGNORECASE)
_ALIASES = {"==": "=", "<>": "!="}
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", re.DOTALL)
_BARE = re.compile(r"[^\s'\"`]+")
_AND = re.compile(r"and(?![\w])", re.IGNORECASE)
_DIRECTION = re.compile(r"(asc|desc)(?![\w])", re.IGNORECASE)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_TOKEN = re.compile(r"[^\s=!<>]+|[=!<>]+|\S")


@dataclass(frozen=True)
class Field:
    """What a clause looks at: a metric, param or tag ``key``, or a runs column."""

    kind: FieldKind
    key: str


@dataclass(frozen=True)
class Clause:
    """``field op value``; ``number`` is set for an unquoted number (and for metrics)."""

    field: Field
    op: str
    text: str
    number: float | None


@dataclass(frozen=True)
class OrderKey:
    field: Field
    descending: bool


def quote(text: str) -> str:
    """``text`` as a quoted filter value."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def parse_filter(text: str) -> list[Clause]:
    """The clauses of ``text`` (all must hold); an empty text has none."""
    scan = _Scanner(text, "filter")
    clauses: list[Clause] = []
    if scan.done():
        return clauses
    while True:
        clauses.append(_clause(scan))
        if scan.done():
            return clauses
        if scan.take(_AND) is None:
            raise scan.error("'and' (the only way to join clauses) or the end of the filter")


def parse_order(text: str) -> list[OrderKey]:
    """The sort keys of ``text``, most significant first; an empty text has none."""
    scan = _Scanner(text, "order by")
    keys: list[OrderKey] = []
    if scan.done():
        return keys
    while True:
        keys.append(_order_item(scan))
        if scan.done():
            return keys
        if scan.take_literal(",") is None:
            raise scan.error("',' or the end of the sort keys")


class _Scanner:
    """A position in the text, skipping spaces, with errors that name the token."""

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.what = what
        self.pos = 0

    def done(self) -> bool:
        self.pos = _SPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]
        return self.pos >= len(self.text)

    def take(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        if self.done():
            return None
        found = pattern.match(self.text, self.pos)
        if found is not None:
            self.pos = found.end()
        return found

    def take_literal(self, literal: str) -> str | None:
        if not self.done() and self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return literal
        return None

    def next_token(self) -> str:
        if self.done():
            return ""
        found = _TOKEN.match(self.text, self.pos)
        return found.group(0) if found else self.text[self.pos]

    def error(self, expected: str, label: str = "unexpected") -> FilterError:
        """``<label> '<token>' at position N: expected <expected>``."""
        token = self.next_token()
        if not token:
            return self.fail(f"expected {expected}, but the text ends")
        shown = token if len(token) <= 30 else token[:29] + "…"
        return self.fail(f"{label} {shown!r} at position {self.pos + 1}: expected {expected}")

    def fail(self, problem: str) -> FilterError:
        where = f"{self.what}: " if self.what != "filter" else ""
        return FilterError(self.text, where + problem)


def _field(scan: _Scanner, attributes: dict[str, str]) -> Field:
    start = scan.pos
    found = scan.take(_FIELD)
    expected = "a field (metrics.KEY, params.KEY, tags.KEY or " + ", ".join(attributes) + ")"
    if found is None:
        raise scan.error(expected)
    name = found.group(1).lower()
    key = found.group(2) if found.group(2) is not None else found.group(3)
    if name in NAMESPACES:
        if not key:
            scan.pos = start
            raise scan.error(f"a key after {found.group(1)}. (like {name}.acc)")
        return Field(NAMESPACES[name], key)
    if key is None and name in attributes:
        return Field("attribute", attributes[name])
    scan.pos = start
    raise scan.error(expected, "unknown field")


def _clause(scan: _Scanner) -> Clause:
    field = _field(scan, ATTRIBUTES)
    start = scan.pos
    found = scan.take(_OP)
    op = "" if found is None else _ALIASES.get(found.group(0), found.group(0).lower())
    if op not in OPERATORS:
        scan.pos = start
        raise scan.error("an operator (" + " ".join(OPERATORS) + ")")
    start = scan.pos
    text, quoted = _value(scan)
    number = None if quoted else number_text(text)
    return _checked(scan, start, Clause(field, op, text, number))


def _value(scan: _Scanner) -> tuple[str, bool]:
    if scan.done():
        raise scan.error("a value (a number, 'text' or a word)")
    found = _QUOTED.match(scan.text, scan.pos)
    if found is not None:
        scan.pos = found.end()
        body = found.group(1) if found.group(1) is not None else found.group(2)
        return _ESCAPE.sub(r"\1", body), True
    if scan.text[scan.pos] in "'\"":
        raise scan.fail(f"the text starting at position {scan.pos + 1} has no closing quote")
    bare = scan.take(_BARE)
    if bare is None:
        raise scan.error("a value (a number, 'text' or a word)")
    return bare.group(0), False


def _checked(scan: _Scanner, start: int, clause: Clause) -> Clause:
    field = clause.field
    if field.kind == "metric":
        if clause.op == "like":
            raise scan.fail(f"metrics.{field.key} is a number: 'like' compares text")
        number = number_text(clause.text)
        if number is None:
            scan.pos = start
            raise scan.error(f"a number to compare metrics.{field.key} with")
        return Clause(field, clause.op, clause.text, number)
    choices = _CHOICES.get(field.key) if field.kind == "attribute" else None
    if choices and clause.op in ("=", "!=") and clause.text not in choices:
        raise scan.fail(f"{field.key} {clause.text!r} is not one of {', '.join(choices)}")
    return clause


def _order_item(scan: _Scanner) -> OrderKey:
    minus = scan.take_literal("-") is not None
    field = _field(scan, ORDER_ATTRIBUTES)
    direction = scan.take(_DIRECTION)
    if direction is None:
        return OrderKey(field, minus)
    if minus:
        raise scan.fail(f"'-' and {direction.group(0)!r} both give the direction: use one")
    return OrderKey(field, direction.group(0).lower() == "desc")
