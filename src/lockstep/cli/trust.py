"""Trust commands: ``keygen``, ``sign``, ``verify``, ``provenance`` and ``bom``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from lockstep.cli.app import JSON_OPTION, echo, emit_json, open_project
from lockstep.errors import VerificationError

REF = typer.Argument(
    ..., metavar="REF", help="NAME@vX.Y.Z, NAME#ENV (what ENV runs now) or NAME (latest)."
)
OUT = typer.Option(None, "--out", "-o", help="Write the document to FILE instead of stdout.")


def keygen(
    name: str = typer.Option(
        None, "--name", "-n", help="The key's name (default: your user name)."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing key of that name."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Make an ed25519 key pair for signing model versions.

    The private key goes to .lockstep/keys/NAME.key (mode 0600, ignored by Git);
    the public key to .lockstep/trusted-keys/NAME.pub, which is meant to be
    committed: verification trusts the keys in that folder.
    """
    made = open_project().trust().keygen(name, force=force)
    if json_output:
        emit_json(made.to_dict())
        return
    echo(f"Made ed25519 key {made.key.name} (key id {made.key.keyid}).")
    echo(f"  private: {made.private} (mode 0600, never commit it)")
    echo(f"  public:  {made.public}")
    echo(f"Next: git add {made.public} && git commit, so others trust it.")


def sign(
    ref: str = REF,
    key: str = typer.Option(
        None, "--key", "-k", help="The key in .lockstep/keys/ (default: [signing] key)."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Sign a model version: a DSSE envelope over an in-toto statement whose subject
    is the model's digest and whose predicate is the version tag's metadata.

    The model's bytes are checked first. The envelope goes to the cache and an
    attestation/NAME/vX.Y.Z/signature/... tag on the version's commit lists it.
    """
    done = open_project().trust().sign(ref, key)
    if json_output:
        emit_json(done.to_dict())
        return
    found = done.attestation
    echo(f"Signed {done.version.ref} with key {done.keyid} ({found.tag}).")
    echo(f"Next: git push origin {found.tag}")


def verify(ref: str = REF, json_output: bool = JSON_OPTION) -> None:
    """Verify a model version: re-hash the model, then check every attestation's
    object, key, signature, subject digest and (signatures) the signed metadata
    against the version tag. Exit code 1, naming each failed check, on a mismatch.

    REF may be oci://HOST[:PORT]/REPO:TAG, a package 'lockstep package' pushed:
    its files are pulled and hashed, the model digest recomputed, and one of its
    signatures must be valid under .lockstep/trusted-keys/."""
    if ref.startswith("oci://"):
        _verify_package(ref, json_output)
        return
    result = open_project().trust().verify(ref)
    if json_output:
        emit_json(result.to_dict())
    else:
        echo(f"Verifying {result.version.ref} ({result.version.meta.get('digest')}):")
        for check in result.checks:
            echo(f"  {'pass' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
    if not result.passed:
        raise VerificationError(result.version.ref, result.failed)
    if not json_output:
        echo(f"{result.version.ref} verified.")


def _verify_package(ref: str, json_output: bool) -> None:
    from lockstep.project.package import Package

    result = Package(open_project()).verify(ref)
    if json_output:
        emit_json(result.to_dict())
    else:
        echo(f"Verifying {ref} (sha256:{result.digest}):")
        for check in result.checks:
            echo(f"  {'pass' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
    if not result.passed:
        raise VerificationError(ref, result.failed)
    if not json_output:
        echo(f"{ref} verified.")


def provenance(
    ref: str = REF,
    out: Path = OUT,
    sign: bool = typer.Option(
        None,
        "--sign/--no-sign",
        help="Sign the statement (default: when a signing key exists).",
    ),
) -> None:
    """SLSA provenance v1 of a model version as an in-toto statement: the pipeline
    stage, its params, the Git commit and input data digests, the builder, and
    when the run started and ended. Recorded as an attestation of the version."""
    done = open_project().trust().provenance(ref, sign=sign)
    _output(done.document, out, done.to_dict())


def bom(
    ref: str = REF,
    out: Path = OUT,
    sign: bool = typer.Option(
        None, "--sign/--no-sign", help="Sign the BOM (default: when a signing key exists)."
    ),
) -> None:
    """The ML-BOM of a model version (CycloneDX 1.6 JSON): the model with its hash
    and model card, its training and evaluation data with their digests, and the
    Python packages of the run's environment. Recorded as an attestation."""
    done = open_project().trust().bom(ref, sign=sign)
    _output(done.document, out, done.to_dict())


def _output(document: dict[str, Any], out: Path | None, summary: dict[str, Any]) -> None:
    if out is None:
        emit_json(document)
        return
    out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    signed = "signed" if summary["signed"] else "unsigned"
    tag = summary["attestation"]["tag"]
    echo(f"Wrote {out} ({signed} {summary['kind']} of {summary['version']}, {tag}).")


def register(app: typer.Typer) -> None:
    app.command("keygen")(keygen)
    app.command("sign")(sign)
    app.command("verify")(verify)
    app.command("provenance")(provenance)
    app.command("bom")(bom)
