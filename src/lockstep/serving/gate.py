"""The one middleware of the server, in plain ASGI (no per-request objects beyond a
small :class:`RequestInfo`): bearer-token check, request metrics, the access log line
and the last line of defence against an unexpected exception.

* Token: when set, every path except the health checks (``/v2/health/*``, ``/ping``)
  needs ``Authorization: Bearer <token>`` (compared in constant time), else a 401 with
  ``WWW-Authenticate: Bearer`` and an OIP error body. Unknown paths are 401 too, so an
  anonymous client learns nothing about the routes. The token is compared without the
  whitespace around it (HTTP trims it from header values; a token read from a file or
  a Kubernetes secret often ends with a newline); a blank token is refused.
* Metrics: count and latency per route family (``v2/infer``, ``invocations``, ...) and
  status code.
* Access log: one JSON line per request on ``lockstep.serve.access``: time, method,
  path, status, ms, model, version, request id and batch rows (the last two set by the
  handlers in :class:`RequestInfo`). Skipped entirely when the logger is disabled.
* An exception that escapes a handler is logged with its traceback and answered with a
  generic 500 JSON body; the client never sees the traceback.
* Draining: after :func:`drain` (SIGUSR1, sent by a blue-green switch before the old
  server stops) every answer carries ``Connection: close``, so keep-alive clients open
  their next connection through the router, to the new server, instead of finding
  this one gone mid-request.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lockstep.errors import ServingError
from lockstep.serving.logs import ACCESS_LOGGER
from lockstep.serving.metrics import Metrics

OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready", "/ping"})
access_log = logging.getLogger(ACCESS_LOGGER)
logger = logging.getLogger("lockstep.serve")


class RequestInfo:
    """What a handler tells the gate about its request."""

    __slots__ = ("batch", "kind", "request_id")

    def __init__(self) -> None:
        self.request_id: str | None = None
        self.batch: int | None = None
        self.kind: str | None = None  # "model" when the model rejected the input


def route_of(path: str) -> str:
    """The route family a path belongs to: a metrics label of bounded cardinality."""
    if path.startswith("/v2/models/"):
        if path.endswith("/infer"):
            return "v2/infer"
        return "v2/ready" if path.endswith("/ready") else "v2/metadata"
    if path.startswith("/v2/health/"):
        return "v2/health"
    known = {"/invocations": "invocations", "/ping": "ping", "/metrics": "metrics", "/v2": "v2"}
    return known.get(path, "other")


async def send_error(
    send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


_DRAINING = {"on": False}
_CLOSE = (b"connection", b"close")


def drain() -> None:
    """From now on, close each connection after its answer."""
    _DRAINING["on"] = True


def draining() -> bool:
    return _DRAINING["on"]


class Gate:
    def __init__(
        self, app: ASGIApp, *, token: str | None, metrics: Metrics, model: str, version: str
    ) -> None:
        self.app = app
        self.expected = None if token is None else expected_token(token)
        self.metrics = metrics
        self.model = model
        self.version = version

    def _authorized(self, scope: Scope) -> bool:
        assert self.expected is not None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, given = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(
                    given.strip(), self.expected
                )
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        info = RequestInfo()
        scope["lockstep"] = info
        status = 0

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if _DRAINING["on"]:
                    message = {**message, "headers": [*message.get("headers", []), _CLOSE]}
            await send(message)

        try:
            if (
                self.expected is not None
                and scope["path"] not in OPEN_PATHS
                and not self._authorized(scope)
            ):
                await _unauthorized(send_and_note)
            else:
                await self.app(scope, receive, send_and_note)
        except Exception:
            logger.exception("unexpected error on %s %s", scope["method"], scope["path"])
            if status == 0:
                await send_error(send_and_note, 500, "internal server error")
        finally:
            self._observe(scope, info, status or 500, time.perf_counter() - start)

    def _observe(self, scope: Scope, info: RequestInfo, status: int, seconds: float) -> None:
        self.metrics.observe_request(route_of(scope["path"]), status, seconds, info.kind)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(self._line(scope, info, status, seconds))

    def _line(self, scope: Scope, info: RequestInfo, status: int, seconds: float) -> str:
        now = time.time()
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
            + f".{int(now * 1000) % 1000:03d}Z",
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "ms": round(seconds * 1000, 3),
            "model": self.model,
            "version": self.version,
            "request_id": info.request_id,
            "batch": info.batch,
        }
        return json.dumps(entry, separators=(",", ":"))


def expected_token(token: str) -> bytes:
    """The token clients must send, as bytes; ServingError when it is blank."""
    stripped = token.strip()
    if not stripped:
        raise ServingError("the bearer token is blank")
    return stripped.encode()


async def _unauthorized(send: Send) -> None:
    await send_error(send, 401, "missing or wrong bearer token", [(b"www-authenticate", b"Bearer")])
