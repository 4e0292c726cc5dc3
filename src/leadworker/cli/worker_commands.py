"""``leadworker workers``: the worker processes registered in the database, live ones first."""

from __future__ import annotations

from typing import Any

import typer

from leadworker.cli.helpers import emit_json, print_table, run_async, settings
from leadworker.ops.connections import database
from leadworker.store import workers as registry


def workers(
    all_: bool = typer.Option(False, "--all", help="Also the processes that stopped."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Worker processes: host, pid, version, stages, started, last seen, in flight, handled, and state (running;
    silent: not seen for 30 s, dead or cut off from the database; stopped)."""
    cfg = settings()

    async def go() -> list[dict[str, Any]]:
        async with database(cfg) as db:
            return [dict(r) for r in await registry.list_workers(db, include_stopped=all_)]

    rows = run_async(go())
    if as_json:
        emit_json({"workers": rows})
        return
    print_table(
        [
            [
                r["host"],
                r["pid"],
                r["version"],
                ",".join(r["stages"]),
                r["started_at"].isoformat(timespec="seconds"),
                r["last_seen_at"].isoformat(timespec="seconds"),
                r["in_flight"],
                r["handled"],
                r["state"],
            ]
            for r in rows
        ],
        ["host", "pid", "version", "stages", "started", "last seen", "in flight", "handled", "state"],
    )
