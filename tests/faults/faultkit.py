"""Helpers of the fault tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import uuid
from pathlib import Path
from typing import Any

import support
from leadworker.store.pool import Database


class WorkerProcess:
    """A real ``leadworker run`` process whose logs go to a file (read them with :meth:`logs`)."""

    def __init__(self, process: asyncio.subprocess.Process, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def logs(self) -> list[dict[str, Any]]:
        return support.json_lines(self.log_path.read_text(errors="replace"))

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.logs() if line.get("event") == name]

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)

    async def wait(self, timeout: float = 120) -> int:
        return await asyncio.wait_for(self.process.wait(), timeout)


async def count_status(db: Database, job_ids: list[uuid.UUID], status: str) -> int:
    value = await db.fetchval(
        "SELECT count(*) FROM scrape_jobs WHERE id = ANY($1::uuid[]) AND status = $2", job_ids, status
    )
    return int(value)


def dump(value: object) -> str:
    return json.dumps(value, default=str)[:2000]
