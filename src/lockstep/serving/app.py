"""The FastAPI app that serves one model.

Routes (Open Inference Protocol v2 REST, MLflow scoring, Prometheus):

* ``GET /v2/health/live``, ``GET /v2/health/ready``, ``GET /ping``: open to all;
* ``GET /v2``: server metadata; ``GET /v2/models/{name}[/versions/{version}]``: model
  metadata; ``GET /v2/models/{name}[/versions/{version}]/ready``;
* ``POST /v2/models/{name}[/versions/{version}]/infer`` and ``POST /invocations``;
* ``GET /metrics``.

The request path is kept lean: routes are plain Starlette routes (no FastAPI
dependency solving or pydantic models), the raw body is decoded by :mod:`.codec`, the
answer is a prebuilt ``Response`` of bytes, and the single middleware
(:mod:`.gate`) is plain ASGI. Predictions go through the :class:`~.batching.Batcher`.
Every error is JSON ``{"error": "..."}``: client mistakes with their 4xx status, 404 and
405 from routing (a path with a trailing slash is a 404 too, not a redirect), 413 for a
body over :data:`MAX_BODY_BYTES` (refused from its ``Content-Length`` before reading, or
as soon as a chunked body passes it), 499 when the client hung up while sending its
body, and a generic 500 for anything unexpected (logged with its traceback). The model
is loaded when the app is created, so a model that cannot be served fails before the
server listens. At startup the objects made by the imports and the model are frozen out
of the garbage collector's reach (``gc.freeze``): otherwise a full collection walks them
all and stalls every request in flight for 50-100 ms; shutdown unfreezes them, so an
app that stops (in tests) can be collected. The lifespan's shutdown drains the batcher
and flushes the inference log; a lifespan that starts again serves again.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from lockstep import __version__
from lockstep.errors import ServingError
from lockstep.serving import codec, flavors, signature
from lockstep.serving.batching import Batcher, Job, Outcome
from lockstep.serving.gate import Gate, RequestInfo, drain, expected_token
from lockstep.serving.inference_log import InferenceLog
from lockstep.serving.metrics import Metrics
from lockstep.serving.predictor import Predictor
from lockstep.serving.spec import SPEC_ENV, TOKEN_ENV, ServeSpec
from lockstep.serving.tables import RequestError

JSON = "application/json"
MAX_BODY_BYTES = 64 * 2**20
COLUMN_DATATYPES = {
    "double": "FP64",
    "float": "FP32",
    "long": "INT64",
    "integer": "INT32",
    "boolean": "BOOL",
    "string": "BYTES",
}
Handler = Callable[[Request], Awaitable[Response]]


def error_response(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message}).encode(), status, media_type=JSON)


def _json(doc: object) -> Response:
    return Response(json.dumps(doc).encode(), media_type=JSON)


def _guarded(handler: Handler) -> Handler:
    """Client mistakes become their JSON error answer."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except RequestError as exc:
            return error_response(exc.status, exc.message)

    return endpoint


def _info(request: Request) -> RequestInfo:
    info: RequestInfo = request.scope["lockstep"]
    return info


def check_settings(spec: ServeSpec) -> None:
    """ServingError when a batching or log setting is out of range."""
    batching, log = spec.batching, spec.log
    if batching.max_batch_size < 1 or batching.max_latency_ms < 0:
        raise ServingError(
            "batching needs max_batch_size >= 1 and max_latency_ms >= 0, got "
            f"{batching.max_batch_size} and {batching.max_latency_ms}"
        )
    if not 0.0 <= log.sample_rate <= 1.0:
        raise ServingError(f"log sample_rate {log.sample_rate} is not within 0..1")
    if log.flush_seconds <= 0 or log.flush_rows < 1:
        raise ServingError(
            f"log flush_seconds must be > 0 and flush_rows >= 1, got {log.flush_seconds} "
            f"and {log.flush_rows}"
        )


