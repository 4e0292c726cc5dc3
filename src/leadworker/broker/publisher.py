"""Publishing with publisher confirms: a publish returns only once the broker has taken the message.

Confirms are pipelined: concurrent publishes on one channel wait for their own confirm without waiting for
each other, so :meth:`ConfirmedPublisher.publish_many` costs about one round trip, not one per message.
Every publish is ``mandatory``: a message no queue takes is an error, never a silent drop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, HeadersType

ATTEMPT_HEADER = "x-leadworker-attempt"
FIRST_SEEN_HEADER = "x-leadworker-first-seen"
REASON_HEADER = "x-leadworker-reason"
ERROR_HEADER = "x-leadworker-error"
ERROR_KIND_HEADER = "x-leadworker-error-kind"
ORIGINAL_QUEUE_HEADER = "x-leadworker-original-queue"
DEAD_AT_HEADER = "x-leadworker-dead-at"


class PublishError(RuntimeError):
    """The broker did not take a message (nack, unroutable, or the channel closed before the confirm)."""


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to publish: its routing key (the full queue name), body and properties."""

    routing_key: str
    body: bytes
    message_id: str | None = None
    headers: Mapping[str, Any] = field(default_factory=dict)
    content_type: str = "application/json"


def utc_now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class ConfirmedPublisher:
    """Publishes to the leadworker exchange on a channel opened with ``publisher_confirms=True``."""

    def __init__(
        self,
        channel: AbstractChannel,
        exchange: AbstractExchange,
        connection: aio_pika.abc.AbstractConnection | None = None,
        confirm_timeout: float | None = None,
    ) -> None:
        self._channel = channel
        self._exchange = exchange
        self.connection = connection
        """The connection the channel is on (for a look at queues beside publishing), if known."""
        self.confirm_timeout = confirm_timeout
        """Seconds a publish waits for its confirm (None: as long as it takes). A broker under a resource alarm
        blocks publishers, and quorum queues without a majority confirm nothing: without a bound, a caller
        that someone waits on (an HTTP request) would hang until the broker recovers."""

    @classmethod
    async def open(
        cls, connection: aio_pika.abc.AbstractConnection, exchange_name: str, confirm_timeout: float | None = None
    ) -> ConfirmedPublisher:
        """Open a confirming channel on ``connection`` and bind to the (already declared) exchange."""
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(exchange_name, ensure=False)
        return cls(channel, exchange, connection, confirm_timeout)

    @property
    def is_open(self) -> bool:
        """Whether the channel (and its connection, if known) is still open. aio-pika's ``is_closed`` of a
        connection turns true only when the client closes it; one the broker closed (a node stopped or
        killed) only clears ``connected`` and closes its channels."""
        if self._channel.is_closed:
            return False
        return self.connection is None or (not self.connection.is_closed and self.connection.connected.is_set())

    async def publish(self, message: OutgoingMessage) -> None:
        """Publish one message and wait for the broker's confirm; raise :class:`PublishError` otherwise."""
        headers: HeadersType = dict(message.headers)
        amqp_message = aio_pika.Message(
            body=message.body,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            headers=headers,
        )
        try:
            # With confirms on, a nack, a return (unroutable) or a closed channel all raise here.
            await self._exchange.publish(
                amqp_message, routing_key=message.routing_key, mandatory=True, timeout=self.confirm_timeout
            )
        except asyncio.CancelledError:
            raise
        except TimeoutError as exc:
            if self.confirm_timeout is None:  # not our bound: a socket's ETIMEDOUT (an OSError) from below
                raise PublishError(f"publish to {message.routing_key!r} failed: {exc!r}") from exc
            raise PublishError(
                f"publish to {message.routing_key!r} not confirmed within {self.confirm_timeout:g} s (a broker "
                "resource alarm blocks publishers; a queue without a majority of its replicas confirms nothing)"
            ) from exc
        except Exception as exc:
            raise PublishError(f"publish to {message.routing_key!r} failed: {exc!r}") from exc

    async def publish_many(self, messages: Iterable[OutgoingMessage], confirmed: set[str] | None = None) -> None:
        """Publish several messages with pipelined confirms; raise if any one was not confirmed.
        ``confirmed``, if given, collects the message ids the broker confirmed (also when another failed)."""
        batch = list(messages)
        if len(batch) == 1:
            await self.publish(batch[0])  # no task to pipeline with: the API's one job
            if confirmed is not None and batch[0].message_id is not None:
                confirmed.add(batch[0].message_id)
            return
        results = await asyncio.gather(*(self.publish(m) for m in batch), return_exceptions=True)
        if confirmed is not None:
            confirmed.update(m.message_id for m, r in zip(batch, results, strict=True) if r is None and m.message_id)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def close(self) -> None:
        if not self._channel.is_closed:
            await self._channel.close()
