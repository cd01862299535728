"""SLSA provenance and the CycloneDX ML-BOM of a registered model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from lockstep.registry.attestations import AttestationRef, attestations
from lockstep.registry.names import SemVer
from lockstep.registry.tags import Registry
from lockstep.supplychain.provenance import builder
from tests.conftest import cli, commit_keys, git
from tests.registry.conftest import CONFIG, reg  # noqa: F401  (the fixture)

REF = "churn@v0.0.1"


@pytest.fixture
def registered(reg: Path) -> Path:  # noqa: F811
    churn = {**CONFIG["models"]["churn"], "intended_use": "Rank customers by churn risk"}  # type: ignore[index]
    models = {"churn": churn}
    (reg / "lockstep.yaml").write_text(yaml.safe_dump({**CONFIG, "models": models}))
    git(reg, "commit", "-qam", "intended use")
    assert cli("model", "register", "churn").code == 0
    return reg


def test_provenance_statement(registered: Path) -> None:
    result = cli("provenance", REF)
    assert result.code == 0, result.err
    statement = json.loads(result.out)
    version = Registry.load(registered).resolve(REF)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    digest = str(version.meta["digest"]).removeprefix("sha256:")
    assert statement["subject"] == [{"name": "churn", "digest": {"sha256": digest}}]
    build = statement["predicate"]["buildDefinition"]
    assert build["buildType"] == "https://lockstep.dev/pipeline-stage/v1"
    assert build["externalParameters"] == {"stage": "train", "params": version.meta["params"]}
    git_dep, *data = build["resolvedDependencies"]
    assert git_dep["uri"].startswith("git+") and git_dep["uri"].endswith(f"@{version.commit}")
    assert git_dep["digest"] == {"gitCommit": version.commit}
    inputs = {k: v.removeprefix("sha256:") for k, v in version.meta["inputs"].items()}
    assert {d["name"]: d["digest"]["sha256"] for d in data} == inputs
    assert "data/train.csv" in inputs
    run = statement["predicate"]["runDetails"]
    assert run["builder"] == {"id": "local"}
    assert run["metadata"]["invocationId"] == version.meta["run_id"]
    assert run["metadata"]["startedOn"] <= run["metadata"]["finishedOn"]
    [found] = of_kind(registered, "provenance")
    assert found.keyid is None  # no key: unsigned


def test_signed_provenance_and_bom_verify(registered: Path, tmp_path: Path) -> None:
    assert cli("keygen", "--name", "ci").code == 0
    commit_keys(registered)
    assert cli("sign", REF).code == 0
    out = tmp_path / "prov.json"
    result = cli("provenance", REF, "--out", str(out))
    assert result.code == 0 and "signed provenance" in result.out, result.out + result.err
    assert json.loads(out.read_text())["predicateType"] == "https://slsa.dev/provenance/v1"
    assert cli("bom", REF, "--out", str(tmp_path / "bom.json")).code == 0
    # registration attached unsigned ones; these are the signed ones made now
    signed = [a for a in attestations(registered, "churn", SemVer(0, 0, 1)) if a.keyid]
    assert sorted(a.kind for a in signed) == ["bom", "provenance", "signature"]
    report = json.loads(cli("verify", REF, "--json").out)
    assert report["passed"], report
    assert any(c["check"].startswith("provenance ") for c in report["checks"])


def test_no_sign_without_a_key_refuses_sign(registered: Path) -> None:
    result = cli("provenance", REF, "--sign")
    assert result.code == 2 and "lockstep keygen" in result.err


def test_builder_from_ci_variables() -> None:
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/churn",
        "GITHUB_RUN_ID": "42",
    }
    assert builder(github)["id"] == "https://github.com/acme/churn/actions/runs/42"
    gitlab = {"GITLAB_CI": "true", "CI_PIPELINE_URL": "https://gitlab.example/p/-/pipelines/7"}
    assert builder(gitlab)["id"] == "https://gitlab.example/p/-/pipelines/7"
    assert builder({}) == {"id": "local"}


def test_bom_is_valid_cyclonedx_with_model_card(registered: Path) -> None:
    result = cli("bom", REF)
    assert result.code == 0, result.err
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(result.out)
    assert errors is None, errors
    bom = json.loads(result.out)
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    version = Registry.load(registered).resolve(REF)
    by_type: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for component in bom["components"]:
        by_type.setdefault(component["type"], []).append(component)
    [model] = by_type["machine-learning-model"]
    digest = str(version.meta["digest"]).removeprefix("sha256:")
    assert model["name"] == "churn" and model["version"] == "0.0.1"
    assert model["hashes"] == [{"alg": "SHA-256", "content": digest}]
    card = model["modelCard"]
    metrics = {m["type"]: m["value"] for m in card["quantitativeAnalysis"]["performanceMetrics"]}
    assert metrics == {"f1": "0.8", "loss": str(1 - 0.8)}
    assert card["considerations"]["useCases"] == ["Rank customers by churn risk"]
    data = {c["name"]: c for c in by_type["data"]}
    assert set(data) == {"data/train.csv", "data/eval.csv"}
    for path, expected in (
        ("data/train.csv", version.meta["inputs"]["data/train.csv"]),
        ("data/eval.csv", version.meta["evaluation"]["data"]["data/eval.csv"]),
    ):
        assert data[path]["hashes"][0]["content"] == expected.removeprefix("sha256:")
    libraries = {c["name"]: c for c in by_type["library"]}
    assert "pytest" in libraries or "pyyaml" in libraries
    assert all(c["purl"].startswith("pkg:pypi/") for c in libraries.values())
    assert len(of_kind(registered, "bom")) == 1


def test_bom_twice_is_one_attestation(registered: Path) -> None:
    first, second = cli("bom", REF), cli("bom", REF)
    assert first.code == second.code == 0
    assert len(of_kind(registered, "bom")) == 1


def of_kind(root: Path, kind: str) -> list[AttestationRef]:
    """The version's attestations of one kind (registration attaches several)."""
    return [a for a in attestations(root, "churn", SemVer(0, 0, 1)) if a.kind == kind]
