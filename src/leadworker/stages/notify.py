"""The notify stage (``jobs.notify``): POST signed job events to the job's webhook, once per event.

The events are published by :class:`leadworker.stages.events.JobNotifier`. Sending, :class:`NotifyStage`: log
the event in ``webhook_deliveries`` (the body is fixed at the first attempt), claim it, POST it signed with
the destination's key (:mod:`leadworker.common.webhook_events`), log the attempt. 2xx: delivered. 408, 425, 429, 5xx and
network errors are transient (the notify queue's retry tiers); any other answer is permanent (dead letter). A
job's own webhook URL goes through the network guard like any job target; the operator's
``LEADWORKER_WEBHOOK_URL`` is trusted (it may well be on a private network).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from typing import Any

import aiohttp
import structlog

from leadworker.broker.consumer import Delivery, StageHandler
from leadworker.broker.outcome import Decision
from leadworker.common import webhook_events as webhooks
from leadworker.common.masking import mask_text
from leadworker.config import Settings, mask_url
from leadworker.contracts import JobEvent, decode_message
from leadworker.errors import InvalidMessage, PermanentError, TransientError, one_line
from leadworker.ops.metrics import Metrics
from leadworker.scrape.guard import ForbiddenTarget, NetworkGuard
from leadworker.stages.deps import StageDeps
from leadworker.stages.events import webhook_url_for
from leadworker.store import jobs, schedules, scores
from leadworker.store import webhook_deliveries as log_store
from leadworker.store.pool import Database

log = structlog.get_logger("leadworker.notify")

_TRANSIENT_STATUSES = frozenset({408, 425, 429})
SCHEDULE_LEAD_IDS = 1000
"""Ids of new leads a scheduled job's ``job.enriched`` event carries at most (the count is always whole; the
rest: ``leads export --schedule NAME --new``)."""


class NotifyStage(StageHandler):
    """Handler of the ``jobs.notify`` queue (see :class:`~leadworker.broker.consumer.StageHandler`)."""

    stage = "notify"

    def __init__(self, *, db: Database, settings: Settings, metrics: Metrics) -> None:
        self.db = db
        self.settings = settings
        self.metrics = metrics
        self.guard = NetworkGuard.from_settings(settings)
        self._sessions: dict[bool, aiohttp.ClientSession] = {}
        self._warned_unsigned = False

    def _session(self, guarded: bool) -> aiohttp.ClientSession:
        session = self._sessions.get(guarded)
        if session is None or session.closed:
            guard = self.guard if guarded else NetworkGuard(allow_private=True, overrides=self.settings.resolve)
            session = aiohttp.ClientSession(
                connector=guard.connector(limit=50),
                timeout=aiohttp.ClientTimeout(total=self.settings.webhook_timeout),
                headers={"User-Agent": self.settings.user_agent},
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            self._sessions[guarded] = session
        return session

    async def close(self) -> None:
        for session in self._sessions.values():
            if not session.closed:
                await session.close()

    async def handle(self, delivery: Delivery) -> None:
        event = decode_message(delivery.body, JobEvent, self.settings.max_message_bytes)
        delivery.job_id = event.job_id
        dlog = delivery.log = delivery.log.bind(job_id=str(event.job_id), event=event.event, event_id=event.event_id)

        if await log_store.get_delivery(self.db, event.event_id) is None and not await self._log_event(event, dlog):
            return
        claimed = await log_store.claim(self.db, event.event_id, self.settings.webhook_timeout + 30)
        if claimed is None:
            current = await log_store.get_delivery(self.db, event.event_id)
            if current is None or current["status"] == "delivered":
                dlog.info("webhook already delivered; nothing to send")
                return
            raise TransientError("another worker is sending this event", kind="webhook_busy")
        await self._send(claimed, dlog)

    async def _log_event(self, event: JobEvent, dlog: Any) -> bool:
        """Write the event's row with its body fixed now. False if there is nothing to send."""
        job = await jobs.get_job(self.db, event.job_id)
        if job is None:
            dlog.warning("job does not exist any more; event dropped")
            return False
        url = webhook_url_for((job["criteria"] or {}).get("webhook_url"), self.settings)
        if url is None:
            dlog.info("no webhook URL configured; event dropped")
            return False
        segments = await scores.job_segments(self.db, event.job_id) if event.event == webhooks.ENRICHED else None
        payload = webhooks.build_payload(event.event_id, event.event, dict(job), segments, dt.datetime.now(dt.UTC))
        if event.event == webhooks.ENRICHED:
            made_by = await schedules.new_leads_of_run(self.db, event.job_id, SCHEDULE_LEAD_IDS)
            if made_by is not None:
                payload["schedule"] = made_by
        await log_store.create_delivery(self.db, event.event_id, event.job_id, event.event, url, payload)
        return True

    async def _send(self, claimed: log_store.ClaimedEvent, dlog: Any) -> None:
        body = webhooks.encode(claimed.payload)
        secret = self.settings.webhook_secret
        if not secret and not self._warned_unsigned:
            self._warned_unsigned = True
            log.warning("LEADWORKER_WEBHOOK_SECRET is not set: webhooks are sent unsigned")
        headers = webhooks.headers(
            event=claimed.event,
            event_id_=claimed.event_id,
            body=body,
            url=claimed.url,
            secret=secret,
            timestamp=int(time.time()),
            attempt=claimed.attempt,
        )
        guarded = claimed.url != self.settings.webhook_url
        target = mask_url(claimed.url)
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        failure: Exception | None = None
        try:
            if guarded:
                self.guard.check_url(claimed.url)
            async with self._session(guarded).post(
                claimed.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                await response.content.read(65536)
        except ForbiddenTarget as exc:
            # Errors quote the URL, and they are stored (attempt log, job, dead-letter headers): mask its tokens.
            error = mask_text(str(exc))
            failure = ForbiddenTarget(error, kind=exc.kind)
        except Exception as exc:  # network, timeout, DNS, anything else: logged, then retried through the tiers
            error = mask_text(one_line(f"{type(exc).__name__}: {exc}"))
            failure = TransientError(f"webhook {target}: {error}", kind="webhook")
        if status is not None:
            if 200 <= status < 300:
                pass
            elif status in _TRANSIENT_STATUSES or status >= 500:
                error = f"HTTP {status}"
                failure = TransientError(f"webhook {target} answered HTTP {status}", kind="webhook")
            else:
                hint = "; redirects are not followed, configure the final URL" if 300 <= status < 400 else ""
                error = f"HTTP {status}"
                failure = PermanentError(f"webhook {target} answered HTTP {status}{hint}", kind="webhook_rejected")
        await log_store.record_attempt(
            self.db,
            claimed.event_id,
            claimed.attempt,
            delivered=failure is None,
            status_code=status,
            error=error,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        if failure is not None:
            self.metrics.webhooks.labels("failed").inc()
            raise failure
        self.metrics.webhooks.labels("delivered").inc()
        dlog.info("webhook delivered", url=target, status=status, attempt=claimed.attempt)

    async def on_retry(self, delivery: Delivery, decision: Decision, delay: float) -> None:
        """The attempt is already logged (status ``failed``); the message waits in a retry tier."""

    async def on_dead(self, delivery: Delivery, decision: Decision) -> None:
        with contextlib.suppress(InvalidMessage):
            event = decode_message(delivery.body, JobEvent, self.settings.max_message_bytes)
            await log_store.mark_dead(self.db, event.event_id, decision.reason)


def build(deps: StageDeps) -> NotifyStage:
    """The notify stage's handler (the stage table's factory)."""
    return NotifyStage(db=deps.db, settings=deps.settings, metrics=deps.metrics)
