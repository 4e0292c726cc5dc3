"""The job flags ``publish`` and ``schedules add`` share, declared once, and the job they describe."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from leadworker.cli.helpers import read_jsonl
from leadworker.contracts import LeadRecord, ScrapeJob, describe_validation_error
from leadworker.errors import UsageError

Targets = Annotated[list[str] | None, typer.Option("--target", help="Site to crawl (repeatable).")]
Sources = Annotated[
    list[str] | None, typer.Option("--source", help="website, inline or directory:RECIPE (repeatable).")
]
Query = Annotated[str | None, typer.Option("--query", help="Search query for directory sources.")]
Industry = Annotated[str | None, typer.Option("--industry")]
Geography = Annotated[str | None, typer.Option("--geography", help="Region, e.g. 'Berlin, Germany'.")]
Keywords = Annotated[list[str] | None, typer.Option("--keyword", help="Keyword to score against (repeatable).")]
MaxPages = Annotated[int | None, typer.Option("--max-pages", min=1, max=10_000)]
Render = Annotated[str | None, typer.Option("--render", help="auto, static or browser.")]
UserId = Annotated[str | None, typer.Option("--user-id")]
WebhookUrl = Annotated[str | None, typer.Option("--webhook-url", help="Notify this URL of the jobs' events.")]
LeadsFile = Annotated[Path | None, typer.Option("--leads", help="JSONL of lead records for the inline source.")]

_FLAG_OF_FIELD = {
    "targets": "--target",
    "source_types": "--source",
    "max_pages": "--max-pages",
    "search_query": "--query",
    "render": "--render",
    "webhook_url": "--webhook-url",
}


def leads_from_file(leads_file: Path) -> list[LeadRecord]:
    """The lead records of a JSONL file (raises :class:`UsageError` naming the line)."""
    leads: list[LeadRecord] = []
    for number, data in read_jsonl(leads_file, "leads"):
        try:
            leads.append(LeadRecord.model_validate(data))
        except ValidationError as exc:
            raise UsageError(f"{leads_file}:{number}: {describe_validation_error(exc)}") from None
    if not leads:
        raise UsageError(f"{leads_file} holds no leads")
    return leads


def job_from_options(
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
) -> ScrapeJob:
    """One job from the job flags ``publish`` and ``schedules add`` take (validated, with a new job id; raises
    :class:`UsageError` naming the flag)."""
    targets, keywords = targets or [], keywords or []
    leads = leads_from_file(leads_file) if leads_file is not None else []
    if not sources:
        sources = (["website"] if targets else []) + (["inline"] if leads else [])
    if not sources:
        raise UsageError("nothing to scrape: give --target URL, --leads FILE.jsonl, or --source directory:NAME")
    base: dict[str, Any] = {
        "source_types": sources,
        "targets": targets,
        "search_query": query,
        "industry": industry,
        "geography": geography,
        "keywords": keywords,
        "user_id": user_id,
        "leads": leads,
        "webhook_url": webhook_url,
    }
    if max_pages is not None:
        base["max_pages"] = max_pages
    if render is not None:
        base["render"] = render
    try:
        template = ScrapeJob.model_validate({**base, "job_id": uuid.uuid4()})
    except ValidationError as exc:
        message = describe_validation_error(exc)
        for field_name, flag in _FLAG_OF_FIELD.items():
            message = message.replace(f"{field_name}.", f"{flag} #").replace(f"{field_name}:", f"{flag}:")
        raise UsageError(message) from None
    return template
