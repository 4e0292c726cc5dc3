"""What the dashboard's browser tests and ``scripts/screenshots.py`` share: ``leadworker api`` run as a process,
real Chromium through Playwright (found as the worker finds it: Debian's chromium-headless-shell; never skipped
when missing), and signing in through the form."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import support
from leadworker.config import Settings
from leadworker.scrape.browser import find_executable


def _answers(url: str) -> bool:
    try:
        return support.http_get(url)[0] == 200
    except OSError:
        return False


@asynccontextmanager
async def serving_api(settings: Settings) -> AsyncIterator[str]:
    """``leadworker api`` on a free port with ``settings``; yields its base URL; stopped (SIGTERM) afterwards."""
    port = support.free_port()
    process = await asyncio.create_subprocess_exec(
        *support.leadworker_cmd("api", "--port", str(port)),
        env=support.cli_env(settings),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await support.wait_for(lambda: _answers(base + "/healthz"), timeout=30, what="api up")
        yield base
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium (a Playwright ``Browser``); BrowserUnavailable, a failure, if there is none."""
    from playwright.async_api import async_playwright

    executable = find_executable(None)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in(page: Any, base: str, token: str) -> None:
    """Sign in through the form; ends on the overview."""
    await page.goto(base + "/login")
    await page.fill("#token", token)
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_url(base + "/")
