"""A stage's consumer: prefetch-bounded deliveries, each in its own task, settled exactly once.

The broker's prefetch is the only buffer: the consumer holds at most ``prefetch`` unacked deliveries, and
each one runs its handler in the task aio-pika created for it. When the handler ends, :meth:`_settle`
carries out :func:`~leadworker.broker.outcome.decide_outcome`: ack; or re-publish to a retry tier (confirmed)
and ack; or publish to the dead queue (confirmed) and ack; or give the delivery back when our own database is
down. An ack is only sent after the database commit and after the broker confirmed every message the
handler published.

If the channel dies, deliveries still running on it are cancelled: they cannot be acked any more (the
broker redelivers them), and finishing their work would only race the redelivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiormq
import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, AbstractQueue

from leadworker.broker.outcome import Decision, Outcome, decide_outcome
from leadworker.broker.publisher import (
    ATTEMPT_HEADER,
    DEAD_AT_HEADER,
    ERROR_HEADER,
    ERROR_KIND_HEADER,
    FIRST_SEEN_HEADER,
    ORIGINAL_QUEUE_HEADER,
    REASON_HEADER,
    ConfirmedPublisher,
    OutgoingMessage,
    PublishError,
    utc_now_iso,
)
from leadworker.broker.topology import Topology
from leadworker.errors import ServiceUnavailable, TransientError
from leadworker.ops.metrics import Metrics

log = structlog.get_logger("leadworker.consumer")

_BROKER_HEADERS = (
    "x-death",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
    "x-delivery-count",
)


def _header_int(headers: Mapping[str, Any], name: str, default: int) -> int:
    value = headers.get(name)
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    try:
        return max(int(value), 1) if value is not None else default
    except (TypeError, ValueError):
        return default


def _header_str(headers: Mapping[str, Any], name: str) -> str | None:
    value = headers.get(name)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value) if value is not None else None


@dataclass
class Delivery:
    """One message being handled, with what the handler may need to know about it."""

    message: AbstractIncomingMessage
    queue: str
    attempt: int
    """1-based attempt of this delivery. A handler with better knowledge (the job row) may raise it."""
    first_seen: str
    publisher: ConfirmedPublisher
    """Publishes on this delivery's connection; the consumer acks only after its confirms."""
    received: float = field(default_factory=time.monotonic)
    log: Any = None
    job_id: uuid.UUID | None = None
    """Set by the handler once it knows which job the message is about."""

    @classmethod
    def from_message(cls, message: AbstractIncomingMessage, queue: str, publisher: ConfirmedPublisher) -> Delivery:
        headers = message.headers or {}
        return cls(
            message=message,
            queue=queue,
            attempt=_header_int(headers, ATTEMPT_HEADER, 1),
            first_seen=_header_str(headers, FIRST_SEEN_HEADER) or utc_now_iso(),
            publisher=publisher,
        )

    def bind(self, **values: Any) -> Any:
        """Add ``values`` (job_id, attempt...) to this delivery's logger and to the logging context of its task,
        so that every line logged while handling it carries them, whoever logs it. Returns the logger."""
        self.log = self.log.bind(**values) if self.log is not None else log.bind(**values)
        structlog.contextvars.bind_contextvars(**values)
        return self.log

    @property
    def body(self) -> bytes:
        return self.message.body

    @property
    def message_id(self) -> str | None:
        return self.message.message_id


class StageHandler(Protocol):
    """What a stage gives the consumer: the work, and how the job row follows a retry or a dead letter."""

    stage: str

    async def handle(self, delivery: Delivery) -> None:
        """Do the work. Return to ack; raise to retry or dead-letter (see :mod:`leadworker.errors`)."""

    async def on_retry(self, delivery: Delivery, decision: Decision, delay: float) -> None:
        """Record on the job row that the delivery will be retried (before the message moves)."""

    async def on_dead(self, delivery: Delivery, decision: Decision) -> None:
        """Record on the job row that the delivery failed for good (before the message moves)."""

    # The hooks below have defaults: a stage class that subclasses StageHandler overrides what it needs.

    async def periodic(self, publisher: ConfirmedPublisher) -> None:
        """Work the stage does when its consumer starts and every maintenance interval (the normalize stage
        publishes deferred fan-outs). Default: none."""
        return None

    async def close(self) -> None:
        """Release what the stage holds (HTTP clients, the browser) when the worker stops. Default: nothing."""
        return None


