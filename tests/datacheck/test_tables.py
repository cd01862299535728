"""Reading CSV and Parquet files, alone or as a folder, into one table."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lockstep.datacheck import files_under, is_table_file, load_table
from lockstep.errors import PathError, TableReadError


def write_folder(root: Path) -> Path:
    folder = root / "raw"
    (folder / "b").mkdir(parents=True)
    pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}).to_csv(folder / "a.csv", index=False)
    pd.DataFrame({"y": ["c"], "x": [3]}).to_parquet(folder / "b" / "part.parquet")
    pd.DataFrame({"x": [4], "y": ["d"]}).to_parquet(folder / "c.pq")
    (folder / "README.md").write_text("not data\n")
    (folder / ".hidden.csv").write_text("x,y\n99,z\n")
    (folder / ".cache").mkdir()
    (folder / ".cache" / "old.csv").write_text("x,y\n98,z\n")
    return folder


def test_a_folder_is_every_table_below_it_sorted(tmp_path: Path) -> None:
    folder = write_folder(tmp_path)
    files = files_under(folder)
    assert [name for name, _ in files] == [
        str(folder / "a.csv"),
        str(folder / "b" / "part.parquet"),
        str(folder / "c.pq"),
    ]
    assert all(Path(path).is_absolute() and Path(path).is_file() for _, path in files)
    frame = load_table(files)
    assert list(frame.columns) == ["x", "y"]
    assert frame["x"].tolist() == [1, 2, 3, 4]
    assert frame["y"].tolist() == ["a", "b", "c", "d"]
    assert list(frame.index) == [0, 1, 2, 3]


def test_a_file_is_itself(tmp_path: Path) -> None:
    target = tmp_path / "t.CSV"
    target.write_text("x\n1\n")
    assert files_under(target) == [(str(target), str(target.resolve()))]


def test_format_comes_from_the_display_name_not_the_path(tmp_path: Path) -> None:
    """Cache objects have no extension: the name given beside them decides."""
    folder = write_folder(tmp_path)
    objects = tmp_path / "objects"
    objects.mkdir()
    pairs = []
    for i, (name, path) in enumerate(files_under(folder)):
        shutil.copyfile(path, objects / f"{i:064x}")
        pairs.append((name, str(objects / f"{i:064x}")))
    assert load_table(pairs)["x"].tolist() == [1, 2, 3, 4]


def test_is_table_file() -> None:
    assert is_table_file("a/b.csv") and is_table_file("B.Parquet") and is_table_file("c.pq")
    assert not is_table_file("a/.b.csv") and not is_table_file("notes.txt")


def test_a_folder_without_tables(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no data\n")
    with pytest.raises(PathError, match="holds no CSV or Parquet files") as info:
        files_under(tmp_path)
    assert info.value.path == str(tmp_path)


def test_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(PathError, match="does not exist"):
        files_under(tmp_path / "nope.csv")


def test_an_unknown_suffix(tmp_path: Path) -> None:
    target = tmp_path / "data.json"
    target.write_text("{}")
    with pytest.raises(PathError, match=r"data\.json: is not a \.csv, \.parquet or \.pq file"):
        files_under(target)
    with pytest.raises(PathError, match=r"data\.json"):
        load_table([("data.json", str(target))])


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("ragged.csv", b"a,b\n1,2\n1,2,3,4\n", "not a readable CSV file: Error tokenizing"),
        # pandas would make the first field an index and shift the row: a=2, b=3
        ("shifted.csv", b"a,b\n1,2,3\n", "the first row has more fields than the header"),
        ("shifted.csv", b"a,b\n1,2,3\n4,5,6\n", "the first row has more fields than the header"),
        ("shifted.csv", b"a,b\n1,2,3,4\n", "the first row has more fields than the header"),
        ("binary.csv", b"\xff\xfe\x00\xca\xfe" * 40, "not a readable CSV file"),
        ("empty.csv", b"", "is empty"),
        ("broken.parquet", b"PAR1 not really", "not a readable Parquet file"),
    ],
)
def test_unreadable_files_name_the_file(
    tmp_path: Path, name: str, content: bytes, problem: str
) -> None:
    target = tmp_path / name
    target.write_bytes(content)
    with pytest.raises(TableReadError, match=problem) as info:
        load_table(files_under(target))
    assert info.value.file == str(target)
    assert "\n" not in str(info.value)


def test_files_of_one_table_share_columns(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x,y\n1,2\n")
    (tmp_path / "b.csv").write_text("x,z\n1,2\n")
    with pytest.raises(TableReadError, match=r"columns differ from .*a\.csv's: lacks y; adds z"):
        load_table(files_under(tmp_path))


def test_a_named_parquet_index_becomes_a_column(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [7, 8], "v": [0.1, 0.2]}).set_index("id")
    frame.to_parquet(tmp_path / "t.parquet")
    assert list(load_table(files_under(tmp_path / "t.parquet")).columns) == ["id", "v"]


def test_importing_the_package_loads_no_pandas() -> None:
    code = (
        "import sys, lockstep.datacheck; "
        "print(sorted({'pandas', 'pandera', 'pyarrow'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_short_rows_are_missing_values(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b\n1\n2,3\n")
    frame = load_table(files_under(tmp_path / "t.csv"))
    assert frame["a"].tolist() == [1, 2]
    assert frame["b"].isna().tolist() == [True, False]


def test_digit_codes_with_leading_zeros_stay_text(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(
        "zip,id,n,score,zero,name\n02134,-007,1,0.5,0,Oslo\n10001,,2,,0,Lima\n"
    )
    frame = load_table(files_under(tmp_path / "t.csv"))
    assert frame["zip"].tolist() == ["02134", "10001"]
    assert frame["id"].tolist()[0] == "-007" and frame["id"].isna().tolist() == [False, True]
    assert frame["zip"].dtype == frame["name"].dtype  # text, like any text column
    assert frame["n"].dtype == "int64" and frame["zero"].dtype == "int64"
    assert frame["score"].dtype == "float64"  # 0.5 has no leading zero to keep


def test_a_code_column_is_text_in_every_file_of_a_folder(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("zip,n\n02134,1\n")
    (tmp_path / "b.csv").write_text("zip,n\n94105,2\n")
    pd.DataFrame({"zip": ["33101"], "n": [3]}).to_parquet(tmp_path / "c.parquet")
    frame = load_table(files_under(tmp_path))
    assert frame["zip"].tolist() == ["02134", "94105", "33101"]
    assert frame["n"].tolist() == [1, 2, 3]
    assert frame["zip"].dtype == pd.read_csv(tmp_path / "a.csv", dtype=str)["zip"].dtype
