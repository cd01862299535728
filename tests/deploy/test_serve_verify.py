"""What ``lockstep serve`` checks before loading a model: the digest always, the
signature under the trust rules, the scan for pickles. ``--dry`` stops before serving."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import yaml

from lockstep.registry.tags import Registry, message
from tests.conftest import cli, commit_keys, git
from tests.deploy.conftest import FEATURES, config

REF = "churn@v0.0.1"


def dry(*args: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    result = cli("serve", *args, "--dry", "--json")
    return result.code, json.loads(result.out) if result.code == 0 else {}, result.err


def test_registration_records_the_input_signature(model_ws: Path) -> None:
    meta = Registry.load(model_ws).resolve(REF).meta
    assert meta["signature"]["source"] == "data/train.csv"
    assert meta["signature"]["target"] == "y"
    assert [c["name"] for c in meta["signature"]["inputs"]] == FEATURES
    assert {c["type"] for c in meta["signature"]["inputs"]} == {"double"}


def test_declared_inputs_win_over_the_data(model_ws: Path) -> None:
    body = yaml.safe_load((model_ws / "lockstep.yaml").read_text())
    body["models"]["churn"]["inputs"] = [{"name": n, "type": "double"} for n in FEATURES[:3]]
    (model_ws / "lockstep.yaml").write_text(yaml.safe_dump(body))
    git(model_ws, "commit", "-qam", "Declare inputs")
    assert cli("model", "register", "churn").code == 0
    meta = Registry.load(model_ws).resolve("churn@v0.0.2").meta
    assert meta["signature"] == {
        "inputs": [{"name": n, "type": "double"} for n in FEATURES[:3]],
        "source": "lockstep.yaml",
    }


def test_unsigned_is_fine_without_trusted_keys(model_ws: Path) -> None:
    code, found, err = dry(REF)
    assert code == 0, err
    assert found["signed"] is False and found["flavor"] == "skops"
    assert found["checks"][0]["check"] == "model bytes" and found["checks"][0]["passed"]
    assert "WARNING" not in err


def test_trusted_keys_require_a_signature(model_ws: Path) -> None:
    assert cli("keygen", "--name", "alice").code == 0
    commit_keys(model_ws)
    code, _, err = dry(REF)
    assert code == 1
    assert "signature" in err and "not signed" in err
    code, found, err = dry(REF, "--allow-unsigned")
    assert code == 0
    assert "WARNING: serving churn@v0.0.1 WITHOUT a valid signature" in err
    assert found["signed"] is False
    assert cli("sign", REF).code == 0
    code, found, err = dry(REF)
    assert code == 0, err
    assert found["signed"] is True and "WARNING" not in err


def test_allow_unsigned_never_lifts_tampering(model_ws: Path) -> None:
    assert cli("keygen", "--name", "alice").code == 0
    commit_keys(model_ws)
    assert cli("sign", REF).code == 0
    version = Registry.load(model_ws).resolve(REF)
    changed = {**version.meta, "metrics": {"f1": 0.99}}  # same digest, other claims
    git(model_ws, "tag", "-d", REF)
    git(model_ws, "tag", "-a", REF, version.commit, "-m", message("register", changed))
    code, _, err = dry(REF, "--allow-unsigned")
    assert code == 1
    assert "predicate" in err and "metrics" in err


def test_signature_gate_requires_a_signature(model_ws: Path) -> None:
    config(model_ws, staging={"gates": ["signature"]})
    code, _, err = dry(REF, "--env", "staging")
    assert code == 1 and "signature" in err
    code, _, _ = dry(REF)  # no environment, no trusted key: not required
    assert code == 0


def test_a_changed_cache_object_is_refused(model_ws: Path) -> None:
    digest = str(Registry.load(model_ws).resolve(REF).meta["digest"]).removeprefix("sha256:")
    obj = model_ws / ".lockstep/cache/blobs/sha256" / digest[:2] / digest
    os.chmod(obj, 0o644)
    data = bytearray(obj.read_bytes())
    data[10] ^= 1
    obj.unlink()
    obj.write_bytes(bytes(data))
    result = cli("serve", REF, "--dry")
    assert result.code == 1, result.err
    assert digest[:12] in result.err or "model bytes" in result.err
    assert "Traceback" not in result.err


def test_a_path_must_match_digest(model_ws: Path, tmp_path: Path) -> None:
    path = model_ws / "models" / "model.skops"
    code, found, err = dry(str(path))
    assert code == 0, err
    good = found["digest"]
    assert dry(str(path), "--digest", good)[0] == 0
    code, _, err = dry(str(path), "--digest", "sha256:" + "0" * 64)
    assert code == 1 and "--digest asks for" in err
    assert cli("serve", str(path), "--digest", "nope", "--dry").code == 2


def test_a_pickle_that_fails_the_scan_is_never_loaded(model_ws: Path, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "evil.pkl"
    bad.write_bytes(pickle.dumps(Evil()))
    result = cli("serve", str(bad), "--dry")
    assert result.code == 1 and "scan" in result.err
    assert not marker.exists()


def test_outside_a_workspace_a_path_serves(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.deploy.conftest import train, write_data

    write_data(tmp_path)
    train(tmp_path)
    monkeypatch.chdir(tmp_path)
    code, found, err = dry(str(tmp_path / "models" / "model.skops"))
    assert code == 0, err
    assert found["model"] == "model" and found["version"] == ""
    assert cli("serve", "churn@v0.0.1", "--dry").code == 2


def test_a_file_named_like_the_ref_never_shadows_the_registry(model_ws: Path) -> None:
    from tests.deploy.conftest import train

    registered = dry(REF)[1]["digest"]
    train(model_ws, 0.001)
    (model_ws / "models" / "model.skops").rename(model_ws / REF)
    code, found, err = dry(REF)
    assert code == 0, err
    assert found["digest"] == registered and found["version"] == "0.0.1"


def test_an_unknown_env_is_bad_input(model_ws: Path) -> None:
    result = cli("serve", REF, "--env", "prodution", "--dry")
    assert result.code == 2 and "prodution" in result.err


def test_a_path_under_a_signature_gate_needs_allow_unsigned(model_ws: Path) -> None:
    config(model_ws, staging={"gates": ["signature"]})
    path = str(model_ws / "models" / "model.skops")
    code, _, _ = dry(path)
    assert code == 0
    code, _, err = dry(path, "--env", "staging")
    assert code == 1 and "signature" in err
    code, _, err = dry(path, "--env", "staging", "--allow-unsigned")
    assert code == 0 and "WARNING" in err


def test_allow_unsigned_never_lifts_a_signature_that_does_not_verify(model_ws: Path) -> None:
    from lockstep.project import Project
    from lockstep.registry import attestations
    from lockstep.supplychain import dsse

    assert cli("keygen", "--name", "alice").code == 0
    commit_keys(model_ws)
    assert cli("sign", REF).code == 0
    project = Project.open(model_ws)
    version = project.trust().resolve(REF)
    [found] = [a for a in project.trust().attestations(REF) if a.kind == "signature"]
    real = dsse.Envelope.from_bytes(project.ws.store.read_bytes(found.digest), "signature")
    keyid = real.signatures[0].keyid
    forged = dsse.Envelope(real.payload_type, real.payload, (dsse.Signature(keyid, b"\0" * 64),))
    digest = project.ws.store.put_bytes(forged.to_bytes())
    git(model_ws, "tag", "-d", found.tag)
    attestations.record(model_ws, version, "signature", digest, keyid=keyid, actor="mallory")
    code, _, err = dry(REF, "--allow-unsigned")
    assert code == 1 and "not valid" in err
