"""Rendering with Chromium through Playwright: one browser per process, a context per job, a bounded page pool.

Playwright is imported only when a page first needs the browser, so an idle worker (or one that only fetches
statically) does not pay for it. :class:`BrowserPool` owns the browser:

- launched lazily with the executable from ``LEADWORKER_BROWSER_EXECUTABLE``, else Playwright's own download,
  else Debian's ``/usr/bin/chromium-headless-shell``, else ``/usr/bin/chromium``;
- relaunched after ``browser_restart_pages`` pages (contexts grow), or when it disconnects or crashes; a
  render that fails because its target closed is retried once on a fresh browser;
- closed after ``browser_idle_seconds`` without work and on worker shutdown; any Chromium process of ours
  still alive after a close is killed, so none is left behind.

Every request the browser makes goes through the network guard. Chromium's only route out is the pool's
:class:`~leadworker.scrape.egress.EgressProxy` (``--proxy-server``, loopback included, with Chromium's own
resolver mapped to nothing, QUIC, DNS prefetch and non-proxied WebRTC off): every request, every redirect hop
and every WebSocket is resolved there once, checked, and connected to the checked address.

Navigation documents are not fetched by Chromium at all: the static fetcher (which checks every redirect hop,
honours per-host politeness and the body limit) fetches them and the page is fulfilled from that answer —
Playwright does not route the hops of a redirect, so letting Chromium follow them would bypass per-host
politeness and robots.txt. Sub-resources (scripts, XHR, fetch) are also checked host by host before they
leave (so that a job's log names what was refused); images, fonts and media are blocked.

After ``load`` a render waits, bounded by ``render_settle``, until the page is quiet: no pending short timers,
no fetch/XHR in flight and no DOM change for a moment (some pages inject their contacts a few hundred
milliseconds after ``load``).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit

import structlog

from leadworker.config import Settings
from leadworker.errors import LeadworkerError, TransientError
from leadworker.ops.metrics import Metrics
from leadworker.scrape.egress import EgressProxy
from leadworker.scrape.fetch import FetchError, Page, StaticFetcher, status_label
from leadworker.scrape.guard import ForbiddenTarget, GuardedResolver

if TYPE_CHECKING:  # pragma: no cover - typing only; the import itself is lazy
    from aiohttp.abc import AbstractResolver
    from playwright.async_api import Browser, BrowserContext, Playwright, Route
    from playwright.async_api import Page as PlaywrightPage

log = structlog.get_logger(__name__)

T = TypeVar("T")

BROWSER_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    # The egress proxy is the only route (see the module docstring): loopback goes through it too, and
    # nothing leaves beside it — no QUIC, no DNS prefetch, no WebRTC over UDP.
    "--proxy-bypass-list=<-loopback>",
    "--disable-quic",
    "--dns-prefetch-disable",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    # Documents are fulfilled from the static fetch (see the module docstring): Chromium then sees no address
    # for the page and its local-network checks would refuse its sub-resources on the addresses that the
    # network guard has allowed (LEADWORKER_ALLOW_PRIVATE_NETWORKS, staging). The guard decides, not Chromium.
    # Chromium honours only the last --disable-features, so this one repeats Playwright's own list.
    "--disable-features=Translate,MediaRouter,OptimizationHints,InterestFeedContentSuggestions,"
    "BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,"
    "PrivateNetworkAccessRespectPreflightResults,LocalNetworkAccessChecks,"
    "AvoidUnnecessaryBeforeUnloadCheckSync,DestroyProfileOnBrowserClose,HttpsUpgrades,"
    "HttpsFirstBalancedModeAutoEnable,LensOverlay,PaintHolding,ThirdPartyStoragePartitioning,"
    "AvoidCorsURLLoaderRestartOnRedirect,NetworkTimeServiceQuerying,AimEnabled,PreconnectToSearch",
)
DEBIAN_EXECUTABLES = ("/usr/bin/chromium-headless-shell", "/usr/bin/chromium", "/usr/bin/chromium-browser")
BLOCKED_RESOURCES = frozenset({"image", "media", "font", "manifest", "texttrack"})
CONTEXT_PAGES = 50
"""Pages a job's context renders before it is replaced by a fresh one (contexts grow)."""
_LAUNCH_TIMEOUT = 30.0
_CLAIMED_GROUPS: set[int] = set()
"""Chromium process groups some pool of this process launched (so that two pools never mix them up)."""
_QUIET_MS = 150
_CLOSED_PATTERNS = re.compile(
    r"target (page, context or browser )?(has been )?closed|browser has been closed|has been disconnected|"
    r"target crashed|page crashed|browser closed|connection closed|websocket closed",
    re.IGNORECASE,
)

