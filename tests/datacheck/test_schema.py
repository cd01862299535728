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
        ("columns:\n  a:\n    greater_than: {x: 1}\n", "columns.a.greater_than.x: is not an arg"),
        ("columns:\n  a:\n    greater_than: {ignore_na: false}\n", "not a pandera schema"),
        ("columns:\n  a:\n    in_range: 5\n    checks: {}\n", "either under 'checks:' or as keys"),
        # values of the wrong type name their field, not a TypeError raised by the data
        (
            'columns:\n  a:\n    str_matches: "["\n',
            r"columns\.a\.str_matches: is not a valid regular",
        ),
        ("columns:\n  a:\n    str_contains: {pattern: '(x'}\n", r"str_contains\.pattern: is not a"),
        ("columns:\n  '[':\n    regex: true\n", r"columns\.\[: is not a valid regular expression"),
        ("columns:\n  a:\n    greater_than: zero\n", "a.greater_than: must be a number or a date"),
        (
            "columns:\n  a:\n    dtype: int64\n    le: '5'\n",
            "columns.a.le: must be a number, not '5'",
        ),
        ("columns:\n  a:\n    dtype: int64\n    isin: 5\n", "columns.a.isin: must be a list"),
        (
            "columns:\n  a:\n    dtype: int64\n    isin: [1, x]\n",
            r"isin\[1\]: must be a number, not 'x'",
        ),
        ("columns:\n  a:\n    dtype: str\n    greater_than: 5\n", "must be text, not 5"),
        ("columns:\n  a:\n    str_startswith: 5\n", "columns.a.str_startswith: must be text"),
        ("columns:\n  a:\n    str_length: -1\n", "str_length: must be a whole number >= 0"),
        ("columns:\n  a:\n    in_range: 5\n", "in_range: needs a mapping of its arguments"),
        ("columns:\n  a:\n    in_range: {min_value: 0, max: 1}\n", "in_range.max: is not an arg"),
        ("columns:\n  a:\n    greater_than:\n", "columns.a.greater_than: must be a number"),
        ("columns:\n  a:\n    nullable: 'no'\n", "columns.a.nullable: must be true or false"),
        ("columns:\n  a:\n    dtype: 5\n", "columns.a.dtype: must be a dtype name"),
        ("coerce: 'no'\ncolumns: {}\n", "coerce: must be true or false, not 'no'"),
        ("strict: 'yes'\ncolumns: {}\n", "strict: must be true, false or 'filter'"),
        ("columns:\n  a:\n    isin: [x]\n    ignore_na: 1\n", "a.ignore_na: is neither"),
        (
            "columns:\n  a:\n    isin: {allowed_values: [x], ignore_na: 1}\n",
            "ignore_na: must be true",
        ),
        ("columns:\n  a:\n    checks: {greater_than: zero}\n", "a.checks.greater_than: must be"),
        ("columns:\n  a:\n    checks: {nope: 1}\n", "columns.a.checks.nope: is not a check"),
        ("columns:\n  a:\n    checks: 5\n", "columns.a.checks: must map each check"),
        (
            "columns:\n  a:\n    checks:\n    - {min_value: x, options: {check_name: gt}}\n",
            r"columns\.a\.checks\[0\]\.min_value: must be a number or a date, not 'x'",
        ),
        (
            "columns:\n  a:\n    checks:\n    - {value: 1}\n",
            r"checks\[0\]: must be a mapping naming",
        ),
        (
            "columns:\n  t:\n    dtype: datetime64[ns]\n    ge: soon\n",
            "columns.t.ge: must be a date or time such as '2024-01-31 12:00:00', not 'soon'",
        ),
        (
            "columns:\n  t:\n    dtype: datetime64[ns]\n    ge: 2024-01-01 00:00:00+02:00\n",
            "columns.t.ge: has a timezone, and the column's dtype has none",
        ),
        (
            "columns:\n  t:\n    dtype: timedelta64[ns]\n    ge: later\n",
            "columns.t.ge: must be a duration",
        ),
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


