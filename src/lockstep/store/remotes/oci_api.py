"""A small client for the OCI distribution API: URLs, auth challenges, errors.

Only what the ``oci://`` remote needs. Requests answer the usual registry
challenges (``WWW-Authenticate: Basic`` with configured credentials, or
``Bearer realm=…,service=…,scope=…`` through the token service) and retry
once. Every failure leaves this module as a :class:`RemoteError` naming the
remote, chained to the httpx exception; credentials and tokens never appear in
a message and are only sent to the registry's own origin (and the token realm).
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from lockstep import __version__
from lockstep.config import RemoteConfig
from lockstep.errors import RemoteError

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TIMEOUT = httpx.Timeout(connect=10.0, read=120.0, write=120.0, pool=600.0)
# --jobs is at most 256, so a pool this size never makes a transfer thread wait
LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=64)
FOREIGN = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError)
_CHALLENGE_PARAM = re.compile(r'([A-Za-z_]+)="([^"]*)"')

Body = Callable[[], "bytes | Iterable[bytes]"]


@dataclass(frozen=True)
class Endpoint:
    """Where a repository lives: ``base`` is ``scheme://host[:port]``."""

    base: str
    repository: str

    def url(self, suffix: str) -> str:
        return f"{self.base}/v2/{self.repository}/{suffix}"


def parse_url(remote: str, url: str, insecure: bool) -> Endpoint:
    """The endpoint of ``oci://host[:port]/repository``; plain HTTP for local hosts."""
    parts = urlsplit(url)
    repository = parts.path.strip("/")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise RemoteError(remote, f"{url}: invalid port") from exc
    if parts.scheme != "oci" or not parts.hostname or parts.query or parts.fragment:
        raise RemoteError(remote, f"{url}: expected oci://host[:port]/repository")
    if parts.username is not None:
        raise RemoteError(
            remote, "credentials do not belong in the URL; use LOCKSTEP_OCI_USERNAME/PASSWORD"
        )
    if len(repository) > 255 or not REPOSITORY.fullmatch(repository):
        raise RemoteError(
            remote,
            f"{url}: {repository!r} is not a valid repository name "
            "(lowercase letters and digits, separated by '.', '_', '-' or '/')",
        )
    scheme = "http" if insecure or parts.hostname in LOCAL_HOSTS else "https"
    return Endpoint(f"{scheme}://{parts.netloc}", repository)


