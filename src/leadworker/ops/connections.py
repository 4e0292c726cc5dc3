"""Opening the services an entry point needs: the database, the broker and a confirmed publisher.

One place for what every entry point (the CLI's commands, the demo, later the API) does before its work: open a
small database pool, connect to the broker (a failure is one :class:`ServiceUnavailable` line naming the
broker's masked URL), declare the topology and open a publisher with confirms. The worker keeps its own
reconnecting connection but opens its publisher with :func:`open_publisher` too.

With several broker URLs (the nodes of a cluster), a process connects to one of them in its own shuffled
order (:class:`~leadworker.broker.nodes.BrokerNodes`) and, when it connects again (the API after losing its
connection), starts with the next node.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import aiormq
import asyncpg
import structlog
from aio_pika.abc import AbstractConnection

from leadworker.broker.nodes import CONNECT_ERRORS, BrokerNodes, NoNodeReachable
from leadworker.broker.producer import publish_jobs
from leadworker.broker.publisher import ConfirmedPublisher, PublishError
from leadworker.broker.topology import Topology, declare_topology
from leadworker.config import Settings, mask_url
from leadworker.contracts import ScrapeJob
from leadworker.errors import ServiceUnavailable, one_line
from leadworker.store import job_feed, jobs
from leadworker.store.pool import Database

log = structlog.get_logger("leadworker.publish")

BROKER_CONNECT_TIMEOUT = 10.0
"""Seconds a one-off command waits for the broker before it says the broker is unreachable."""


_NODES: dict[str, BrokerNodes] = {}
"""This process's shuffled order of each broker URL list it was given."""


def broker_nodes(settings: Settings) -> BrokerNodes:
    """The process's :class:`BrokerNodes` for ``settings.amqp_url`` (shuffled once per process)."""
    nodes = _NODES.get(settings.amqp_url)
    if nodes is None:
        nodes = _NODES[settings.amqp_url] = BrokerNodes(settings.amqp_urls)
    return nodes


async def open_db(settings: Settings, *, max_size: int = 4) -> Database:
    """A small pool (a command or the demo needs a few connections, not a worker's; the API asks for
    ``LEADWORKER_DB_POOL_MAX``). Raises :class:`ServiceUnavailable` if the database cannot be reached."""
    return await Database.connect(
        settings.database_url, min_size=1, max_size=max_size, transaction_pooled=settings.transaction_pooled
    )


async def open_broker(settings: Settings) -> AbstractConnection:
    """A connection to one node of the broker (the next one if this process was connected before). Raises
    :class:`ServiceUnavailable` (one line naming each node tried) if no node can be reached."""
    nodes = broker_nodes(settings)
    if nodes.current is not None:
        nodes.lost()  # connecting again: the last node's connection ended or failed
    try:
        return await nodes.connect(timeout=BROKER_CONNECT_TIMEOUT, mask=mask_url)
    except NoNodeReachable as exc:
        raise ServiceUnavailable(f"broker unreachable at {one_line(exc)}") from exc
    except (aiormq.exceptions.AMQPError, ConnectionError, OSError, TimeoutError) as exc:
        raise ServiceUnavailable(f"broker unreachable at {settings.masked_amqp_url}: {one_line(exc)}") from exc


async def open_publisher(
    connection: AbstractConnection, topology: Topology, confirm_timeout: float | None = None
) -> ConfirmedPublisher:
    """Declare the topology (idempotent), then open a confirmed publisher on the topology's exchange (whose
    publishes wait ``confirm_timeout`` seconds at most for their confirm, if given)."""
    channel = await connection.channel()
    await declare_topology(channel, topology)
    await channel.close()
    return await ConfirmedPublisher.open(connection, topology.exchange, confirm_timeout)


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[Database]:
    """:func:`open_db`, closed when the block ends."""
    db = await open_db(settings)
    try:
        yield db
    finally:
        await db.close()


@asynccontextmanager
async def broker(settings: Settings) -> AsyncIterator[AbstractConnection]:
    """:func:`open_broker`, closed when the block ends."""
    connection = await open_broker(settings)
    try:
        yield connection
    finally:
        await connection.close()


