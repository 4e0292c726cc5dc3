"""What the dashboard's browser tests and ``scripts/screenshots.py`` share: ``leadworker api`` run as a process,
real Chromium through Playwright (found as the worker finds it: Debian's chromium-headless-shell; never skipped
when missing), and signing in through the form."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
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
    with tempfile.TemporaryFile() as log:
        process = await asyncio.create_subprocess_exec(
            *support.leadworker_cmd("api", "--port", str(port)),
            env=support.cli_env(settings),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            try:
                await support.wait_for(lambda: _answers(base + "/healthz"), timeout=30, what="api up")
            except BaseException as exc:
                log.seek(0)
                tail = log.read()[-3000:].decode(errors="replace")
                raise AssertionError(f"leadworker api did not come up: {tail}") from exc
            yield base
        finally:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            await asyncio.wait_for(process.wait(), 30)


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium (a Playwright ``Browser``); BrowserUnavailable, a failure, if there is none."""
    from playwright.async_api import async_playwright

    executable = find_executable(os.environ.get("LEADWORKER_BROWSER_EXECUTABLE"))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in(page: Any, base: str, token: str) -> None:
    """Sign in through the form; ends on the overview."""
    response = await page.goto(base + "/login")
    assert response is not None and response.status == 200, (response and response.status, await page.content())
    await page.fill("#token", token)
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_url(base + "/")
