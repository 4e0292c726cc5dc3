"""The RabbitMQ topology: one direct exchange, a work queue per stage, retry tiers, a dead queue each.

Delayed retry needs no plugin: ``<queue>.retry.<n>`` holds a message for the n-th backoff (``x-message-ttl``)
and then dead-letters it back to ``<queue>``. ``<queue>.dead`` is the parking lot; the work queue also
dead-letters there itself when a quorum queue's ``x-delivery-limit`` is exceeded (a message that kills its
worker every time). Every name takes the configured prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import aio_pika
import aiormq
import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection

from leadworker.broker.retry_policy import RetryPolicy
from leadworker.config import Settings
from leadworker.stages.table import QUEUE_STAGES

log = structlog.get_logger("leadworker.broker")

QUORUM_SIZE_ARG = "x-quorum-initial-group-size"
"""How many nodes replicate a new quorum queue. Used only when the queue is created, yet RabbitMQ (3.10 at
least) still compares it on every later declaration: see :func:`declare_topology`."""
_CURRENT_SIZE = re.compile(r"current is (?:none|(?:the value )?'(\d+)')")

STAGE_QUEUES: dict[str, str] = {stage.name: stage.queue for stage in QUEUE_STAGES if stage.queue is not None}
"""The work queue of each stage, without prefix (from the stage table)."""


class TopologyMismatch(RuntimeError):
    """A queue already exists with other arguments (changed retry backoff, queue type...)."""


@dataclass(frozen=True)
class Topology:
    """Names and arguments of every exchange and queue, computed from the settings."""

    prefix: str
    queue_type: str
    policy: RetryPolicy
    """Its retry tiers and delivery limit are declared here."""
    quorum_size: int | None = None
    """Replicas of each new quorum queue (``x-quorum-initial-group-size``); None: the broker's default."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Topology:
        return cls(
            prefix=settings.queue_prefix,
            queue_type=settings.queue_type,
            policy=settings.retry_policy,
            quorum_size=settings.quorum_size,
        )

    @property
    def retry_backoff(self) -> tuple[float, ...]:
        return self.policy.backoff

    @property
    def delivery_limit(self) -> int:
        return self.policy.delivery_limit

    @property
    def exchange(self) -> str:
        return f"{self.prefix}leadworker"

    def work_queue(self, stage: str) -> str:
        """The full name of ``stage``'s work queue."""
        return self.prefix + STAGE_QUEUES[stage]

    def retry_queue(self, queue: str, tier: int) -> str:
        """Retry tier ``tier`` (1-based) of the full queue name ``queue``."""
        return f"{queue}.retry.{tier}"

    def dead_queue(self, queue: str) -> str:
        return f"{queue}.dead"

    def queues_of(self, stage: str) -> list[str]:
        """Every queue that belongs to ``stage``: work queue, retry tiers, dead queue."""
        queue = self.work_queue(stage)
        tiers = [self.retry_queue(queue, n) for n in range(1, len(self.retry_backoff) + 1)]
        return [queue, *tiers, self.dead_queue(queue)]

    def _type_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"x-queue-type": self.queue_type}
        if self.queue_type == "quorum" and self.quorum_size is not None:
            args[QUORUM_SIZE_ARG] = self.quorum_size
        return args

    def _dead_letter_to(self, routing_key: str) -> dict[str, Any]:
        args: dict[str, Any] = {
            "x-dead-letter-exchange": self.exchange,
            "x-dead-letter-routing-key": routing_key,
        }
        if self.queue_type == "quorum":
            # Quorum queues dead-letter at-most-once unless asked; a retry must never vanish in transit.
            args["x-dead-letter-strategy"] = "at-least-once"
            args["x-overflow"] = "reject-publish"
        return args

    def declarations(self) -> list[tuple[str, dict[str, Any]]]:
        """Every queue with its arguments, in the order they are declared."""
        result: list[tuple[str, dict[str, Any]]] = []
        for stage in STAGE_QUEUES:
            queue = self.work_queue(stage)
            work_args = {**self._type_args(), **self._dead_letter_to(self.dead_queue(queue))}
            if self.queue_type == "quorum":
                work_args["x-delivery-limit"] = self.delivery_limit
            result.append((queue, work_args))
            for tier, delay in enumerate(self.retry_backoff, start=1):
                args = {**self._type_args(), **self._dead_letter_to(queue), "x-message-ttl": int(delay * 1000)}
                result.append((self.retry_queue(queue, tier), args))
            result.append((self.dead_queue(queue), self._type_args()))
        return result


