"""Crawl throughput: pages per second and peak memory of our crawler on the fixture world, beside the raw
libraries fetching the same pages in the same run.

- ``static``: our ``website`` source with ``render=static`` (robots.txt, politeness, frontier, extraction) —
  one job per site, 64 sites at a time — against plain aiohttp + selectolax fetching the same URLs (64 at a
  time, redirects followed, each page parsed to text, nothing extracted).
- ``auto``: our ``render=auto`` (static fetch; Chromium only where script fills the page in) on a world where a
  fifth of the sites need script — against plain Playwright rendering every page (one browser, four pages at a
  time, ``wait_until=load``).

Each run of ours starts with leadworker's in-process caches cleared (:func:`forget_caches`): every run meets
the world for the first time, as a worker would. Besides pages per second over the whole run, the rate
between the 10th and 90th percentile of pages done is shown ("steady"), for ours and the baseline alike.

The world (``tests/world``) is served from its own process. Memory is the peak resident set of this process
plus the Chromium it started, sampled every 100 ms. Runs alternate between ours and the baseline; figures
are medians. Benchmarks are not tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from common import ROOT, alternate, median, result, tree_rss_kb

sys.path.insert(0, str(ROOT / "tests"))

SEED = 7
# 400 sites make about 2,400 pages: the scale of the reference figures (a 2,000-page site). A much smaller
# world measures mostly its own drain: the last sites start late, and a 1 s slow page among them is the
# only thing left running (200 sites: 1,219 pages, of which the last 16 take 0.9 s of a 2.4 s run).
SITES = 400
SCRIPT_SHARE = 0.2
SITES_AT_ONCE = 64
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


# --- memory ---------------------------------------------------------------------------------------------


class PeakMemory:
    """Peak RSS (MB) of this process and its children (but not the world server) while the block runs."""

    def __init__(self, exclude: set[int]) -> None:
        self.exclude = exclude
        self.peak_kb = 0
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak_kb = max(self.peak_kb, tree_rss_kb(os.getpid(), self.exclude))
            await asyncio.sleep(0.1)

    async def __aenter__(self) -> PeakMemory:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.peak_kb = max(self.peak_kb, tree_rss_kb(os.getpid(), self.exclude))

    @property
    def mb(self) -> float:
        return round(self.peak_kb / 1024, 1)


# --- the world ------------------------------------------------------------------------------------------


async def serve_world(sites: int) -> tuple[asyncio.subprocess.Process, int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "world",
        "--seed",
        str(SEED),
        "--sites",
        str(sites),
        "--script-share",
        str(SCRIPT_SHARE),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    if not line.startswith(b"PORT "):
        raise RuntimeError(f"world server did not start: {line!r}")
    return process, int(line.split()[1])


# --- ours -----------------------------------------------------------------------------------------------


def forget_caches() -> int:
    """Clear leadworker's in-process caches (phone snippets, resolved links, domains...), so that every run
    crawls the world as a worker meets it the first time: repeats within a run (the header and footer of a
    site's pages) still hit them, repeats from an earlier run do not. Returns how many were cleared."""
    import functools
    import gc

    cleared = 0
    for obj in gc.get_objects():
        if isinstance(obj, functools._lru_cache_wrapper) and str(getattr(obj, "__module__", "")).startswith(
            "leadworker."
        ):
            obj.cache_clear()
            cleared += 1
    return cleared


def steady_rate(stamps: list[float]) -> float:
    """Pages per second between the 10th and the 90th percentile of the pages' completion times: the rate
    while the crawl runs at full concurrency, without its ramp-up and its drain (the last sites, and a
    1 s slow page among them, left running alone)."""
    stamps = sorted(stamps)
    low, high = len(stamps) // 10, len(stamps) * 9 // 10
    if high <= low or stamps[high] <= stamps[low]:
        return 0.0
    return (high - low) / (stamps[high] - stamps[low])


async def crawl_ours(
    world: Any, port: int, render: str, exclude: set[int], record: list[str] | None = None
) -> tuple[float, float, int, float, float]:
    """``(pages/s, peak MB, pages, CPU ms per page in this process, steady pages/s)`` of one job per site."""
    from leadworker.config import Settings
    from leadworker.contracts import ScrapeJob
    from leadworker.errors import LeadworkerError
    from leadworker.scrape.browser import BrowserPool
    from leadworker.scrape.fetch import Page, StaticFetcher
    from leadworker.scrape.guard import NetworkGuard
    from leadworker.scrape.sources import ScrapeContext, run_sources
    from leadworker.scrape.tools import ScrapeTools

    class RecordingFetcher(StaticFetcher):
        async def fetch(
            self, url: str, *, retries: int | None = None, any_text: bool = False, may_follow: Any = None
        ) -> Page:
            page = await super().fetch(url, retries=retries, any_text=any_text, may_follow=may_follow)
            if not url.endswith("/robots.txt") and not any_text:
                stamps.append(time.perf_counter())
                if record is not None:
                    record.append(url)
            return page

    settings = Settings(
        _env_file=None,
        allow_private_networks=True,
        resolve=world.resolve_override(),  # type: ignore[call-arg]
        fetch_retries=0,
        page_timeout=10,
    )
    fetcher = RecordingFetcher(settings, NetworkGuard(allow_private=True, overrides=settings.resolve))
    pool = BrowserPool(settings, fetcher)
    tools = ScrapeTools(settings, fetcher=fetcher, browser=pool)
    slots = asyncio.Semaphore(SITES_AT_ONCE)
    pages = 0
    stamps: list[float] = []

    async def nothing() -> None:
        return None

    async def one(target: str, geography: str | None) -> None:
        nonlocal pages
        job = ScrapeJob(job_id=uuid.uuid4(), targets=[target], render=render, geography=geography)  # type: ignore[arg-type]
        async with slots:
            try:
                found = await run_sources(job, ScrapeContext(settings=settings, tools=tools, checkpoint=nothing))
            except LeadworkerError:
                return
            pages += found.pages

    forget_caches()
    try:
        async with PeakMemory(exclude) as memory:
            started, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(one(t.target(port), t.geography) for t in world.sites))
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await pool.close()
        await fetcher.close()
    return pages / elapsed, memory.mb, pages, cpu * 1000 / max(pages, 1), steady_rate(stamps)