# Counts what keeps a page busy (short timers, fetch/XHR in flight) and when the DOM last changed, so that a
# render can wait for script-injected content without a fixed sleep.
SETTLE_SCRIPT = """
(() => {
  if (window.__lwQuiet) return;
  const w = window;
  let last = Date.now(), inflight = 0;
  const timers = new Set();
  const mark = () => { last = Date.now(); };
  const setT = w.setTimeout, clearT = w.clearTimeout;
  w.setTimeout = function (fn, ms, ...args) {
    const delay = Number(ms) || 0;
    if (typeof fn !== 'function' || delay > 3000) return setT.call(w, fn, ms, ...args);
    const id = setT.call(w, function () {
      timers.delete(id);  // what the callback changes in the DOM, the observer sees
      return fn.apply(this, args);
    }, delay);
    timers.add(id);
    return id;
  };
  w.clearTimeout = function (id) { timers.delete(id); return clearT.call(w, id); };
  if (w.fetch) {
    const f = w.fetch;
    w.fetch = function (...args) {
      inflight++;
      return f.apply(this, args).finally(() => { inflight--; mark(); });
    };
  }
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (...args) {
    inflight++;
    this.addEventListener('loadend', () => { inflight--; mark(); });
    return send.apply(this, args);
  };
  new MutationObserver(mark).observe(document, {subtree: true, childList: true, characterData: true});
  w.__lwQuiet = () => (timers.size === 0 && inflight === 0) ? Date.now() - last : -1;
})();
"""
_QUIET_CHECK = f"() => !window.__lwQuiet || window.__lwQuiet() >= {_QUIET_MS}"


@dataclass(frozen=True)
class PageAction:
    """Something a rendered page needs before its content is read (a directory recipe's ``actions``).

    ``scroll``: scroll ``selector`` (``window`` for the page) to its end until ``count`` (a selector) matches no
    more elements, at most ``max`` times. ``click``: click the first ``selector`` while there is one, at most
    ``max`` times ("more results"); with ``each``, click every match once ("show number"). ``wait_for``: wait
    until ``selector`` is there, at most ``timeout`` seconds. After each step the page is let settle.
    """

    kind: Literal["scroll", "click", "wait_for"]
    selector: str
    max: int = 10
    each: bool = False
    timeout: float = 5.0
    count: str | None = None


class BrowserUnavailable(TransientError):
    """Chromium cannot be found or launched (another worker may have one: the job may be retried)."""

    kind = "browser_unavailable"


class RenderError(FetchError):
    """A page could not be rendered (navigation timeout, crash twice, hung page)."""

    kind = "render"


def find_executable(configured: str | None, playwright_path: str | None = None) -> str:
    """The Chromium to launch: the configured one, Playwright's download, or Debian's."""
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured
        raise BrowserUnavailable(f"LEADWORKER_BROWSER_EXECUTABLE={configured!r} is not an executable file")
    candidates: list[str] = []
    if playwright_path:
        candidates.append(playwright_path)
    root = os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or os.path.expanduser("~/.cache/ms-playwright")
    candidates += sorted(
        glob.glob(os.path.join(root, "chromium_headless_shell-*", "chrome-*", "headless_shell")), reverse=True
    )
    candidates += DEBIAN_EXECUTABLES
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise BrowserUnavailable(
        "no Chromium found: install chromium-headless-shell (Debian) or chromium, or set LEADWORKER_BROWSER_EXECUTABLE"
    )