def existing_quorum_size(error: BaseException) -> tuple[bool, int | None]:
    """From a PRECONDITION_FAILED about ``x-quorum-initial-group-size``: ``(True, the size the queue was
    declared with, or None if it was declared without one)``; ``(False, None)`` for any other mismatch."""
    text = str(error)
    match = _CURRENT_SIZE.search(text)
    if QUORUM_SIZE_ARG not in text or match is None:
        return False, None
    return True, int(match.group(1)) if match.group(1) else None


async def declare_topology(channel: AbstractChannel, topology: Topology) -> None:
    """Declare the exchange and every queue with its binding; idempotent.

    A queue created earlier with another replica count (or none: before ``LEADWORKER_QUORUM_SIZE`` was set)
    is declared again with the count it has: the count only matters at creation, and changing it is the
    operator's (``rabbitmq-queues grow`` / ``shrink``), never a reason for a worker to stop.

    Raises :class:`TopologyMismatch` if a queue exists with other arguments than that; the broker closes the
    channel in that case, so the caller must open a new one.
    """
    exchange = await channel.declare_exchange(topology.exchange, aio_pika.ExchangeType.DIRECT, durable=True)
    for name, arguments in topology.declarations():
        try:
            queue = await channel.declare_queue(name, durable=True, arguments=arguments)
        except aiormq.exceptions.ChannelPreconditionFailed as exc:
            about_size, size = existing_quorum_size(exc)
            if not about_size:
                raise _mismatch(name, exc) from None
            log.warning(
                "queue has another replica count; LEADWORKER_QUORUM_SIZE applies to new queues only",
                queue=name,
                replicas=size,
                wanted=arguments.get(QUORUM_SIZE_ARG),
            )
            arguments = {k: v for k, v in arguments.items() if k != QUORUM_SIZE_ARG}
            if size is not None:
                arguments[QUORUM_SIZE_ARG] = size
            await channel.reopen()  # the broker closed it
            exchange = await channel.get_exchange(topology.exchange, ensure=False)
            try:
                queue = await channel.declare_queue(name, durable=True, arguments=arguments)
            except aiormq.exceptions.ChannelPreconditionFailed as again:
                raise _mismatch(name, again) from None
        await queue.bind(exchange, routing_key=name)


def _mismatch(name: str, error: BaseException) -> TopologyMismatch:
    return TopologyMismatch(
        f"queue {name!r} already exists with other arguments ({error}); "
        "delete it (leadworker dlq purge does not), or choose another LEADWORKER_QUEUE_PREFIX"
    )


async def queue_depths(connection: AbstractConnection, names: list[str]) -> dict[str, tuple[int, int]]:
    """``{queue: (messages ready, consumers)}`` by passive declaration; a missing queue is left out."""
    result: dict[str, tuple[int, int]] = {}
    channel: AbstractChannel | None = None
    try:
        for name in names:
            if channel is None or channel.is_closed:
                channel = await connection.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
            except aiormq.exceptions.ChannelNotFoundEntity:
                continue  # the broker closed the channel; the next name opens a new one
            ok = queue.declaration_result
            result[name] = (ok.message_count or 0, ok.consumer_count or 0)
    finally:
        if channel is not None and not channel.is_closed:
            await channel.close()
    return result
