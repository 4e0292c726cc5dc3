"""API tokens (table ``api_tokens``): only the SHA-256 of a token is stored; the token is shown once.

A token is ``lw_`` and 43 URL-safe characters (256 random bits). Scopes are ordered: ``read`` < ``write`` <
``admin``; a route asks for the least scope it needs. ``last_used_at`` is written at most once a minute per
token (the statement's own condition), so a busy token costs one small update a minute, not one a request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import asyncpg

from leadworker.store.pool import Database

SCOPES = ("read", "write", "admin")
TOKEN_PREFIX = "lw_"
LAST_USED_RESOLUTION_SECONDS = 60
"""``last_used_at`` is refreshed when it is older than this: cheap, and still says which tokens are alive."""


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def scope_allows(held: str, needed: str) -> bool:
    return SCOPES.index(held) >= SCOPES.index(needed)


@dataclass(frozen=True)
class TokenInfo:
    name: str
    scope: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokenExists(Exception):
    """A token of that name exists already (revoked or not)."""


async def create_token(db: Database, name: str, scope: str) -> str:
    """Create a token ``name`` of ``scope``; return the token (the only time it is seen)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        await db.execute(
            "INSERT INTO api_tokens (name, token_hash, scope) VALUES ($1, $2, $3)", name, token_hash(token), scope
        )
    except asyncpg.UniqueViolationError:
        raise TokenExists(name) from None
    return token


async def list_tokens(db: Database) -> list[TokenInfo]:
    rows = await db.fetch("SELECT name, scope, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY name")
    return [TokenInfo(**dict(r)) for r in rows]


async def revoke_token(db: Database, name: str) -> bool:
    """Revoke ``name``; False if there is no such live token."""
    result = await db.execute("UPDATE api_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL", name)
    return result.endswith(" 1")


async def authenticate(db: Database, token: str) -> tuple[str, str] | None:
    """``(name, scope)`` of a live token, or None; marks it used (at most once a minute)."""
    return await authenticate_hash(db, token_hash(token))


async def authenticate_hash(db: Database, digest: bytes) -> tuple[str, str] | None:
    """:func:`authenticate` given the token's :func:`token_hash`."""
    row = await db.fetchrow(
        """SELECT name, scope, last_used_at IS NULL
                  OR last_used_at < now() - make_interval(secs => $2) AS stale
             FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL""",
        digest,
        LAST_USED_RESOLUTION_SECONDS,
    )
    if row is None:
        return None
    if row["stale"]:
        await db.execute(
            """UPDATE api_tokens SET last_used_at = now()
                WHERE name = $1 AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2))""",
            row["name"],
            LAST_USED_RESOLUTION_SECONDS,
        )
    return row["name"], row["scope"]
