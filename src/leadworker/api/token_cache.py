"""Tokens found valid in the last few seconds, kept in the API process so that a busy client does not cost a
database round trip on every request.

Only valid tokens are kept (a new token works at once; a wrong one is looked up every time), each for
``LEADWORKER_API_TOKEN_CACHE_SECONDS`` (5 s; 0 turns the cache off): a revoked token is refused by every API
process at most that long after ``tokens revoke``. ``last_used_at`` is still written by the lookup, at most
once a minute per token (:mod:`leadworker.store.tokens`).
"""

from __future__ import annotations

import time

from leadworker.store.pool import Database
from leadworker.store.tokens import authenticate_hash, token_hash

MAX_ENTRIES = 10_000
"""Bound on the tokens kept; past it the cache starts again empty (a few lookups, never unbounded memory)."""


class TokenCache:
    """``(name, scope)`` of valid tokens by hash, each trusted for ``ttl`` seconds after its lookup."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[bytes, tuple[str, str, float]] = {}

    async def authenticate(self, db: Database, token: str) -> tuple[str, str] | None:
        """``(name, scope)`` of a live token (looked up if not seen valid in the last ``ttl`` seconds), or
        None."""
        digest = token_hash(token)
        if self.ttl <= 0:
            return await authenticate_hash(db, digest)
        now = time.monotonic()
        held = self._entries.get(digest)
        if held is not None and held[2] > now:
            return held[0], held[1]
        found = await authenticate_hash(db, digest)
        if found is None:
            self._entries.pop(digest, None)
            return None
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[digest] = (found[0], found[1], now + self.ttl)
        return found
