"""``lockstep data infer-schema`` and ``lockstep data validate`` on real files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import cli


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A plain folder, no Git repository or workspace: the commands need neither."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def train() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [18, 40, 97, 33, 51],
            "income": [1200.0, 5300.5, 800.0, None, 4100.0],
            "city": ["Oslo", "Lima", "Pune", "Rome", "Kyiv"],
            "churned": [0, 1, 0, 0, 1],
        }
    )


def test_infer_then_validate_the_same_data(here: Path) -> None:
    train().to_csv("train.csv", index=False)
    inferred = cli("data", "infer-schema", "train.csv")
    assert inferred.code == 0, inferred.err
    lines = inferred.out.splitlines()
    assert lines[0] == (
        "Wrote train.csv.schema.yaml: 4 column(s), 6 check(s), from 5 row(s) in 1 file(s)"
    )
    assert lines[2].split() == [
        "age",
        "int64",
        "no",
        "greater_than_or_equal_to(18.0),",
        "less_than_or_equal_to(97.0)",
    ]
    assert (here / "train.csv.schema.yaml").is_file()
    checked = cli("data", "validate", "train.csv", "--schema", "train.csv.schema.yaml")
    assert (checked.code, checked.err) == (0, "")
    assert checked.out == "OK: train.csv (5 row(s), 1 file(s)) matches train.csv.schema.yaml\n"


def negative(frame: pd.DataFrame) -> None:
    frame.loc[2, "age"] = -3


def text_in_numbers(frame: pd.DataFrame) -> None:
    frame["age"] = frame["age"].astype(object)
    frame.loc[1, "age"] = "forty"


def missing_column(frame: pd.DataFrame) -> None:
    del frame["city"]


def extra_column(frame: pd.DataFrame) -> None:
    frame["zip"] = "0150"


def nulls(frame: pd.DataFrame) -> None:
    frame.loc[[0, 3], "city"] = None


@pytest.mark.parametrize(
    ("change", "column", "check", "count", "example"),
    [
        (negative, "age", "greater_than_or_equal_to(18.0)", 1, "-3"),
        (text_in_numbers, "age", "coerce_dtype('int64')", 1, "'forty'"),
        (missing_column, "city", "column_in_dataframe", 1, None),
        (extra_column, "zip", "column_in_schema", 1, None),
        (nulls, "city", "not_nullable", 2, "null"),
    ],
)
def test_changed_data_fails_naming_column_and_check(
    here: Path,
    change: Callable[[pd.DataFrame], None],
    column: str,
    check: str,
    count: int,
    example: str | None,
) -> None:
    train().to_csv("train.csv", index=False)
    assert cli("data", "infer-schema", "train.csv", "--out", "schema.yaml").code == 0
    changed = train()
    change(changed)
    changed.to_csv("train.csv", index=False)

    result = cli("data", "validate", "train.csv", "-s", "schema.yaml")
    assert result.code == 1
    assert result.err.splitlines()[0] == (
        f"error: train.csv does not match schema.yaml: 1 check(s) failed in column(s) {column}"
    )
    header, row = result.out.splitlines()
    assert header.split() == ["column", "check", "failing", "examples"]
    assert row.split()[:3] == [column, check, str(count)]

    as_json = cli("data", "validate", "train.csv", "-s", "schema.yaml", "--json")
    assert as_json.code == 1
    expected = {"column": column, "check": check, "count": count}
    expected["examples"] = [example] if example else []
    assert json.loads(as_json.out) == [expected]


def test_a_folder_of_csv_and_parquet_files(here: Path) -> None:
    frame = train()
    (here / "data" / "more").mkdir(parents=True)
    frame.iloc[:2].to_csv("data/a.csv", index=False)
    frame.iloc[2:4].to_parquet("data/more/b.parquet")
    frame.iloc[4:].to_parquet("data/c.pq")

    inferred = cli("data", "infer-schema", "data", "--json")
    assert inferred.code == 0, inferred.err
    summary = json.loads(inferred.out)
    assert summary["schema"] == "data.schema.yaml" and summary["rows"] == 5
    assert summary["files"] == ["data/a.csv", "data/c.pq", "data/more/b.parquet"]
    assert [c["name"] for c in summary["columns"]] == ["age", "income", "city", "churned"]
    assert (here / "data.schema.yaml").is_file()

    ok = cli("data", "validate", "data", "--schema", "data.schema.yaml", "--json")
    assert (ok.code, json.loads(ok.out)) == (0, [])

    pd.DataFrame({"age": [200], "income": [1.0], "city": ["Rome"], "churned": [1]}).to_csv(
        "data/more/late.csv", index=False
    )
    late = cli("data", "validate", "data", "--schema", "data.schema.yaml")
    assert late.code == 1
    assert "less_than_or_equal_to(97.0)" in late.out and "200" in late.out


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("ragged.csv", b"a,b\n1,2\n1,2,3\n", "ragged.csv: not a readable CSV file"),
        (
            "shifted.csv",
            b"a,b\n1,2,3\n",
            "shifted.csv: not a readable CSV file: the first row has more fields than the header",
        ),
        ("noise.csv", bytes(range(128, 256)) * 3, "noise.csv: not a readable CSV file"),
        ("table.xlsx", b"PK\x03\x04", "table.xlsx: is not a .csv, .parquet or .pq file"),
    ],
)
def test_unreadable_data_exits_2_naming_the_file(
    here: Path, name: str, content: bytes, problem: str
) -> None:
    (here / name).write_bytes(content)
    for args in (["infer-schema", name], ["validate", name, "--schema", "s.yaml"]):
        (here / "s.yaml").write_text("columns: {a: {dtype: int64}}\n")
        result = cli("data", *args)
        assert (result.code, result.out) == (2, "")
        assert result.err.startswith(f"error: {problem}")
        assert len(result.err.splitlines()) == 1


def test_a_malformed_schema_exits_2_naming_it(here: Path) -> None:
    train().to_csv("train.csv", index=False)
    (here / "bad.yaml").write_text("columns:\n  age:\n    dtype: int64\n    greater: 3\n")
    result = cli("data", "validate", "train.csv", "--schema", "bad.yaml")
    assert result.code == 2
    assert result.err == (
        "error: bad.yaml: columns.age.greater: is neither a column option nor a check\n"
    )
    missing = cli("data", "validate", "train.csv", "--schema", "nope.yaml")
    assert (missing.code, missing.err) == (2, "error: nope.yaml: does not exist\n")


def test_timezone_aware_datetimes_infer_a_schema_they_pass(here: Path) -> None:
    moments = pd.to_datetime(["2024-01-01", "2024-01-02 08:00:00.25"], format="ISO8601")
    pd.DataFrame({"t": moments.tz_localize("UTC")}).to_parquet("tz.parquet")
    inferred = cli("data", "infer-schema", "tz.parquet")
    assert (inferred.code, inferred.err) == (0, "")
    assert "less_than_or_equal_to(2024-01-02 08:00:00.250000+00:00)" in inferred.out
    checked = cli("data", "validate", "tz.parquet", "--schema", "tz.parquet.schema.yaml")
    assert (checked.code, checked.err) == (0, "")


@pytest.mark.parametrize(
    ("check", "problem"),
    [
        ('str_matches: "["', "columns.city.str_matches: is not a valid regular expression: "),
        ("greater_than: 5", "columns.city.greater_than: must be text, not 5"),
        ("str_length: five", "columns.city.str_length: must be a whole number >= 0, not 'five'"),
    ],
)
def test_a_check_value_of_the_wrong_type_exits_2_naming_the_field(
    here: Path, check: str, problem: str
) -> None:
    train().to_csv("train.csv", index=False)
    (here / "s.yaml").write_text(f"columns:\n  city:\n    dtype: str\n    {check}\n")
    result = cli("data", "validate", "train.csv", "--schema", "s.yaml")
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith(f"error: s.yaml: {problem}")
    assert len(result.err.splitlines()) == 1


def test_greater_than_a_word_is_a_bad_schema_not_failing_data(here: Path) -> None:
    train().to_csv("train.csv", index=False)
    (here / "s.yaml").write_text("columns:\n  age:\n    greater_than: zero\n")
    result = cli("data", "validate", "train.csv", "--schema", "s.yaml")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "error: s.yaml: columns.age.greater_than: must be a number or a date, not 'zero'\n"
    )


def test_out_must_name_a_file(here: Path) -> None:
    train().to_csv("train.csv", index=False)
    (here / "schemas").mkdir()
    result = cli("data", "infer-schema", "train.csv", "--out", "schemas")
    assert (result.code, result.out) == (2, "")
    assert result.err == "error: schemas: is a folder: name a schema file with --out\n"
    assert list((here / "schemas").iterdir()) == []
    under_a_file = cli("data", "infer-schema", "train.csv", "--out", "train.csv/s.yaml")
    assert under_a_file.code == 2
    assert under_a_file.err == (
        "error: train.csv/s.yaml: cannot be written: train.csv is a file, not a folder\n"
    )


def test_codes_keep_their_leading_zeros(here: Path) -> None:
    (here / "codes.csv").write_text("zip,n\n02134,1\n10001,2\n")
    inferred = cli("data", "infer-schema", "codes.csv", "--json")
    assert inferred.code == 0, inferred.err
    (zip_code, _) = json.loads(inferred.out)["columns"]
    assert zip_code["dtype"] in ("str", "string[pyarrow]", "string[python]")
    text = (here / "codes.csv.schema.yaml").read_text()
    (here / "codes.csv.schema.yaml").write_text(
        text.replace("  zip:\n", "  zip:\n    str_length: 5\n    isin: ['02134', '10001']\n")
    )
    checked = cli("data", "validate", "codes.csv", "--schema", "codes.csv.schema.yaml")
    assert (checked.code, checked.err) == (0, ""), checked.out
