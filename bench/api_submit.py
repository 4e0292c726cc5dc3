"""``api_submit``: jobs per second through ``POST /api/v1/jobs`` (token check, network guard, row committed,
message confirmed by the broker) against a plain FastAPI + asyncpg + aio-pika endpoint doing the row and the
confirmed publish alone (``baselines/plain_submit_api.py``). Both served by uvicorn in a process of their own,
driven by the same client: CONCURRENCY requests in flight, inline jobs (no DNS in the way)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from common import AMQP_URL, Scratch, alternate, leadworker, prepare_raw_consumer, result, worker_env

CONCURRENCY = 32
BASELINES = Path(__file__).parent / "baselines"
SERVER_CPU: dict[str, list[float]] = {"ours": [], "baseline": []}
"""Milliseconds of the server process's CPU (user + system, from /proc) a request, per run: what the load of
the shared machine moves least."""


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def job_body(i: int) -> dict[str, Any]:
    return {"source_types": ["inline"], "leads": [{"company_name": f"Api {i}", "emails": [f"a{i}@api.example.org"]}]}


async def drive(base: str, path: str, count: int, headers: dict[str, str], server: int, side: str) -> float:
    """Submit ``count`` jobs with CONCURRENCY in flight; jobs per second (the server's CPU a request noted in
    SERVER_CPU[side])."""
    async with httpx.AsyncClient(
        base_url=base, headers=headers, timeout=60, limits=httpx.Limits(max_connections=CONCURRENCY, keepalive_expiry=2)
    ) as client:
        for _ in range(60):
            try:
                await client.get("/docs")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.25)
        todo = iter(range(count))

        async def lane() -> None:
            for i in todo:
                answer = await client.post(path, json=job_body(i))
                assert answer.status_code == 202, answer.text

        started, cpu = time.perf_counter(), cpu_seconds(server)
        await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
        SERVER_CPU[side].append((cpu_seconds(server) - cpu) * 1000 / count)
        return count / elapsed


async def run_ours(count: int) -> float:
    from leadworker.store import tokens
    from leadworker.store.pool import Database

    scratch = Scratch()
    await scratch.create(migrated=True)
    server = None
    try:
        db = await Database.connect(scratch.db_url, min_size=1, max_size=2)
        token = await tokens.create_token(db, "bench", "write")
        await db.close()
        port = free_port()
        server = await asyncio.create_subprocess_exec(
            *leadworker("api", "--port", str(port)),
            env=worker_env(scratch),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        auth = {"Authorization": f"Bearer {token}"}
        return await drive(f"http://127.0.0.1:{port}", "/api/v1/jobs", count, auth, server.pid, "ours")
    finally:
        if server is not None and server.returncode is None:
            server.terminate()
            await server.wait()
        await scratch.cleanup()


async def run_baseline(count: int) -> float:
    scratch = Scratch()
    await scratch.create(migrated=False)
    server = None
    try:
        queue = await prepare_raw_consumer(scratch)
        port = free_port()
        env = worker_env(scratch, BENCH_DATABASE_URL=scratch.db_url, BENCH_AMQP_URL=AMQP_URL, BENCH_QUEUE=queue)
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            "plain_submit_api:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            env=env,
            cwd=BASELINES,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return await drive(f"http://127.0.0.1:{port}", "/jobs", count, {}, server.pid, "baseline")
    finally:
        if server is not None and server.returncode is None:
            server.terminate()
            await server.wait()
        await scratch.cleanup()


async def run(quick: bool, reps: int) -> dict[str, Any]:
    count = 300 if quick else 3000
    ours, baseline = await alternate(lambda: run_ours(count), lambda: run_baseline(count), reps)
    return result(
        "api_submit",
        "jobs/s",
        ours,
        baseline,
        baseline_name="plain FastAPI + asyncpg + aio-pika",
        notes=f"{count} jobs, {CONCURRENCY} in flight; target ratio >= 0.8",
        extra={"server_cpu_ms_per_request": {k: [round(v, 3) for v in runs] for k, runs in SERVER_CPU.items()}},
    )
