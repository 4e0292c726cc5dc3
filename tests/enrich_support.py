"""Helpers of the enrichment tests: a webhook receiver that verifies signatures the way the README tells users
to, and a scripted enrichment provider."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from leadworker.ops.serving import serve_app

WEBHOOK_SECRET = "test-webhook-secret"


@dataclass
class ReceivedWebhook:
    event: str
    event_id: str
    attempt: int
    body: dict[str, Any]
    signature_valid: bool
    status: int
    """What the receiver answered."""
    raw: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def destination_key(master_secret: str, url: str) -> str:
    """A destination's signing key, derived as the README documents it."""
    return hmac.new(
        master_secret.encode(), b"leadworker-webhook-destination:" + url.encode(), hashlib.sha256
    ).hexdigest()


def verify_signature(secret: str, timestamp: str, signature: str, body: bytes, tolerance: int = 300) -> bool:
    """The receiver's side, written independently of leadworker (as in the README)."""
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


class _Server:
    def __init__(self) -> None:
        self.port = 0
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        raise NotImplementedError

    async def start(self) -> int:
        self._runner, self.port = await serve_app(self.app())
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class WebhookReceiver(_Server):
    """Records every POST; answers the scripted statuses first, then 200. Verifies with the key of its own URL
    derived from ``master_secret`` (the worker's ``LEADWORKER_WEBHOOK_SECRET``)."""

    def __init__(self, master_secret: str = WEBHOOK_SECRET) -> None:
        super().__init__()
        self.master_secret = master_secret
        self.received: list[ReceivedWebhook] = []
        self.script: list[int] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/leadworker"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hooks/leadworker", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        valid = verify_signature(
            destination_key(self.master_secret, self.url),
            request.headers.get("X-Leadworker-Timestamp", "0"),
            request.headers.get("X-Leadworker-Signature", ""),
            raw,
        )
        with self._lock:
            status = self.script.pop(0) if self.script else 200
            self.received.append(
                ReceivedWebhook(
                    event=request.headers.get("X-Leadworker-Event", ""),
                    event_id=request.headers.get("X-Leadworker-Event-Id", ""),
                    attempt=int(request.headers.get("X-Leadworker-Attempt", "0")),
                    body=json.loads(raw),
                    signature_valid=valid,
                    status=status,
                    raw=raw,
                    headers=dict(request.headers),
                )
            )
        return web.Response(status=status, text="ok" if status < 300 else "no")

    def delivered(self, job_id: object | None = None) -> list[ReceivedWebhook]:
        """Webhooks answered with 2xx (for one job if given)."""
        with self._lock:
            return [
                w
                for w in self.received
                if 200 <= w.status < 300 and (job_id is None or w.body["job"]["id"] == str(job_id))
            ]

    def events_of(self, job_id: object) -> list[str]:
        return sorted(w.event for w in self.delivered(job_id))


class FakeProvider(_Server):
    """An enrichment provider: answers per domain from ``answers``; 404 for unknown leads."""

    def __init__(self, answers: dict[str, dict[str, Any]], *, fail_first: Sequence[int] = ()) -> None:
        super().__init__()
        self.answers = answers
        self.fail_first = list(fail_first)
        self.retry_after = "0"
        """The Retry-After header of the failures."""
        self.requests: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.auth: list[str | None] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/enrich"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/enrich", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        data = await request.json()
        self.requests.append(data)
        self.times.append(time.monotonic())
        self.auth.append(request.headers.get("Authorization"))
        if self.fail_first:
            status = self.fail_first.pop(0)
            return web.Response(status=status, headers={"Retry-After": self.retry_after}, text="busy")
        answer = self.answers.get(data["lead"].get("domain") or "")
        if answer is None:
            return web.Response(status=404)
        return web.json_response(answer)
