"""Webhook events: their names, ids, bodies and HMAC-SHA256 signatures (no I/O here).

Headers of every POST (documented in the README, with a verification snippet):

- ``X-Leadworker-Event``: ``job.completed``, ``job.failed``, ``job.cancelled`` or ``job.enriched``
- ``X-Leadworker-Event-Id``: the event's id, the same on every retry (receivers dedupe on it)
- ``X-Leadworker-Timestamp``: Unix seconds when this attempt was signed
- ``X-Leadworker-Signature``: ``sha256=`` + hex HMAC-SHA256 of ``<timestamp>.<body>`` keyed with the
  destination's secret (absent when no ``LEADWORKER_WEBHOOK_SECRET`` is configured)
- ``X-Leadworker-Attempt``: 1 for the first POST of the event, 2 for the next...

The destination's secret is derived from ``LEADWORKER_WEBHOOK_SECRET`` and the webhook URL
(:func:`destination_secret`), never the global secret itself. Jobs choose their webhook URLs, so a receiver is
anyone's server: with one shared key, a POST captured by one receiver could be replayed to another within the
timestamp tolerance, and every receiver holding the key could sign events for all the others. A key per
destination binds the signature to where it was sent, and a receiver learns nothing that signs for anybody else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from typing import Any

JOB_EVENTS = ("job.completed", "job.failed", "job.cancelled")
ENRICHED = "job.enriched"
EVENTS = (*JOB_EVENTS, ENRICHED)

EVENT_HEADER = "X-Leadworker-Event"
EVENT_ID_HEADER = "X-Leadworker-Event-Id"
TIMESTAMP_HEADER = "X-Leadworker-Timestamp"
SIGNATURE_HEADER = "X-Leadworker-Signature"
ATTEMPT_HEADER = "X-Leadworker-Attempt"

SIGNATURE_PREFIX = "sha256="


def status_event(status: str) -> str:
    """The event of a terminal job status: ``completed`` → ``job.completed``."""
    return f"job.{status}"


def event_id(job_id: uuid.UUID, event: str, transition: int | None = None) -> str:
    """The event's dedupe key. A terminal state carries the ``job_events`` row of the transition into it, so
    that a job failed, replayed and failed again sends two ``job.failed`` events, while redeliveries of the
    same failure send one."""
    return f"{job_id}:{event}" + (f":{transition}" if transition is not None else "")


DESTINATION_CONTEXT = b"leadworker-webhook-destination:"


def destination_secret(secret: str, url: str) -> str:
    """The signing key of one destination: hex HMAC-SHA256 of ``leadworker-webhook-destination:<url>`` keyed
    with ``secret`` (``LEADWORKER_WEBHOOK_SECRET``). ``url`` is the webhook URL exactly as the job (or
    ``LEADWORKER_WEBHOOK_URL``) names it; ``leadworker webhooks secret URL`` prints the key for a receiver."""
    return hmac.new(secret.encode("utf-8"), DESTINATION_CONTEXT + url.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` keyed with ``secret``."""
    digest = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def verify(secret: str, timestamp: str, signature: str, body: bytes, *, now: float, tolerance: float = 300) -> bool:
    """What a receiver does with its destination's ``secret``: check the signature and that the timestamp is
    recent (replays are refused)."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


def headers(
    *, event: str, event_id_: str, body: bytes, url: str, secret: str | None, timestamp: int, attempt: int
) -> dict[str, str]:
    """The headers of one POST of an event to ``url``, signed with that destination's key derived from
    ``secret`` (unsigned without one)."""
    out = {
        "Content-Type": "application/json",
        EVENT_HEADER: event,
        EVENT_ID_HEADER: event_id_,
        TIMESTAMP_HEADER: str(timestamp),
        ATTEMPT_HEADER: str(attempt),
    }
    if secret:
        out[SIGNATURE_HEADER] = sign(destination_secret(secret, url), timestamp, body)
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


JOB_FIELDS = (
    "id",
    "user_id",
    "status",
    "attempts",
    "pages",
    "pages_degraded",
    "found",
    "new",
    "duplicates",
    "error",
    "error_kind",
    "created_at",
    "started_at",
    "completed_at",
    "normalized",
    "scored",
    "invalid_phones",
    "invalid_emails",
    "enriched_at",
)


def build_payload(
    event_id_: str, event: str, job: Mapping[str, Any], segments: Mapping[str, int] | None, created_at: dt.datetime
) -> dict[str, Any]:
    """The JSON body of an event: the job as it stands, plus lead counts by segment for ``job.enriched``."""
    body: dict[str, Any] = {
        "id": event_id_,
        "type": event,
        "created_at": _json_value(created_at),
        "job": {name: _json_value(job.get(name)) for name in JOB_FIELDS},
    }
    if segments is not None:
        body["leads"] = {"total": sum(segments.values()), **{s: segments.get(s, 0) for s in ("hot", "warm", "cold")}}
    return body


def encode(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed)."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")
