"""The API application: :func:`create_app` wires services, middleware, error handling and the routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client.exposition import choose_encoder

from leadworker.api import problems
from leadworker.api.auth import services_of
from leadworker.api.inbound import load_sources
from leadworker.api.limits import BodyLimit
from leadworker.api.live_events import EventHub
from leadworker.api.problems import ERROR_SCHEMA
from leadworker.api.routes_events import router as events_router
from leadworker.api.routes_inbound import router as inbound_router
from leadworker.api.routes_jobs import router as jobs_router
from leadworker.api.routes_leads import router as leads_router
from leadworker.api.routes_ops import router as ops_router
from leadworker.api.services import ApiServices
from leadworker.api.telemetry import ApiMetrics, RequestMetrics
from leadworker.config import Settings
from leadworker.dashboard.mount import mount_dashboard
from leadworker.errors import ServiceUnavailable, one_line

VERSION = "1"
READY_TIMEOUT = 3.0
"""Seconds ``/readyz`` gives the database and the broker to answer."""

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    for status, description in (
        (400, "the body is not JSON"),
        (401, "no valid token"),
        (403, "the token's scope is too low"),
        (404, "not found"),
        (409, "not in a state that allows it"),
        (413, "body too large"),
        (422, "invalid input"),
        (503, "a service is down"),
    )
}


def create_app(settings: Settings) -> FastAPI:
    services = ApiServices(settings)
    metrics = ApiMetrics()
    hub = EventHub(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await services.start()
        try:
            yield
        finally:
            await hub.close()
            await services.close()

    app = FastAPI(
        title="leadworker",
        version=VERSION,
        lifespan=lifespan,
        responses=_ERRORS,
        description="Submit scrape jobs, follow them and download their leads. "
        "Every route but health and metrics needs `Authorization: Bearer <token>`.",
    )
    app.state.services = services
    app.state.metrics = metrics
    app.state.events = hub
    app.state.inbound = load_sources(settings.inbound_sources)
    problems.install(app)
    app.add_middleware(BodyLimit, limit=settings.api_max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)
    _health_routes(app, metrics)
    app.include_router(jobs_router)
    app.include_router(leads_router)
    app.include_router(ops_router)
    app.include_router(events_router)
    app.include_router(inbound_router)
    mount_dashboard(app)
    return app


def _health_routes(app: FastAPI, metrics: ApiMetrics) -> None:
    @app.get("/healthz", tags=["health"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Readiness: the database and the broker answer",
        responses={503: {"description": "not ready"}},
    )
    async def readyz(request: Request) -> JSONResponse:
        services = services_of(request)
        checks: dict[str, Any] = {"database": await services.db.ping(READY_TIMEOUT)}
        try:
            connection = await services.broker()
            checks["broker"] = not connection.is_closed
        except ServiceUnavailable as exc:
            checks["broker"] = False
            checks["broker_error"] = one_line(exc, 300)
        ready = checks["database"] is True and checks["broker"] is True
        return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)

    @app.get(
        "/metrics", tags=["health"], summary="Prometheus metrics: requests by route and status", response_class=Response
    )
    async def metrics_route(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(metrics.registry), media_type=content_type)
