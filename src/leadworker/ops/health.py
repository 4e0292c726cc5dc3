"""The metrics and health HTTP server (aiohttp), on ``LEADWORKER_METRICS_HOST:LEADWORKER_METRICS_PORT``.

- ``GET /metrics``: Prometheus exposition (text format 0.0.4, or OpenMetrics if the scraper asks for it).
- ``GET /healthz``: liveness. 200 while the process's event loop runs: the answer comes from that loop, and the
  body tells the current event-loop lag. A process that does not answer is stuck.
- ``GET /readyz``: readiness. 200 when the broker is connected, the database answers and every consumer is
  consuming; else 503 with a JSON body that names what is not ready.

Two modes share the server: :func:`worker_server` (one worker process, its own registry) and
:func:`aggregate_server` (a supervisor serving every worker process of ``--processes N``: metrics summed from
``PROMETHEUS_MULTIPROC_DIR``, readiness from the workers' state files; see :mod:`leadworker.ops.multiproc`).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from leadworker.ops import multiproc
from leadworker.ops.serving import serve_app

Report = tuple[bool, dict[str, Any]]
"""``(ok, JSON-able body)`` of a health or readiness check."""


@dataclass
class Checks:
    """What the server asks whenever a probe arrives."""

    registry: CollectorRegistry
    readiness: Callable[[], Report]
    health: Callable[[], Report]
    refresh: Callable[[], None] | None = None
    """Called before each ``/metrics`` answer, to set gauges that are cheap to read but not event-driven."""


class OpsServer:
    """Serves ``/metrics``, ``/healthz`` and ``/readyz``. :meth:`start` binds (raises OSError if it cannot)."""

    def __init__(self, checks: Checks, host: str, port: int) -> None:
        self.checks = checks
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Bind and serve; returns the bound port (useful with port 0 in tests)."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/", self._index)
        self._runner, self.port = await serve_app(app, self.host, self.port, reuse_address=True, handle_signals=False)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        if self.checks.refresh is not None:
            self.checks.refresh()
        # Reading a multiprocess directory is file I/O; keep it off the loop.
        body = await asyncio.to_thread(encoder, self.checks.registry)
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    async def _healthz(self, _request: web.Request) -> web.Response:
        return _json_response(*self.checks.health())

    async def _readyz(self, _request: web.Request) -> web.Response:
        return _json_response(*self.checks.readiness())

    async def _index(self, _request: web.Request) -> web.Response:
        return web.Response(text="leadworker: /metrics /healthz /readyz\n")


def _json_response(ok: bool, body: dict[str, Any]) -> web.Response:
    return web.Response(
        status=200 if ok else 503, text=json.dumps(body, default=str) + "\n", content_type="application/json"
    )


def worker_server(
    registry: CollectorRegistry,
    readiness: Callable[[], Report],
    health: Callable[[], Report],
    *,
    host: str,
    port: int,
    refresh: Callable[[], None] | None = None,
) -> OpsServer:
    """The server of one worker process (``leadworker run``); see :mod:`leadworker.ops.service`."""
    return OpsServer(Checks(registry=registry, readiness=readiness, health=health, refresh=refresh), host, port)


def aggregate_server(
    directory: str | os.PathLike[str],
    *,
    host: str,
    port: int,
    expected: Callable[[], int | None] | None = None,
    stale_after: float = multiproc.STALE_AFTER,
) -> OpsServer:
    """The server of a supervisor: the sum of every worker process's metrics, and their joint readiness.

    ``expected`` returns how many worker processes should be reporting (the supervisor's target), so that
    ``/readyz`` stays 503 while one is being restarted. ``/healthz`` answers 200 while the supervisor's loop
    runs and lists each worker's report age.
    """
    path = Path(directory)
    started = time.monotonic()

    def readiness() -> Report:
        return multiproc.aggregate_readiness(
            multiproc.read_worker_states(path), expected=expected() if expected else None, stale_after=stale_after
        )

    def health() -> Report:
        now = time.time()
        workers = [
            {"pid": s.pid, "age_seconds": round(max(now - s.updated, 0.0), 3)}
            for s in multiproc.read_worker_states(path)
        ]
        return True, {"alive": True, "uptime_seconds": round(time.monotonic() - started, 3), "workers": workers}

    checks = Checks(registry=multiproc.aggregate_registry(path), readiness=readiness, health=health)
    return OpsServer(checks, host, port)
