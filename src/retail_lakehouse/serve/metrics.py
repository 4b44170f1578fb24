"""Prometheus metrics of the API: requests by route and status, latency, snapshot and jobs.

Recorded by a plain ASGI middleware (no per-request objects, no body buffering) and labelled
with the route template (``/api/v1/customers/{customer_id}``), never the raw path, so label
cardinality stays bounded whatever clients send. Each app gets its own registry, so several
apps in one process (tests) do not collide.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _LiveGauges(Collector):
    """Gauges read at scrape time from the running server (snapshot age, queue length...)."""

    def __init__(self, read: Callable[[], dict[str, float]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, value in self._read().items():
            yield GaugeMetricFamily(f"retail_api_{name}", name.replace("_", " "), value=value)


class ApiMetrics:
    """The registry and the instruments the middleware updates."""

    def __init__(
        self,
        live: Callable[[], dict[str, float]] | None = None,
        pipeline: Collector | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        if pipeline is not None:  # the pipeline's own metrics, read from the lake per scrape
            self.registry.register(pipeline)
        self.requests = Counter(
            "retail_api_requests",
            "HTTP requests served.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "retail_api_request_seconds",
            "Time to serve a request.",
            ["route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        if live is not None:
            self.registry.register(_LiveGauges(live))

    def render(self) -> bytes:
        body: bytes = generate_latest(self.registry)
        return body


class MetricsMiddleware:
    """Counts and times every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - started)
