"""Adds the dashboard to the API's app: its pages (left out of the OpenAPI schema), its static files, and what
a page answers when there is no session (to ``/login``), when the token's scope is too low (403) or when a POST
lacks the session's CSRF token (403)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from leadworker.dashboard import live_stream, pages_jobs, pages_leads, pages_ops, pages_overview, signin
from leadworker.dashboard.csrf import CsrfRefused
from leadworker.dashboard.rendering import STATIC_DIR, render, secured
from leadworker.dashboard.viewer import ScopeTooLow, SignInNeeded


async def _sign_in(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInNeeded)
    target = "/login" if exc.next_path == "/" else "/login?" + urlencode({"next": exc.next_path})
    return secured(RedirectResponse(target, status_code=303))


async def _forbidden(request: Request, exc: Exception) -> Response:
    return render(request, "problem.html", {"status": 403, "message": str(exc)}, status=403)


async def _favicon() -> Response:
    """Browsers that ask for /favicon.ico whatever the page links get the dashboard's icon, not a 404 (which a
    browser logs as a console error)."""
    return secured(RedirectResponse("/static/favicon.svg", status_code=308))


def mount_dashboard(app: FastAPI) -> None:
    app.add_exception_handler(SignInNeeded, _sign_in)
    app.add_exception_handler(ScopeTooLow, _forbidden)
    app.add_exception_handler(CsrfRefused, _forbidden)
    for module in (signin, pages_overview, pages_jobs, pages_leads, pages_ops, live_stream):
        app.include_router(module.router)
    app.add_api_route("/favicon.ico", _favicon, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")
