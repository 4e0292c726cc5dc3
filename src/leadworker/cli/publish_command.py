"""``leadworker publish``: jobs from flags or a file, published with confirms, optionally followed to their end."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from leadworker.cli.helpers import emit_json, print_table, read_jsonl, run_async, settings
from leadworker.cli.job_options import (
    Geography,
    Industry,
    Keywords,
    LeadsFile,
    MaxPages,
    Query,
    Render,
    Sources,
    Targets,
    UserId,
    WebhookUrl,
    job_from_options,
)
from leadworker.contracts import ScrapeJob, describe_validation_error
from leadworker.errors import UsageError, one_line
from leadworker.ops.connections import database, publish_jobs_failing_over
from leadworker.ops.logging import configure_logging
from leadworker.store import jobs as jobstore
from leadworker.store.jobs import TERMINAL, JobStatus
from leadworker.store.pool import Database

FOLLOW_POLL_SECONDS = 0.5
"""How often ``--wait`` reads the jobs' states: often enough to feel live, rare enough to cost nothing."""


def jobs_from_file(jobs_file: Path, count: int) -> list[ScrapeJob]:
    """The jobs of a JSONL file (one per line, a job id made up where missing), each ``count`` times."""
    result = []
    for number, data in read_jsonl(jobs_file, "jobs"):
        data.setdefault("job_id", str(uuid.uuid4()))
        try:
            result.append(ScrapeJob.model_validate(data))
        except ValidationError as exc:
            raise UsageError(f"{jobs_file}:{number}: {describe_validation_error(exc)}") from None
    if not result:
        raise UsageError(f"{jobs_file} holds no jobs")
    return [job.model_copy(update={"job_id": uuid.uuid4()}) if i else job for job in result for i in range(count)]


def build_jobs(
    *,
    targets: list[str] | None,
    sources: list[str] | None,
    query: str | None,
    industry: str | None,
    geography: str | None,
    keywords: list[str] | None,
    max_pages: int | None,
    render: str | None,
    user_id: str | None,
    webhook_url: str | None,
    leads_file: Path | None,
    count: int,
    jobs_file: Path | None,
) -> list[ScrapeJob]:
    """The jobs a ``publish`` invocation describes (validated; raises :class:`UsageError`)."""
    if jobs_file is not None:
        if targets or sources or leads_file or query or keywords:
            raise UsageError("--file takes the jobs from the file; do not combine it with job flags")
        return jobs_from_file(jobs_file, count)
    template = job_from_options(
        targets=targets,
        sources=sources,
        query=query,
        industry=industry,
        geography=geography,
        keywords=keywords,
        max_pages=max_pages,
        render=render,
        user_id=user_id,
        webhook_url=webhook_url,
        leads_file=leads_file,
    )
    return [template] + [template.model_copy(update={"job_id": uuid.uuid4()}) for _ in range(count - 1)]


def publish(
    target: Targets = None,
    source: Sources = None,
    query: Query = None,
    industry: Industry = None,
    geography: Geography = None,
    keyword: Keywords = None,
    max_pages: MaxPages = None,
    render: Render = None,
    user_id: UserId = None,
    webhook_url: WebhookUrl = None,
    leads: LeadsFile = None,
    count: int = typer.Option(1, "--count", min=1, max=1_000_000, help="Publish N copies (load tests)."),
    file: Path | None = typer.Option(None, "--file", help="JSONL of jobs, one message per line."),
    wait: bool = typer.Option(False, "--wait", help="Follow the jobs until they end."),
    timeout: float = typer.Option(3600.0, "--timeout", min=1.0, help="Seconds --wait waits at most."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Create scrape jobs (queued) and publish them with publisher confirms."""
    cfg = settings()
    configure_logging(cfg.log_format, cfg.log_level)
    to_publish = build_jobs(
        targets=target,
        sources=source,
        query=query,
        industry=industry,
        geography=geography,
        keywords=keyword,
        max_pages=max_pages,
        render=render,
        user_id=user_id,
        webhook_url=webhook_url,
        leads_file=leads,
        count=count,
        jobs_file=file,
    )
    ids = [job.job_id for job in to_publish]

    async def go() -> dict[uuid.UUID, dict[str, Any]] | None:
        async with database(cfg) as db:
            await publish_jobs_failing_over(cfg, db, to_publish)
            if not as_json:
                _print_published(ids)
            if not wait:
                return None
            return await follow_jobs(db, ids, timeout, quiet=as_json)

    outcome = run_async(go())
    if outcome is None:
        if as_json:
            emit_json({"job_ids": [str(i) for i in ids]})
        return
    if as_json:
        emit_json({"job_ids": [str(i) for i in ids], "jobs": [outcome[i] for i in ids]})
    else:
        summarize_jobs(list(outcome.values()))
    if any(outcome[i]["status"] != JobStatus.COMPLETED for i in ids):
        raise typer.Exit(1)


def _print_published(ids: list[uuid.UUID]) -> None:
    for job_id in ids[:20]:
        typer.echo(str(job_id))
    if len(ids) > 20:
        typer.echo(f"... and {len(ids) - 20} more")
    typer.echo(f"published {len(ids)} job(s)", err=True)


async def follow_jobs(
    db: Database, ids: list[uuid.UUID], timeout: float, *, quiet: bool
) -> dict[uuid.UUID, dict[str, Any]]:
    """Poll the jobs' states until every job is terminal (or ``timeout``), reporting progress on stderr unless
    ``quiet``; return their final figures."""
    deadline = time.monotonic() + timeout
    last_report = ""
    terminal = {s.value for s in TERMINAL}
    while True:
        states = await jobstore.statuses(db, ids)
        done = sum(1 for s in states.values() if s in terminal)
        report = f"{done}/{len(ids)} finished"
        if not quiet and report != last_report:
            typer.echo(report, err=True)
            last_report = report
        if done == len(ids) or time.monotonic() > deadline:
            break
        await asyncio.sleep(FOLLOW_POLL_SECONDS)
    return await jobstore.job_outcomes(db, ids)


def summarize_jobs(rows: list[dict[str, Any]]) -> None:
    print_table(
        [
            [
                r["job_id"],
                r["status"],
                r.get("pages"),
                r.get("found"),
                r.get("new"),
                r.get("duplicates"),
                one_line(r.get("error") or "", 60),
            ]
            for r in rows[:50]
        ],
        ["job", "status", "pages", "found", "new", "dup", "error"],
    )
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    typer.echo(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
