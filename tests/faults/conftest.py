"""Fixtures of the fault tests: a load world, private servers that may be stopped, worker processes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from faultkit import WorkerProcess
from loadworld import LoadWorld

import support
from leadworker.config import Settings
from leadworker.store.migrate import migrate
from support import PrivatePostgres, PrivateRabbit


@pytest.fixture(scope="module")
def world() -> Iterator[LoadWorld]:
    runner = support.ThreadedServer(LoadWorld(100, delay=0.04))
    server: LoadWorld = runner.start()
    try:
        yield server
    finally:
        runner.stop()


@pytest_asyncio.fixture
async def fault_settings(database_url: str, world: LoadWorld) -> AsyncIterator[Settings]:
    cfg = support.test_settings(database_url, resolve=world.resolve(), enrich=False, prefetch=16)
    try:
        yield cfg
    finally:
        await support.delete_queues(cfg)


@pytest.fixture(scope="session")
def private_rabbit() -> Iterator[PrivateRabbit]:
    with PrivateRabbit() as rabbit:
        yield rabbit


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    with PrivatePostgres() as postgres:
        yield postgres


@pytest_asyncio.fixture
async def private_db_url(private_postgres: PrivatePostgres) -> str:
    url = private_postgres.url(f"lw_{uuid.uuid4().hex[:8]}")
    await migrate(url)
    return url


@pytest_asyncio.fixture
async def spawn(tmp_path: Path) -> AsyncIterator[Any]:
    """``await spawn(settings, *run_args, **env)`` starts ``leadworker run ...``; all are killed at the end."""
    started: list[WorkerProcess] = []

    async def start(settings: Settings, *args: str, **env: str) -> WorkerProcess:
        log_path = tmp_path / f"worker-{len(started)}.log"
        handle = log_path.open("wb")
        process = await asyncio.create_subprocess_exec(
            *support.leadworker_cmd("run", *args), env=support.cli_env(settings, **env),
            stdout=handle, stderr=handle,
        )
        handle.close()
        worker = WorkerProcess(process, log_path)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            if worker.process.returncode is None:
                worker.kill()
                await worker.process.wait()


@pytest.fixture
def load_jobs() -> int:
    """Jobs in the load test: 5,000 by default; LEADWORKER_LOAD_JOBS=50000 for a long run."""
    import os

    return int(os.environ.get("LEADWORKER_LOAD_JOBS", "5000"))