def timestamps() -> pd.DataFrame:
    moments = pd.to_datetime(["2024-01-01 00:00:00", "2024-03-01 12:30:00.5"], format="ISO8601")
    return pd.DataFrame(
        {
            "utc": moments.tz_localize("UTC"),
            "oslo": moments.tz_localize("Europe/Oslo"),
            "naive": moments,
        }
    )


def test_timezone_aware_datetimes_make_a_schema_they_pass(tmp_path: Path) -> None:
    """Their ranges are written as text, with the offset and fractions of a second."""
    timestamps().to_parquet(tmp_path / "t.parquet")
    frame = load_table(files_under(tmp_path / "t.parquet"))
    text = infer_schema(frame)
    body = yaml.safe_load(text)
    assert body["columns"]["utc"]["greater_than_or_equal_to"] == "2024-01-01 00:00:00+00:00"
    assert body["columns"]["oslo"]["less_than_or_equal_to"] == "2024-03-01 12:30:00.500000+01:00"
    assert body["columns"]["naive"]["less_than_or_equal_to"] == "2024-03-01 12:30:00.500000"
    assert validate(frame, text, "t.schema.yaml") == SchemaReport(ok=True, failures=(), rows=2)

    later = frame.copy()
    later.loc[1, "utc"] = pd.Timestamp("2025-01-01", tz="UTC")
    later.loc[0, "naive"] = pd.Timestamp("2023-12-31")
    found = by_column(validate(later, text, "t.schema.yaml"))
    assert set(found) == {
        ("utc", "less_than_or_equal_to(2024-03-01 12:30:00.500000+00:00)"),
        ("naive", "greater_than_or_equal_to(2024-01-01 00:00:00)"),
    }


def test_well_typed_checks_in_every_layout_are_read() -> None:
    """What the type checks of schema values accept, in pandera's three layouts."""
    text = """
columns:
  n:
    dtype: int64
    in_range: {min_value: 0, max_value: 10, include_max: false}
    isin: [1, 2, 3, 4.0]
  code:
    dtype: str
    str_matches: '^[0-9]{4}$'
    str_length: {min_value: 4, max_value: 4}
    ge: '0000'
  day:
    dtype: datetime64[ns]
    checks:
      greater_than_or_equal_to: 2024-01-01
      less_than: {max_value: '2024-02-01 00:00:00', options: {raise_warning: false}}
  at:
    dtype: datetime64[ns, UTC]
    checks:
    - {min_value: 2024-01-01, options: {check_name: greater_than_or_equal_to}}
    - {value: '2024-02-01T00:00:00+01:00', options: {check_name: less_than}}
  any:
    equal_to: x
  since:
    dtype: date
    ge: 2024-01-01
coerce: true
"""

    def frame(n: int, code: str, day: str, other: str) -> pd.DataFrame:
        days = pd.to_datetime([day, "2024-01-31"])
        return pd.DataFrame(
            {
                "n": [1, n],
                "code": ["0123", code],
                "day": days,
                "at": days.tz_localize("UTC"),
                "any": ["x", other],
                "since": [d.date() for d in days],
            }
        )

    assert validate(frame(4, "9999", "2024-01-01", "x"), text, "s.yaml").ok
    failing = validate(frame(10, "123", "2023-12-31", "y"), text, "s.yaml").failures
    assert {(f.column, f.check) for f in failing} == {
        ("n", "in_range(0, 10)"),
        ("n", "isin([1, 2, 3, 4.0])"),
        ("code", "str_matches('^[0-9]{4}$')"),
        ("code", "str_length(4, 4)"),
        ("day", "greater_than_or_equal_to(2024-01-01 00:00:00)"),
        ("at", "greater_than_or_equal_to(2024-01-01 00:00:00)"),
        ("any", "equal_to(x)"),
        ("since", "greater_than_or_equal_to(2024-01-01)"),
    }
