"""Reports of a real drift run: one self-contained HTML page, or Markdown with its PNGs
beside it; names are escaped; the table the CLI prints is plain strings."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lockstep.errors import InputError
from lockstep.monitor.drift import DriftResult, detect
from lockstep.monitor.report import TABLE_HEADERS, render_table, write_report
from lockstep.monitor.sources import TableSource

PNG = b"\x89PNG\r\n\x1a\n"
META = {"model": "cancer v1.2.0", "environment": "production", "window": "7d"}


@pytest.fixture(scope="module")
def result() -> DriftResult:
    rng = np.random.default_rng(0)
    rows = 3_000
    levels = ["benign", "malignant", "unknown | <odd>"]
    reference = pd.DataFrame(
        {
            "mean radius": rng.normal(14, 3, rows),
            "<script>alert(1)</script>": rng.normal(0, 1, rows),
            "kind": rng.choice(levels, rows, p=[0.6, 0.3, 0.1]),
            "gone": rng.normal(0, 1, rows),
        }
    )
    current = pd.DataFrame(
        {
            "mean radius": rng.normal(16, 3, rows),
            "<script>alert(1)</script>": [np.nan] * rows,
            "kind": rng.choice(levels, rows, p=[0.3, 0.6, 0.1]),
        }
    )
    return detect(
        TableSource.from_frame(reference, "data/train.csv"),
        TableSource.from_frame(current, "s3://logs/cancer/production"),
    )


def test_html_is_one_self_contained_page(result: DriftResult, tmp_path: Path) -> None:
    path = tmp_path / "drift.html"
    written = write_report(result, path, title="Drift of cancer & co", meta=META)
    assert written == [path]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drift.html"]
    text = path.read_text()
    assert "<title>Drift of cancer &amp; co</title>" in text
    head = text[: text.index("<h2>")]
    assert "Drift: 3 of 3 feature(s) drifted, 1 column(s) missing from the current data" in head
    assert "column &#39;gone&#39; of the reference is not in the current data" in head
    assert "cancer v1.2.0" in head and "production" in head
    assert not re.search(r"https?://|<script|<link|@import|url\(", text, re.IGNORECASE)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 2  # the all-missing feature has no histogram
    for image in images:
        assert base64.b64decode(image).startswith(PNG)
    assert "PSI" in text and "JS distance" in text and "missing 0.0% -&gt; 100.0%" in text


def test_markdown_links_pngs_written_beside_it(result: DriftResult, tmp_path: Path) -> None:
    path = tmp_path / "reports" / "drift.md"
    stale = tmp_path / "reports" / "drift_files" / "07-old.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(PNG)
    written = write_report(result, path, title="Drift of cancer", meta=META)
    folder = path.parent / "drift_files"
    assert written == [path, folder / "01-mean-radius.png", folder / "03-kind.png"]
    assert not stale.exists()
    assert all(p.read_bytes().startswith(PNG) for p in written[1:])
    text = path.read_text()
    assert text.startswith("# Drift of cancer\n\n**Drift: 3 of 3 feature(s) drifted")
    assert "![histogram of mean radius](drift_files/01-mean-radius.png)" in text
    assert "![histogram of kind](drift_files/03-kind.png)" in text
    assert "\\<script>alert(1)\\</script>" in text
    rows = [line for line in text.splitlines() if line.startswith("| mean radius |")]
    assert len(rows) == 1 and rows[0].count(" | ") == len(TABLE_HEADERS) - 1
    assert not list(tmp_path.rglob("*.lockstep-tmp"))


def test_render_table_is_plain_strings(result: DriftResult) -> None:
    rows = render_table(result)
    assert [row[0] for row in rows] == ["mean radius", "<script>alert(1)</script>", "kind"]
    radius, script, kind = rows
    assert all(isinstance(cell, str) for row in rows for cell in row)
    assert len(radius) == len(TABLE_HEADERS)
    assert radius[1:3] == ("numeric", "3,000 / 3,000")
    assert radius[3].startswith("KS D ") and radius[5].startswith("PSI ")
    assert radius[-1] == "drift"
    assert script[3:6] == ("-", "-", "-") and script[6] == "0.0% -> 100.0%"
    assert kind[3].startswith("chi2 ") and kind[5].startswith("JS ")


def test_other_suffixes_are_refused(result: DriftResult, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"report .*drift\.pdf: use a \.html or \.md file name"):
        write_report(result, tmp_path / "drift.pdf", title="t", meta={})
