"""The demo's registry part: register the pipeline's model, promote it behind gates
(one promotion fails, one passes), roll an environment back, tell the history."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lockstep.errors import OperationError
from lockstep.fs import atomic_write_text
from lockstep.project import Project

if TYPE_CHECKING:
    from lockstep.cli.demo_loop import Steps
    from lockstep.project.models import Models

REGISTRY = """\
models:
  churn:
    path: models/model.pkl
    schema: schemas/prepared.yaml
    target: target
    retrain:
      command: python src/refresh.py
      env: staging
environments:
  staging:
    gates: [data, scan]
    target: local
    port: @PORT@
    smoke:
      requests:
        - body_file: smoke/request.json
          shape: [1]
  production:
    gates:
      - data
      - scan
      - signature
      - champion: {metric: f1, min_delta: 0.0}
      - approval: {count: 1}
"""


def run_steps(steps: Steps, repo: Path) -> None:
    from lockstep.cli import demo_serving
    from lockstep.cli.demo_loop import git
    from lockstep.cli.demo_package import package_step
    from lockstep.cli.demo_pipeline import run as run_pipeline
    from lockstep.cli.demo_pipeline import set_trees
    from lockstep.cli.demo_serving import smoke_request
    from lockstep.config import set_value
    from lockstep.deploy.processes import free_port

    def configure() -> str:
        from lockstep.datacheck import files_under, infer_schema, load_table

        schema = infer_schema(load_table(files_under(repo / "data" / "prepared")))
        (repo / "schemas").mkdir(exist_ok=True)
        atomic_write_text(repo / "schemas" / "prepared.yaml", schema)
        text = (repo / "lockstep.yaml").read_text()
        port = str(free_port())
        atomic_write_text(repo / "lockstep.yaml", text + REGISTRY.replace("@PORT@", port))
        set_value(repo, ["serve", "log_flush_seconds"], 0.5, local=False)
        smoke_request(repo)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "Registry: churn, staging and production gates")
        return f"gates: data, scan, signature, champion, approval; staging on port {port}"

    def second_model() -> str:
        set_trees(repo, 80)
        run_pipeline(repo)
        git(repo, "commit", "-q", "-am", "More trees for churn (CHURN-12)")
        version = _models(repo).register("churn", None, None)
        return f"{version.ref}: f1 {version.meta['metrics']['f1']:.3f}"

    steps.run("declare the model, its schema and environments", configure)
    steps.run("make a signing key (ed25519)", lambda: _keygen(repo))
    steps.run("register the model: scanned, attested, signed", lambda: _register(repo))
    steps.run("verify it: bytes, signature, attestations", lambda: _verify(repo))
    steps.run("a tampered signature is refused", lambda: _tampered(repo))
    steps.run("package it as an OCI artifact, verify it", lambda: package_step(repo))
    steps.run("promote it to staging (data, scan)", lambda: _promote(repo, "churn", "staging"))
    steps.run("promote to production: fails, no approval", lambda: _refused(repo, "churn"))
    steps.run("approve, then promote to production", lambda: _approve_promote(repo))
    steps.run("register a second model", second_model)
    steps.run("promote it to production: champion fails", lambda: _refused(repo, "churn"))
    demo_serving.run_steps(steps, repo)
    steps.run("the history of churn", lambda: _history(repo))


def _keygen(repo: Path) -> str:
    from lockstep.cli.demo_loop import git

    made = Project.open(repo).trust().keygen("demo")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Trust the demo key")
    return f"key id {made.key.keyid}; public key {made.public} committed"


def _verify(repo: Path) -> str:
    result = Project.open(repo).trust().verify("churn@v0.0.1")
    if not result.passed:
        raise OperationError(f"the demo expected churn@v0.0.1 to verify: {result.failed}")
    kinds = sorted({c.name.split()[0] for c in result.checks})
    return f"{len(result.checks)} checks pass ({', '.join(kinds)})"


def _tampered(repo: Path) -> str:
    """Flip one byte of the signature envelope in a copy of the project."""
    import os
    import shutil

    from lockstep.registry.attestations import attestations
    from lockstep.registry.names import SemVer

    copy = repo.parent / "tampered"
    shutil.copytree(repo, copy, symlinks=True)
    project = Project.open(copy)
    [signature] = [a for a in attestations(copy, "churn", SemVer(0, 0, 1)) if a.kind == "signature"]
    path = project.ws.store.path(signature.digest)
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    result = project.trust().verify("churn@v0.0.1")
    if result.passed:
        raise OperationError("the demo expected the tampered copy to fail verification")
    name, detail = next(iter(result.failed.items()))
    return f"exit 1: {name}: {detail[:60]}"


def _models(repo: Path) -> Models:
    return Project.open(repo).models()


def _register(repo: Path) -> str:
    version = _models(repo).register("churn", None, None)
    return f"{version.ref} ({version.meta['flavor']}, f1 {version.meta['metrics']['f1']:.3f})"


def _promote(repo: Path, ref: str, env: str) -> str:
    result = _models(repo).promote(ref, env)
    if result.tag is None:
        raise OperationError(f"the demo expected {ref} to pass the gates of {env}")
    return f"{result.tag}: " + ", ".join(f"{v.gate} pass" for v in result.verdicts)


def _refused(repo: Path, ref: str) -> str:
    result = _models(repo).promote(ref, "production")
    if result.tag is not None:
        raise OperationError(f"the demo expected the promotion of {ref} to fail")
    failed = next(v for v in result.verdicts if not v.passed)
    return f"exit 1: {failed.gate}: {failed.summary}"


def _approve_promote(repo: Path) -> str:
    models = _models(repo)
    models.approve("churn", "production")
    return _promote(repo, "churn@v0.0.1", "production")


def _history(repo: Path) -> str:
    events = _models(repo).history("churn", None)
    issues = sorted({i for e in events for c in e.changes for i in c.issues})
    actions = sorted({e.action for e in events})
    return f"{len(events)} events ({', '.join(actions)}); issues between versions: {issues}"
