"""SLSA provenance v1 of a model: the pipeline stage that built it, from what, where.

The predicate (``predicateType: https://slsa.dev/provenance/v1``)::

    {"buildDefinition": {
        "buildType": "https://lockstep.dev/pipeline-stage/v1",
        "externalParameters": {"stage": "train", "params": {"train.w": 1.0}},
        "resolvedDependencies": [
            {"uri": "git+<remote url or path>@<commit>", "digest": {"gitCommit": "<40 hex>"}},
            {"name": "data/train.csv", "digest": {"sha256": "<64 hex>"}}]},
     "runDetails": {
        "builder": {"id": "local"},   # or the CI run's URL
        "metadata": {"invocationId": "<run id>", "startedOn": "...", "finishedOn": "..."}}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

BUILD_TYPE = "https://lockstep.dev/pipeline-stage/v1"
LOCAL_BUILDER = "local"


@dataclass(frozen=True)
class Build:
    """What is known of the run that made a model version."""

    stage: str | None
    params: Mapping[str, Any]
    repository: str  # the Git remote's URL, or the repository's path
    commit: str
    inputs: Mapping[str, str] = field(default_factory=dict)  # path -> sha256:<hex>
    run_id: str | None = None
    started: str | None = None  # ISO 8601
    finished: str | None = None


def builder(environ: Mapping[str, str]) -> dict[str, Any]:
    """Who ran the build: GitHub Actions or GitLab CI (with the run's URL), else local."""
    if environ.get("GITHUB_ACTIONS") == "true":
        server = environ.get("GITHUB_SERVER_URL", "https://github.com")
        repo, run = environ.get("GITHUB_REPOSITORY", ""), environ.get("GITHUB_RUN_ID", "")
        url = f"{server}/{repo}/actions/runs/{run}" if repo and run else server
        return {"id": url, "version": {"ci": "github-actions"}}
    if environ.get("GITLAB_CI") == "true":
        url = environ.get("CI_PIPELINE_URL") or environ.get("CI_SERVER_URL", "gitlab-ci")
        return {"id": url, "version": {"ci": "gitlab-ci"}}
    return {"id": LOCAL_BUILDER}


def dependencies(build: Build) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [
        {"uri": f"git+{build.repository}@{build.commit}", "digest": {"gitCommit": build.commit}}
    ]
    for path, digest in sorted(build.inputs.items()):
        found.append({"name": path, "digest": {"sha256": digest.removeprefix("sha256:")}})
    return found


def predicate(build: Build, environ: Mapping[str, str]) -> dict[str, Any]:
    metadata = {
        k: v
        for k, v in (
            ("invocationId", build.run_id),
            ("startedOn", build.started),
            ("finishedOn", build.finished),
        )
        if v
    }
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {"stage": build.stage, "params": dict(build.params)},
            "resolvedDependencies": dependencies(build),
        },
        "runDetails": {"builder": builder(environ), "metadata": metadata},
    }
