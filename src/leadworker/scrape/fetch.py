"""Static fetching over plain HTTP with aiohttp, through the network guard.

Redirects are followed here, one hop at a time, so that every hop is checked by the guard; bodies are read
up to ``max_body_bytes``; transient failures (timeouts, connection errors, 429 and 5xx) are retried with
jittered exponential backoff (tenacity), honouring ``Retry-After``. Every request waits for its host's
slot in the shared :class:`~leadworker.scrape.politeness.HostLimiter` (per-host concurrency and rate).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urljoin

import aiohttp
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from leadworker.common.ratelimit import retry_after_seconds
from leadworker.config import Settings
from leadworker.errors import LeadworkerError, PermanentError, TransientError
from leadworker.ops.metrics import Metrics
from leadworker.scrape.guard import NetworkGuard
from leadworker.scrape.politeness import HostLimiter

_TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "application/xml", "text/xml")
_MAX_RETRY_AFTER = 30.0
_KEPT_HEADERS = ("Content-Type", "Content-Language", "X-Robots-Tag", "Last-Modified", "Link")
"""Response headers a :class:`Page` keeps (the crawler reads X-Robots-Tag; the rest is for callers)."""


@dataclass
class Page:
    """A fetched page."""

    url: str
    """The URL asked for."""
    final_url: str
    """Where the redirects ended."""
    status: int
    content_type: str
    text: str
    truncated: bool = False
    mode: str = "static"
    headers: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def is_html(self) -> bool:
        return "html" in self.content_type or not self.content_type


@dataclass
class _Attempt:
    """What tenacity's backoff reads of a retry state."""

    attempt_number: int


