"""``memory``: resident memory of a worker.

- idle: ``leadworker run --stage scrape`` connected and consuming, nothing to do (target <= 45 MB), beside the
  raw aio-pika + asyncpg consumer idling the same way;
- growth: RSS after warm-up (1,000 jobs) and after 10,000 more inline jobs (target: < 10 % growth);
- browser: memory (PSS: shared pages counted once) of a worker and the Chromium it runs (``render=browser``
  jobs on a local copy of the demo site, four pages each) after 100 rendered pages and then every 100 pages
  up to 1,000 (target: flat after warm-up; the browser is relaunched every
  ``LEADWORKER_BROWSER_RESTART_PAGES``, 500 by default).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any

import asyncpg

from common import (
    AMQP_URL,
    RAW_CONSUMER,
    ROOT,
    Scratch,
    leadworker,
    median,
    prepare_raw_consumer,
    publish_scrape_jobs,
    rss_kb,
    tree_rss_kb,
    worker_env,
)


async def _publish(scratch: Scratch, count: int, offset: int) -> None:
    from leadworker.contracts import ScrapeJob

    jobs = [
        ScrapeJob.model_validate(
            {
                "job_id": uuid.uuid4(),
                "source_types": ["inline"],
                "leads": [
                    {"company_name": f"Mem {offset + n}-{k}", "emails": [f"m{offset + n}x{k}@mem.example.org"]}
                    for k in range(5)
                ],
            }
        )
        for n in range(count)
    ]
    await publish_scrape_jobs(scratch, jobs)
    conn = await asyncpg.connect(scratch.db_url)
    try:
        for _ in range(2400):  # the worker runs elsewhere: poll its progress, up to 10 minutes
            if not await conn.fetchval("SELECT count(*) FROM scrape_jobs WHERE status <> 'completed'"):
                break
            await asyncio.sleep(0.25)
    finally:
        await conn.close()


async def _idle_rss(scratch: Scratch, command: list[str]) -> float:
    """MB resident of ``command`` 4 s after it started, connected and with nothing to do; then stopped."""
    process = await asyncio.create_subprocess_exec(
        *command, env=worker_env(scratch), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        await asyncio.sleep(4.0)
        return rss_kb(process.pid) / 1024
    finally:
        process.terminate()
        await process.wait()
        await scratch.cleanup()


async def idle_ours() -> float:
    scratch = Scratch()
    await scratch.create(migrated=True)
    return await _idle_rss(scratch, leadworker("run", "--stage", "scrape"))


async def idle_baseline() -> float:
    scratch = Scratch()
    await scratch.create(migrated=False)
    queue = await prepare_raw_consumer(scratch)
    return await _idle_rss(scratch, [sys.executable, str(RAW_CONSUMER), "idle", AMQP_URL, scratch.db_url, queue])


async def growth(jobs: int) -> tuple[float, float]:
    scratch = Scratch()
    await scratch.create(migrated=True)
    process = await asyncio.create_subprocess_exec(
        *leadworker("run", "--stage", "scrape", "--prefetch", "50"),
        env=worker_env(scratch),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await asyncio.sleep(3.0)
        await _publish(scratch, 1000, 0)
        warm = rss_kb(process.pid) / 1024
        for batch in range(jobs // 2000):
            await _publish(scratch, 2000, 1000 + batch * 2000)
        return warm, rss_kb(process.pid) / 1024
    finally:
        process.terminate()
        await process.wait()
        await scratch.cleanup()


SITE = ROOT / "src" / "leadworker" / "demo" / "site" / "acme-plumbing.test"
PAGES_PER_JOB = 4  # home, contact, about, services (robots.txt disallows /private/)


async def _publish_browser_jobs(scratch: Scratch, url: str, count: int) -> None:
    from leadworker.contracts import ScrapeJob

    await publish_scrape_jobs(
        scratch,
        [
            ScrapeJob.model_validate(
                {
                    "job_id": uuid.uuid4(),
                    "source_types": ["website"],
                    "targets": [url],
                    "render": "browser",
                    "max_pages": PAGES_PER_JOB,
                }
            )
            for _ in range(count)
        ],
    )


async def _rendered_pages(scratch: Scratch, at_least: int, timeout: float = 900) -> int:
    conn = await asyncpg.connect(scratch.db_url)
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            row = await conn.fetchrow("""SELECT coalesce(sum(pages), 0) AS pages,
                                                count(*) FILTER (WHERE status NOT IN ('completed', 'failed')) AS open
                                           FROM scrape_jobs""")
            assert row is not None
            if row["open"] == 0 and row["pages"] >= at_least:
                return int(row["pages"])
            if row["open"] == 0 or asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"only {row['pages']} pages rendered, {row['open']} jobs open")
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def browser_growth(pages: int) -> list[tuple[int, float, float]]:
    """``(pages rendered, MB PSS of the worker and its Chromium, MB RSS of the worker alone)`` after every 100
    pages up to ``pages``."""
    scratch = Scratch()
    await scratch.create(migrated=True)
    site = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "http.server",
        "--bind",
        "127.0.0.1",
        "--directory",
        str(SITE),
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    worker = None
    try:
        assert site.stdout is not None
        banner = (await asyncio.wait_for(site.stdout.readline(), 10)).decode()
        port = int(banner.split(" port ")[1].split()[0])
        url = f"http://127.0.0.1:{port}/"
        worker = await asyncio.create_subprocess_exec(
            *leadworker("run", "--stage", "scrape", "--prefetch", "4"),
            env=worker_env(
                scratch,
                LEADWORKER_ALLOW_PRIVATE_NETWORKS="true",
                LEADWORKER_ENRICH="false",
                LEADWORKER_HOST_RATE="1000",
                LEADWORKER_HOST_CONCURRENCY="16",
            ),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        samples: list[tuple[int, float, float]] = []
        step_jobs = 100 // PAGES_PER_JOB
        for step in range(pages // 100):
            await _publish_browser_jobs(scratch, url, step_jobs)
            rendered = await _rendered_pages(scratch, (step + 1) * 100)
            samples.append((rendered, tree_rss_kb(worker.pid, field="Pss") / 1024, rss_kb(worker.pid) / 1024))
        return samples
    finally:
        if worker is not None:
            worker.terminate()
            await worker.wait()
        site.terminate()
        await site.wait()
        await scratch.cleanup()


async def run(quick: bool, reps: int = 3) -> dict[str, Any]:
    ours: list[float] = []
    base: list[float] = []
    for rep in range(reps):
        if rep % 2 == 0:
            ours.append(await idle_ours())
            base.append(await idle_baseline())
        else:
            base.append(await idle_baseline())
            ours.append(await idle_ours())
    warm, after = await growth(2000 if quick else 10_000)
    growth_pct = (after - warm) / warm * 100
    browser = await browser_growth(300 if quick else 1000)
    browser_warm = browser[0][1]
    browser_peak = max(mb for _, mb, _ in browser[1:]) if len(browser) > 1 else browser_warm
    return {
        "scenario": "memory",
        "unit": "MB idle RSS",
        "ours": round(median(ours), 1),
        "baseline": round(median(base), 1),
        "baseline_name": "raw aio-pika + asyncpg consumer, idle",
        "ratio": round(median(ours) / median(base), 3),
        "ratio_meaning": "ours / baseline (lower is better)",
        "runs": {"ours": ours, "baseline": base},
        "notes": "target: ours <= 45 MB idle; growth < 10 % after 10,000 jobs",
        "growth": {
            "warm_mb": round(warm, 1),
            "after_mb": round(after, 1),
            "percent": round(growth_pct, 1),
            "jobs": 2000 if quick else 10_000,
        },
        "rows": [
            {
                "name": "growth",
                "unit": "% RSS",
                "ours": round(growth_pct, 1),
                "baseline": "-",
                "ratio": "-",
                "notes": f"{warm:.1f} MB after warm-up -> {after:.1f} MB",
            },
            {
                "name": "browser",
                "unit": "MB PSS+Chromium",
                "ours": round(browser[-1][1], 1),
                "baseline": "-",
                "ratio": "-",
                "notes": f"{browser_warm:.1f} MB after {browser[0][0]} rendered pages, peak "
                f"{browser_peak:.1f}, {browser[-1][1]:.1f} after {browser[-1][0]}; the "
                f"worker alone {browser[0][2]:.1f} -> {browser[-1][2]:.1f} MB RSS",
            },
        ],
        "browser": {
            "samples": [
                {"pages": p, "mb_pss_with_chromium": round(mb, 1), "worker_rss_mb": round(w, 1)} for p, mb, w in browser
            ],
            "warm_mb": round(browser_warm, 1),
            "peak_after_warm_mb": round(browser_peak, 1),
            "last_mb": round(browser[-1][1], 1),
        },
        "target": {"idle_mb_max": 45, "growth_percent_max": 10},
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(quick=True, reps=1)), indent=2))