# --- baselines ------------------------------------------------------------------------------------------


async def fetch_raw(urls: list[str], exclude: set[int]) -> tuple[float, float, int, float, float]:
    """Plain aiohttp + selectolax: fetch every URL (redirects followed), parse it to text."""
    import socket

    import aiohttp
    from aiohttp.abc import AbstractResolver, ResolveResult
    from selectolax.lexbor import LexborHTMLParser

    class Loopback(AbstractResolver):  # the world's .test names all live on 127.0.0.1
        async def resolve(
            self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[ResolveResult]:
            return [ResolveResult(hostname=host, host="127.0.0.1", port=port, family=socket.AF_INET, proto=0, flags=0)]

        async def close(self) -> None:
            return None

    slots = asyncio.Semaphore(SITES_AT_ONCE)
    stamps: list[float] = []
    async with PeakMemory(exclude) as memory:
        started, cpu = time.perf_counter(), time.process_time()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=Loopback(), limit=100)) as session:

            async def one(url: str) -> None:
                async with slots:
                    try:
                        async with session.get(url) as response:
                            text = await response.text(errors="replace")
                    except aiohttp.ClientError:
                        return
                    body = LexborHTMLParser(text).body
                    if body is not None:
                        body.text(separator=" ")
                    stamps.append(time.perf_counter())

            await asyncio.gather(*(one(u) for u in urls))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return len(urls) / elapsed, memory.mb, len(urls), cpu * 1000 / max(len(urls), 1), steady_rate(stamps)


async def render_raw(urls: list[str], rules: str, exclude: set[int]) -> tuple[float, float]:
    """Plain Playwright: one browser, four pages at a time, every URL rendered until ``load``."""
    from playwright.async_api import async_playwright

    from leadworker.scrape.browser import find_executable

    slots = asyncio.Semaphore(4)
    async with PeakMemory(exclude) as memory:
        started = time.perf_counter()
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=find_executable(os.environ.get("LEADWORKER_BROWSER_EXECUTABLE")),
                args=[*BROWSER_ARGS, f"--host-resolver-rules={rules}"],
            )
            context = await browser.new_context()

            async def one(url: str) -> None:
                async with slots:
                    page = await context.new_page()
                    try:
                        await page.goto(url, wait_until="load", timeout=15000)
                        await page.content()
                    except Exception:
                        pass
                    finally:
                        await page.close()

            await asyncio.gather(*(one(u) for u in urls))
            await browser.close()
        elapsed = time.perf_counter() - started
    return len(urls) / elapsed, memory.mb


# --- the scenario ---------------------------------------------------------------------------------------


