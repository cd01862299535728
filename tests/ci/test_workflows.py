"""``lockstep ci init``: files valid in each provider's schema (check-jsonschema's built-in
schemas, actionlint), jobs that call lockstep, tag patterns that match NAME#ENV#N."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from lockstep.ci import workflows
from tests.ci.tools import assert_actionlint, assert_schema
from tests.conftest import cli
from tests.registry.conftest import write_config

GITHUB = [
    ".github/workflows/lockstep-pull-request.yml",
    ".github/workflows/lockstep-register.yml",
    ".github/workflows/lockstep-deploy.yml",
    ".github/workflows/lockstep-monitor.yml",
]

TEAM_CONFIG = {
    "models": {
        "churn": {"path": "models/model.pkl"},
        "team/fraud": {"path": "models/fraud.pkl"},
    },
    "environments": {
        "staging": {"gates": ["scan"]},
        "production": {"gates": [{"approval": {"count": 2}}], "target": "kubernetes"},
        "edge": {"target": "container"},
    },
}


def ok(*args: str) -> str:
    result = cli(*args)
    assert result.code == 0, result.out + result.err
    return result.out


def load(root: Path, path: str) -> dict[str, object]:
    data = yaml.safe_load((root / path).read_text())
    assert isinstance(data, dict)
    return data


def scripts(job: dict[str, object]) -> list[str]:
    """The shell of a GitHub job's run steps or a GitLab job's script, line by line."""
    if "steps" in job:
        found = [s["run"] for s in job["steps"] if "run" in s]  # type: ignore[attr-defined]
    else:
        found = list(job["script"])  # type: ignore[call-overload]
    return [line.strip() for text in found for line in text.splitlines()]


@pytest.fixture
def team(ws: Path) -> Path:
    write_config(ws, **TEAM_CONFIG)
    ok("remote", "add", "store", "s3://bucket/lockstep", "--endpoint-url", "http://127.0.0.1:9")
    return ws


# --- validity --------------------------------------------------------------------------------


def test_github_workflows_pass_the_schema_and_actionlint(team: Path) -> None:
    out = ok("ci", "init", "--provider", "github")
    for path in GITHUB:
        assert f"Wrote {path}" in out
    assert "AWS_ACCESS_KEY_ID" in out and "LOCKSTEP_SERVE_TOKEN" in out
    files = [team / p for p in GITHUB]
    assert_schema("vendor.github-workflows", files)
    assert_actionlint(files)


def test_gitlab_file_passes_the_schema(team: Path) -> None:
    out = ok("ci", "init", "--provider", "gitlab")
    assert "Wrote .gitlab-ci.yml" in out
    assert_schema("vendor.gitlab-ci", [team / ".gitlab-ci.yml"])


def test_the_linters_catch_a_broken_workflow(team: Path) -> None:
    """The checks above would fail on a wrong file: they are not vacuous."""
    ok("ci", "init", "--provider", "github")
    broken = team / "broken.yml"
    text = (team / GITHUB[0]).read_text().replace("runs-on: ubuntu-latest", "runs_on: x")
    broken.write_text(text)
    with pytest.raises(AssertionError):
        assert_schema("vendor.github-workflows", [broken])
    untrusted = (
        (team / GITHUB[0])
        .read_text()
        .replace('"origin/$BASE_REF"', '"${{ github.event.pull_request.title }}"')
    )
    broken.write_text(untrusted)
    with pytest.raises(AssertionError, match="untrusted"):
        assert_actionlint([broken])
    gitlab = team / "broken-gitlab.yml"
    gitlab.write_text("job:\n  stage: check\n  rules: [{when: sometimes}]\n")
    with pytest.raises(AssertionError):
        assert_schema("vendor.gitlab-ci", [gitlab])


@pytest.mark.parametrize("provider", ["github", "gitlab"])
def test_a_workspace_without_models_gets_the_pull_request_checks(ws: Path, provider: str) -> None:
    out = ok("ci", "init", "--provider", provider, "--json")
    files = json.loads(out)["files"]
    if provider == "github":
        assert files == [GITHUB[0]]
        job = load(ws, GITHUB[0])["jobs"]["lockstep"]  # type: ignore[index]
        assert_schema("vendor.github-workflows", [ws / GITHUB[0]])
        assert_actionlint([ws / GITHUB[0]])
    else:
        assert files == [".gitlab-ci.yml"]
        data = load(ws, ".gitlab-ci.yml")
        assert [k for k in data if k.startswith("lockstep-")] == ["lockstep-merge-request"]
        job = data["lockstep-merge-request"]
        assert_schema("vendor.gitlab-ci", [ws / ".gitlab-ci.yml"])
    lines = scripts(job)  # type: ignore[arg-type]
    assert "lockstep pull" in lines and "lockstep run" in lines
    assert not any(line.startswith("lockstep check") for line in lines)


# --- what the jobs run ---------------------------------------------------------------------------


def test_github_jobs_run_lockstep_commands(team: Path) -> None:
    ok("ci", "init", "--provider", "github", "--branch", "trunk")
    pr = load(team, GITHUB[0])
    assert pr["on"] == {"pull_request": {"branches": ["trunk"]}}
    lines = scripts(pr["jobs"]["lockstep"])  # type: ignore[index]
    lockstep = [line for line in lines if line.startswith("lockstep ")]
    assert lockstep == [
        "lockstep pull",
        "lockstep run",
        "lockstep model register churn --no-push",
        "lockstep model register team/fraud --no-push",
        'lockstep report --vs "origin/$BASE_REF" --out report.md',
        "lockstep check churn --env staging",
        "lockstep check team/fraud --env staging",
    ]
    assert any("gh pr comment" in line and "--body-file report.md" in line for line in lines)
    checkout = pr["jobs"]["lockstep"]["steps"][0]  # type: ignore[index]
    assert checkout["with"]["persist-credentials"] is False  # the PR's code runs here
    env = pr["jobs"]["lockstep"]["env"]  # type: ignore[index]
    assert env["AWS_ACCESS_KEY_ID"] == "${{ secrets.AWS_ACCESS_KEY_ID }}"
    # code from a pull request never sees the signing key or the serving token
    assert "LOCKSTEP_SIGNING_KEY" not in env and "LOCKSTEP_SERVE_TOKEN" not in env

    register = load(team, GITHUB[1])
    assert register["on"]["push"]["branches"] == ["trunk"]  # type: ignore[index]
    assert register["permissions"] == {"contents": "write"}
    lines = scripts(register["jobs"]["register"])  # type: ignore[index]
    assert [line for line in lines if line.startswith("lockstep ")] == [
        "lockstep pull",
        "lockstep model register churn --push",
        "lockstep model register team/fraud --push",
        "lockstep push",
    ]


def test_github_deploys_on_the_assignment_tags(team: Path) -> None:
    ok("ci", "init", "--provider", "github")
    deploy = load(team, GITHUB[2])
    tags = deploy["on"]["push"]["tags"]  # type: ignore[index]
    assert "churn#production#*" in tags and "team/fraud#edge#*" in tags and len(tags) == 6
    jobs = deploy["jobs"]
    assert isinstance(jobs, dict)
    job = jobs["deploy-churn-production"]
    assert job["if"] == "startsWith(github.ref, 'refs/tags/churn#production#')"
    assert job["environment"] == "production" and job["runs-on"] == "ubuntu-latest"
    assert "lockstep deploy churn --env production" in scripts(job)
    assert "LOCKSTEP_SERVE_TOKEN" in job["env"] and "KUBE_CONFIG" in job["env"]
    assert jobs["deploy-churn-staging"]["runs-on"] == "self-hosted"  # a local target
    assert "lockstep deploy team/fraud --env edge" in scripts(jobs["deploy-team-fraud-edge"])


def test_monitoring_retrains_only_on_drift(team: Path) -> None:
    ok("ci", "init", "--provider", "github", "--schedule", "30 4 * * 1")
    monitor = load(team, GITHUB[3])
    assert monitor["on"]["schedule"] == [{"cron": "30 4 * * 1"}]  # type: ignore[index]
    steps = monitor["jobs"]["monitor"]["steps"]  # type: ignore[index]
    script = next(s["run"] for s in steps if "monitor drift churn" in s.get("run", ""))
    assert script.splitlines() == [
        "if lockstep monitor drift churn --env production; then",
        '  echo "churn: no drift"',
        "else",
        "  code=$?",
        '  if [ "$code" -ne 1 ]; then exit "$code"; fi',
        "  lockstep monitor retrain churn --force --push --watch production",
        "fi",
    ]


def test_gitlab_rules_and_jobs(team: Path) -> None:
    ok("ci", "init", "--provider", "gitlab", "--check-env", "production")
    data = load(team, ".gitlab-ci.yml")
    mr = data["lockstep-merge-request"]
    assert mr["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]  # type: ignore[index]
    lines = scripts(mr)  # type: ignore[arg-type]
    target = "origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"
    assert f'lockstep report --vs "{target}" --out report.md' in lines
    assert "lockstep check churn --env production" in lines
    assert any("merge_requests/$CI_MERGE_REQUEST_IID/notes" in line for line in lines)
    register = data["lockstep-register"]
    assert "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH" in register["rules"][0]["if"]  # type: ignore[index]
    assert "lockstep model register team/fraud --push" in scripts(register)  # type: ignore[arg-type]
    monitor = data["lockstep-monitor"]
    assert monitor["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]  # type: ignore[index]
    deploy = data["lockstep-deploy-team-fraud-production"]
    assert deploy["environment"] == {"name": "production"}  # type: ignore[index]
    assert scripts(deploy)[-1] == "lockstep deploy team/fraud --env production"  # type: ignore[arg-type]


def test_gitlab_tag_rules_match_assignments_only(team: Path) -> None:
    ok("ci", "init", "--provider", "gitlab")
    data = load(team, ".gitlab-ci.yml")
    rule = data["lockstep-deploy-team-fraud-production"]["rules"][0]["if"]  # type: ignore[index]
    found = re.fullmatch(r"\$CI_COMMIT_TAG =~ /(.*)/", rule)
    assert found, rule
    pattern = re.compile(found[1].replace(r"\/", "/"))  # RE2 syntax; \/ only for GitLab
    assert pattern.search("team/fraud#production#12")
    for other in ("team/fraud#production!#3", "team/fraud#staging#1", "team/fraud@v1.0.0"):
        assert not pattern.search(other), other
    assert not pattern.search("xteam/fraud#production#1")


def test_tag_patterns() -> None:
    assert workflows.tag_glob("team/churn", "prod") == "team/churn#prod#*"
    assert workflows.tag_regex("team/churn", "prod") == r"^team\/churn#prod#[0-9]+$"


def test_secrets_follow_the_remotes(ws: Path) -> None:
    write_config(ws)
    ok("remote", "add", "registry", "oci://127.0.0.1:5000/team/data")
    ok("ci", "init", "--provider", "github")
    env = load(ws, GITHUB[0])["jobs"]["lockstep"]["env"]  # type: ignore[index]
    assert "LOCKSTEP_OCI_USERNAME" in env and "LOCKSTEP_TRACKING_URI" in env
    assert "AWS_ACCESS_KEY_ID" not in env


# --- refusing, forcing, options ------------------------------------------------------------------


def test_existing_files_are_refused_unless_forced(team: Path) -> None:
    ok("ci", "init", "--provider", "gitlab")
    (team / ".gitlab-ci.yml").write_text("# mine\n")
    again = cli("ci", "init", "--provider", "gitlab")
    assert again.code == 2
    assert again.err.strip().splitlines()[0] == (
        "error: .gitlab-ci.yml exists already; pass --force to overwrite it"
    )
    assert (team / ".gitlab-ci.yml").read_text() == "# mine\n"
    ok("ci", "init", "--provider", "gitlab", "--force")
    assert "lockstep-merge-request" in (team / ".gitlab-ci.yml").read_text()


def test_nothing_is_written_when_one_github_file_exists(team: Path) -> None:
    (team / GITHUB[2]).parent.mkdir(parents=True)
    (team / GITHUB[2]).write_text("# mine\n")
    result = cli("ci", "init", "--provider", "github")
    assert result.code == 2 and GITHUB[2] in result.err
    assert not (team / GITHUB[0]).exists()


def test_json_lists_the_files(team: Path) -> None:
    found = json.loads(ok("ci", "init", "--provider", "github", "--json"))
    assert found["files"] == GITHUB
    assert found["models"] == ["churn", "team/fraud"]
    assert found["environments"] == ["staging", "production", "edge"]
    assert found["check_env"] == "staging"
    assert "LOCKSTEP_SIGNING_KEY" in found["variables"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--provider", "jenkins"], "--provider must be one of github, gitlab, not 'jenkins'"),
        (["--provider", "github", "--check-env", "qa"], "--check-env qa: no such environment"),
        (["--provider", "github", "--schedule", "daily"], "is not a cron line"),
        (["--provider", "gitlab", "--branch", "a b"], "is not a branch name"),
    ],
)
def test_bad_options_exit_2(team: Path, args: list[str], message: str) -> None:
    result = cli("ci", "init", *args)
    assert result.code == 2, result.out + result.err
    assert message in result.err
    assert not (team / ".github").exists() and not (team / ".gitlab-ci.yml").exists()


def test_install_and_python_options(team: Path) -> None:
    ok("ci", "init", "--provider", "gitlab", "--python", "3.12", "--install", "lockstep-ml[onnx]")
    data = load(team, ".gitlab-ci.yml")
    assert data["default"]["image"] == "python:3.12"  # type: ignore[index]
    assert data["default"]["before_script"][0] == "pip install --quiet 'lockstep-ml[onnx]'"  # type: ignore[index]


def test_outside_a_workspace_exits_2(repo: Path) -> None:
    result = cli("ci", "init", "--provider", "github")
    assert result.code == 2 and "lockstep init" in result.err