@asynccontextmanager
async def publishing(
    settings: Settings, topology: Topology | None = None
) -> AsyncIterator[tuple[AbstractConnection, Topology, ConfirmedPublisher]]:
    """``(connection, topology, publisher)``: a broker connection, the declared topology (the settings' unless
    given) and a confirmed publisher; the connection is closed when the block ends."""
    if topology is None:
        topology = Topology.from_settings(settings)
    async with broker(settings) as connection:
        yield connection, topology, await open_publisher(connection, topology)


async def open_job_event_listener(
    settings: Settings, on_event: Callable[[], None], on_lost: Callable[[], None], on_progress: Callable[[str], None]
) -> asyncpg.Connection:
    """A database connection of its own LISTENing for job events (the API's live stream), to
    ``LEADWORKER_DATABASE_DIRECT_URL`` if set (LISTEN needs a session: a transaction pooler would hand the
    server connection to someone else); raises :class:`ServiceUnavailable` if the database cannot be reached."""
    try:
        return await job_feed.connect_listener(settings.session_database_url, on_event, on_lost, on_progress)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        where = mask_url(settings.session_database_url)
        raise ServiceUnavailable(f"database unreachable at {where}: {one_line(exc)}") from exc


PUBLISH_ATTEMPTS = 5
"""Connections :func:`publish_jobs_failing_over` makes at most (the nodes of a cluster, one after another)."""
PUBLISH_BACKOFF_FIRST = 0.5
PUBLISH_BACKOFF_MAX = 30.0
_FAILOVER_ERRORS: tuple[type[BaseException], ...] = (PublishError, ServiceUnavailable, *CONNECT_ERRORS)
"""What ends one connection's go at publishing: a publish not confirmed, a node unreachable, or one lost while
the publisher or the topology was being opened on it (AMQP, connection and socket errors)."""


async def publish_jobs_failing_over(
    settings: Settings, db: Database, jobs_to_publish: Sequence[ScrapeJob], *, topology: Topology | None = None
) -> None:
    """Create and publish ``jobs_to_publish`` (:func:`~leadworker.broker.producer.publish_jobs`) through a node
    of the broker. With several broker URLs, losing the node on the way (or finding none that answers) is
    not the end: after a jittered backoff (0.5 s doubling, times 0.5-1.5) the jobs not yet confirmed go through
    the next node, up to :data:`PUBLISH_ATTEMPTS` connections. A job whose publish was cut off before its
    confirm is published again, unless its row has left ``queued`` meanwhile (a worker has it: a second
    message would be taken for a crashed worker's, and the job run twice). Raises
    :class:`ServiceUnavailable` saying how many jobs were published if it gives up."""
    topology = topology or Topology.from_settings(settings)
    confirmed: set[uuid.UUID] = set()
    delay = PUBLISH_BACKOFF_FIRST
    for attempt in range(1, PUBLISH_ATTEMPTS + 1):
        try:
            if attempt > 1:  # a message cut off before its confirm may have reached a worker, which has the job
                claimed = await jobs.not_queued(db, [j.job_id for j in jobs_to_publish if j.job_id not in confirmed])
                confirmed.update(claimed)
            async with publishing(settings, topology) as (_, _, publisher):
                await publish_jobs(db, publisher, topology, jobs_to_publish, confirmed)
            return
        except _FAILOVER_ERRORS as exc:
            if len(settings.amqp_urls) == 1:
                raise
            if attempt == PUBLISH_ATTEMPTS:
                raise ServiceUnavailable(
                    f"{one_line(exc)}; {len(confirmed)} of {len(jobs_to_publish)} jobs published (jobs stored "
                    "but not published wait, queued, for the stuck-job sweep)"
                ) from exc
            wait = delay * (0.5 + random.random())
            log.warning(
                "publishing interrupted; going on through the next broker node",
                error=one_line(exc),
                published=len(confirmed),
                retry_in=round(wait, 2),
            )
            await asyncio.sleep(wait)
            delay = min(delay * 2, PUBLISH_BACKOFF_MAX)
