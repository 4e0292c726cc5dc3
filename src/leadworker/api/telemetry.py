"""Request metrics of the API, on its own registry: ``leadworker_api_requests_total`` and
``leadworker_api_request_seconds`` by method, route (the path template, never the raw path: ids would make
unbounded label sets) and status."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("method", "route", "status")
        self.requests = Counter("leadworker_api_requests", "API requests answered", labels, registry=self.registry)
        self.latency = Histogram(
            "leadworker_api_request_seconds",
            "API request latency (until the response starts; a streamed body may take longer)",
            labels,
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request and observe its latency (the labelled children looked up once per label set:
        ``labels()`` takes a lock and checks its arguments on every call)."""
        key = (method, route, str(status))
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(*key), self.latency.labels(*key))
        counter, histogram = children
        counter.inc()
        histogram.observe(seconds)


class RequestMetrics:
    """ASGI middleware recording every HTTP request in :class:`ApiMetrics`."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        recorded = False

        async def sending(message: Message) -> None:
            nonlocal recorded
            if message["type"] == "http.response.start" and not recorded:
                recorded = True
                self._record(scope, message["status"], started)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if not recorded:
                self._record(scope, 500, started)

    def _record(self, scope: Scope, status: int, started: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        self.metrics.record(scope["method"], template, status, time.perf_counter() - started)
