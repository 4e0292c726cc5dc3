"""Shared plumbing of the benchmarks: throwaway databases and queues, subprocesses, medians, machine facts.

Benchmarks print figures; they are not tests. Each scenario measures our code and a baseline written plainly
with the raw libraries, in the same invocation, alternating runs, and reports medians and the ratio.
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg

ROOT = Path(__file__).resolve().parents[1]
AMQP_URL = os.environ.get("LEADWORKER_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
ADMIN_DB_URL = os.environ.get("LEADWORKER_BENCH_DATABASE_URL", "postgresql://127.0.0.1/postgres")


def database_url(name: str) -> str:
    parts = urlsplit(ADMIN_DB_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@dataclass
class Scratch:
    """A throwaway database and queue prefix for one run; ``cleanup()`` removes both."""

    name: str = field(default_factory=lambda: f"lw_bench_{uuid.uuid4().hex[:10]}")
    prefix: str = field(default_factory=lambda: f"bench{uuid.uuid4().hex[:8]}.")

    @property
    def db_url(self) -> str:
        return database_url(self.name)

    async def create(self, *, migrated: bool) -> None:
        if migrated:
            from leadworker.store.migrate import migrate

            await migrate(self.db_url)
        else:
            conn = await asyncpg.connect(ADMIN_DB_URL)
            try:
                await conn.execute(f'CREATE DATABASE "{self.name}"')
            finally:
                await conn.close()

    async def cleanup(self) -> None:
        conn = await asyncpg.connect(ADMIN_DB_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await conn.close()
        connection = await aio_pika.connect(AMQP_URL)
        try:
            channel = await connection.channel()
            queues = await _queues_with_prefix(self.prefix)
            for queue in queues:
                if channel.is_closed:
                    channel = await connection.channel()
                try:
                    await channel.queue_delete(queue)
                except Exception:
                    channel = await connection.channel()
            try:
                await channel.exchange_delete(f"{self.prefix}leadworker")
            except Exception:
                pass
        finally:
            await connection.close()


async def _queues_with_prefix(prefix: str) -> list[str]:
    from leadworker.broker.retry_policy import RetryPolicy
    from leadworker.broker.topology import Topology

    topology = Topology(
        prefix=prefix,
        queue_type="quorum",
        policy=RetryPolicy(max_attempts=5, backoff=(5.0, 30.0, 120.0, 600.0), delivery_limit=20),
    )
    names = [name for name, _ in topology.declarations()]
    names.append(f"{prefix}raw")
    return names


def worker_env(scratch: Scratch, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADWORKER_")}
    env.update(
        {
            "LEADWORKER_AMQP_URL": AMQP_URL,
            "LEADWORKER_DATABASE_URL": scratch.db_url,
            "LEADWORKER_QUEUE_PREFIX": scratch.prefix,
            "LEADWORKER_METRICS_PORT": "0",
            "LEADWORKER_LOG_LEVEL": "warning",
            "LEADWORKER_LOG_FORMAT": "json",
        }
    )
    env.update(extra)
    return env


def leadworker(*args: str) -> list[str]:
    return [sys.executable, "-m", "leadworker", *args]


async def run_process(command: Sequence[str], env: dict[str, str], timeout: float = 1800) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, out.decode(errors="replace")


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


RAW_CONSUMER = Path(__file__).parent / "baselines" / "raw_consumer.py"
"""The raw aio-pika + asyncpg consumer the pipeline, latency and memory scenarios compare against."""


async def prepare_raw_consumer(scratch: Scratch, job_ids: Sequence[uuid.UUID] = ()) -> str:
    """Set up the raw consumer's schema in ``scratch``'s database, with ``job_ids`` as queued rows, and declare
    its quorum queue; returns the queue's name."""
    code, output = await run_process([sys.executable, str(RAW_CONSUMER), "setup", scratch.db_url], worker_env(scratch))
    assert code == 0, output
    if job_ids:
        conn = await asyncpg.connect(scratch.db_url)
        try:
            await conn.copy_records_to_table(
                "raw_jobs", records=[(i, "queued") for i in job_ids], columns=["id", "status"]
            )
        finally:
            await conn.close()
    queue = f"{scratch.prefix}raw"
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        await channel.declare_queue(queue, durable=True, arguments={"x-queue-type": "quorum"})
    finally:
        await connection.close()
    return queue


async def publish_scrape_jobs(scratch: Scratch, jobs: Sequence[Any]) -> Any:
    """Create the rows of ``jobs`` (ScrapeJob) and publish them, confirmed, as a producer would, on
    ``scratch``'s queue prefix; returns the topology (leadworker imported here, not by the baselines)."""
    from leadworker.broker.producer import publish_jobs
    from leadworker.broker.publisher import ConfirmedPublisher
    from leadworker.broker.topology import Topology, declare_topology
    from leadworker.config import Settings
    from leadworker.store.pool import Database

    settings = Settings(
        _env_file=None,
        amqp_url=AMQP_URL,
        database_url=scratch.db_url,  # type: ignore[call-arg]
        queue_prefix=scratch.prefix,
    )
    topology = Topology.from_settings(settings)
    db = await Database.connect(scratch.db_url)
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        await declare_topology(channel, topology)
        publisher = await ConfirmedPublisher.open(connection, topology.exchange)
        await publish_jobs(db, publisher, topology, jobs)
    finally:
        await connection.close()
        await db.close()
    return topology


def tree_rss_kb(root: int, exclude: set[int] | None = None, *, field: str = "VmRSS") -> int:
    """RSS (kB) of process ``root`` and all its descendants (Chromium included), but not those in ``exclude``.

    With ``field="Pss"``, the proportional set size instead: pages shared between the processes (Chromium's
    are many) counted once in all, not once per process."""
    exclude = exclude or set()
    source = "status" if field.startswith("Vm") else "smaps_rollup"
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                ppid = int(handle.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        if pid in exclude:
            continue
        try:
            with open(f"/proc/{pid}/{source}") as handle:
                for line in handle:
                    if line.startswith(f"{field}:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
        stack.extend(children.get(pid, []))
    return total


async def alternate(
    ours: Callable[[], Awaitable[float]], baseline: Callable[[], Awaitable[float]], reps: int
) -> tuple[list[float], list[float]]:
    """Run ours and the baseline alternately ``reps`` times each; return both lists of figures."""
    a: list[float] = []
    b: list[float] = []
    for rep in range(reps):
        # Alternate which goes first, so that warm-up and drift do not favour one side.
        if rep % 2 == 0:
            a.append(await ours())
            b.append(await baseline())
        else:
            b.append(await baseline())
            a.append(await ours())
    return a, b


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in load],
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def result(
    scenario: str,
    unit: str,
    ours: Sequence[float],
    baseline: Sequence[float],
    *,
    higher_is_better: bool = True,
    notes: str = "",
    extra: dict[str, Any] | None = None,
    baseline_name: str = "",
) -> dict[str, Any]:
    our_median, base_median = median(ours), median(baseline)
    ratio = our_median / base_median if higher_is_better else base_median / our_median
    return {
        "scenario": scenario,
        "unit": unit,
        "ours": round(our_median, 3),
        "baseline": round(base_median, 3),
        "baseline_name": baseline_name,
        "ratio": round(ratio, 3),
        "ratio_meaning": "ours / baseline (higher is better)"
        if higher_is_better
        else "baseline / ours (higher is better)",
        "runs": {"ours": [round(x, 3) for x in ours], "baseline": [round(x, 3) for x in baseline]},
        "notes": notes,
        **(extra or {}),
    }
