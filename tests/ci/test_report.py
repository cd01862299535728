"""``lockstep report``: metrics and params diff with deltas, gate verdicts, a drift section,
PNG plots beside the Markdown, linked relatively."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

from lockstep.project import Project
from lockstep.project.report import gather
from tests.conftest import cli, git
from tests.registry.conftest import CONFIG, EVALUATE, train, write_config

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTTING_EVALUATE = (
    EVALUATE
    + """
import os
os.makedirs("plots", exist_ok=True)
with open("plots/pr.csv", "w") as f:
    f.write("threshold,precision,recall\\n")
    for t in (0.1, 0.5, 0.9):
        f.write(f"{t},{p['score'] * t},{1 - p['score'] * t}\\n")
"""
)
DRIFT = {
    "drifted": True,
    "features": [
        {
            "name": "plan",
            "kind": "categorical",
            "drifted": False,
            "reasons": [],
            "statistics": {"chi2_p": 0.4},
        },
        {
            "name": "tenure",
            "kind": "numeric",
            "drifted": True,
            "reasons": ["psi 0.31 > 0.2", "ks p 0.001 < 0.05"],
            "statistics": {"psi": 0.31, "ks_p": 0.001},
        },
    ],
}


def ok(*args: str) -> str:
    result = cli(*args)
    assert result.code == 0, result.out + result.err
    return result.out


def change_params(root: Path, w: float = 2.0, score: float = 0.9) -> None:
    (root / "params.yaml").write_text(yaml.safe_dump({"train": {"w": w}, "score": score}))
    ok("run")


def images(report: Path) -> list[Path]:
    """Every image the Markdown links, resolved beside it (links are URL-encoded)."""
    links = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", report.read_text())
    return [report.parent / unquote(link) for link in links]


def assert_png(path: Path) -> None:
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_MAGIC, path
    pixels = imread(path)  # decodes the whole file
    assert pixels.shape[0] > 50 and pixels.shape[1] > 50


def test_report_has_the_deltas_and_valid_plots(pipe: Path) -> None:
    change_params(pipe)
    out = ok("report", "--vs", "HEAD")
    report = pipe / "report.md"
    assert "Wrote report.md and 1 plot(s) in report_files/" in out
    text = report.read_text()
    head = git(pipe, "rev-parse", "HEAD").strip()
    assert f"`HEAD` ({head[:10]}) → `workspace` ({head[:10]}, with uncommitted changes)" in text
    assert "| evaluate | f1 | 0.8 | 0.9 | **+0.1** |" in text
    assert "| evaluate | loss | 0.2 | 0.1 | **-0.1** |" in text
    assert "| train | train.w | 1 | 2 | **+1** |" in text
    assert "| evaluate | score | 0.8 | 0.9 | **+0.1** |" in text
    assert "| churn | production | - | not registered |" in text
    assert "### Drift" not in text
    linked = images(report)
    assert linked == [pipe / "report_files" / "metrics.png"]
    for path in linked:
        assert_png(path)


def test_unchanged_params_are_counted_not_listed(pipe: Path) -> None:
    change_params(pipe, w=1.0, score=0.85)
    ok("report", "--vs", "HEAD")
    text = (pipe / "report.md").read_text()
    assert "| evaluate | score | 0.8 | 0.85 | **+0.05** |" in text
    assert "train.w" not in text and "1 other param(s) unchanged." in text


def test_json_carries_the_data(pipe: Path) -> None:
    change_params(pipe)
    found = json.loads(ok("report", "--vs", "HEAD", "--json"))
    assert found["report"] == "report.md" and found["files"] == ["report_files/metrics.png"]
    f1 = next(m for m in found["metrics"] if m["key"] == "f1")
    assert f1["old"] == 0.8 and f1["new"] == 0.9 and f1["delta"] == pytest.approx(0.1)
    assert [p["key"] for p in found["params"]] == ["score", "train.w"]
    assert found["gates"] == [
        {
            "model": "churn",
            "env": "production",
            "version": None,
            "passed": None,
            "problem": "not registered",
            "gates": [],
        }
    ]
    assert found["base"]["rev"] == "HEAD" and found["drift"] is None


def test_gates_of_the_latest_version_promote_nothing(pipe: Path) -> None:
    ok("model", "register", "churn")
    change_params(pipe)
    result = cli("report", "--vs", "HEAD")
    assert result.code == 0, result.err  # a failed gate is reported, not an error
    text = (pipe / "report.md").read_text()
    assert "| churn | production | churn@v0.0.1 | ❌ fail: approval |" in text
    assert "**churn@v0.0.1 → production**" in text
    assert "- ✅ `champion`:" in text and "- ❌ `approval`: 0 of 1 approval(s)" in text
    assert "staging" not in text  # no gates there
    assert "churn#" not in git(pipe, "tag")


def test_drift_section_names_the_drifted_features(pipe: Path) -> None:
    (pipe / "drift.json").write_text(json.dumps(DRIFT))
    ok("report", "--vs", "HEAD", "--drift", "drift.json")
    text = (pipe / "report.md").read_text()
    section = text[text.index("### Drift") :]
    assert "**Drift detected** in 1 of 2 feature(s): `tenure` (`drift.json`)" in section
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert rows[1] == (
        "| tenure | numeric | **yes** | psi 0.31 > 0.2; ks p 0.001 < 0.05 | psi 0.31, ks_p 0.001 |"
    )
    assert rows[2] == "| plan | categorical | no | - | chi2_p 0.4 |"


def test_drift_is_read_leniently(pipe: Path) -> None:
    lenient = {
        "model": "churn",
        "env": "production",
        "features": {"age": {"type": "numeric", "drift": True, "reason": "mean moved", "psi": 0.5}},
    }
    (pipe / "drift.json").write_text(json.dumps(lenient))
    found = json.loads(ok("report", "--vs", "HEAD", "--drift", "drift.json", "--json"))
    assert found["drift"]["drifted"] is True
    assert found["drift"]["features"] == [
        {
            "name": "age",
            "kind": "numeric",
            "drifted": True,
            "reasons": ["mean moved"],
            "statistics": {"psi": 0.5},
        }
    ]
    text = (pipe / "report.md").read_text()
    assert "**Drift detected** of churn in production in 1 of 1 feature(s): `age`" in text


def test_drift_in_the_full_shape_of_monitor_drift(pipe: Path) -> None:
    full = {
        "model": "churn",
        "version": "0.0.1",
        "env": "production",
        "drifted": True,
        "drifted_features": [],
        "missing_columns": ["plan"],
        "new_columns": [],
        "features": [
            {
                "name": "tenure",
                "kind": "numeric",
                "n_reference": 200,
                "n_current": 50,
                "statistics": {"psi": 0.01, "ks_p": None},
                "drifted": False,
                "reasons": [],
                "histogram": {"edges": [0, 1], "reference": [1], "current": [1]},
            }
        ],
        "sources": {"reference": {"location": "data/train.csv", "rows": 200}},
        "thresholds": {"psi": 0.2},
    }
    (pipe / "drift.json").write_text(json.dumps(full))
    ok("report", "--vs", "HEAD", "--drift", "drift.json")
    text = (pipe / "report.md").read_text()
    assert "❌ **Drift detected** of churn in production (`drift.json`)." in text
    assert "missing from the current data: `plan`." in text
    assert "| tenure | numeric | no | - | psi 0.01, ks_p - |" in text


def test_no_drift(pipe: Path) -> None:
    (pipe / "drift.json").write_text(json.dumps({"drifted": False, "features": []}))
    ok("report", "--vs", "HEAD", "--drift", "drift.json")
    assert "✅ No drift (`drift.json`)." in (pipe / "report.md").read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "error: missing.json: does not exist"),
        ("{not json", "error: missing.json: not JSON"),
        ("42", "error: missing.json: expected the JSON of 'lockstep monitor drift'"),
    ],
)
def test_a_bad_drift_file_exits_2(pipe: Path, content: str | None, message: str) -> None:
    if content is not None:
        (pipe / "missing.json").write_text(content)
    result = cli("report", "--vs", "HEAD", "--drift", "missing.json")
    assert result.code == 2
    assert result.err.startswith(message)
    assert not (pipe / "report.md").exists()


def test_a_bad_revision_exits_2_naming_it(pipe: Path) -> None:
    result = cli("report", "--vs", "no-such-branch")
    assert result.code == 2
    assert result.err.strip() == "error: 'no-such-branch' is not a Git revision in this repository"
    assert not (pipe / "report.md").exists()


def test_default_base_is_origin_main_when_it_exists(pipe: Path, tmp_path: Path) -> None:
    change_params(pipe)
    ok("report")
    assert "`HEAD` (" in (pipe / "report.md").read_text()
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(pipe, "remote", "add", "origin", str(origin))
    git(pipe, "push", "-q", "origin", "main")
    git(pipe, "fetch", "-q", "origin")
    train(pipe, 3.0, 0.95, "Third model on main")  # HEAD moves on; origin/main stays
    change_params(pipe, w=4.0, score=0.97)
    ok("report")
    text = (pipe / "report.md").read_text()
    assert "`origin/main` (" in text
    assert "| evaluate | f1 | 0.8 | 0.97 | **+0.17** |" in text


def test_out_elsewhere_links_relatively(pipe: Path) -> None:
    change_params(pipe)
    ok("report", "--vs", "HEAD", "--out", "reports/pr 12.md")
    report = pipe / "reports" / "pr 12.md"
    assert "](pr%2012_files/metrics.png)" in report.read_text()
    linked = images(report)
    assert linked == [pipe / "reports" / "pr 12_files" / "metrics.png"]
    assert_png(linked[0])


def test_stage_plots_are_drawn_with_the_base_beside(pipe: Path) -> None:
    stages = json.loads(json.dumps(CONFIG["stages"]))
    stages["evaluate"]["plots"] = ["plots/pr.csv"]
    write_config(pipe, stages=stages)
    (pipe / "evaluate.py").write_text(PLOTTING_EVALUATE)
    (pipe / ".gitignore").write_text("/report.md\n/report_files/\n")
    train(pipe, 1.0, 0.80, "Plot precision and recall")
    change_params(pipe)
    project = Project.open(pipe)
    try:
        sources = gather(project, "HEAD").plots
    finally:
        project.close()
    assert [(s.stage, s.path) for s in sources] == [("evaluate", "plots/pr.csv")]
    assert sources[0].old is not None and sources[0].new is not None
    assert sources[0].old != sources[0].new
    found = json.loads(ok("report", "--vs", "HEAD", "--json"))
    assert found["files"] == [
        "report_files/metrics.png",
        "report_files/plot-evaluate-plots-pr.csv.png",
    ]
    assert found["skipped"] == []
    report = pipe / "report.md"
    assert "**evaluate: plots/pr.csv**" in report.read_text()
    linked = images(report)
    assert len(linked) == 2
    for path in linked:
        assert_png(path)


def test_a_plot_that_cannot_be_drawn_is_named(pipe: Path) -> None:
    stages = json.loads(json.dumps(CONFIG["stages"]))
    stages["evaluate"]["plots"] = ["plots/notes.txt"]
    stages["evaluate"]["cmd"] = "python evaluate.py && mkdir -p plots && echo hi > plots/notes.txt"
    write_config(pipe, stages=stages)
    ok("run")
    out = ok("report", "--vs", "HEAD")
    assert "evaluate: plots/notes.txt: not drawn: .txt is not a table format" in out
    assert "not drawn: .txt is not a table format" in (pipe / "report.md").read_text()


def test_a_workspace_without_commits(ws: Path) -> None:
    out = ok("report")
    assert "Wrote report.md" in out
    text = (ws / "report.md").read_text()
    assert "`HEAD (no commit yet)`" in text
    assert "No metrics on either side" in text and "No param changed." in text
    assert "No environment in lockstep.yaml has gates" in text
    assert not (ws / "report_files").exists()
