"""The dashboard's sign-in sessions (table ``dashboard_sessions``): a session id is shown once, to the browser's
cookie; only its SHA-256 is stored. A session lives until ``expires_at``, until it is ended (sign out), or until
its token is revoked or deleted: every lookup reads the token's scope afresh, so a revoked token's sessions end at
their next request, as its Bearer use does.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from leadworker.store.pool import Database
from leadworker.store.tokens import LAST_USED_RESOLUTION_SECONDS


@dataclass(frozen=True)
class WebSession:
    token_name: str
    scope: str
    csrf_token: str
    """The session's CSRF token: every form of the session carries it, every POST must."""


def _hash(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).digest()


async def start_session(db: Database, token_name: str, lifetime_seconds: float) -> str:
    """A new session for the token ``token_name``; returns its id (the cookie's value). Expired sessions are
    deleted on the way (the index on ``expires_at`` keeps that cheap), so the table holds only live ones."""
    session_id = secrets.token_urlsafe(32)
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM dashboard_sessions WHERE expires_at < now()")
        await conn.execute(
            """INSERT INTO dashboard_sessions (id_hash, token_name, csrf_token, expires_at)
               VALUES ($1, $2, $3, now() + make_interval(secs => $4))""",
            _hash(session_id),
            token_name,
            secrets.token_urlsafe(32),
            float(lifetime_seconds),
        )
    return session_id


async def find_session(db: Database, session_id: str) -> WebSession | None:
    """The live session of ``session_id`` with its token's scope as it is now; None if there is none (unknown,
    expired, signed out, or its token revoked). Marks the token used, at most once a minute, as Bearer use does."""
    row = await db.fetchrow(
        """SELECT s.token_name, t.scope, s.csrf_token,
                  t.last_used_at IS NULL OR t.last_used_at < now() - make_interval(secs => $2) AS stale
             FROM dashboard_sessions s JOIN api_tokens t ON t.name = s.token_name
            WHERE s.id_hash = $1 AND s.expires_at > now() AND t.revoked_at IS NULL""",
        _hash(session_id),
        LAST_USED_RESOLUTION_SECONDS,
    )
    if row is None:
        return None
    if row["stale"]:
        await db.execute("UPDATE api_tokens SET last_used_at = now() WHERE name = $1", row["token_name"])
    return WebSession(row["token_name"], row["scope"], row["csrf_token"])


async def end_session(db: Database, session_id: str) -> None:
    await db.execute("DELETE FROM dashboard_sessions WHERE id_hash = $1", _hash(session_id))
