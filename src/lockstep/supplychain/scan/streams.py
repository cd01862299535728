"""Byte streams for the pickle scanner: buffered reading with a position and a
look-ahead, and transparent decompression of joblib's compressed files."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from typing import Any, Protocol


class Source(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


_MAX_READ = 1 << 26  # a length field can claim more than the file holds: read in steps


class UnreadableError(Exception):
    """The bytes cannot be read as what they claim to be; the scan cannot vouch for them."""


class ByteStream:
    """``read``, ``readline`` and ``tell`` over any readable source (what
    ``pickletools.genops`` needs), plus ``peek``, ``at_end`` and ``skip``."""

    CHUNK = 1 << 16

    def __init__(self, source: Source) -> None:
        self._source = source
        self._buf = b""
        self._off = 0
        self._pos = 0
        self._eof = False

    def _fill(self, want: int) -> None:
        have = len(self._buf) - self._off
        if have >= want or self._eof:
            return
        parts = [self._buf[self._off :]]
        while have < want:
            chunk = self._source.read(min(max(self.CHUNK, want - have), _MAX_READ))
            if not chunk:
                self._eof = True
                break
            parts.append(chunk)
            have += len(chunk)
        self._buf = b"".join(parts)
        self._off = 0

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return b"".join(iter(lambda: self.read(self.CHUNK), b""))
        self._fill(size)
        data = self._buf[self._off : self._off + size]
        self._off += len(data)
        self._pos += len(data)
        return data

    def readline(self) -> bytes:
        while True:
            found = self._buf.find(b"\n", self._off)
            if found >= 0:
                return self.read(found + 1 - self._off)
            if self._eof:
                return self.read(len(self._buf) - self._off)
            self._fill(2 * (len(self._buf) - self._off) + 1)

    def tell(self) -> int:
        return self._pos

    def peek(self, size: int) -> bytes:
        self._fill(size)
        return self._buf[self._off : self._off + size]

    def at_end(self) -> bool:
        return not self.peek(1)

    def skip(self, size: int) -> bool:
        """Read past ``size`` bytes; False when the stream ends first."""
        while size > 0:
            got = len(self.read(min(size, 1 << 20)))
            if not got:
                return False
            size -= got
        return True


class _Inflate:
    """A zlib stream (joblib's default compressor), inflated as it is read."""

    def __init__(self, source: Source) -> None:
        self._source = source
        self._inflater = zlib.decompressobj()
        self._done = False

    def read(self, size: int = -1, /) -> bytes:
        out = b""
        while len(out) < size and not self._done:
            data = self._inflater.unconsumed_tail or self._source.read(1 << 16)
            if not data:
                raise UnreadableError("the zlib stream is truncated")
            out += self._inflater.decompress(data, size - len(out))
            self._done = self._inflater.eof
        return out


def decompressed(stream: ByteStream) -> tuple[ByteStream, str]:
    """The stream itself, or a stream of its decompressed bytes and the name of
    the compression, told by the same prefixes ``joblib.load`` looks for (zlib,
    gzip, bz2, lzma, xz; lz4 needs a package lockstep does not use, and joblib
    files older than 0.9.3 have a format of their own: neither can be inspected)."""
    head = stream.peek(6)
    source: Any = stream  # the decompressors only read it
    if head.startswith(b"\x04\x22\x4d\x18"):
        raise UnreadableError("lz4-compressed: lockstep cannot decompress it to inspect it")
    if head.startswith(b"ZF"):
        raise UnreadableError("a joblib file older than joblib 0.9.3: lockstep does not read it")
    if head.startswith(b"x"):
        return ByteStream(_Inflate(stream)), "zlib"
    if head.startswith(b"\x1f\x8b"):
        return ByteStream(gzip.GzipFile(fileobj=source, mode="rb")), "gzip"
    if head.startswith(b"BZ"):
        return ByteStream(bz2.BZ2File(source)), "bz2"
    if head.startswith(b"\xfd7zXZ"):
        return ByteStream(lzma.LZMAFile(source)), "xz"
    if head.startswith(b"]\x00"):
        return ByteStream(lzma.LZMAFile(source, format=lzma.FORMAT_ALONE)), "lzma"
    return stream, ""


DECOMPRESSION_ERRORS = (zlib.error, lzma.LZMAError, EOFError, OSError)
