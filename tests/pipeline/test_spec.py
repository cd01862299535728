"""The stages: section is checked field by field; the graph has no cycle and no
output with two writers."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep.errors import ConfigError, PipelineError
from lockstep.pipeline.dag import Pipeline, render_dot, render_mermaid, render_text
from lockstep.pipeline.spec import Resources, parse_size, parse_stages
from tests.conftest import cli
from tests.pipeline.conftest import STAGES, write_pipeline


def test_parses_every_field() -> None:
    stages = parse_stages(
        {
            "train": {
                "cmd": ["python a.py", "python b.py"],
                "deps": ["data/./raw", "a.py"],
                "params": ["train.lr"],
                "outs": ["models/m.pkl"],
                "metrics": ["m.json"],
                "plots": ["roc.csv"],
                "resources": {"cpus": 2, "gpus": 1, "memory": "4GB"},
            }
        }
    )
    train = stages["train"]
    assert train.cmd == ("python a.py", "python b.py")
    assert train.command == "python a.py && python b.py"
    assert train.deps == ("data/raw", "a.py")
    assert train.all_outs == ("models/m.pkl", "m.json", "roc.csv")
    assert train.resources == Resources(cpus=2, gpus=1, memory=4 * 10**9)


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({"deps": ["a"]}, "stages.s.cmd", "is required"),
        ({"cmd": ""}, "stages.s.cmd", "non-empty"),
        ({"cmd": "x", "dpes": []}, "stages.s.dpes", "unknown field"),
        ({"cmd": "x", "deps": "a.py"}, "stages.s.deps", "must be a list"),
        ({"cmd": "x", "deps": ["../up"]}, "stages.s.deps[0]", "inside the workspace"),
        ({"cmd": "x", "outs": ["/abs"]}, "stages.s.outs[0]", "relative"),
        ({"cmd": "x", "outs": [".lockstep/x"]}, "stages.s.outs[0]", "inside .lockstep"),
        ({"cmd": "x", "outs": ["a", "a"]}, "stages.s.outs[1]", "listed twice"),
        ({"cmd": "x", "params": ["a..b"]}, "stages.s.params[0]", "dotted key"),
        ({"cmd": "x", "resources": {"tpus": 1}}, "stages.s.resources.tpus", "unknown resource"),
        ({"cmd": "x", "resources": {"cpus": -1}}, "stages.s.resources.cpus", ">= 0"),
        ({"cmd": "x", "resources": {"memory": "lots"}}, "stages.s.resources.memory", "size"),
    ],
)
def test_errors_name_the_stage_and_field(body: dict[str, object], field: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_stages({"s": body})
    assert caught.value.file == "lockstep.yaml"
    assert caught.value.field == field
    assert problem in caught.value.problem


@pytest.mark.parametrize(
    ("text", "size"), [("4GB", 4 * 10**9), ("512MiB", 512 * 2**20), ("1.5K", 1500), (10, 10)]
)
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text, "x") == size


def test_cycle_is_an_error_naming_the_loop() -> None:
    stages = parse_stages(
        {
            "a": {"cmd": "x", "deps": ["b.out"], "outs": ["a.out"]},
            "b": {"cmd": "x", "deps": ["a.out/part"], "outs": ["b.out"]},
        }
    )
    with pytest.raises(PipelineError, match=r"cycle: a -> b -> a"):
        Pipeline.build(stages)


@pytest.mark.parametrize(("first", "second"), [("out", "out"), ("data", "data/part")])
def test_two_writers_of_one_output(first: str, second: str) -> None:
    stages = parse_stages(
        {"a": {"cmd": "x", "outs": [first]}, "b": {"cmd": "y", "metrics": [second]}}
    )
    with pytest.raises(PipelineError, match="stages a and b both write"):
        Pipeline.build(stages)


def test_order_select_and_renderings() -> None:
    pipeline = Pipeline.build(parse_stages(STAGES))
    assert pipeline.order() == ["prepare", "train", "evaluate"]
    assert pipeline.upstream["evaluate"] == ("train",)
    assert pipeline.select(["train"]) == ["prepare", "train"]
    assert pipeline.downstream["prepare"] == ("train",)
    assert "train  <- prepare" in render_text(pipeline)
    assert '"prepare" -> "train";' in render_dot(pipeline)
    assert "s1 --> s2" in render_mermaid(pipeline)
    with pytest.raises(PipelineError, match="no stage named 'nope'"):
        pipeline.select(["nope"])


def test_cli_reports_bad_stage_in_one_line(ws: Path) -> None:
    write_pipeline(ws, {"train": {"cmd": "x", "outs": 3}})
    result = cli("run")
    assert result.code == 2
    assert result.err.splitlines() == ["error: lockstep.yaml: stages.train.outs: must be a list"]
    write_pipeline(ws, {"a": {"cmd": "x", "outs": ["o"]}, "b": {"cmd": "x", "outs": ["o"]}})
    assert cli("dag").code == 2


def test_dag_command(ws: Path) -> None:
    write_pipeline(ws)
    assert cli("dag").out.splitlines()[0] == "prepare"
    assert cli("dag", "--dot").out.startswith("digraph pipeline {")
    assert cli("dag", "--mermaid").out.startswith("flowchart LR")
    assert cli("dag", "--json").out.count('"train"') == 3