class ModelServer:
    """One loaded model and everything that serves it."""

    def __init__(self, spec: ServeSpec) -> None:
        check_settings(spec)
        self.spec = spec
        self.model = flavors.load(spec)
        self.signature = signature.resolve(spec, self.model)
        self.builder = codec.InputBuilder(self.signature)
        self.metrics = Metrics(spec)
        self.log = None
        if spec.log.url is not None:
            self.log = InferenceLog(
                spec.log, self.signature, spec.name, spec.version, self.model.classes
            )
        self.batcher = Batcher(
            Predictor(self.model, self.metrics, self.log),
            spec.batching.max_batch_size,
            spec.batching.max_latency_ms,
        )
        self.ready = False
        self.max_body = MAX_BODY_BYTES
        self.metadata = json.dumps(self._metadata()).encode()
        for message in ("X does not have valid feature names", "X has feature names"):
            warnings.filterwarnings("ignore", message=message, category=UserWarning)

    def _metadata(self) -> dict[str, Any]:
        spec = self.spec
        inputs = [
            {"name": c.name, "datatype": COLUMN_DATATYPES[c.type], "shape": [-1]}
            for c in self.signature.inputs
        ]
        outputs = [{"name": "predict", "datatype": self.model.output_datatype, "shape": [-1]}]
        if self.model.has_proba:
            width = len(self.model.classes) if self.model.classes else -1
            outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, width]})
        return {
            "name": spec.name,
            "versions": [spec.version] if spec.version else [],
            "platform": self.model.platform,
            "inputs": inputs,
            "outputs": outputs,
            "parameters": {
                "flavor": spec.flavor,
                "digest": spec.digest,
                "unsigned": spec.unsigned,
                "classes": self.model.classes,
            },
        }

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        self.batcher.open()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, drain)
        gc.collect()
        gc.freeze()
        self.ready = True
        try:
            yield
        finally:
            self.ready = False
            await self.batcher.close()
            if self.log is not None:
                await asyncio.get_running_loop().run_in_executor(None, self.log.close)
            gc.unfreeze()

    # -- checks -------------------------------------------------------------------------

    def _check_model(self, request: Request) -> None:
        name = request.path_params["name"]
        version = request.path_params.get("version")
        if name != self.spec.name:
            raise RequestError(
                404, f"unknown model {name!r}: this server serves {self.spec.name!r}"
            )
        if version is not None and version != self.spec.version:
            served = self.spec.version or "an unversioned file"
            raise RequestError(
                404, f"model {name!r} has no version {version!r} here (serving {served})"
            )

    # -- health and metadata ------------------------------------------------------------

    async def live(self, request: Request) -> Response:
        return _json({"live": True})

    async def server_ready(self, request: Request) -> Response:
        if not self.ready:
            return error_response(503, "not ready")
        return _json({"ready": True})

    async def ping(self, request: Request) -> Response:
        if not self.ready:
            return error_response(503, "not ready")
        return _json({"status": "ok"})

    async def server_metadata(self, request: Request) -> Response:
        return _json(
            {"name": "lockstep", "version": __version__, "extensions": ["binary_tensor_data"]}
        )

    async def model_metadata(self, request: Request) -> Response:
        self._check_model(request)
        return Response(self.metadata, media_type=JSON)

    async def model_ready(self, request: Request) -> Response:
        self._check_model(request)
        if not self.ready:
            return error_response(503, f"model {self.spec.name!r} is not ready")
        return _json({"name": self.spec.name, "ready": True})

    async def metrics_text(self, request: Request) -> Response:
        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type)

    # -- predictions --------------------------------------------------------------------

    async def _body(self, request: Request) -> bytes:
        encoding = request.headers.get("content-encoding", "identity").lower()
        if encoding != "identity":
            raise RequestError(415, f"Content-Encoding {encoding!r} is not supported")
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            raise _too_large(self.max_body)
        chunks = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > self.max_body:
                    raise _too_large(self.max_body)
                chunks.append(chunk)
        except ClientDisconnect:
            raise RequestError(499, "the client closed the connection") from None
        return b"".join(chunks)

    async def _predict(self, info: RequestInfo, job: Job) -> Outcome:
        outcome = await self.batcher.submit(job)
        info.batch = outcome.batch_rows
        if outcome.error is not None:
            if outcome.status == 422:
                info.kind = "model"
            raise RequestError(outcome.status, outcome.error)
        return outcome

    async def infer(self, request: Request) -> Response:
        self._check_model(request)
        info = _info(request)
        ticket = self.batcher.enter()
        try:
            body = await self._body(request)
            decoded = codec.decode_oip(
                body, _header_length(request), self.builder, self.model.has_proba
            )
        finally:
            self.batcher.leave(ticket)
        info.request_id = decoded.request_id or os.urandom(8).hex()
        job = Job(decoded.input.data, decoded.input.rows, "predict_proba" in decoded.outputs,
                  info.request_id)  # fmt: skip
        outcome = await self._predict(info, job)
        outputs = []
        for name in decoded.outputs:
            result = outcome.predictions if name == "predict" else outcome.proba
            assert result is not None
            outputs.append((name, result))
        data, headers = codec.encode_oip(
            self.spec.name, self.spec.version, info.request_id, outputs, decoded.binary
        )
        if headers is None:
            return Response(data, media_type=JSON)
        return Response(data, headers=headers, media_type="application/octet-stream")

    async def invocations(self, request: Request) -> Response:
        info = _info(request)
        ticket = self.batcher.enter()
        try:
            body = await self._body(request)
            decoded = codec.decode_invocations(
                body, request.headers.get("content-type", ""), self.builder, self.model.has_proba
            )
        finally:
            self.batcher.leave(ticket)
        info.request_id = request.headers.get("x-request-id") or os.urandom(8).hex()
        job = Job(decoded.input.data, decoded.input.rows, decoded.proba, info.request_id)
        outcome = await self._predict(info, job)
        result = outcome.proba if decoded.proba else outcome.predictions
        assert result is not None
        return Response(codec.encode_invocations(result), media_type=JSON)


