"""Operating on the dead queues: list what is parked and why, replay it to its work queue, or purge it.

Listing takes messages without acking them and closes the channel, which returns them to the queue; nothing
is lost by looking. Replay publishes each message back to its original queue with a fresh attempt count
(confirmed), resets a failed job row to queued, and only then acks the dead copy.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

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
)
from leadworker.broker.topology import STAGE_QUEUES, Topology


@dataclass
class DeadLetter:
    queue: str
    """The dead queue it sits in."""
    original_queue: str
    message_id: str | None
    reason: str
    error: str
    kind: str
    attempts: int | None
    first_seen: str | None
    dead_at: str | None
    size: int
    body_preview: str

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _broker_reason(headers: dict[str, Any]) -> str:
    """Why the broker itself dead-lettered a message (quorum delivery limit), from ``x-death``."""
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths:
        first = deaths[0]
        if isinstance(first, dict):
            reason = _text(first.get("reason"))
            if reason == "delivery_limit":
                return "delivery limit reached: the message was delivered too many times (it may crash workers)"
            return f"dead-lettered by the broker ({reason})"
    return "dead-lettered by the broker"


def describe(message: AbstractIncomingMessage, dead_queue: str) -> DeadLetter:
    headers = dict(message.headers or {})
    reason = _text(headers.get(REASON_HEADER)) or _broker_reason(headers)
    original = _text(headers.get(ORIGINAL_QUEUE_HEADER)) or dead_queue.removesuffix(".dead")
    kind = _text(headers.get(ERROR_KIND_HEADER)) or ("delivery_limit" if "x-death" in headers else "")
    attempts_raw = headers.get(ATTEMPT_HEADER)
    try:
        attempts = int(_text(attempts_raw)) if attempts_raw is not None else None
    except ValueError:
        attempts = None
    body = message.body
    preview = body[:200].decode("utf-8", "replace")
    return DeadLetter(
        queue=dead_queue,
        original_queue=original,
        message_id=message.message_id,
        reason=reason,
        error=_text(headers.get(ERROR_HEADER)),
        kind=kind,
        attempts=attempts,
        first_seen=_text(headers.get(FIRST_SEEN_HEADER)) or None,
        dead_at=_text(headers.get(DEAD_AT_HEADER)) or None,
        size=len(body),
        body_preview=preview,
    )


def dead_queues(topology: Topology, queue: str | None) -> list[str]:
    """The dead queues a ``--queue`` value designates: a stage, a work queue or a dead queue; all if None."""
    if queue is None:
        return [topology.dead_queue(topology.work_queue(stage)) for stage in STAGE_QUEUES]
    for stage, base in STAGE_QUEUES.items():
        work = topology.work_queue(stage)
        if queue in (stage, base, work, topology.dead_queue(work), topology.dead_queue(base)):
            return [topology.dead_queue(work)]
    names = ", ".join(STAGE_QUEUES)
    raise ValueError(f"unknown queue {queue!r}; use a stage ({names}) or its queue name")


async def list_dead(connection: AbstractConnection, queues: list[str], limit: int) -> list[DeadLetter]:
    """Up to ``limit`` dead letters per queue, left in place."""
    found: list[DeadLetter] = []
    for name in queues:
        channel = await connection.channel()
        try:
            queue = await channel.declare_queue(name, passive=True)
            for _ in range(limit):
                message = await queue.get(no_ack=False, fail=False)
                if message is None:
                    break
                found.append(describe(message, name))
        finally:
            # Closing the channel returns every unacked message to the queue.
            with contextlib.suppress(Exception):
                await channel.close()
    return found


async def replay_dead(
    connection: AbstractConnection,
    topology: Topology,
    queues: list[str],
    limit: int | None,
    on_job: Callable[[uuid.UUID], Awaitable[None]] | None = None,
    message_id: str | None = None,
) -> int:
    """Move dead letters back to their original queues (only those of ``message_id``, if given); ``on_job``
    resets a scrape job row first. Only the letters parked when a queue's replay began are looked at: one a
    worker fails again at once (or any parked meanwhile) joins the back of the queue and stays there, instead
    of being replayed round and round. Letters passed over go back to the queue, in their order."""
    publisher = await ConfirmedPublisher.open(connection, topology.exchange)
    moved = 0
    try:
        for name in queues:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
                parked = queue.declaration_result.message_count or 0
                for _ in range(parked if message_id is None else min(parked, DEAD_SCAN_LIMIT)):
                    if limit is not None and moved >= limit:
                        break
                    message = await queue.get(no_ack=False, fail=False)
                    if message is None:
                        break
                    if message_id is not None and _text(message.message_id) != message_id:
                        continue  # left unacked: closing the channel returns it
                    await _replay_one(publisher, topology, message, name, on_job)
                    moved += 1
            finally:
                # Closing the channel returns every unacked message to the queue.
                with contextlib.suppress(Exception):
                    await channel.close()
    finally:
        await publisher.close()
    return moved


async def _replay_one(
    publisher: ConfirmedPublisher,
    topology: Topology,
    message: AbstractIncomingMessage,
    dead_queue: str,
    on_job: Callable[[uuid.UUID], Awaitable[None]] | None,
) -> None:
    """Publish a dead letter to its original queue as a first attempt (its death headers dropped), then ack it."""
    letter = describe(message, dead_queue)
    headers = {
        k: v
        for k, v in (message.headers or {}).items()
        if not k.startswith("x-death")
        and k not in (REASON_HEADER, ERROR_HEADER, ERROR_KIND_HEADER, DEAD_AT_HEADER, ORIGINAL_QUEUE_HEADER)
    }
    headers[ATTEMPT_HEADER] = 1
    if on_job is not None and letter.original_queue == topology.work_queue("scrape"):
        with contextlib.suppress(ValueError, TypeError):
            await on_job(uuid.UUID(_text(message.message_id)))
    await publisher.publish(
        OutgoingMessage(
            routing_key=letter.original_queue,
            body=message.body,
            message_id=message.message_id,
            headers=headers,
            content_type=message.content_type or "application/json",
        )
    )
    await message.ack()


async def purge_dead(connection: AbstractConnection, queues: list[str], limit: int | None) -> int:
    """Delete dead letters for good (all, or the first ``limit``)."""
    removed = 0
    for name in queues:
        channel = await connection.channel()
        try:
            queue = await channel.declare_queue(name, passive=True)
            if limit is None:
                result = await queue.purge()
                removed += result.message_count or 0
                continue
            while removed < limit:
                message = await queue.get(no_ack=False, fail=False)
                if message is None:
                    break
                await message.ack()
                removed += 1
        finally:
            with contextlib.suppress(Exception):
                await channel.close()
    return removed


DEAD_SCAN_LIMIT = 10_000
"""Dead letters :func:`take_dead` looks through at most (the others go back to the queue untouched)."""


async def take_dead(connection: AbstractConnection, queue: str, message_id: str) -> bool:
    """Remove the dead letter of ``message_id`` from ``queue`` (the API's retry publishes the job afresh, so
    its parked copy must not be replayed later as a second message). True if one was there. The others are
    left in place, in their order (closing the channel returns every unacked message)."""
    channel = await connection.channel()
    try:
        dead = await channel.declare_queue(queue, passive=True)
        for _ in range(DEAD_SCAN_LIMIT):
            message = await dead.get(no_ack=False, fail=False)
            if message is None:
                return False
            if _text(message.message_id) == message_id:
                await message.ack()
                return True
        return False
    finally:
        with contextlib.suppress(Exception):
            await channel.close()
