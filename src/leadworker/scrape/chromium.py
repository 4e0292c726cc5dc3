"""Is there a Chromium to render with? Found as the browser pool would find it, without starting Playwright.

A worker without Chromium still runs ``render=auto`` jobs, statically: pages that only script fills come back
empty. That must be loud, not an info line per page: :func:`warn_if_missing` logs one warning when a stage
that can render starts (jobs then count such pages as ``pages_degraded``), and ``leadworker doctor`` runs
:func:`check_chromium`, which also starts the executable once (``--version``) to prove that it runs.
"""

from __future__ import annotations

import asyncio
import glob
import os
from dataclasses import dataclass

import structlog

from leadworker.config import Settings
from leadworker.scrape.browser import BrowserUnavailable, find_executable

log = structlog.get_logger(__name__)

INSTALL_HINT = (
    "apt-get install -y chromium-headless-shell (Debian/Ubuntu), or "
    "python -m playwright install --only-shell chromium, or set LEADWORKER_BROWSER_EXECUTABLE "
    "to a Chromium executable"
)
"""What to do about a missing Chromium."""

_VERSION_TIMEOUT = 20.0
_WARNED: set[str] = set()
"""Problems this process has warned about already."""


@dataclass(frozen=True)
class ChromiumCheck:
    executable: str | None
    """The Chromium the worker would launch (None: none found)."""
    version: str | None = None
    """What ``--version`` printed, when the check ran it."""
    problem: str | None = None
    """Why rendering is not possible (None: it is)."""

    @property
    def ok(self) -> bool:
        return self.problem is None


def playwright_download() -> str | None:
    """Playwright's own full Chromium, if it was downloaded (the pool asks Playwright's driver; this looks
    where the driver keeps it, so that nothing has to start)."""
    root = os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or os.path.expanduser("~/.cache/ms-playwright")
    found = sorted(glob.glob(os.path.join(root, "chromium-*", "chrome-*", "chrome")), reverse=True)
    return found[0] if found else None


def locate_chromium(settings: Settings) -> ChromiumCheck:
    """The executable the browser pool would launch, found by the same rules; no process is started."""
    try:
        return ChromiumCheck(find_executable(settings.browser_executable, playwright_download()))
    except BrowserUnavailable as exc:
        return ChromiumCheck(None, problem=str(exc))


async def check_chromium(settings: Settings) -> ChromiumCheck:
    """:func:`locate_chromium`, then run the executable with ``--version``: a file that exists but does not
    start (missing shared libraries, wrong architecture) is no browser either."""
    found = locate_chromium(settings)
    if found.executable is None:
        return found
    try:
        process = await asyncio.create_subprocess_exec(
            found.executable, "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
    except OSError as exc:
        return ChromiumCheck(found.executable, problem=f"{found.executable} cannot be started: {exc}")
    try:
        out, err = await asyncio.wait_for(process.communicate(), _VERSION_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        return ChromiumCheck(
            found.executable, problem=f"{found.executable} --version did not answer in {_VERSION_TIMEOUT:g} s"
        )
    text = (out or err).decode(errors="replace").strip()
    if process.returncode != 0:
        last = text.splitlines()[-1] if text else f"exit status {process.returncode}"
        return ChromiumCheck(found.executable, problem=f"{found.executable} does not run: {last}")
    return ChromiumCheck(found.executable, version=text.splitlines()[0] if text else None)


def warn_if_missing(settings: Settings) -> ChromiumCheck:
    """Log a warning (once per process) if no Chromium can be found: called when a stage that can render
    starts."""
    found = locate_chromium(settings)
    if found.problem is not None and found.problem not in _WARNED:
        _WARNED.add(found.problem)
        log.warning(
            "no browser: pages that need script will not be rendered, and jobs count them as pages_degraded",
            problem=found.problem,
            install=INSTALL_HINT,
        )
    return found