def _too_large(limit: int) -> RequestError:
    return RequestError(413, f"the body is larger than {limit} bytes")


def _header_length(request: Request) -> int | None:
    value = request.headers.get("inference-header-content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise RequestError(
            400, f"Inference-Header-Content-Length {value!r} is not an integer"
        ) from None


async def _http_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        messages = {404: f"no route {request.url.path}", 405: "method not allowed"}
        response = error_response(exc.status_code, messages.get(exc.status_code, exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response
    return error_response(500, "internal server error")


def _routes(server: ModelServer) -> list[tuple[str, Handler, str]]:
    model = "/v2/models/{name}"
    version = model + "/versions/{version}"
    return [
        (model + "/infer", server.infer, "POST"),
        (version + "/infer", server.infer, "POST"),
        ("/invocations", server.invocations, "POST"),
        ("/v2/health/live", server.live, "GET"),
        ("/v2/health/ready", server.server_ready, "GET"),
        ("/ping", server.ping, "GET"),
        ("/v2", server.server_metadata, "GET"),
        (model, server.model_metadata, "GET"),
        (version, server.model_metadata, "GET"),
        (model + "/ready", server.model_ready, "GET"),
        (version + "/ready", server.model_ready, "GET"),
        ("/metrics", server.metrics_text, "GET"),
    ]


def create_app(spec: ServeSpec, token: str | None = None) -> FastAPI:
    """The app serving ``spec``'s model; ServingError when it cannot be served."""
    token = token or None
    if token is not None:
        expected_token(token)  # a blank token fails here, not at the first request
    server = ModelServer(spec)
    app = FastAPI(
        title=f"lockstep serve {spec.name}",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
        lifespan=server.lifespan,
        exception_handlers={HTTPException: _http_error},
    )
    app.state.server = server
    for path, handler, method in _routes(server):
        app.add_route(path, _guarded(handler), methods=[method], include_in_schema=False)
    app.add_middleware(
        Gate, token=token, metrics=server.metrics, model=spec.name, version=spec.version
    )
    return app


def from_env() -> FastAPI:
    """The uvicorn factory: the spec from the file ``$LOCKSTEP_SERVE_SPEC``, the token
    from ``$LOCKSTEP_SERVE_TOKEN``."""
    spec = ServeSpec.load(Path(os.environ[SPEC_ENV]))
    return create_app(spec, os.environ.get(TOKEN_ENV) or None)
