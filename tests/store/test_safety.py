"""Corrupt objects, malformed files and escaping paths: reported, never used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import cli


def object_path(ws: Path, pointer: str) -> Path:
    hexd = (ws / pointer).read_text().split("sha256:")[1].split()[0]
    return ws / ".lockstep/cache/blobs/sha256" / hexd[:2] / hexd


def test_in_place_edit_through_link_is_reported_and_never_pushed(ws: Path, tmp_path: Path) -> None:
    (ws / "m.bin").write_bytes(b"original")
    assert cli("add", "m.bin").code == 0
    obj = object_path(ws, "m.bin.lockstep")
    with open(ws / "m.bin", "r+b") as handle:  # root may write a read-only file
        handle.write(b"EDITED!!")
    [entry] = json.loads(cli("status", "--json").out)
    assert entry["state"] == "modified" and entry["corrupt"] == ["m.bin"]
    assert cli("remote", "add", "origin", f"file://{tmp_path / 'remote'}").code == 0
    result = cli("push")
    assert result.code == 1
    assert "corrupt" in result.err and "m.bin" in result.err
    assert not (tmp_path / "remote" / "blobs").exists()
    assert not obj.exists()  # dropped, so a pull can restore the right bytes


def test_corrupt_object_is_never_checked_out(ws: Path) -> None:
    (ws / ".lockstep" / "config.toml").write_text('[cache]\nlink = "copy"\n')
    (ws / "m.bin").write_bytes(b"original")
    assert cli("add", "m.bin").code == 0
    obj = object_path(ws, "m.bin.lockstep")
    obj.chmod(0o644)
    obj.write_bytes(b"tampered")
    (ws / "m.bin").unlink()
    result = cli("checkout")
    assert result.code == 1 and "corrupt" in result.err
    assert not (ws / "m.bin").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("format: lockstep/pointer@9\n", "format"),
        (
            "format: lockstep/pointer@1\npath: m.bin\nkind: file\ndigest: md5:abc\nsize: 1\n",
            "digest",
        ),
        ("format: lockstep/pointer@1\npath: m.bin\nkind: blob\n", "kind"),
        ("format: lockstep/pointer@1\npath: ../../etc/passwd\n", "path"),
        ("format: lockstep/pointer@1\npath: /etc/passwd\n", "path"),
        ("- a\n- b\n", None),
        ("format: [unclosed\n", None),
    ],
)
def test_malformed_pointer_names_file_and_field(ws: Path, body: str, field: str | None) -> None:
    (ws / "m.bin.lockstep").write_text(body)
    result = cli("status")
    assert result.code == 2
    assert result.err.startswith("error: m.bin.lockstep")
    if field:
        assert f"m.bin.lockstep: {field}:" in result.err
    assert "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) <= 2


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[cache]\nlink = 'teleport'\n", ".lockstep/config.toml: cache.link"),
        ("[remote.origin]\nurl = 'ftp://x'\n", ".lockstep/config.toml: remote.origin.url"),
        ("[cache\n", ".lockstep/config.toml: not valid TOML"),
        ("[cache]\nspeed = 3\n", ".lockstep/config.toml: cache.speed: unknown field"),
    ],
)
def test_malformed_config_names_file_and_field(ws: Path, text: str, where: str) -> None:
    (ws / ".lockstep" / "config.toml").write_text(text)
    result = cli("status")
    assert result.code == 2
    assert where in result.err


def test_malformed_project_file(ws: Path) -> None:
    (ws / "lockstep.yaml").write_text("version: 7\n")
    result = cli("status")
    assert result.code == 2 and "lockstep.yaml: version" in result.err
    (ws / "lockstep.yaml").write_text("stages: [\n")
    result = cli("status")
    assert result.code == 2 and "lockstep.yaml: not valid YAML" in result.err


@pytest.mark.parametrize("evil", ["../escape.txt", "/etc/evil", "a/../../b", "a//b", "./a"])
def test_tree_with_escaping_path_is_rejected(ws: Path, evil: str) -> None:
    import hashlib

    body = {
        "entries": [{"digest": "sha256:" + "0" * 64, "mode": "0644", "path": evil, "size": 1}],
        "format": "lockstep/tree@1",
    }
    data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    hexd = hashlib.sha256(data).hexdigest()
    obj = ws / ".lockstep/cache/blobs/sha256" / hexd[:2] / hexd
    obj.parent.mkdir(parents=True)
    obj.write_bytes(data)
    (ws / "d.lockstep").write_text(
        "format: lockstep/pointer@1\npath: d\nkind: dir\n"
        f"digest: sha256:{hexd}\nsize: 1\nfiles: 1\n"
    )
    result = cli("checkout")
    assert result.code == 2
    assert "entries[0].path" in result.err
    assert not (ws.parent / "escape.txt").exists()
