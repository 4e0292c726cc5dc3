"""The baseline every pipeline benchmark compares against: a plain aio-pika + asyncpg consumer, written the
way a careful engineer would without a framework. Per message: UPDATE the job to running, INSERT its leads
with ON CONFLICT DO NOTHING (one statement), UPDATE it to completed, ack. Prefetch 50, pool of 10.

Usage (run by bench/*.py as a subprocess):
    python raw_consumer.py setup DB_URL                    create its tables
    python raw_consumer.py consume AMQP DB QUEUE N         consume N messages; print {"seconds": ...}
    python raw_consumer.py latency AMQP DB QUEUE N         consume N; print receive latencies (ms)
    python raw_consumer.py idle AMQP DB QUEUE              connect, consume, wait for SIGTERM
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import sys
import time
import uuid

import aio_pika
import asyncpg

SCHEMA = """
CREATE TABLE IF NOT EXISTS raw_jobs (id uuid PRIMARY KEY, status text NOT NULL,
                                     updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS raw_leads (id bigserial PRIMARY KEY, content_hash bytea UNIQUE NOT NULL,
                                      record jsonb NOT NULL);
"""


async def handle(pool: asyncpg.Pool, body: bytes) -> None:
    data = json.loads(body)
    job_id = uuid.UUID(data["job_id"])
    await pool.execute("UPDATE raw_jobs SET status = 'running', updated_at = now() WHERE id = $1", job_id)
    args: list[object] = []
    for lead in data.get("leads", []):
        record = json.dumps(lead, sort_keys=True)
        args += [hashlib.sha256(record.encode()).digest(), record]
    if args:
        values = ",".join(f"(${2 * k + 1}, ${2 * k + 2}::jsonb)" for k in range(len(args) // 2))
        await pool.execute(
            f"INSERT INTO raw_leads (content_hash, record) VALUES {values} ON CONFLICT DO NOTHING", *args
        )
    await pool.execute("UPDATE raw_jobs SET status = 'completed', updated_at = now() WHERE id = $1", job_id)


async def consume(amqp: str, db: str, queue_name: str, count: int | None, latency: bool) -> None:
    pool = await asyncpg.create_pool(db, min_size=10, max_size=10)
    connection = await aio_pika.connect(amqp)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=50)
    queue = await channel.declare_queue(queue_name, passive=True)
    done = asyncio.Event()
    seen = 0
    first: float | None = None
    latencies: list[float] = []

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal seen, first
        received = time.time()
        if first is None:
            first = time.perf_counter()
        await handle(pool, message.body)
        if latency:
            sent = json.loads(message.body).get("sent_at")
            if sent is not None:
                latencies.append((received - sent) * 1000)
        await message.ack()
        seen += 1
        if count is not None and seen >= count:
            done.set()

    await queue.consume(on_message)
    if count is None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, done.set)
        print(json.dumps({"ready": True}), flush=True)
    await done.wait()
    elapsed = time.perf_counter() - (first or time.perf_counter())
    await connection.close()
    await pool.close()
    print(json.dumps({"seconds": elapsed, "messages": seen, "latencies_ms": latencies if latency else None}))


async def setup(db: str) -> None:
    conn = await asyncpg.connect(db)
    try:
        await conn.execute(SCHEMA)
    finally:
        await conn.close()


def main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "setup":
        asyncio.run(setup(argv[1]))
    elif mode in ("consume", "latency"):
        asyncio.run(consume(argv[1], argv[2], argv[3], int(argv[4]), latency=mode == "latency"))
    elif mode == "idle":
        asyncio.run(consume(argv[1], argv[2], argv[3], None, latency=False))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