# --- our Chromium processes ------------------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """``(comm, ppid, pgid)`` of ``pid`` from /proc, or ``None``."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            data = handle.read()
    except OSError:
        return None
    head, _, rest = data.rpartition(")")
    comm = head.partition("(")[2]
    fields = rest.split()
    try:
        return comm, int(fields[1]), int(fields[2])
    except (IndexError, ValueError):
        return None


def _descendant_browser_groups(root: int) -> set[int]:
    """Process groups led by Chromium processes that descend from ``root`` (Linux; empty elsewhere)."""
    if not os.path.isdir("/proc"):
        return set()
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[str, int, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        stat = _proc_stat(int(name))
        if stat is None:
            continue
        stats[int(name)] = stat
        children.setdefault(stat[1], []).append(int(name))
    groups: set[int] = set()
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        comm, _, pgid = stats[pid]
        if ("chrom" in comm.lower() or "headless" in comm.lower()) and pgid == pid:
            groups.add(pgid)
        stack.extend(children.get(pid, []))
    return groups


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    except OSError:
        return False
    return True


def _kill_group(pgid: int) -> bool:
    """SIGKILL a Chromium process group we launched, if it is still there. True if something was killed."""
    stat = _proc_stat(pgid)
    is_chromium = stat is not None and ("chrom" in stat[0].lower() or "headless" in stat[0].lower())
    if not is_chromium and not _group_alive(pgid):
        return False
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        return False
    return True


# --- the pool --------------------------------------------------------------------------------------------


@dataclass
class _Generation:
    """One launched browser. A new generation replaces it after a crash or its page budget."""

    browser: Browser
    number: int
    groups: set[int] = field(default_factory=set)
    pages: int = 0
    contexts: int = 0
    retiring: str | None = None
    """Why it is being replaced (``pages``, ``disconnected``, ``hung``), once it is."""
    closed: bool = False


class BrowserPool:
    """The process's browser; see the module docstring. Safe to share between concurrent jobs."""

    def __init__(
        self,
        settings: Settings,
        fetcher: StaticFetcher,
        *,
        metrics: Metrics | None = None,
        resolver: AbstractResolver | None = None,
    ) -> None:
        """``resolver`` answers the egress proxy's look-ups of names without an override (the system's by
        default)."""
        self.settings = settings
        self.fetcher = fetcher
        self.guard = fetcher.guard
        self.metrics = metrics
        self.egress = EgressProxy(self.guard, GuardedResolver(self.guard, resolver))
        """Chromium's only route out, started with the first browser and closed with the pool."""
        self._playwright: Playwright | None = None
        self._current: _Generation | None = None
        self._generations: list[_Generation] = []
        self._launch_lock = asyncio.Lock()
        self._page_slots = asyncio.Semaphore(settings.browser_pages)
        self._sessions = 0
        self._idle_task: asyncio.Task[None] | None = None
        self._closed = False
        self._launches = 0
        self._last_failure: BrowserUnavailable | None = None
        self._last_failure_at = 0.0

    # --- public -------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while a browser is launched."""
        return self._current is not None and not self._current.closed

    @property
    def launches(self) -> int:
        return self._launches

    def session(self) -> RenderSession:
        """A job's rendering session (its own browser context, opened on first use)."""
        return RenderSession(self)

    async def close(self) -> None:
        """Close every browser and the Playwright driver; kill whatever Chromium of ours survives."""
        self._closed = True
        if self._idle_task is not None:
            self._idle_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._idle_task
        async with self._launch_lock:
            for generation in list(self._generations):
                await self._close_generation(generation)
            self._current = None
            if self._playwright is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._playwright.stop(), self.settings.browser_close_timeout * 2)
                self._playwright = None
        await self.egress.close()

    # --- browser lifetime ----------------------------------------------------------------------------------

    async def _generation(self) -> _Generation:
        if self._closed:
            raise BrowserUnavailable("the browser pool is closed (the worker is stopping)")
        current = self._current
        if current is not None and current.retiring is None and not current.closed:
            return current
        async with self._launch_lock:
            current = self._current
            if current is not None and current.retiring is None and not current.closed:
                return current
            if self._closed:
                raise BrowserUnavailable("the browser pool is closed (the worker is stopping)")
            if self._last_failure is not None and time.monotonic() - self._last_failure_at < 5.0:
                raise self._last_failure
            reason = current.retiring if current is not None else None
            try:
                generation = await self._launch()
            except BrowserUnavailable as exc:
                self._last_failure, self._last_failure_at = exc, time.monotonic()
                raise
            self._last_failure = None
            if current is not None:
                if self.metrics is not None:
                    self.metrics.browser_restarts.labels(reason or "unknown").inc()
                log.info("browser relaunched", reason=reason, generation=generation.number)
                if current.contexts == 0:
                    await self._close_generation(current)
            self._current = generation
            return generation

    async def _launch(self) -> _Generation:
        try:
            from playwright.async_api import async_playwright
        except ImportError as exc:  # pragma: no cover - playwright is a dependency
            raise BrowserUnavailable(f"playwright is not installed: {exc}") from exc
        if self._playwright is None:
            try:
                self._playwright = await async_playwright().start()
            except Exception as exc:
                raise BrowserUnavailable(f"cannot start Playwright: {type(exc).__name__}: {exc}") from exc
        try:
            playwright_path: str | None = self._playwright.chromium.executable_path
        except Exception:
            playwright_path = None
        executable = find_executable(self.settings.browser_executable, playwright_path)
        await self.egress.start()
        args = [*BROWSER_ARGS, f"--proxy-server={self.egress.url}"]
        try:
            browser = await asyncio.wait_for(
                self._playwright.chromium.launch(
                    executable_path=executable,
                    args=args,
                    headless=True,
                    handle_sigint=False,
                    handle_sigterm=False,
                    handle_sighup=False,
                    timeout=_LAUNCH_TIMEOUT * 1000,
                ),
                _LAUNCH_TIMEOUT + 5,
            )
        except Exception as exc:
            raise BrowserUnavailable(f"cannot launch {executable}: {type(exc).__name__}: {exc}") from exc
        self._launches += 1
        generation = _Generation(browser=browser, number=self._launches)
        generation.groups = _descendant_browser_groups(os.getpid()) - _CLAIMED_GROUPS
        _CLAIMED_GROUPS.update(generation.groups)
        self._generations.append(generation)

        def disconnected(_: Any) -> None:
            if not generation.closed:
                generation.closed = True
                generation.retiring = generation.retiring or "disconnected"
                log.warning("browser disconnected", generation=generation.number)

        browser.on("disconnected", disconnected)
        log.info("browser launched", executable=executable, version=browser.version, generation=generation.number)
        return generation

    def _retire(self, generation: _Generation, reason: str) -> None:
        if generation.retiring is None:
            generation.retiring = reason

    async def _close_generation(self, generation: _Generation) -> None:
        if generation in self._generations:
            self._generations.remove(generation)
        generation.closed = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(generation.browser.close(), self.settings.browser_close_timeout)
        for pgid in generation.groups:
            # Give Chromium's helpers a moment to follow their parent, then make sure.
            for _ in range(20):
                if not _group_alive(pgid):
                    break
                await asyncio.sleep(0.05)
            if _kill_group(pgid):
                log.debug("killed Chromium helpers that outlived their browser", pgid=pgid)
            _CLAIMED_GROUPS.discard(pgid)

    async def _context_released(self, generation: _Generation) -> None:
        generation.contexts -= 1
        if generation is not self._current and generation.contexts <= 0 and generation in self._generations:
            await self._close_generation(generation)

    def _session_started(self) -> None:
        self._sessions += 1
        if self._idle_task is not None:
            self._idle_task.cancel()
            self._idle_task = None

    def _session_ended(self) -> None:
        self._sessions -= 1
        idle = self.settings.browser_idle_seconds
        if self._sessions == 0 and idle > 0 and self.running and not self._closed:
            self._idle_task = asyncio.get_running_loop().create_task(self._close_when_idle(idle))

    async def _close_when_idle(self, idle: float) -> None:
        await asyncio.sleep(idle)
        self._idle_task = None  # a job that starts now waits for the close below, it does not cut it short
        async with self._launch_lock:
            if self._sessions or self._closed:
                return
            for generation in list(self._generations):
                await self._close_generation(generation)
            self._current = None
            if self._playwright is not None:  # the driver too: an idle worker keeps nothing of the browser
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._playwright.stop(), self.settings.browser_close_timeout * 2)
                self._playwright = None
            log.info("browser closed after being idle", idle_seconds=idle)

    # --- rendering -----------------------------------------------------------------------------------------

    def _count(self, status: str) -> None:
        if self.metrics is not None:
            self.metrics.pages_fetched.labels("browser", status).inc()

    async def render(
        self, session: RenderSession, url: str, prefetched: Page | None, actions: Sequence[PageAction] = ()
    ) -> Page:
        page = prefetched if prefetched is not None else await self.fetcher.fetch(url)
        if not page.ok or not page.is_html:
            return page  # nothing to render: the static answer is the answer
        limit = self.settings.page_timeout + self.settings.render_settle + self.settings.browser_close_timeout + 5
        if actions:
            limit += self.settings.page_timeout  # the actions' own budget (see _act)
        async with self._page_slots:
            for attempt in (1, 2):
                try:
                    result = await _bounded(self._render_once(session, page, actions), limit)
                except BrowserUnavailable as exc:
                    self._count(exc.kind)
                    raise
                except TimeoutError:
                    self._count("timeout")
                    raise RenderError(
                        f"{page.final_url}: rendering took longer than {limit:g} s", kind="timeout"
                    ) from None
                except LeadworkerError as exc:
                    self._count(exc.kind)
                    raise
                except Exception as exc:
                    if attempt == 1 and _looks_closed(exc):
                        session.discard_context()
                        continue  # the browser or page died under us: once more on a fresh one
                    self._count("render")
                    raise RenderError(f"{page.final_url}: {type(exc).__name__}: {_first_line(exc)}") from exc
                self._count(status_label(result.status))
                return result
        raise AssertionError("unreachable")

    async def _render_once(self, session: RenderSession, document: Page, actions: Sequence[PageAction] = ()) -> Page:
        generation, context = await session.context()
        started = time.monotonic()
        page = await context.new_page()
        generation.pages += 1
        session.pages += 1
        if generation.pages >= self.settings.browser_restart_pages:
            self._retire(generation, "pages")
        pending: list[Page] = [document]
        try:
            page.set_default_timeout(self.settings.page_timeout * 1000)

            async def route(route: Route) -> None:
                await self._route(route, page, pending, session)

            await page.route("**/*", route)
            response = await page.goto(
                document.final_url, wait_until="domcontentloaded", timeout=self.settings.page_timeout * 1000
            )
            settle_ms = self.settings.render_settle * 1000
            remaining = max(100.0, self.settings.page_timeout * 1000 - (time.monotonic() - started) * 1000)
            if settle_ms > 0:
                with contextlib.suppress(Exception):
                    await page.wait_for_load_state("load", timeout=min(remaining, settle_ms * 2))
                with contextlib.suppress(Exception):
                    await page.wait_for_function(_QUIET_CHECK, polling=50, timeout=settle_ms)
            if actions:
                with contextlib.suppress(TimeoutError):  # what the actions drew so far is kept
                    await asyncio.wait_for(self._act(page, actions), self.settings.page_timeout)
            html = await page.content()
            final_url = page.url if page.url.startswith(("http://", "https://")) else document.final_url
            return Page(
                url=document.url,
                final_url=final_url,
                status=response.status if response is not None else document.status,
                content_type="text/html",
                text=html,
                mode="browser",
                headers=document.headers,
                elapsed=document.elapsed + time.monotonic() - started,
            )
        finally:
            await self._close_page(page, generation)

    async def _act(self, page: PlaywrightPage, actions: Sequence[PageAction]) -> None:
        """Run ``actions`` in order; a step that fails ends that step, not the render."""
        settle_ms = max(200.0, self.settings.render_settle * 1000)

        async def settle() -> None:
            with contextlib.suppress(Exception):
                await page.wait_for_function(_QUIET_CHECK, polling=50, timeout=settle_ms)

        for action in actions:
            try:
                if action.kind == "wait_for":
                    await page.wait_for_selector(action.selector, timeout=action.timeout * 1000)
                elif action.kind == "scroll":
                    await _scroll(page, action, settle, max(settle_ms, action.timeout * 1000))
                elif action.each:
                    # A clicked element may be replaced or removed ("show number"): each is marked before its
                    # click and the next one is the first unmarked.
                    fresh = page.locator(f":is({action.selector}):not([data-lw-clicked])")
                    for _ in range(min(await fresh.count(), action.max)):
                        if not await fresh.count():
                            break
                        handle = await fresh.first.element_handle(timeout=action.timeout * 1000)
                        await handle.evaluate("e => e.setAttribute('data-lw-clicked', '')")
                        await handle.click(timeout=action.timeout * 1000)
                    await settle()
                else:
                    for _ in range(action.max):
                        target = page.locator(action.selector).first
                        if not await target.count() or not await target.is_visible():
                            break
                        await target.click(timeout=action.timeout * 1000)
                        await settle()
            except Exception as exc:
                if _looks_closed(exc):
                    raise
                log.debug("a page action stopped", action=action.kind, selector=action.selector, error=_first_line(exc))

    async def _close_page(self, page: PlaywrightPage, generation: _Generation) -> None:
        try:
            await asyncio.wait_for(page.close(), self.settings.browser_close_timeout)
        except Exception:
            # A page that will not close means a wedged renderer or browser: replace the browser.
            log.warning("a page did not close in time; replacing the browser", generation=generation.number)
            self._retire(generation, "hung")
            generation.closed = True

    async def _route(self, route: Route, page: PlaywrightPage, pending: list[Page], session: RenderSession) -> None:
        request = route.request
        try:
            if request.resource_type in BLOCKED_RESOURCES:
                await route.abort("blockedbyclient")
                return
            url = request.url
            scheme = url.split(":", 1)[0].lower()
            if scheme in ("data", "blob", "about"):
                await route.continue_()
                return
            if scheme not in ("http", "https"):
                await route.abort("blockedbyclient")
                return
            if request.is_navigation_request():
                if pending and request.frame == page.main_frame:
                    document = pending.pop()
                    await route.fulfill(
                        status=document.status, body=document.text, headers={"content-type": "text/html; charset=utf-8"}
                    )
                else:
                    # Script navigating away, or a frame: the crawler follows links itself.
                    await route.abort("aborted")
                return
            await session.check_host(urlsplit(url).hostname or "")
            if session.may_fetch is not None and not await session.may_fetch(url):
                session.disallowed.append(url)
                await route.abort("blockedbyclient")
                return
            await route.continue_()
        except ForbiddenTarget as exc:
            session.refused.append(f"{request.url}: {exc}")
            with contextlib.suppress(Exception):
                await route.abort("blockedbyclient")
        except (TransientError, OSError):
            with contextlib.suppress(Exception):
                await route.abort("namenotresolved")
        except Exception:  # the page or browser went away; nothing to answer
            with contextlib.suppress(Exception):
                await route.abort("failed")


