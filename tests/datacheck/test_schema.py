"""Inferring a pandera schema, reading it back, and validating data against it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from lockstep.datacheck import (
    ColumnFailure,
    SchemaReport,
    files_under,
    infer_schema,
    load_table,
    schema_columns,
    schema_path_for,
    validate,
)
from lockstep.errors import InputError, SchemaFileError


def sample() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [18, 40, 97, 33],
            "score": [0.5, None, 0.9, 0.7],
            "city": ["Oslo", "Lima", "Pune", "Rome"],
            "plan": pd.Categorical(["free", "pro", "free", "pro"]),
            "seen": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]),
        }
    )


def by_column(report: SchemaReport) -> dict[tuple[str, str], ColumnFailure]:
    return {(f.column, f.check): f for f in report.failures}


def test_the_schema_file_layout() -> None:
    """pandera's own YAML, with strict on and no index; pinned here."""
    body = yaml.safe_load(infer_schema(sample()))
    assert body["schema_type"] == "dataframe"
    assert body["strict"] is True and body["coerce"] is True
    assert "index" not in body
    assert body["columns"]["age"] == {
        "dtype": "int64",
        "greater_than_or_equal_to": 18.0,
        "less_than_or_equal_to": 97.0,
    }
    assert body["columns"]["score"]["nullable"] is True
    assert body["columns"]["plan"]["isin"] == ["free", "pro"]
    assert body["columns"]["seen"]["greater_than_or_equal_to"] == "2024-01-01 00:00:00"


def test_pandera_reads_the_schema_it_wrote() -> None:
    schema = pa.DataFrameSchema.from_yaml(infer_schema(sample()))
    assert list(schema.columns) == ["age", "score", "city", "plan", "seen"]
    assert schema.strict is True
    schema.validate(sample())


def test_the_data_a_schema_was_inferred_from_passes(tmp_path: Path) -> None:
    sample().to_parquet(tmp_path / "t.parquet")
    frame = load_table(files_under(tmp_path / "t.parquet"))
    report = validate(frame, infer_schema(frame), "t.schema.yaml")
    assert report == SchemaReport(ok=True, failures=(), rows=4)


def test_every_failure_is_collected() -> None:
    text = infer_schema(sample())
    changed = sample().drop(columns=["plan"]).assign(extra=1)
    changed.loc[0, "age"] = -5
    changed.loc[1, "city"] = None
    report = validate(changed, text, "s.yaml")
    assert not report.ok and report.rows == 4
    found = by_column(report)
    assert set(found) == {
        ("age", "greater_than_or_equal_to(18.0)"),
        ("city", "not_nullable"),
        ("extra", "column_in_schema"),
        ("plan", "column_in_dataframe"),
    }
    assert found["age", "greater_than_or_equal_to(18.0)"].examples == ("-5",)
    assert found["city", "not_nullable"].count == 1
    assert found["city", "not_nullable"].examples == ("null",)
    assert found["plan", "column_in_dataframe"] == ColumnFailure("plan", "column_in_dataframe", 1)
    assert report.columns == ["age", "city", "extra", "plan"]


def test_a_string_in_a_numeric_column_is_reported_once() -> None:
    text = infer_schema(sample())
    changed = sample().astype({"age": object})
    changed.loc[2, "age"] = "ninety"
    changed.loc[3, "age"] = -1
    failures = validate(changed, text, "s.yaml").failures
    assert failures == (ColumnFailure("age", "coerce_dtype('int64')", 1, ("'ninety'",)),)


def test_a_fraction_in_an_integer_column_fails_instead_of_being_truncated() -> None:
    text = infer_schema(sample())
    changed = sample().astype({"age": float})
    changed.loc[0, "age"] = 20.5
    failures = validate(changed, text, "s.yaml").failures
    assert failures == (ColumnFailure("age", "coerce_dtype('int64')", 1, ("20.5",)),)


def test_examples_are_distinct_and_at_most_five() -> None:
    text = infer_schema(sample())
    changed = pd.concat([sample()] * 5, ignore_index=True)
    changed["age"] = [-i for i in range(len(changed))]
    (failure,) = validate(changed, text, "s.yaml").failures
    assert failure.count == 20
    assert failure.examples == ("0", "-1", "-2", "-3", "-4")


def test_nothing_to_infer_from_no_rows() -> None:
    with pytest.raises(InputError, match=r"data/x\.csv has no rows"):
        infer_schema(sample().iloc[:0], "data/x.csv")


def test_schema_columns_describe_the_schema() -> None:
    (age, *_) = schema_columns(infer_schema(sample()), "s.yaml")
    assert age.to_dict() == {
        "name": "age",
        "dtype": "int64",
        "nullable": False,
        "checks": ["greater_than_or_equal_to(18.0)", "less_than_or_equal_to(97.0)"],
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("columns: [\n", "not valid YAML at line 2"),
        ("- a\n- b\n", "must be a mapping"),
        ("stages: {}\n", "columns: must map each column"),
        ("schema_type: series\ncolumns: {}\n", "schema_type: must be 'dataframe'"),
        ("columns:\n  a: 5\n", "columns.a: must be a mapping"),
        ("columns:\n  a:\n    dtype: int64\n    greater_than_or_equal: 0\n", "columns.a.greater"),
        ("columns:\n  a:\n    dtype: no-such-type\n", "not a pandera schema: data type"),
        ("columns:\n  a:\n    greater_than: {x: 1}\n", "not a pandera schema"),
        ("columns:\n  a:\n    in_range: 5\n    checks: {}\n", "either under 'checks:' or as keys"),
    ],
)
def test_a_malformed_schema_names_the_file(text: str, problem: str) -> None:
    with pytest.raises(SchemaFileError, match=problem) as info:
        validate(sample(), text, "conf/s.yaml")
    assert info.value.file == "conf/s.yaml"
    assert "\n" not in str(info.value)


def test_the_default_schema_path_is_beside_the_data(tmp_path: Path) -> None:
    assert schema_path_for(Path("data/t.csv")) == Path("data/t.csv.schema.yaml")
    assert schema_path_for(Path("data/raw/")) == Path("data/raw.schema.yaml")
    assert schema_path_for(tmp_path / ".") == Path(f"{tmp_path}.schema.yaml")


failures = st.builds(
    ColumnFailure,
    st.text(),
    st.text(),
    st.integers(min_value=0),
    st.lists(st.text(), max_size=5).map(tuple),
)


@given(st.booleans(), st.lists(failures, max_size=4).map(tuple), st.integers(min_value=0))
def test_reports_round_trip_through_dicts(
    ok: bool, found: tuple[ColumnFailure, ...], rows: int
) -> None:
    report = SchemaReport(ok, found, rows)
    assert SchemaReport.from_dict(report.to_dict()) == report


def test_a_column_of_another_dtype_says_which() -> None:
    text = infer_schema(sample()).replace("coerce: true\n", "")
    failures = validate(sample().astype({"age": float}), text, "s.yaml").failures
    assert failures == (ColumnFailure("age", "dtype('int64')", 1, ("column is float64",)),)


@pytest.mark.parametrize("dtype", ["int64", "Int64", "uint8"])
def test_fractions_fail_every_integer_dtype_once(dtype: str) -> None:
    text = f"columns:\n  n:\n    dtype: {dtype}\n    nullable: true\ncoerce: true\n"
    frame = pd.DataFrame({"n": [1.0, 2.5, 3.0, 4.25]})
    failures = validate(frame, text, "s.yaml").failures
    assert failures == (ColumnFailure("n", f"coerce_dtype('{dtype}')", 2, ("2.5", "4.25")),)
