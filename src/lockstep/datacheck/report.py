"""What a schema check found: frozen values with explicit dict forms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TABLE = "(table)"  # the column of a failure that concerns the whole table


@dataclass(frozen=True)
class ColumnFailure:
    """One check that failed on one column.

    ``check`` is pandera's name for it (``greater_than_or_equal_to(0.0)``,
    ``dtype('int64')``, ``not_nullable``, ``column_in_dataframe`` for a missing
    column, ``column_in_schema`` for an unexpected one); ``count`` is how many
    rows fail it, or 1 for a failure of the whole column (missing, unexpected, of
    another dtype); ``examples`` are up to five distinct failing values as text
    (strings quoted, ``null`` for a missing value).
    """

    column: str
    check: str
    count: int
    examples: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "check": self.check,
            "count": self.count,
            "examples": list(self.examples),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnFailure:
        return cls(
            str(data["column"]),
            str(data["check"]),
            int(data["count"]),
            tuple(str(e) for e in data.get("examples", ())),
        )


@dataclass(frozen=True)
class SchemaReport:
    """The outcome of validating a table against a schema."""

    ok: bool
    failures: tuple[ColumnFailure, ...]
    rows: int

    @property
    def columns(self) -> list[str]:
        """The failing columns, each once, in report order."""
        return list(dict.fromkeys(f.column for f in self.failures))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": self.rows,
            "failures": [f.to_dict() for f in self.failures],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SchemaReport:
        failures = tuple(ColumnFailure.from_dict(f) for f in data.get("failures", ()))
        return cls(bool(data["ok"]), failures, int(data["rows"]))


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a schema, for display: its dtype, nullability and checks."""

    name: str
    dtype: str | None
    nullable: bool
    checks: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "nullable": self.nullable,
            "checks": list(self.checks),
        }


def first_line(exc: BaseException) -> str:
    """An exception's first line of text, or its class name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