class StageConsumer:
    """Consumes one work queue on a channel of its own. Created anew for every broker connection."""

    def __init__(
        self,
        *,
        handler: StageHandler,
        topology: Topology,
        prefetch: int,
        max_job_seconds: float,
        metrics: Metrics,
        on_service_unavailable: Callable[[BaseException], None],
    ) -> None:
        self.handler = handler
        self.stage = handler.stage
        self.topology = topology
        self.queue_name = topology.work_queue(handler.stage)
        self.prefetch = prefetch
        self.policy = topology.policy
        self.max_job_seconds = max_job_seconds
        self.metrics = metrics
        self._on_service_unavailable = on_service_unavailable
        # Labelled children looked up once: a label lookup per delivery is measurable at 1,000+ jobs/s.
        self._in_flight_gauge = metrics.in_flight.labels(self.stage)
        self._duration = metrics.handler_duration.labels(self.stage)
        self._settled = {outcome: metrics.deliveries.labels(self.queue_name, outcome.value) for outcome in Outcome}
        self._channel: AbstractChannel | None = None
        self._underlay: aiormq.Channel | None = None
        self._queue: AbstractQueue | None = None
        self._publisher: ConfirmedPublisher | None = None
        self._consumer_tag: str | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()
        self.last_activity = time.monotonic()
        self.lost = asyncio.Event()
        """Set when the channel closed or the broker cancelled our consumer: the worker must reconnect."""

    # --- lifecycle ---------------------------------------------------------------------------------------

    async def start(self, connection: AbstractConnection, publisher: ConfirmedPublisher) -> None:
        """Open the channel, set the prefetch and start consuming."""
        self._publisher = publisher
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=self.prefetch)
        channel.close_callbacks.add(self._on_channel_closed)
        underlay = await channel.get_underlay_channel()
        underlay.on_consumer_cancel_callbacks.add(self._on_broker_cancel)
        self._channel = channel
        self._underlay = underlay if isinstance(underlay, aiormq.Channel) else None
        self._queue = await channel.get_queue(self.queue_name, ensure=False)
        await self.resume()

    async def resume(self) -> None:
        """(Re)start consuming after :meth:`pause`."""
        if self._queue is None or self._consumer_tag is not None or self.lost.is_set():
            return
        self._consumer_tag = await self._queue.consume(self._on_message)
        log.info("consuming", queue=self.queue_name, prefetch=self.prefetch)

    async def pause(self) -> None:
        """Stop taking new deliveries; those already received are still handled."""
        tag, self._consumer_tag = self._consumer_tag, None
        if tag is None or self._queue is None or self.lost.is_set():
            return
        with contextlib.suppress(aiormq.exceptions.AMQPError, ConnectionError, RuntimeError):
            await self._queue.cancel(tag)
        log.info("paused", queue=self.queue_name)

    @property
    def consuming(self) -> bool:
        return self._consumer_tag is not None and not self.lost.is_set()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def is_alive(self) -> bool:
        """True if the channel is open and, when we think we consume, the broker agrees."""
        if self._channel is None or self._channel.is_closed or self.lost.is_set():
            return False
        if self._consumer_tag is None or self._underlay is None:
            return True
        return self._consumer_tag in self._underlay.consumers

    async def drain(
        self, grace: float, *, reason: str = "cancelled after shutdown grace", requeued: bool = False
    ) -> int:
        """Wait up to ``grace`` seconds for in-flight deliveries; cancel the rest (their messages go back),
        logging ``reason``; ``requeued``: count them as settled by :attr:`Outcome.REQUEUE` (the database
        went away under them). Returns how many were cancelled.
        """
        pending = set(self._in_flight)
        if pending:
            log.info("draining", queue=self.queue_name, in_flight=len(pending), grace=grace)
            _, pending = await asyncio.wait(pending, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
            log.warning(reason, queue=self.queue_name, cancelled=len(pending))
            if requeued:
                self._settled[Outcome.REQUEUE].inc(len(pending))
        return len(pending)

    async def close(self) -> None:
        if self._channel is not None and not self._channel.is_closed:
            with contextlib.suppress(Exception):
                await self._channel.close()

    def _on_channel_closed(self, _sender: Any, exc: BaseException | None = None) -> None:
        self.lost.set()
        self._consumer_tag = None
        if self._in_flight:
            log.warning(
                "channel closed; in-flight deliveries will be redelivered",
                queue=self.queue_name,
                in_flight=len(self._in_flight),
                error=str(exc) if exc else None,
            )
        for task in list(self._in_flight):
            task.cancel()

    def _on_broker_cancel(self, frame: Any) -> None:
        if getattr(frame, "consumer_tag", None) != self._consumer_tag:
            return
        log.warning("broker cancelled our consumer", queue=self.queue_name)
        self._consumer_tag = None
        self.lost.set()

    # --- one delivery --------------------------------------------------------------------------------------

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        self._in_flight_gauge.inc()
        self.last_activity = time.monotonic()
        try:
            await self._process(message)
        finally:
            self._in_flight.discard(task)
            self._in_flight_gauge.dec()
            self.last_activity = time.monotonic()

    async def _process(self, message: AbstractIncomingMessage) -> None:
        assert self._publisher is not None
        delivery = Delivery.from_message(message, self.queue_name, self._publisher)
        # Each delivery runs in a task of its own: what is bound here stays with this delivery's log lines.
        delivery.bind(queue=self.queue_name, message_id=message.message_id, attempt=delivery.attempt)
        error: BaseException | None = None
        try:
            async with asyncio.timeout(self.max_job_seconds):
                await self.handler.handle(delivery)
        except asyncio.CancelledError:
            # Shutdown past the grace, or our channel died: the message goes back to the queue.
            await self._give_back(delivery)
            raise
        except TimeoutError:
            error = TransientError(
                f"handler ran longer than max_job_seconds ({self.max_job_seconds:g} s)", kind="timeout"
            )
        except Exception as exc:
            error = exc
        decision = decide_outcome(error, delivery.attempt, self.policy.max_attempts)
        try:
            await self._settle(delivery, decision)
        finally:
            self._duration.observe(time.monotonic() - delivery.received)

    async def _settle(self, delivery: Delivery, decision: Decision) -> None:
        """Carry out ``decision`` for ``delivery``. Ack only once everything it depends on is durable."""
        dlog = delivery.log
        outcome = decision.outcome
        if outcome is Outcome.RETRY or outcome is Outcome.DEAD:
            try:
                if outcome is Outcome.RETRY:
                    delay = self.policy.delay(delivery.attempt)
                    await self._record(delivery, self.handler.on_retry(delivery, decision, delay))
                    await self._publish_retry(delivery, decision)
                    dlog.warning(
                        "retrying",
                        attempt=delivery.attempt,
                        kind=decision.kind,
                        error=decision.error,
                        delay=delay,
                        seconds=round(time.monotonic() - delivery.received, 3),
                    )
                else:
                    await self._record(delivery, self.handler.on_dead(delivery, decision))
                    await self._publish_dead(delivery, decision)
                    self.metrics.dead_letters.labels(self.queue_name, decision.kind).inc()
                    dlog.error(
                        "dead-lettered",
                        attempt=delivery.attempt,
                        kind=decision.kind,
                        reason=decision.reason,
                        seconds=round(time.monotonic() - delivery.received, 3),
                    )
            except ServiceUnavailable as exc:
                outcome = Outcome.REQUEUE
                decision = Decision(Outcome.REQUEUE, exc.kind, str(exc), str(exc))
            except PublishError as exc:
                dlog.warning("could not move the message; it goes back to the queue", error=str(exc))
                await self._give_back(delivery)
                self._settled[Outcome.REQUEUE].inc()
                return
        # Counted before it is settled: a process killed between the two then counts a redelivered message
        # twice, instead of never counting one the broker has already settled (the counters are at least once).
        self._settled[outcome].inc()
        if outcome is Outcome.REQUEUE:
            dlog.warning("database unavailable; delivery returned to the queue", error=decision.error)
            self._on_service_unavailable(ServiceUnavailable(decision.error))
            await self._give_back(delivery)
        else:
            await self._ack(delivery)

    async def _record(self, delivery: Delivery, hook: Awaitable[None]) -> None:
        """Run the stage's ``on_retry`` / ``on_dead`` hook, which records the decision on the job row.

        Only our database being down (:class:`ServiceUnavailable`) stops the message from moving. Any other
        failure of the hook is logged and the decision carried out all the same: a hook that fails for a given
        message fails every time, and raising here would leave the delivery neither acked nor parked, coming
        back after each consumer timeout, forever.
        """
        try:
            await hook
        except ServiceUnavailable:
            raise
        except Exception as exc:
            self.metrics.hook_failures.labels(self.queue_name).inc()
            delivery.log.error("job row not updated; the message moves all the same", error=repr(exc)[:500])

    def _forwarded_headers(self, delivery: Delivery) -> dict[str, Any]:
        headers = {k: v for k, v in (delivery.message.headers or {}).items() if k not in _BROKER_HEADERS}
        headers[FIRST_SEEN_HEADER] = delivery.first_seen
        return headers

    async def _publish_retry(self, delivery: Delivery, decision: Decision) -> None:
        tier = self.policy.tier(delivery.attempt)
        headers = self._forwarded_headers(delivery)
        headers[ATTEMPT_HEADER] = delivery.attempt + 1
        headers[ERROR_HEADER] = decision.error
        headers[ERROR_KIND_HEADER] = decision.kind
        await delivery.publisher.publish(
            OutgoingMessage(
                routing_key=self.topology.retry_queue(self.queue_name, tier),
                body=delivery.body,
                message_id=delivery.message_id,
                headers=headers,
                content_type=delivery.message.content_type or "application/json",
            )
        )

    async def _publish_dead(self, delivery: Delivery, decision: Decision) -> None:
        headers = self._forwarded_headers(delivery)
        headers.update(
            {
                ATTEMPT_HEADER: delivery.attempt,
                REASON_HEADER: decision.reason,
                ERROR_HEADER: decision.error,
                ERROR_KIND_HEADER: decision.kind,
                ORIGINAL_QUEUE_HEADER: self.queue_name,
                DEAD_AT_HEADER: utc_now_iso(),
            }
        )
        await delivery.publisher.publish(
            OutgoingMessage(
                routing_key=self.topology.dead_queue(self.queue_name),
                body=delivery.body,
                message_id=delivery.message_id,
                headers=headers,
                content_type=delivery.message.content_type or "application/octet-stream",
            )
        )

    async def _ack(self, delivery: Delivery) -> None:
        try:
            await delivery.message.ack()
        except Exception as exc:  # the channel died under us: the broker redelivers, handlers are idempotent
            delivery.log.warning("ack lost; the broker will redeliver", error=repr(exc))

    async def _give_back(self, delivery: Delivery) -> None:
        message = delivery.message
        if message.processed:
            return
        try:
            await message.nack(requeue=True)
        except Exception as exc:  # channel already closed: the broker requeues it by itself
            delivery.log.debug("nack not sent; channel closed", error=repr(exc))