class FetchError(TransientError):
    """A page could not be fetched for a reason that may go away (network, timeout, 429, 5xx)."""

    kind = "fetch"

    def __init__(
        self, reason: str, *, kind: str | None = None, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(reason, kind=kind)
        self.retry_after = retry_after
        self.status = status


class TooManyRedirects(PermanentError):
    """A redirect chain longer than ``max_redirects`` (or a loop): retrying cannot help."""

    kind = "redirects"


class RedirectRefused(PermanentError):
    """A redirect leads where the caller may not go (robots.txt)."""

    kind = "robots"


def status_label(status: int) -> str:
    """``2xx``, ``3xx``, ``4xx`` or ``5xx``: the ``status`` label of ``pages_fetched``."""
    return f"{status // 100}xx" if 100 <= status < 600 else "other"


class StaticFetcher:
    """One aiohttp session per worker process; safe to share between concurrent jobs."""

    def __init__(
        self,
        settings: Settings,
        guard: NetworkGuard,
        *,
        limiter: HostLimiter | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.guard = guard
        self.limiter = limiter or HostLimiter(concurrency=settings.host_concurrency, rate=settings.host_rate)
        """Shared with the browser, so that both are polite to a host together."""
        self.metrics = metrics
        self._session: aiohttp.ClientSession | None = None

    def _session_or_open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = self.guard.connector(
                limit=300,
                limit_per_host=self.settings.host_concurrency,
                ttl_dns_cache=60,
                enable_cleanup_closed=True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={
                    "User-Agent": self.settings.user_agent,
                    "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
                    "Accept-Language": "en;q=0.9,*;q=0.5",
                },
                timeout=aiohttp.ClientTimeout(total=self.settings.page_timeout, connect=10),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=True,
            )
        return self._session

    async def fetch(
        self,
        url: str,
        *,
        retries: int | None = None,
        any_text: bool = False,
        may_follow: Callable[[str], Awaitable[bool]] | None = None,
    ) -> Page:
        """Fetch ``url`` following redirects; retry transient failures. Raises :class:`FetchError` or
        :class:`~leadworker.scrape.guard.ForbiddenTarget`; any HTTP answer that is not transient is returned
        as a :class:`Page` whatever its status. The body is read for text types (HTML, XML, plain text), or
        whatever the type with ``any_text`` (scripts, JSON). ``may_follow`` is asked before each redirect hop
        (the crawler's robots.txt): a hop it refuses is not fetched (:class:`RedirectRefused`)."""
        attempts = (self.settings.fetch_retries if retries is None else retries) + 1
        try:
            try:
                page = await self._fetch_once(url, any_text, may_follow)  # the common case, without retry machinery
            except FetchError as error:
                if attempts <= 1:
                    raise
                await asyncio.sleep(self._delay(error, 1))
                retrying = AsyncRetrying(
                    stop=stop_after_attempt(attempts - 1),
                    wait=self._wait,
                    retry=retry_if_exception_type(FetchError),
                    reraise=True,
                )
                async for attempt in retrying:
                    with attempt:
                        page = await self._fetch_once(url, any_text, may_follow)
        except LeadworkerError as exc:
            self._count(exc.kind)
            raise
        self._count(status_label(page.status))
        return page

    def _count(self, status: str) -> None:
        if self.metrics is not None:
            self.metrics.pages_fetched.labels("static", status).inc()

    _backoff = wait_exponential_jitter(multiplier=0.2, max=5.0, jitter=0.3)

    @classmethod
    def _delay(cls, error: BaseException | None, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failed attempt: jittered backoff, or Retry-After."""
        base: float = cls._backoff(cast(RetryCallState, _Attempt(failures)))
        if isinstance(error, FetchError) and error.retry_after is not None:
            return max(base, error.retry_after)
        return base

    @classmethod
    def _wait(cls, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        return cls._delay(error, retry_state.attempt_number + 1)  # the first failure came before tenacity

    async def _fetch_once(
        self, url: str, any_text: bool = False, may_follow: Callable[[str], Awaitable[bool]] | None = None
    ) -> Page:
        session = self._session_or_open()
        started = time.monotonic()
        current = url
        visited = {url}
        for _hop in range(self.settings.max_redirects + 1):
            host = self.guard.check_url(current)
            try:
                async with self.limiter.slot(host), session.get(current, allow_redirects=False) as response:
                    status = response.status
                    if status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                        current = urljoin(current, response.headers["Location"])
                        if current in visited:
                            raise TooManyRedirects(f"{url}: redirect loop at {current}")
                        visited.add(current)
                        if may_follow is not None and not await may_follow(current):
                            raise RedirectRefused(f"{url} redirects to {current}, which robots.txt disallows")
                        continue
                    if status == 429 or status >= 500:
                        raise FetchError(
                            f"{current} answered HTTP {status}",
                            kind="http_status",
                            retry_after=retry_after_seconds(response.headers.get("Retry-After"), _MAX_RETRY_AFTER),
                            status=status,
                        )
                    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
                    text, truncated = "", False
                    if any_text or not content_type or content_type.startswith(_TEXT_TYPES):
                        text, truncated = await self._read_text(response)
                    return Page(
                        url=url,
                        final_url=str(response.url),
                        status=status,
                        content_type=content_type,
                        text=text,
                        truncated=truncated,
                        headers={k: response.headers[k] for k in _KEPT_HEADERS if k in response.headers},
                        elapsed=time.monotonic() - started,
                    )
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise FetchError(f"{current}: {type(exc).__name__}: {exc}", kind="network") from exc
        raise TooManyRedirects(f"{url}: more than {self.settings.max_redirects} redirects")

    async def _read_text(self, response: aiohttp.ClientResponse) -> tuple[str, bool]:
        limit = self.settings.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        truncated = False
        async for chunk in response.content.iter_chunked(65536):
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit:
                truncated = True
                break
        body = b"".join(chunks)[:limit]
        encoding = response.charset or "utf-8"
        try:
            return body.decode(encoding, errors="replace"), truncated
        except LookupError:
            return body.decode("utf-8", errors="replace"), truncated

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
