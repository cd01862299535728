"""``lockstep package REF --push oci://HOST[:PORT]/REPO[:TAG]``: a model version as
an OCI artifact, with its attestations beside it."""

from __future__ import annotations

import typer

from lockstep.cli.app import JSON_OPTION, echo, emit_json, open_project
from lockstep.errors import InputError

INSECURE = typer.Option(
    False, "--insecure", help="Plain HTTP (always so for 127.0.0.1, localhost and ::1)."
)


def package(
    ref: str = typer.Argument(
        ..., metavar="REF", help="NAME@vX.Y.Z, NAME#ENV (what ENV runs now) or NAME (latest)."
    ),
    push: str = typer.Option(
        None,
        "--push",
        metavar="oci://HOST[:PORT]/REPO[:TAG]",
        help="The registry repository to push to; TAG defaults to v<version>.",
    ),
    insecure: bool = INSECURE,
    json_output: bool = JSON_OPTION,
) -> None:
    """Push a model version to an OCI registry as an artifact.

    One layer per model file (a changed file re-uploads only its blob, large
    files go in 8 MiB chunks), a config holding the version's metadata, the
    org.opencontainers.image.* annotations, and every attestation of the version
    pushed beside it with the package as its subject, listed under the
    sha256-<hex> tag for registries without the referrers API. Check it with
    'lockstep verify oci://HOST/REPO:TAG'.
    """
    if push is None:
        raise InputError("name where to push the package: --push oci://HOST[:PORT]/REPO[:TAG]")
    from lockstep.project.package import Package

    done = Package(open_project()).push(ref, push, insecure=insecure)
    if json_output:
        emit_json(done.to_dict())
        return
    echo(f"Pushed {ref} to {done.reference} (sha256:{done.digest}).")
    echo(f"  layers: {len(done.uploaded)} uploaded, {len(done.present)} already there")
    echo(f"  attestations: {len(done.attestations)} under sha256-{done.digest[:12]}…")


def register(app: typer.Typer) -> None:
    app.command("package")(package)