class RenderSession:
    """One job's use of the browser: a browser context of its own, opened lazily and closed with the job."""

    def __init__(self, pool: BrowserPool) -> None:
        self.pool = pool
        self.pages = 0
        self.refused: list[str] = []
        """Browser requests the network guard refused (for logs and tests)."""
        self.may_fetch: Callable[[str], Awaitable[bool]] | None = None
        """Asked before each request a page makes (the job's robots.txt); a ``False`` blocks it."""
        self.disallowed: list[str] = []
        """Requests of pages that ``may_fetch`` refused."""
        self.degraded: dict[str, int] = {}
        """Pages that needed rendering and did not get it, by error kind (``browser_unavailable``...)."""
        self._degraded_urls: set[str] = set()
        self._generation: _Generation | None = None
        self._context: BrowserContext | None = None
        self._context_pages = 0
        self._hosts: dict[str, LeadworkerError | OSError | None] = {}
        self._lock = asyncio.Lock()
        self._started = False

    async def __aenter__(self) -> RenderSession:
        self.pool._session_started()
        self._started = True
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def render(self, url: str, prefetched: Page | None = None, actions: Sequence[PageAction] = ()) -> Page:
        """Render ``url`` (its document fetched statically first unless ``prefetched`` is that answer), running
        ``actions`` before its content is read."""
        try:
            return await self.pool.render(self, url, prefetched, actions)
        except (BrowserUnavailable, RenderError) as exc:
            if url not in self._degraded_urls:  # a crawl may try a page twice: it is one page
                self._degraded_urls.add(url)
                self.degraded[exc.kind] = self.degraded.get(exc.kind, 0) + 1
            raise

    async def context(self) -> tuple[_Generation, BrowserContext]:
        async with self._lock:
            generation = self._generation
            if (
                self._context is None
                or generation is None
                or generation.closed
                or generation.retiring is not None
                or self._context_pages >= CONTEXT_PAGES
            ):
                await self._release()
                generation = await self.pool._generation()
                self._context = await generation.browser.new_context(
                    user_agent=self.pool.settings.user_agent,
                    service_workers="block",
                    java_script_enabled=True,
                    accept_downloads=False,
                )
                await self._context.add_init_script(SETTLE_SCRIPT)
                self._generation = generation
                generation.contexts += 1
                self._context_pages = 0
            self._context_pages += 1
            assert self._context is not None
            return generation, self._context

    def discard_context(self) -> None:
        """Forget a context whose browser died; the next render opens a new one."""
        if self._generation is not None:
            self.pool._retire(self._generation, "disconnected")

    async def check_host(self, host: str) -> None:
        """Raise :class:`ForbiddenTarget` (or ``OSError``) if the guard refuses ``host``; cached per job."""
        if host not in self._hosts:
            try:
                egress = self.pool.egress
                checked = egress.guard.check_host(host)
                if not egress.guard.allow_private:  # else the proxy's own check is all there is to do
                    await egress.resolver.resolve(checked)
                self._hosts[host] = None
            except (ForbiddenTarget, TransientError, OSError) as exc:
                self._hosts[host] = exc
        error = self._hosts[host]
        if error is not None:
            raise error

    async def _release(self) -> None:
        context, generation = self._context, self._generation
        self._context, self._generation = None, None
        if context is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(context.close(), self.pool.settings.browser_close_timeout)
        if generation is not None:
            await self.pool._context_released(generation)

    async def close(self) -> None:
        async with self._lock:
            await self._release()
        if self._started:
            self._started = False
            self.pool._session_ended()


