"""Signing in with an API token (checked as a Bearer token is: ``store.tokens.authenticate``) and out. A sign-in
starts a server-side session whose id goes to an HttpOnly, SameSite=Strict cookie (Secure when the request came
over https); the token itself is never stored in the browser."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from leadworker.api.auth import MAX_TOKEN_LENGTH, services_of
from leadworker.dashboard import csrf
from leadworker.dashboard.rendering import render, secured
from leadworker.dashboard.viewer import READER, SESSION_COOKIE, Viewer
from leadworker.store.tokens import authenticate
from leadworker.store.web_sessions import end_session, start_session

router = APIRouter(include_in_schema=False)
SIGNIN_FORM_SECONDS = 3600


def safe_next(target: str) -> str:
    """Where to go after signing in: a path of this site only (never ``//elsewhere`` nor a URL)."""
    # Browsers drop tabs and newlines from a URL ("/\t/evil.example" is "//evil.example") and read "\\" as "/".
    odd = any(c.isspace() or not c.isprintable() or c == "\\" for c in target)
    if odd or not target.startswith("/") or target.startswith("//") or len(target) > 2000:
        return "/"
    return target


def _signin_page(request: Request, next_path: str, problem: str | None = None, status: int = 200) -> Response:
    token = csrf.new_token()
    response = render(
        request, "signin.html", {"next": next_path, "csrf_token": token, "problem": problem}, status=status
    )
    response.set_cookie(
        csrf.SIGNIN_COOKIE,
        token,
        max_age=SIGNIN_FORM_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/login",
    )
    return response


@router.get("/login")
async def signin_form(request: Request, next: str = "/") -> Response:
    return _signin_page(request, safe_next(next))


@router.post("/login")
async def signin(request: Request) -> Response:
    form = await csrf.read_form(request)
    if not csrf.matches(form, request.cookies.get(csrf.SIGNIN_COOKIE)):
        raise csrf.CsrfRefused("the sign-in form's CSRF token is missing or stale; reload the page and try again")
    next_path = safe_next(csrf.first(form, "next") or "/")
    token = csrf.first(form, "token")
    found = None
    if token and len(token) <= MAX_TOKEN_LENGTH and token.isascii() and token.isprintable():
        found = await authenticate(services_of(request).db, token)
    if found is None:
        return _signin_page(request, next_path, "token: not a valid token (unknown or revoked)", status=401)
    services = services_of(request)
    lifetime = services.settings.dashboard_session_hours * 3600
    session_id = await start_session(services.db, found[0], lifetime)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(lifetime),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    response.delete_cookie(csrf.SIGNIN_COOKIE, path="/login")
    return secured(response)


@router.post("/logout")
async def signout(request: Request, viewer: Viewer = READER) -> Response:
    await csrf.checked_form(request, viewer)
    await end_session(services_of(request).db, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return secured(response)
