"""What every command shares: settings from the flags, running a coroutine with the services' errors, parsing
ids, files and durations given on the command line, and printing (one JSON document, or tables of stored text
with its control characters escaped)."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import typer
from pydantic import ValidationError

from leadworker.common.text_table import shown, table_lines
from leadworker.config import Settings
from leadworker.errors import ServiceUnavailable, UsageError

__all__ = [
    "emit_json",
    "global_overrides",
    "parse_duration_flag",
    "parse_job_id",
    "print_table",
    "read_jsonl",
    "run_async",
    "settings",
    "shown",
]

T = TypeVar("T")

global_overrides: dict[str, Any] = {}
"""The global flags (``--amqp-url`` ...) given before the command, as settings fields."""


def settings(**flags: Any) -> Settings:
    """Settings from the environment and ``.env``, overridden by global and command flags."""
    values = {**global_overrides, **{k: v for k, v in flags.items() if v is not None}}
    try:
        return Settings(**values)
    except ValidationError as exc:
        parts = []
        for item in exc.errors(include_url=False):
            field = str(item["loc"][0]) if item["loc"] else "settings"
            message = item["msg"].removeprefix("Value error, ")
            parts.append(f"LEADWORKER_{field.upper()}: {message}")
        raise UsageError("; ".join(parts)) from None


def run_async(coro: Awaitable[T]) -> T:
    return asyncio.run(_with_service_errors(coro))


async def _with_service_errors(coro: Awaitable[T]) -> T:
    try:
        return await coro
    except asyncpg.exceptions.UndefinedTableError as exc:
        raise ServiceUnavailable(f"the database has no leadworker schema ({exc}); run: leadworker db migrate") from exc


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=str, indent=2) + "\n")


def print_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    for line in table_lines(rows, headers):
        typer.echo(line)


def parse_job_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise UsageError(f"{value!r} is not a job id (a UUID such as 3f2b8c9e-...)") from None


def parse_duration_flag(flag: str, value: str) -> float:
    """``value`` of ``flag`` (90s, 15m, 1h30m, 7d...) in seconds."""
    from leadworker.common.durations import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def read_jsonl(path: Path, what: str) -> Iterable[tuple[int, dict[str, Any]]]:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {what} file {str(path)!r}: {exc.strerror}") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(data, dict):
                raise UsageError(f"{path}:{number}: expected a JSON object per line")
            yield number, data
