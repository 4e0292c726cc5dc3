"""Sources by name: what a job's ``source_types`` turn into. One entry point, :func:`run_sources`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from leadworker.config import Settings
from leadworker.contracts import LeadRecord, ScrapeJob
from leadworker.errors import PermanentError
from leadworker.scrape.tools import ScrapeTools

if TYPE_CHECKING:
    from leadworker.scrape.browser import RenderSession

log = structlog.get_logger(__name__)


@dataclass
class ScrapeContext:
    """What a source may use while it runs one job."""

    settings: Settings
    tools: ScrapeTools
    """The process's fetcher and browser (``render`` auto/browser), built when first used."""
    checkpoint: Callable[[], Awaitable[None]]
    """Awaited between pages: keeps the job's heartbeat and raises if the job was cancelled."""
    final_attempt: bool = False
    deadline: float | None = None
    """``time.monotonic()`` after which crawls stop taking new pages and return what they have."""


@dataclass
class ScrapeResult:
    records: list[tuple[str, LeadRecord]] = field(default_factory=list)
    """``(source type, record)`` pairs."""
    pages: int = 0
    degraded: dict[str, int] = field(default_factory=dict)
    """Pages that needed rendering and did not get it, by error kind (see ``RenderSession.degraded``)."""

    @property
    def pages_degraded(self) -> int:
        return sum(self.degraded.values())


@contextlib.asynccontextmanager
async def _render_session(job: ScrapeJob, ctx: ScrapeContext) -> AsyncIterator[RenderSession | None]:
    if job.render == "static" or job.source_types == ["inline"]:
        yield None
        return
    from leadworker.scrape.crawl import RobotsCache

    async with ctx.tools.browser.session() as session:  # a context of the job's own, closed with the job
        # robots.txt applies to what pages ask for too: a disallowed API is not fetched by the browser either.
        session.may_fetch = RobotsCache(ctx.tools.fetcher, ctx.settings.user_agent).allowed
        yield session
        if session.disallowed:
            log.info(
                "robots.txt kept the browser from requests pages made",
                job_id=str(job.job_id),
                count=len(session.disallowed),
                sample=session.disallowed[:3],
            )


async def run_sources(job: ScrapeJob, ctx: ScrapeContext) -> ScrapeResult:
    """Run every source of ``job`` and collect their records."""
    result = ScrapeResult()
    async with _render_session(job, ctx) as renderer:
        for source in job.source_types:
            if source == "inline":
                result.records.extend(("inline", record) for record in job.leads)
            elif source == "website":
                from leadworker.scrape.crawl import CrawlSettings, crawl_sites

                crawl = CrawlSettings(
                    max_pages=job.max_pages,
                    max_depth=job.max_depth if job.max_depth is not None else ctx.settings.max_depth,
                    include=job.include_paths,
                    exclude=job.exclude_paths,
                    user_agent=ctx.settings.user_agent,
                    concurrency=ctx.settings.host_concurrency,
                    render=job.render if renderer is not None else "static",
                    memory_bytes=ctx.settings.job_memory_bytes,
                )
                records, pages = await crawl_sites(
                    job,
                    ctx.tools.fetcher,
                    crawl,
                    ctx.checkpoint,
                    final_attempt=ctx.final_attempt,
                    renderer=renderer,
                    deadline=ctx.deadline,
                )
                result.records.extend(("website", record) for record in records)
                result.pages += pages
            elif source.startswith("directory:"):
                from leadworker.scrape.directory import run_directory

                records, pages = await run_directory(
                    source.split(":", 1)[1],
                    job,
                    ctx.tools.fetcher,
                    ctx.settings,
                    ctx.checkpoint,
                    renderer=renderer,
                    deadline=ctx.deadline,
                )
                result.records.extend((source, record) for record in records)
                result.pages += pages
            else:
                raise PermanentError(f"source type {source!r} is not available in this worker", kind="unknown_source")
        if renderer is not None:
            result.degraded = dict(renderer.degraded)
    return result
