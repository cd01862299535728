"""keygen, sign and verify on a registered model; each tampering fails verification
with exit code 1 and names what did not match."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from lockstep.registry.attestations import AttestationRef, attestations
from lockstep.registry.names import SemVer
from lockstep.registry.tags import Registry
from tests.conftest import Result, cli, commit_keys, git
from tests.registry.conftest import reg  # noqa: F401  (the fixture)

pytestmark = pytest.mark.usefixtures("reg")
REF = "churn@v0.0.1"


@pytest.fixture
def signed(reg: Path) -> Path:  # noqa: F811
    assert cli("model", "register", "churn").code == 0
    made = cli("keygen", "--name", "alice")
    assert made.code == 0, made.err
    commit_keys(reg)
    done = cli("sign", REF)
    assert done.code == 0, done.err
    return reg


def verify_fails(*expected: str) -> Result:
    result = cli("verify", REF)
    assert result.code == 1, result.out + result.err
    for text in expected:
        assert text in result.err, result.err
    assert len(result.err.splitlines()) <= 2  # the error line and at most a hint
    return result


def flip_byte(path: Path, at: int = 0) -> None:
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.unlink()  # never write through a hard link into another copy
    path.write_bytes(bytes(data))


def object_path(root: Path, digest: str) -> Path:
    return root / ".lockstep" / "cache" / "blobs" / "sha256" / digest[:2] / digest


def model_digest(root: Path) -> str:
    version = Registry.load(root).resolve(REF)
    return str(version.meta["digest"]).removeprefix("sha256:")


def test_keygen_files_modes_and_git(reg: Path) -> None:  # noqa: F811
    result = cli("keygen", "--name", "alice", "--json")
    assert result.code == 0, result.err
    made = json.loads(result.out)
    private = reg / made["private_key"]
    assert (reg / made["public_key"]).read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert made["private_key"] == ".lockstep/keys/alice.key"
    assert made["public_key"] == ".lockstep/trusted-keys/alice.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert "!/trusted-keys/" in (reg / ".lockstep" / ".gitignore").read_text().splitlines()
    status = git(reg, "status", "--porcelain", "--ignored", "--untracked-files=all")
    lines = status.splitlines()
    assert "?? .lockstep/trusted-keys/alice.pub" in lines
    assert "!! .lockstep/keys/alice.key" in lines or "!! .lockstep/keys/" in lines


def test_keygen_refuses_to_overwrite(reg: Path) -> None:  # noqa: F811
    assert cli("keygen", "--name", "alice").code == 0
    before = (reg / ".lockstep/keys/alice.key").read_bytes()
    again = cli("keygen", "--name", "alice")
    assert again.code == 2 and "exists already" in again.err
    assert (reg / ".lockstep/keys/alice.key").read_bytes() == before
    assert cli("keygen", "--name", "alice", "--force").code == 0
    assert (reg / ".lockstep/keys/alice.key").read_bytes() != before
    assert cli("keygen", "--name", "../x").code == 2


def test_sign_then_verify_passes(signed: Path) -> None:
    result = cli("verify", REF, "--json")
    assert result.code == 0, result.out + result.err
    report = json.loads(result.out)
    assert report["passed"] is True
    names = [c["check"] for c in report["checks"]]
    assert names[0] == "model bytes"
    assert any(n.endswith(" predicate") for n in names)
    [found] = of_kind(signed, "signature")
    assert found.kind == "signature" and found.tag.startswith("attestation/churn/v0.0.1/signature/")
    envelope = json.loads(object_path(signed, found.digest).read_bytes())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    text = cli("verify", REF)
    assert text.code == 0 and "verified" in text.out


def test_registry_ignores_attestation_tags(signed: Path) -> None:
    registry = Registry.load(signed)
    assert [v.ref for v in registry.versions["churn"]] == [REF]
    assert cli("model", "list").code == 0


def test_not_signed(reg: Path) -> None:  # noqa: F811
    assert cli("model", "register", "churn").code == 0
    verify_fails("not signed")


def test_sign_needs_a_key(reg: Path) -> None:  # noqa: F811
    assert cli("model", "register", "churn").code == 0
    result = cli("sign", REF)
    assert result.code == 2 and "lockstep keygen" in result.err


def test_model_bytes_changed_in_the_workspace(signed: Path) -> None:
    flip_byte(signed / "models" / "model.pkl", at=5)
    verify_fails("model bytes", "models/model.pkl hashes to sha256:")


def test_model_bytes_changed_in_the_cache(signed: Path) -> None:
    (signed / "models" / "model.pkl").unlink()  # so the bytes come from the cache
    flip_byte(object_path(signed, model_digest(signed)), at=5)
    verify_fails("model bytes", "the cache's copy", "corrupt")


def test_envelope_changed(signed: Path) -> None:
    [found] = of_kind(signed, "signature")
    flip_byte(object_path(signed, found.digest), at=10)
    verify_fails(f"signature {found.digest[:12]} object", "corrupt")


def test_tag_metadata_rewritten(signed: Path) -> None:
    version = Registry.load(signed).resolve(REF)
    message = git(signed, "tag", "-l", "--format=%(contents)", version.tag)
    title, _, body = message.partition("\n\n")
    meta = json.loads(body)
    meta["metrics"]["f1"] = 0.99
    git(signed, "tag", "-d", version.tag)
    new = f"{title}\n\n{json.dumps(meta, indent=2, sort_keys=True)}\n"
    git(signed, "tag", "-a", version.tag, "-m", new, version.commit)
    verify_fails("predicate", "differs from what was signed in: metrics")


def test_signature_by_an_untrusted_key(signed: Path) -> None:
    for path in (signed / ".lockstep" / "trusted-keys").iterdir():
        path.unlink()
    verify_fails("key", "not in .lockstep/trusted-keys/")


def test_a_second_key_not_trusted_fails_too(signed: Path) -> None:
    assert cli("keygen", "--name", "mallory").code == 0
    (signed / ".lockstep" / "trusted-keys" / "mallory.pub").unlink()
    assert cli("sign", REF, "--key", "mallory").code == 0
    verify_fails("key", "not in .lockstep/trusted-keys/")


def test_several_keys_need_a_choice(signed: Path) -> None:
    assert cli("keygen", "--name", "bob").code == 0
    commit_keys(signed)
    result = cli("sign", REF)
    assert result.code == 2 and "several" in result.err
    (signed / ".lockstep" / "config.toml").write_text('[signing]\nkey = "bob"\n')
    assert cli("sign", REF).code == 0
    assert cli("verify", REF).code == 0


def of_kind(root: Path, kind: str) -> list[AttestationRef]:
    """The version's attestations of one kind (registration attaches several)."""
    return [a for a in attestations(root, "churn", SemVer(0, 0, 1)) if a.kind == kind]


def test_a_key_that_is_not_committed_is_not_trusted(reg: Path) -> None:  # noqa: F811
    assert cli("model", "register", "churn").code == 0
    assert cli("keygen", "--name", "eve").code == 0  # in the work tree, never committed
    assert cli("sign", REF).code == 0
    result = cli("verify", REF)
    assert result.code == 1 and "not in .lockstep/trusted-keys" in result.err
    commit_keys(reg)
    assert cli("verify", REF).code == 0
    (reg / ".lockstep" / "trusted-keys" / "eve.pub").write_text("changed after the commit\n")
    assert cli("verify", REF).code in (1, 2)
