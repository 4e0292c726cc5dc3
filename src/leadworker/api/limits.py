"""The request body limit (``LEADWORKER_API_MAX_BODY_BYTES``): a larger body is answered 413 before any route
reads it, whether its size is declared (``Content-Length``) or only seen while it arrives (chunked)."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadworker.api.problems import error_response


class BodyLimit:
    """ASGI middleware: buffer the body up to ``limit`` bytes, else answer 413."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _has_nul(scope):
            response = error_response(
                422, "invalid", "the path or the query holds a NUL character (%00)", {"query": "must not hold NUL"}
            )
            await response(scope, receive, send)
            return
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "too_large", f"the request body is over the limit of {self.limit} bytes")
        await response(scope, receive, send)


def _has_nul(scope: Scope) -> bool:
    """PostgreSQL stores no NUL in text: a query parameter holding one could only fail further in."""
    query = scope.get("query_string") or b""
    return "\x00" in scope.get("path", "") or b"\x00" in unquote_to_bytes(query.replace(b"+", b" "))