async def run(quick: bool, reps: int = 3) -> dict[str, Any]:
    from leadworker.ops.logging import configure_logging
    from leadworker.ops.runtime import HeapFreezer
    from world import generate_world

    configure_logging("console", "error")
    sites = 30 if quick else SITES
    world = generate_world(SEED, sites, script_share=SCRIPT_SHARE)
    server, port = await serve_world(sites)
    exclude = {server.pid}
    rules = ", ".join(f"MAP {host} 127.0.0.1" for host in world.hosts)
    try:
        urls: list[str] = []
        await crawl_ours(world, port, "static", exclude, record=urls)  # warm-up, and the pages to fetch
        # As in a worker: `leadworker run` freezes its heap once started and again once its first jobs
        # have imported the scraping libraries (leadworker.ops.runtime.keep_heap_frozen). Here that also
        # takes this process's copy of the world, which a worker does not have, out of the collector's walk.
        HeapFreezer().freeze_if_grown()
        sample = urls[: (120 if quick else 400)]
        memory: dict[str, list[float]] = {"static": [], "raw_fetch": [], "auto": [], "raw_playwright": []}
        cpu: dict[str, list[float]] = {"static": [], "raw_fetch": []}
        steady: dict[str, list[float]] = {"static": [], "raw_fetch": []}
        pages: dict[str, int] = {}

        def measured(name: str, run_once: Callable[[], Awaitable[tuple[float, ...]]]) -> Callable[[], Awaitable[float]]:
            async def go() -> float:
                figures = await run_once()
                memory[name].append(figures[1])
                if len(figures) > 2:
                    pages[name] = int(figures[2])
                if len(figures) > 3 and name in cpu:
                    cpu[name].append(figures[3])
                if len(figures) > 4 and name in steady:
                    steady[name].append(figures[4])
                return figures[0]

            return go

        static, raw = await alternate(
            measured("static", lambda: crawl_ours(world, port, "static", exclude)),
            measured("raw_fetch", lambda: fetch_raw(urls, exclude)),
            reps,
        )
        auto, rendered = await alternate(
            measured("auto", lambda: crawl_ours(world, port, "auto", exclude)),
            measured("raw_playwright", lambda: render_raw(sample, rules, exclude)),
            reps,
        )
    finally:
        server.terminate()
        await server.wait()

    auto_ratio = median(auto) / median(rendered)
    peak = {name: median(values) for name, values in memory.items()}
    doc = result(
        "crawl",
        "pages/s",
        static,
        raw,
        baseline_name="aiohttp + selectolax (fetch and parse only)",
        notes=(
            f"{sites} sites (seed {SEED}, {int(SCRIPT_SHARE * 100)}% need script), {len(urls)} pages; "
            f"static target >= 600 pages/s and >= 0.3x; auto target >= 5x plain Playwright"
        ),
        extra={
            "rows": [
                {
                    "name": "auto",
                    "unit": "pages/s",
                    "ours": round(median(auto), 1),
                    "baseline": round(median(rendered), 1),
                    "ratio": round(auto_ratio, 2),
                    "notes": f"vs plain Playwright rendering every page ({len(sample)}-page sample)",
                },
                {
                    "name": "static, steady",
                    "unit": "pages/s",
                    "ours": round(median(steady["static"]), 1),
                    "baseline": round(median(steady["raw_fetch"]), 1),
                    "ratio": round(median(steady["static"]) / median(steady["raw_fetch"]), 2),
                    "notes": "between the 10th and 90th percentile of pages done: no ramp-up, no drain",
                },
                {
                    "name": "cpu/page",
                    "unit": "ms",
                    "ours": round(median(cpu["static"]), 2),
                    "baseline": round(median(cpu["raw_fetch"]), 2),
                    "ratio": round(median(cpu["raw_fetch"]) / median(cpu["static"]), 2),
                    "notes": "static: CPU of this process per page (steadier than pages/s on a shared machine)",
                },
                {
                    "name": "peak memory",
                    "unit": "MB",
                    "ours": f"{peak['static']}/{peak['auto']}",
                    "baseline": f"{peak['raw_fetch']}/{peak['raw_playwright']}",
                    "ratio": "-",
                    "notes": "static/auto vs raw fetch/raw Playwright; this process + its Chromium",
                },
            ],
            "auto": {
                "runs": {"ours": [round(x, 2) for x in auto], "baseline": [round(x, 2) for x in rendered]},
                "ratio": round(auto_ratio, 3),
            },
            "peak_memory_mb": peak,
            "pages": {
                "static_crawl": pages.get("static", len(urls)),
                "auto_crawl": pages.get("auto", 0),
                "raw_fetch": len(urls),
                "raw_playwright": len(sample),
            },
        },
    )
    doc["ours"] = round(doc["ours"], 1)
    doc["baseline"] = round(doc["baseline"], 1)
    return doc


if __name__ == "__main__":  # python bench/crawl.py [--quick]
    import json

    print(json.dumps(asyncio.run(run(quick="--quick" in sys.argv)), indent=2))
