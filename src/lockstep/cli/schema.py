"""``data infer-schema`` and ``data validate``: pandera schemas for CSV and Parquet data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from lockstep.cli.app import JSON_OPTION, echo, emit_json
from lockstep.errors import OperationError, PathError, SchemaCheckFailedError

if TYPE_CHECKING:
    from lockstep.datacheck import ColumnFailure, ColumnSpec

data_app = typer.Typer(
    name="data",
    help="Check tabular data (CSV, Parquet) against a pandera schema.",
    no_args_is_help=True,
)

_IS_A_FOLDER = "is a folder: name a schema file with --out"

PATH = typer.Argument(
    ...,
    metavar="PATH",
    help="A .csv, .parquet or .pq file, or a folder: every such file below it, as one table.",
)


@data_app.command("infer-schema")
def infer_schema(
    path: Path = PATH,
    out: Path | None = typer.Option(
        None, "--out", "-o", metavar="FILE", help="Where to write (default: PATH.schema.yaml)."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Write a schema for the data: dtypes, nullability, ranges.

    The schema is pandera's YAML (DataFrameSchema.from_yaml reads it): each
    column's dtype, whether it may hold nulls, the observed minimum and maximum
    of numbers and dates, the categories of categoricals; strict, so columns
    the schema does not list fail. Edit it to widen ranges, then commit it.
    """
    from lockstep import datacheck

    target = out if out is not None else datacheck.schema_path_for(path)
    if target.is_dir():  # refused before the data is read
        raise PathError(str(target), _IS_A_FOLDER)
    files = datacheck.files_under(path)
    frame = datacheck.load_table(files)
    text = datacheck.infer_schema(frame, str(path))
    _write(target, text)
    columns = datacheck.schema_columns(text, str(target))
    if json_output:
        emit_json(
            {
                "schema": str(target),
                "rows": len(frame),
                "files": [name for name, _ in files],
                "columns": [c.to_dict() for c in columns],
            }
        )
        return
    checks = sum(len(c.checks) for c in columns)
    echo(
        f"Wrote {target}: {len(columns)} column(s), {checks} check(s), "
        f"from {len(frame)} row(s) in {len(files)} file(s)"
    )
    _print_columns(columns)


@data_app.command("validate")
def validate(
    path: Path = PATH,
    schema: Path = typer.Option(
        ..., "--schema", "-s", metavar="FILE", help="The schema file (pandera YAML)."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Check the data against a schema; exit 1 listing what fails.

    Every failure is collected: per column, the check (a dtype, not_nullable,
    a range, column_in_dataframe for a missing column, column_in_schema for an
    unexpected one), how many rows fail it and up to 5 failing values. With
    --json, the failures as a list of objects ([] when the data passes).
    """
    from lockstep import datacheck

    text = datacheck.read_schema_text(schema)
    datacheck.load_schema(text, str(schema))  # a bad schema is reported before data is read
    files = datacheck.files_under(path)
    report = datacheck.validate(datacheck.load_table(files), text, str(schema))
    if json_output:
        emit_json([f.to_dict() for f in report.failures])
    elif report.ok:
        echo(f"OK: {path} ({report.rows} row(s), {len(files)} file(s)) matches {schema}")
    else:
        _print_failures(report.failures)
    if not report.ok:
        raise SchemaCheckFailedError(str(path), str(schema), report.columns, len(report.failures))


def _write(target: Path, text: str) -> None:
    """Write the schema; errors name ``target``, not its temporary file."""
    from lockstep.fs import atomic_write_text

    try:
        atomic_write_text(target, text)
    except IsADirectoryError as exc:
        raise PathError(str(target), _IS_A_FOLDER) from exc
    except (NotADirectoryError, FileExistsError) as exc:  # a part of the path is a file
        files = [p for p in target.parents if p.exists() and not p.is_dir()]
        problem = f"{files[-1]} is a file, not a folder" if files else str(exc.strerror or exc)
        raise PathError(str(target), f"cannot be written: {problem}") from exc
    except OSError as exc:
        raise OperationError(f"{target}: cannot be written: {exc.strerror or exc}") from exc


def _print_columns(columns: Sequence[ColumnSpec]) -> None:
    rows = [
        (c.name, c.dtype or "any", "yes" if c.nullable else "no", ", ".join(c.checks) or "-")
        for c in columns
    ]
    _table(("column", "dtype", "nullable", "checks"), rows)


def _print_failures(failures: Sequence[ColumnFailure]) -> None:
    rows = [(f.column, f.check, str(f.count), ", ".join(f.examples)) for f in failures]
    _table(("column", "check", "failing", "examples"), rows)


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def register(app: typer.Typer) -> None:
    app.add_typer(data_app)