@dataclass(frozen=True)
class Credentials:
    """From the remote's config (``config.local.toml``) or the environment."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_config(cls, config: RemoteConfig) -> Credentials:
        env = os.environ.get
        return cls(
            username=config.username or env("LOCKSTEP_OCI_USERNAME") or None,
            password=config.password or env("LOCKSTEP_OCI_PASSWORD") or None,
            token=config.token or env("LOCKSTEP_OCI_TOKEN") or None,
        )

    def basic(self) -> str | None:
        if self.username is None or self.password is None:
            return None
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",scope="…"`` -> ``("bearer", {"realm": …, "scope": …})``."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


def registry_message(response: httpx.Response) -> str:
    """``HTTP 404 BLOB_UNKNOWN: blob unknown to registry``, from the JSON error body."""
    status = f"HTTP {response.status_code}"
    try:
        first = response.json()["errors"][0]
        return f"{status} {first['code']}: {first['message']}"
    except (ValueError, LookupError, TypeError, httpx.ResponseNotRead):
        return f"{status} {response.reason_phrase}".strip()


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    what: str  # "uploading sha256:…", for messages
    ok: tuple[int, ...] = (200,)
    headers: dict[str, str] | None = None
    params: dict[str, str] | None = None
    body: Body | None = None  # a factory: a retry needs the body again
    stream: bool = False


class Registry:
    """An httpx client bound to one repository; safe to share between threads.

    ``transport`` replaces the network (tests pass an ``httpx.MockTransport``).
    """

    def __init__(
        self,
        remote: str,
        endpoint: Endpoint,
        credentials: Credentials,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.remote = remote
        self.endpoint = endpoint
        self._credentials = credentials
        self._authorization = f"Bearer {credentials.token}" if credentials.token else None
        self._lock = threading.Lock()
        self._origin = httpx.URL(endpoint.base)
        self.client = httpx.Client(
            timeout=TIMEOUT,
            limits=LIMITS,
            follow_redirects=True,
            headers={"User-Agent": f"lockstep/{__version__}"},
            transport=transport,
        )

    def close(self) -> None:
        self.client.close()

    def error(self, problem: str) -> RemoteError:
        return RemoteError(self.remote, problem)

    def send(self, call: Call) -> httpx.Response:
        """Send ``call``, answering one auth challenge; a status not in ``call.ok`` raises."""
        for attempt in (1, 2):
            sent = self._authorization
            response = self._transmit(call, sent)
            if response.status_code == 401 and attempt == 1 and self._authenticate(response, sent):
                response.close()
                continue
            if response.status_code not in call.ok:
                raise self._refusal(response, call.what)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def json(self, call: Call) -> dict[str, Any]:
        """Send ``call`` and decode its JSON object (an empty dict for a 404 in ``ok``)."""
        response = self.send(call)
        return {} if response.status_code == 404 else self.decode(response, call.what)

    def decode(self, response: httpx.Response, what: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError as exc:
            raise self.error(f"{what}: the registry answered with invalid JSON") from exc
        if not isinstance(data, dict):
            raise self.error(f"{what}: the registry answered with unexpected JSON")
        return data

    def body(self, response: httpx.Response, what: str, skip: int = 0) -> Iterator[bytes]:
        """The bytes of a streamed ``response`` after its first ``skip`` bytes; closes it."""
        try:
            for block in response.iter_bytes():
                if skip >= len(block):
                    skip -= len(block)
                    continue
                yield block[skip:] if skip else block
                skip = 0
        except FOREIGN as exc:
            raise self.error(f"{what}: {self._describe(exc)}") from exc
        finally:
            response.close()

    def _transmit(self, call: Call, authorization: str | None) -> httpx.Response:
        try:
            request = self.client.build_request(
                call.method,
                call.url,
                headers=call.headers,
                params=call.params,
                content=call.body() if call.body else None,
            )
            if authorization and self._same_origin(request.url):
                request.headers["Authorization"] = authorization
            return self.client.send(request, stream=call.stream)
        except FOREIGN as exc:
            raise self.error(f"{call.what}: {self._describe(exc)}") from exc

    def _same_origin(self, url: httpx.URL) -> bool:
        origin = self._origin
        return (url.scheme, url.host, url.port) == (origin.scheme, origin.host, origin.port)

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, httpx.ConnectError):
            return f"cannot connect to {self.endpoint.base} ({one_line(exc)})"
        if isinstance(exc, httpx.TimeoutException):
            return f"{self.endpoint.base} did not answer in time ({type(exc).__name__})"
        return one_line(exc)

    def _authenticate(self, response: httpx.Response, sent: str | None) -> bool:
        """Renew the Authorization after a 401; False when there is nothing new to try."""
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        with self._lock:
            if self._authorization != sent:
                return True  # another thread renewed it meanwhile
            if scheme == "bearer" and params.get("realm"):
                self._authorization = "Bearer " + self._fetch_token(params)
                return True
            basic = self._credentials.basic()
            if scheme == "basic" and basic is not None and sent != basic:
                self._authorization = basic
                return True
        return False

    def _fetch_token(self, challenge: dict[str, str]) -> str:
        realm = challenge["realm"]
        what = f"asking {realm} for a token"
        query: dict[str, str] = {k: v for k, v in challenge.items() if k in ("service", "scope")}
        basic = self._credentials.basic()
        headers = {"Authorization": basic} if basic else {}
        try:
            response = self.client.get(realm, params=query, headers=headers)
        except FOREIGN as exc:
            raise self.error(f"{what}: {self._describe(exc)}") from exc
        if response.status_code != 200:
            raise self._refusal(response, what)
        try:
            data = response.json()
            token = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError) as exc:
            raise self.error(f"{what}: the token service answered with invalid JSON") from exc
        if not isinstance(token, str) or not token:
            raise self.error(f"{what}: the token service answered without a token")
        return token

    def _refusal(self, response: httpx.Response, what: str) -> RemoteError:
        with contextlib.suppress(*FOREIGN):
            response.read()
        response.close()
        message = f"{what}: {registry_message(response)}"
        if response.status_code == 401:
            if self._credentials.basic() is None and self._credentials.token is None:
                message += " (set LOCKSTEP_OCI_USERNAME and LOCKSTEP_OCI_PASSWORD)"
            else:
                message += " (check the credentials)"
        elif response.status_code == 403:
            message += " (the credentials lack access to this repository)"
        return self.error(message)
