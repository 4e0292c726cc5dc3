"""Who is looking: the session cookie (set at sign-in, HttpOnly, SameSite=Strict, Secure over https) read into
a :class:`Viewer` with its token's scope as it is now. Scopes as the API's: ``read`` views, ``write`` also
submits, cancels and retries jobs, ``admin`` also sees, replays and purges dead letters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends, Request

from leadworker.api.auth import services_of
from leadworker.store.tokens import scope_allows
from leadworker.store.web_sessions import find_session

SESSION_COOKIE = "lw_session"
MAX_COOKIE_LENGTH = 100


@dataclass(frozen=True)
class Viewer:
    token_name: str
    scope: str
    csrf_token: str

    def can(self, scope: str) -> bool:
        return scope_allows(self.scope, scope)


class SignInNeeded(Exception):
    """No live session: the browser is sent to ``/login`` (and back to ``next`` after it)."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class ScopeTooLow(Exception):
    """The session's token may not do this: a 403 page."""


def _back_here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def require(scope: str) -> Callable[[Request], Awaitable[Viewer]]:
    """A dependency: the signed-in viewer, whose token must allow ``scope``."""

    async def check(request: Request) -> Viewer:
        session_id = request.cookies.get(SESSION_COOKIE, "")
        session = None
        if 0 < len(session_id) <= MAX_COOKIE_LENGTH and session_id.isascii() and session_id.isprintable():
            session = await find_session(services_of(request).db, session_id)
        if session is None:
            raise SignInNeeded(_back_here(request))
        viewer = Viewer(session.token_name, session.scope, session.csrf_token)
        request.state.viewer = viewer
        if not viewer.can(scope):
            raise ScopeTooLow(f"the token {viewer.token_name!r} has scope {viewer.scope!r}; this needs {scope!r}")
        return viewer

    return check


READER = Depends(require("read"))
WRITER = Depends(require("write"))
ADMIN = Depends(require("admin"))
