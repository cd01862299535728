"""Data checks: infer a schema for tabular data and validate data against it.

Tables are CSV or Parquet files, read with pandas (Parquet through pyarrow);
schemas are pandera ``DataFrameSchema`` objects in pandera's own YAML format.
Importing this package loads neither pandas nor pandera: they are imported by
the functions that need them.

    files = files_under(Path("data/train"))        # [(display name, absolute path)]
    frame = load_table(files)
    text = infer_schema(frame)                      # YAML
    report = validate(frame, text, "data/train.schema.yaml")
    report.ok, report.failures                      # never raises for failing data
"""

from lockstep.datacheck.report import ColumnFailure, ColumnSpec, SchemaReport
from lockstep.datacheck.schema import (
    infer_schema,
    load_schema,
    read_schema_text,
    schema_columns,
    schema_path_for,
    validate,
)
from lockstep.datacheck.tables import files_under, is_table_file, load_table

__all__ = [
    "ColumnFailure",
    "ColumnSpec",
    "SchemaReport",
    "files_under",
    "infer_schema",
    "is_table_file",
    "load_schema",
    "load_table",
    "read_schema_text",
    "schema_columns",
    "schema_path_for",
    "validate",
]
