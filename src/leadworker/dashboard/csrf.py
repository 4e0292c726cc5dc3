"""Forms and their CSRF token. Every form of a session carries the session's token in ``csrf_token``; every POST
is read here, and one without the right token is refused (403) before anything is done. The sign-in form, which
has no session yet, carries a token that must match a short-lived cookie set with the form (double submit).
SameSite=Strict on the cookies is the second fence."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qs

from fastapi import Request

from leadworker.dashboard.viewer import Viewer

FIELD = "csrf_token"
SIGNIN_COOKIE = "lw_signin_csrf"
MAX_FIELDS = 200

Form = dict[str, list[str]]


class CsrfRefused(Exception):
    """A POST without the session's CSRF token (or not a form): a 403 page."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


async def read_form(request: Request) -> Form:
    """The POSTed ``application/x-www-form-urlencoded`` body as ``{name: [values]}``."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise CsrfRefused("not a form of this dashboard (expected application/x-www-form-urlencoded)")
    try:
        text = (await request.body()).decode("utf-8")
        return parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise CsrfRefused(f"the form could not be read: {exc}") from None


def matches(form: Form, expected: str | None) -> bool:
    given = form.get(FIELD, [""])[0]
    return bool(expected) and bool(given) and hmac.compare_digest(given.encode(), (expected or "").encode())


async def checked_form(request: Request, viewer: Viewer) -> Form:
    """The POSTed form, once its CSRF token is the session's; :class:`CsrfRefused` otherwise."""
    form = await read_form(request)
    if not matches(form, viewer.csrf_token):
        raise CsrfRefused("the form's CSRF token is missing or not this session's; reload the page and try again")
    return form


def first(form: Form, name: str) -> str:
    """The first value of ``name`` (stripped), or ``""``."""
    return form.get(name, [""])[0].strip()
