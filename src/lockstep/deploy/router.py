"""The front door of a ``local`` deployment: a TCP proxy that owns the environment's
port and forwards each new connection to the server that is live now.

Blue-green is a switch of where new connections go: ``deploy`` starts the new server
on a free port, checks it, writes that port to the router's state file and sends
SIGHUP. Connections already open stay with the server they reached until it closes
them (the old server finishes its in-flight requests before it exits). A connection
the router cannot pass on gets a JSON 502 answer.

Run as ``python -m lockstep.deploy.router --host H --port P --upstream-file FILE``;
SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path

_BAD_GATEWAY = (
    b"HTTP/1.1 502 Bad Gateway\r\ncontent-type: application/json\r\n"
    b'content-length: 45\r\nconnection: close\r\n\r\n{"error": "no model server is answering now"}'
)
_CHUNK = 65536


class Router:
    def __init__(self, upstream_file: Path) -> None:
        self.upstream_file = upstream_file
        self.upstream: tuple[str, int] | None = None
        self.reload()

    def reload(self) -> None:
        """Read the live server's address; a missing or broken file keeps the last one."""
        try:
            data = json.loads(self.upstream_file.read_text(encoding="utf-8"))
            self.upstream = (str(data["host"]), int(data["port"]))
        except (OSError, ValueError, KeyError, TypeError):
            pass

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target = self.upstream
        try:
            if target is None:
                raise ConnectionError("no upstream")
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            await _refuse(writer)
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            writer.close()


async def _refuse(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        writer.write(_BAD_GATEWAY)
        await writer.drain()
        writer.close()


async def serve(host: str, port: int, upstream_file: Path) -> None:
    router = Router(upstream_file)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGHUP, router.reload)

    def finish() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, finish)
    server = await asyncio.start_server(router.handle, host, port, reuse_address=True)
    async with server:
        await stop
    server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lockstep.deploy.router")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream-file", type=Path, required=True)
    args = parser.parse_args(argv)
    run = asyncio.run
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        pass
    try:
        run(serve(args.host, args.port, args.upstream_file))
    except OSError as exc:
        print(f"router: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