_SCROLL_SCRIPT = """sel => {
  const box = sel === "window" ? document.scrollingElement : document.querySelector(sel);
  if (box) box.scrollTop = box.scrollHeight;
  if (sel === "window") window.scrollTo(0, document.body.scrollHeight);
}"""


_MORE_THAN = "([selector, count]) => document.querySelectorAll(selector).length > count"


async def _scroll(
    page: PlaywrightPage, action: PageAction, settle: Callable[[], Awaitable[None]], wait_ms: float
) -> None:
    """Scroll to the end until no new ``count`` elements come within ``wait_ms`` (or ``max`` scrolls)."""
    selector = action.count or "body *"
    before = await page.locator(selector).count()
    for _ in range(action.max):
        await page.evaluate(_SCROLL_SCRIPT, action.selector)
        try:  # the page loads more on its scroll event, a moment later: wait for the new cards themselves
            await page.wait_for_function(_MORE_THAN, arg=[selector, before], polling=50, timeout=wait_ms)
        except Exception as exc:
            if _looks_closed(exc):
                raise
            break
        await settle()
        before = await page.locator(selector).count()


async def _bounded(awaitable: Awaitable[T], seconds: float) -> T:
    return await asyncio.wait_for(awaitable, seconds)


def _looks_closed(exc: BaseException) -> bool:
    return bool(_CLOSED_PATTERNS.search(str(exc)))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
