"""The process's scraping tools (network guard, static fetcher, browser), built on the first job that needs
them: a worker that only ever runs inline jobs never imports the HTTP client, the parsers or Playwright."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadworker.config import Settings
from leadworker.ops.metrics import Metrics

if TYPE_CHECKING:
    from leadworker.scrape.browser import BrowserPool
    from leadworker.scrape.fetch import StaticFetcher


class ScrapeTools:
    """One static fetcher and one browser per process, shared by every job; :meth:`close` on shutdown."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics | None = None,
        *,
        fetcher: StaticFetcher | None = None,
        browser: BrowserPool | None = None,
    ) -> None:
        """``fetcher`` and ``browser`` may be given ready-made (benchmarks, tests); else they are built."""
        self.settings = settings
        self.metrics = metrics
        self._fetcher = fetcher
        self._browser = browser

    @property
    def fetcher(self) -> StaticFetcher:
        if self._fetcher is None:
            from leadworker.scrape.fetch import StaticFetcher
            from leadworker.scrape.guard import NetworkGuard

            guard = NetworkGuard.from_settings(self.settings)
            self._fetcher = StaticFetcher(self.settings, guard, metrics=self.metrics)
        return self._fetcher

    @property
    def browser(self) -> BrowserPool:
        """The browser pool (Chromium itself is launched on the first page it renders)."""
        if self._browser is None:
            from leadworker.scrape.browser import BrowserPool

            self._browser = BrowserPool(self.settings, self.fetcher, metrics=self.metrics)
        return self._browser

    async def close(self) -> None:
        if self._browser is not None:
            await self._browser.close()
        if self._fetcher is not None:
            await self._fetcher.close()
