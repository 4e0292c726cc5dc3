"""Bearer tokens: every route but health and metrics asks for one. 401 without a valid token, 403 when its scope
is too low (``read``: reading; ``write``: jobs; ``admin``: dead letters and tokens)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from leadworker.api.problems import ApiError
from leadworker.api.services import ApiServices
from leadworker.store.tokens import scope_allows

_bearer = HTTPBearer(auto_error=False, description="a token made by `leadworker tokens create NAME`")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
MAX_TOKEN_LENGTH = 200


@dataclass(frozen=True)
class Caller:
    token: str
    """The token's name (not the token)."""
    scope: str


def services_of(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


def require(scope: str) -> Callable[..., Awaitable[Caller]]:
    """A dependency: the caller, whose token must allow ``scope``."""

    async def check(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Caller:
        return await _caller(request, credentials, scope)

    return check


async def authorize(request: Request, scope: str) -> Caller:
    """What :func:`require` checks, called by a route itself instead of as a dependency (the hot submit route:
    FastAPI's dependency solving costs more than the check). Such a route declares the security scheme with
    ``openapi_extra=BEARER_SECURITY``."""
    return await _caller(request, await _bearer(request), scope)


BEARER_SECURITY: dict[str, Any] = {"security": [{_bearer.scheme_name: []}]}
"""The OpenAPI ``security`` of an operation that calls :func:`authorize` (as a :func:`require` dependency
declares it)."""


async def _caller(request: Request, credentials: HTTPAuthorizationCredentials | None, scope: str) -> Caller:
    if credentials is None or not credentials.credentials:
        raise ApiError(401, "an 'Authorization: Bearer <token>' header is needed", headers=_CHALLENGE)
    token = credentials.credentials
    found = None
    if len(token) <= MAX_TOKEN_LENGTH and token.isascii() and token.isprintable():
        services = services_of(request)
        found = await services.tokens.authenticate(services.db, token)
    if found is None:
        raise ApiError(401, "the token is not valid (unknown or revoked)", headers=_CHALLENGE)
    name, held = found
    if not scope_allows(held, scope):
        raise ApiError(403, f"the token {name!r} has scope {held!r}; this needs {scope!r}")
    return Caller(name, held)


READ = Depends(require("read"))
WRITE = Depends(require("write"))
ADMIN = Depends(require("admin"))
