"""What the API's routes share: the database pool, and a confirmed publisher opened through
:mod:`leadworker.ops.connections` when first needed and again after the broker went away."""

from __future__ import annotations

import asyncio
import contextlib

from aio_pika.abc import AbstractConnection

from leadworker.api.token_cache import TokenCache
from leadworker.broker.publisher import ConfirmedPublisher
from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.errors import ServiceUnavailable
from leadworker.ops.connections import open_broker, open_db, open_publisher
from leadworker.scrape.guard import NetworkGuard
from leadworker.store.pool import Database


class ApiServices:
    """Opened by the app's lifespan, closed when it ends."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topology = Topology.from_settings(settings)
        self.guard = NetworkGuard.from_settings(settings)
        self.tokens = TokenCache(settings.api_token_cache_seconds)
        self._db: Database | None = None
        self._connection: AbstractConnection | None = None
        self._publisher: ConfirmedPublisher | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._db = await open_db(self.settings, max_size=self.settings.db_pool_max)

    @property
    def db(self) -> Database:
        if self._db is None:
            raise ServiceUnavailable("the API's database pool is not open")
        return self._db

    async def broker(self) -> AbstractConnection:
        """The broker connection (opened, with the topology declared, if there is none or it closed)."""
        await self.publisher()
        assert self._connection is not None
        return self._connection

    async def publisher(self) -> ConfirmedPublisher:
        """A confirmed publisher; raises :class:`ServiceUnavailable` if the broker cannot be reached."""
        async with self._lock:
            if self._connection is None or self._publisher is None or not self._publisher.is_open:
                await self._drop_broker()
                self._connection = await open_broker(self.settings)
                try:
                    self._publisher = await open_publisher(
                        self._connection, self.topology, self.settings.api_confirm_timeout
                    )
                except Exception as exc:
                    await self._drop_broker()
                    raise ServiceUnavailable(f"broker: cannot open a publisher: {exc}") from exc
            return self._publisher

    async def publish_failed(self) -> None:
        """Forget the publisher after a failed publish: the next request opens a fresh one."""
        async with self._lock:
            await self._drop_broker()

    async def _drop_broker(self) -> None:
        connection, self._connection, self._publisher = self._connection, None, None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(Exception):
                await connection.close()

    async def close(self) -> None:
        await self._drop_broker()
        if self._db is not None:
            await self._db.close()
            self._db = None
