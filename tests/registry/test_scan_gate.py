"""The scan gate: a version whose model file is not safe to load cannot be promoted."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import cli, commit_keys, git
from tests.registry.conftest import write_config

EVIL = b"cos\nsystem\n(S'touch /tmp/lockstep-scan-gate-marker'\ntR."


def check(ref: str) -> tuple[int, dict[str, object]]:
    result = cli("check", ref, "--env", "staging", "--json")
    return result.code, json.loads(result.out)["gates"][0]


def test_scan_gate(reg: Path) -> None:
    write_config(reg, environments={"staging": {"gates": ["scan"]}})
    (reg / "evil.pkl").write_bytes(EVIL)
    assert cli("add", "evil.pkl").code == 0
    git(reg, "add", "-A")
    git(reg, "commit", "-qm", "Config and a bad model")
    assert cli("model", "register", "churn").code == 0
    code, verdict = check("churn")
    assert code == 0 and verdict["passed"] is True, verdict
    assert cli("model", "register", "evil", "--path", "evil.pkl").code == 0
    code, verdict = check("evil")
    assert code == 1 and verdict["passed"] is False
    findings = verdict["evidence"]["findings"]  # type: ignore[index]
    assert any("system" in json.dumps(f) for f in findings)
    assert all(str(f["file"]).startswith("evil.pkl") for f in findings)
    assert not Path("/tmp/lockstep-scan-gate-marker").exists()
    promoted = cli("model", "promote", "evil", "--to", "staging")
    assert promoted.code == 1 and "evil#staging" not in git(reg, "tag")


def test_signature_gate(reg: Path) -> None:
    write_config(reg, environments={"staging": {"gates": ["signature"]}})
    git(reg, "add", "-A")
    git(reg, "commit", "-qm", "Signature gate")
    assert cli("model", "register", "churn").code == 0  # no key yet: registered unsigned
    assert cli("keygen").code == 0
    commit_keys(reg)
    code, verdict = check("churn")
    assert code == 1 and "not signed" in str(verdict["summary"])
    assert cli("sign", "churn").code == 0, cli("sign", "churn").err
    code, verdict = check("churn")
    assert code == 0, verdict
    assert cli("model", "promote", "churn", "--to", "staging").code == 0
    # a key nobody trusts: its signature does not count
    (reg / ".lockstep" / "trusted-keys").rename(reg / "elsewhere")
    (reg / ".lockstep" / "trusted-keys").mkdir()
    code, verdict = check("churn")
    assert code == 1 and "not in .lockstep/trusted-keys" in str(verdict["summary"])


def test_signatures_survive_gc_and_travel_with_push_and_pull(reg: Path, tmp_path: Path) -> None:
    import os

    assert cli("keygen").code == 0
    git(reg, "add", "-A")
    git(reg, "commit", "-qm", "Trusted key")
    assert cli("model", "register", "churn").code == 0
    assert cli("sign", "churn").code == 0
    assert cli("gc").code == 0
    assert cli("verify", "churn").code == 0
    assert cli("remote", "add", "origin", (tmp_path / "store").as_uri()).code == 0
    git(reg, "add", "-A")
    git(reg, "commit", "-qm", "Remote")
    assert cli("push").code == 0
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(reg), str(clone))
    os.chdir(clone)
    assert cli("pull").code == 0
    result = cli("verify", "churn")
    assert result.code == 0, result.out + result.err


def test_registration_attaches_scan_provenance_bom_and_a_signature(reg: Path) -> None:
    from lockstep.registry.attestations import attestations
    from lockstep.registry.names import SemVer

    assert cli("model", "register", "churn").code == 0
    unsigned = attestations(reg, "churn", SemVer(0, 0, 1))
    assert sorted(a.kind for a in unsigned) == ["bom", "provenance", "scan"]
    assert all(a.keyid is None for a in unsigned)
    assert cli("verify", "churn").code == 1  # registered, not signed
    assert cli("keygen").code == 0
    commit_keys(reg)
    from tests.registry.conftest import train

    train(reg, 7.0, 0.9, "Second model")
    assert cli("model", "register", "churn").code == 0
    signed = attestations(reg, "churn", SemVer(0, 0, 2))
    assert sorted(a.kind for a in signed) == ["bom", "provenance", "scan", "signature"]
    assert all(a.keyid for a in signed)
    result = cli("verify", "churn", "--json")
    assert result.code == 0, result.out


def test_gc_keeps_the_bytes_of_registered_versions(reg: Path) -> None:
    from tests.registry.conftest import train

    assert cli("model", "register", "churn").code == 0
    first = json.loads(cli("model", "show", "churn", "--json").out)["digest"]
    train(reg, 9.0, 0.9, "Another model")  # the workspace no longer points at v0.0.1
    assert cli("gc").code == 0
    from lockstep.types import parse_digest

    hex_digest = parse_digest(first)
    assert hex_digest is not None
    assert (reg / ".lockstep" / "cache" / "blobs" / "sha256" / hex_digest[:2] / hex_digest).exists()
    assert cli("verify", "churn@v0.0.1").code == 1  # readable: fails only as unsigned
    assert "not signed" in cli("verify", "churn@v0.0.1").err
