"""``scan_path``: every file under a path, each read as the model format its name
and first bytes say it is.

==========================  ===============================================
format                      recognised by
==========================  ===============================================
zip (``.pt``, ``.keras``)   ``PK`` magic
HDF5 (Keras 2 ``.h5``)      HDF5 magic, or ``.h5`` / ``.hdf5``
ONNX                        ``.onnx``
tar                         ``.tar``, ``.tar.gz``, ``.tgz``, ... or ``ustar``
pickle, joblib              ``.pkl``, ``.pickle``, ``.joblib``, ``.pt``, ... (also
                            compressed: ``.pkl.gz``), or a protocol 2-5 header
==========================  ===============================================

Any other file is not a model format lockstep inspects: it is listed as skipped,
never as unsafe. A file in one of these formats that cannot be parsed is unsafe:
the scan cannot tell what loading it would do.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from lockstep.errors import PathError
from lockstep.supplychain.scan import archives, keras, onnx
from lockstep.supplychain.scan.allowlist import Allowlist
from lockstep.supplychain.scan.pickles import Opener, looks_like_pickle, scan_pickle
from lockstep.supplychain.scan.report import Finding, ScanReport
from lockstep.supplychain.scan.streams import DECOMPRESSION_ERRORS, UnreadableError

PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".jbl", ".sav", ".dill", ".pt", ".pth"})
COMPRESSION_SUFFIXES = frozenset({".gz", ".z", ".zlib", ".bz2", ".xz", ".lzma", ".lz4"})
H5_SUFFIXES = frozenset({".h5", ".hdf5"})
SKIPPED_FOLDERS = frozenset({".git"})
MAX_ARCHIVE_DEPTH = 4
_HEAD = 512
_FORMAT_ERRORS = (
    UnreadableError,
    *DECOMPRESSION_ERRORS,
    ValueError,
    zipfile.BadZipFile,
    tarfile.TarError,
    NotImplementedError,  # a zip compression method Python does not have
    RuntimeError,  # an encrypted zip member
)


def scan_path(path: Path, extra_allow: Sequence[str] = ()) -> ScanReport:
    """Scan a file, or every file below a folder; nothing is loaded or run.

    ``extra_allow`` adds globals to the allowlist (``pkg.module`` or
    ``pkg.module.Name``); a malformed entry raises InputError, a missing path
    PathError.
    """
    scanner = _Scanner(Allowlist.with_extra(extra_allow))
    if path.is_dir():
        files = sorted(_files_under(path))
    elif path.is_file():
        files = [path]
    else:
        problem = "does not exist" if not path.exists() else "is not a file or a folder"
        raise PathError(str(path), problem)
    findings: list[Finding] = []
    skipped: list[str] = []
    for file in files:
        found = scanner.scan_file(file, str(file))
        if found is None:
            skipped.append(str(file))
        else:
            findings += found
    return ScanReport(tuple(str(f) for f in files), tuple(findings), tuple(skipped))


def _files_under(folder: Path) -> Iterator[Path]:
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_FOLDERS)
        for name in names:
            path = Path(root) / name
            if path.is_file():  # regular files only: a FIFO would block the read
                yield path


def format_of(name: str, head: bytes) -> str | None:
    """``zip``, ``h5``, ``onnx``, ``tar``, ``pickle``, or None for anything else."""
    lower = name.lower()
    suffixes = [s.lower() for s in Path(name).suffixes[-2:]]
    if archives.is_zip(head):
        return "zip"
    if head.startswith(keras.HDF5_MAGIC) or (suffixes and suffixes[-1] in H5_SUFFIXES):
        return "h5"
    if lower.endswith(".onnx"):
        return "onnx"
    if archives.is_tar(name, head):
        return "tar"
    if looks_like_pickle(head) or _pickle_suffix(suffixes) or _sniffs_as_pickle(head):
        return "pickle"
    if lower.endswith(".keras"):
        return "zip"  # not a zip: reported as unreadable
    return None


_COMPRESSED: tuple[bytes, ...] = (
    b"\x1f\x8b",  # gzip
    b"BZh",  # bz2
    b"\xfd7zXZ\x00",  # xz
    b"\x78\x01",  # zlib, by compression level
    b"\x78\x5e",
    b"\x78\x9c",
    b"\x78\xda",
)


def _sniffs_as_pickle(head: bytes) -> bool:
    """Whether bytes are a pickle whatever the file is called: ``pickle.load`` and
    ``joblib.load`` look at the bytes, never the name. Compressed bytes are
    opened first, as joblib opens them."""
    if head.startswith(_COMPRESSED):
        head = _decompressed_head(head)
    return _opcodes_parse(head)


def _opcodes_parse(head: bytes) -> bool:
    """Valid pickle opcodes up to one that imports: only an import lets loading run
    code, so bytes that parse without one are harmless whatever they are."""
    import pickletools

    imports = ("GLOBAL", "STACK_GLOBAL", "INST", "EXT1", "EXT2", "EXT4")
    try:
        for opcode, _arg, _pos in pickletools.genops(head):
            if opcode.name in imports:
                return True
            if opcode.name == "STOP":
                return False
    except Exception:
        return False  # anything that does not parse is not a pickle
    return False


def _decompressed_head(head: bytes) -> bytes:
    """The first bytes of compressed data, opened as gzip/zlib, bz2 or xz."""
    import bz2
    import lzma
    import zlib

    openers: list[Callable[[bytes], bytes]] = [
        lambda b: zlib.decompressobj(47).decompress(b, 65536),  # gzip or zlib
        lambda b: bz2.BZ2Decompressor().decompress(b, 65536),
        lambda b: lzma.LZMADecompressor().decompress(b, 65536),
    ]
    for opener in openers:
        try:
            found = opener(head)
        except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError):
            continue
        if found:
            return bytes(found)
    return b""


def _pickle_suffix(suffixes: list[str]) -> bool:
    if suffixes and suffixes[-1] in PICKLE_SUFFIXES:
        return True
    return (
        len(suffixes) == 2
        and suffixes[1] in COMPRESSION_SUFFIXES
        and suffixes[0] in PICKLE_SUFFIXES
    )


class _Scanner:
    """Scans files and archive members with one allowlist."""

    def __init__(self, allow: Allowlist) -> None:
        self.allow = allow
        self.depth = 0

    def scan_file(self, path: Path, file: str) -> list[Finding] | None:
        """The findings in one file, or None when it is in no format lockstep reads."""
        try:
            with open(path, "rb") as handle:
                head = handle.read(_HEAD)
        except OSError as exc:
            return [Finding(file, "", "unreadable", f"cannot be read: {exc.strerror or exc}")]
        kind = format_of(path.name, head)
        if kind is None:
            return None
        return self._scan(kind, path, name=path.name, file=file, where="", folder=path.parent)

    def scan_member(self, name: str, opener: Opener, file: str, where: str) -> list[Finding]:
        """The findings in one archive member (none when in no format lockstep reads)."""
        with opener() as handle:
            head = handle.read(_HEAD)
        kind = format_of(name, head)
        if kind is None:
            return []
        if kind == "pickle":
            return scan_pickle(opener, file, self.allow, where)
        if self.depth >= MAX_ARCHIVE_DEPTH:
            detail = f"archives nested more than {MAX_ARCHIVE_DEPTH} deep"
            return [Finding(file, where.rstrip(", "), "unreadable", detail)]
        with tempfile.TemporaryDirectory(prefix="lockstep-scan-") as tmp:
            copy = Path(tmp) / "member"
            with opener() as source, open(copy, "wb") as target:
                shutil.copyfileobj(source, target)
            self.depth += 1
            try:
                return self._scan(kind, copy, name=name, file=file, where=where, folder=None)
            finally:
                self.depth -= 1

    def _scan(
        self, kind: str, path: Path, *, name: str, file: str, where: str, folder: Path | None
    ) -> list[Finding]:
        try:
            return self._by_format(kind, path, name=name, file=file, where=where, folder=folder)
        except _FORMAT_ERRORS as exc:
            detail = f"not a readable {kind} file ({exc}): cannot tell what loading it would do"
            return [Finding(file, where.rstrip(", "), "unreadable", detail)]

    def _by_format(
        self, kind: str, path: Path, *, name: str, file: str, where: str, folder: Path | None
    ) -> list[Finding]:
        if kind == "pickle":
            return scan_pickle(lambda: open(path, "rb"), file, self.allow, where)
        if kind == "zip":
            return archives.scan_zip(path, name, file, where, self)
        if kind == "tar":
            return archives.scan_tar(path, file, where, self)
        if kind == "h5":
            return keras.scan_h5(path, file, where, self.allow)
        return onnx.scan_onnx(path, file, where, folder)
