"""The broker's nodes: one URL, or the URLs of the nodes of one RabbitMQ cluster, and connecting to one of them.

Every process shuffles the list once, so that hundreds of workers given the same list spread over the nodes
instead of all connecting to the first. A connection attempt tries the nodes in that order, starting at the
one after the node last lost, and takes the first that answers: a node that is down costs a refused
connection (or the connect timeout), not an outage. Waiting between rounds (jittered backoff) is the caller's:
the worker's reconnect loop, or nobody for a one-off command, which tries each node once.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractConnection

from leadworker.errors import one_line

CONNECT_ERRORS: tuple[type[BaseException], ...] = (aiormq.exceptions.AMQPError, ConnectionError, OSError, TimeoutError)
"""What a failed connection attempt to one node raises."""


class NoNodeReachable(ConnectionError):
    """No node of the list accepted a connection; the message names each (masked) with its error."""


class BrokerNodes:
    """The broker URLs of one process, in its own shuffled order, and the node it is connected to."""

    def __init__(self, urls: Sequence[str], *, shuffle: bool = True, rng: random.Random | None = None) -> None:
        if not urls:
            raise ValueError("no broker URL")
        self.urls = list(urls)
        if shuffle and len(self.urls) > 1:
            (rng or random.Random()).shuffle(self.urls)
        self._next = 0
        self.current: str | None = None
        """The URL of the node of the last successful connection."""

    def order(self) -> list[str]:
        """The URLs in the order the next attempt tries them."""
        return self.urls[self._next :] + self.urls[: self._next]

    def lost(self) -> None:
        """The connection to :attr:`current` was lost: the next attempt starts with the node after it."""
        if self.current in self.urls:
            self._next = (self.urls.index(self.current) + 1) % len(self.urls)

    async def connect(
        self,
        *,
        timeout: float,
        heartbeat: int | None = None,
        client_properties: Mapping[str, Any] | None = None,
        mask: Callable[[str], str] = str,
    ) -> AbstractConnection:
        """A connection to the first node in :meth:`order` that accepts one. Raises :class:`NoNodeReachable`
        naming every node (through ``mask``, which hides passwords) and its error if none does."""
        failures: list[str] = []
        kwargs: dict[str, Any] = {"timeout": timeout}
        if heartbeat is not None:
            kwargs["heartbeat"] = heartbeat
        if client_properties:
            kwargs["client_properties"] = dict(client_properties)
        for url in self.order():
            try:
                connection: AbstractConnection = await aio_pika.connect(url, **kwargs)
            except CONNECT_ERRORS as exc:
                failures.append(f"{mask(url)}: {one_line(exc)}")
                continue
            self.current = url
            self._next = self.urls.index(url)
            return connection
        raise NoNodeReachable("; ".join(failures))
