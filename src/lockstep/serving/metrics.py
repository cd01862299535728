"""Prometheus metrics of one served model.

* ``lockstep_requests_total{model,version,route,code}``: requests answered;
* ``lockstep_request_duration_seconds{model,version,route}``: time in the server, from
  the first byte handed to the app to the last byte of the answer;
* ``lockstep_batch_rows`` / ``lockstep_batch_requests{model,version}``: rows and
  requests per predict call;
* ``lockstep_errors_total{model,version,route,kind}``: ``client`` (4xx), ``model`` (the
  model rejected the input, 422) and ``server`` (5xx);
* ``lockstep_model_info{model,version,digest,flavor,unsigned} 1``.

Each app has its own registry (several apps may live in one process, as in tests).
With ``PROMETHEUS_MULTIPROC_DIR`` set (``--workers`` > 1) prometheus-client keeps the
values in files shared by the workers, and ``/metrics`` adds them up. Label children are
cached per (route, code) so a request costs two dictionary look-ups and two locked adds.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from lockstep.serving.spec import ServeSpec

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    """The metrics of one model, in their own registry."""

    def __init__(self, spec: ServeSpec) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self.registry = CollectorRegistry()
        labels = {"model": spec.name, "version": spec.version}
        names = ["model", "version"]
        self._labels = (spec.name, spec.version)
        self.requests = Counter(
            "lockstep_requests", "Requests answered", [*names, "route", "code"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "lockstep_request_duration_seconds", "Time to answer a request",
            [*names, "route"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.errors = Counter(
            "lockstep_errors", "Requests answered with an error", [*names, "route", "kind"],
            registry=self.registry,
        )  # fmt: skip
        self.batch_rows = Histogram(
            "lockstep_batch_rows", "Rows per predict call", names,
            buckets=SIZE_BUCKETS, registry=self.registry,
        ).labels(**labels)  # fmt: skip
        self.batch_requests = Histogram(
            "lockstep_batch_requests", "Requests per predict call", names,
            buckets=SIZE_BUCKETS, registry=self.registry,
        ).labels(**labels)  # fmt: skip
        info = Gauge(
            "lockstep_model_info", "The served model",
            [*names, "digest", "flavor", "unsigned"], registry=self.registry,
            multiprocess_mode="max",
        )  # fmt: skip
        info.labels(
            **labels, digest=spec.digest, flavor=spec.flavor, unsigned=str(spec.unsigned).lower()
        ).set(1)
        self._children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}

    def observe_request(self, route: str, code: int, seconds: float, kind: str | None) -> None:
        key = (route, code)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(*self._labels, route, str(code)),
                self.latency.labels(*self._labels, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if code >= 400:
            kind = kind or ("server" if code >= 500 else "client")
            self.errors.labels(*self._labels, route, kind).inc()

    def observe_batch(self, rows: int, requests: int) -> None:
        self.batch_rows.observe(rows)
        self.batch_requests.observe(requests)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        if not self.multiprocess:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
