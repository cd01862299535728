"""Zip and tar archives: member paths that would land outside the folder they are
extracted to, links that point outside it, and the model files inside (pickles
in a PyTorch ``.pt`` zip such as ``archive/data.pkl``, a Keras ``config.json``,
nested archives), each scanned as a file of its own."""

from __future__ import annotations

import json
import posixpath
import re
import stat
import tarfile
import zipfile
from pathlib import Path
from typing import IO, Protocol

from lockstep.supplychain.scan import keras
from lockstep.supplychain.scan.allowlist import Allowlist
from lockstep.supplychain.scan.pickles import Opener
from lockstep.supplychain.scan.report import Finding

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_DRIVE = re.compile(r"[A-Za-z]:")
_MAX_LINK = 4096


class MemberScanner(Protocol):
    allow: Allowlist

    def scan_member(self, name: str, opener: Opener, file: str, where: str) -> list[Finding]:
        """Findings in one archive member, by its name and first bytes."""
        ...


def is_zip(head: bytes) -> bool:
    return head[:4] in ZIP_MAGIC


def is_tar(name: str, head: bytes) -> bool:
    return name.lower().endswith(TAR_SUFFIXES) or head[257:262] == b"ustar"


def escape(path: str) -> str | None:
    """Why writing ``path`` (relative to a folder) would land outside that folder."""
    text = path.replace("\\", "/")
    if text.startswith("/") or _DRIVE.match(text):
        return "is an absolute path"
    depth = 0
    for part in text.split("/"):
        if part == "..":
            depth -= 1
        elif part not in ("", "."):
            depth += 1
        if depth < 0:
            return "climbs out of the folder it is extracted to"
    return None


def _path_finding(file: str, where: str, member: str) -> list[Finding]:
    why = escape(member)
    if why is None:
        return []
    detail = f"member path {member!r} {why}: extracting it writes outside the target folder"
    return [Finding(file, f"{where}{member}", "path-traversal", detail)]


def _link_finding(file: str, where: str, member: str, target: str, hard: bool) -> list[Finding]:
    resolved = target if hard else posixpath.join(posixpath.dirname(member), target)
    why = "is an absolute path" if target.startswith("/") else escape(resolved)
    if why is None:
        return []
    kind = "hard link" if hard else "symbolic link"
    detail = f"{kind} to {target!r}, which {why}: extracting it reaches outside the target"
    return [Finding(file, f"{where}{member}", "link", detail)]


def scan_zip(path: Path, name: str, file: str, where: str, scanner: MemberScanner) -> list[Finding]:
    """``name`` is the archive's own name (``path`` may be a temporary copy)."""
    findings: list[Finding] = []
    with zipfile.ZipFile(path) as archive:
        names = {info.filename for info in archive.infolist()}
        for info in archive.infolist():
            findings += _path_finding(file, where, info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                with archive.open(info) as handle:
                    target = handle.read(_MAX_LINK).decode("utf-8", "replace")
                findings += _link_finding(file, where, info.filename, target, hard=False)
            elif not info.is_dir():
                findings += _zip_member(archive, info, file, where, scanner)
        if name.lower().endswith(".keras") or {"config.json", "metadata.json"} <= names:
            findings += _keras_config(archive, file, where, scanner.allow)
    return findings


def _zip_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, file: str, where: str, scanner: MemberScanner
) -> list[Finding]:
    def opener() -> IO[bytes]:
        return archive.open(info)

    return scanner.scan_member(info.filename, opener, file, f"{where}{info.filename}, ")


def _keras_config(
    archive: zipfile.ZipFile, file: str, where: str, allow: Allowlist
) -> list[Finding]:
    member = f"{where}config.json, "
    try:
        config = json.loads(archive.read("config.json"))
    except KeyError:
        detail = "a .keras file without config.json: cannot tell which layers it builds"
        return [Finding(file, f"{where}config.json", "unreadable", detail)]
    except ValueError as exc:
        detail = f"config.json is not valid JSON ({exc}): cannot tell which layers it builds"
        return [Finding(file, f"{where}config.json", "unreadable", detail)]
    return keras.config_findings(config, file, member, allow)


def scan_tar(path: Path, file: str, where: str, scanner: MemberScanner) -> list[Finding]:
    findings: list[Finding] = []
    with tarfile.open(path, "r:*") as archive:
        for member in archive:
            findings += _path_finding(file, where, member.name)
            findings += _tar_member(archive, member, file, where, scanner)
    return findings


def _tar_member(
    archive: tarfile.TarFile, member: tarfile.TarInfo, file: str, where: str, scanner: MemberScanner
) -> list[Finding]:
    if member.issym() or member.islnk():
        return _link_finding(file, where, member.name, member.linkname, hard=member.islnk())
    if member.isdev():
        detail = "a device or FIFO: extracting it creates a special file"
        return [Finding(file, f"{where}{member.name}", "special-file", detail)]
    if not member.isfile():
        return []

    def opener() -> IO[bytes]:
        handle = archive.extractfile(member)
        assert handle is not None  # a regular file always has one
        return handle

    return scanner.scan_member(member.name, opener, file, f"{where}{member.name}, ")
