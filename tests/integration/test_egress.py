"""The browser's egress proxy, with the real Chromium: a permitted page whose sub-resources redirect to, open
WebSockets to, and rebind to loopback services of this test's own. With private networks forbidden, the
loopback services must see no request, while the permitted host (127.0.0.2, opened by
``LEADWORKER_ALLOWED_NETWORKS``) is reached, so the test would see a leak if there were one."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
from aiohttp import WSMsgType, web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from chromium import chromium_processes
from leadworker.config import Settings
from leadworker.ops.serving import serve_app
from leadworker.scrape.browser import BrowserPool
from leadworker.scrape.fetch import Page, StaticFetcher
from leadworker.scrape.guard import NetworkGuard

pytestmark = pytest.mark.browser

PERMITTED = "127.0.0.2"
FORBIDDEN = "127.0.0.1"


@dataclass
class Service:
    """A loopback HTTP + WebSocket service that counts every request it sees."""

    host: str
    hits: Counter[str] = field(default_factory=Counter)
    port: int = 0
    runner: web.AppRunner | None = None

    async def start(self, port: int = 0) -> None:
        async def any_path(request: web.Request) -> web.StreamResponse:
            self.hits[request.path] += 1
            if request.path == "/ws":
                ws = web.WebSocketResponse()
                await ws.prepare(request)
                await ws.send_str(f"hello from {self.host}")
                async for message in ws:
                    if message.type != WSMsgType.TEXT:
                        break
                return ws
            if request.path == "/hop":
                raise web.HTTPFound(f"http://{FORBIDDEN}:{self.port}/redirected")
            if request.path == "/hop-by-name":
                raise web.HTTPFound(f"http://localhost:{self.port}/redirected-by-name")
            return web.Response(text=f"served by {self.host}", headers={"Access-Control-Allow-Origin": "*"})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", any_path)
        self.runner, self.port = await serve_app(app, self.host, port, shutdown_timeout=0.5)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


class RebindingResolver(AbstractResolver):
    """DNS as an attacker runs it, with no TTL: each ``rebind*.test`` name answers the permitted address, then
    loopback, by turns. Other names go to the system resolver."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}
        self._system = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if not host.startswith("rebind"):
            return await self._system.resolve(host, port, family)
        answers = self.answers.setdefault(host, [])
        address = PERMITTED if len(answers) % 2 == 0 else FORBIDDEN
        answers.append(address)
        return [ResolveResult(hostname=host, host=address, port=port, family=socket.AF_INET, proto=0, flags=0)]

    async def close(self) -> None:
        await self._system.close()


@pytest_asyncio.fixture
async def services() -> AsyncIterator[tuple[Service, Service]]:
    """The forbidden service on 127.0.0.1 and a permitted twin on 127.0.0.2, on the same port."""
    forbidden, permitted = Service(FORBIDDEN), Service(PERMITTED)
    await forbidden.start()
    await permitted.start(forbidden.port)
    try:
        yield forbidden, permitted
    finally:
        await forbidden.stop()
        await permitted.stop()


def hostile_page(port: int) -> str:
    """A page on the permitted host whose script reaches for loopback every way a page can."""
    return f"""<html><body><ul id="out"></ul><script>
    const out = document.getElementById("out");
    const note = (what, how) => {{ const li = document.createElement("li"); li.textContent = what + "=" + how;
                                  out.appendChild(li); }};
    const get = (what, url) => fetch(url).then(r => r.text()).then(t => note(what, t), () => note(what, "blocked"));
    const socketTo = (what, url) => new Promise(done => {{
      let ws;
      try {{ ws = new WebSocket(url); }} catch (e) {{ note(what, "throw"); return done(); }}
      ws.onmessage = (m) => {{ note(what, m.data); ws.close(); done(); }};
      ws.onerror = () => {{ note(what, "blocked"); done(); }};
    }});
    Promise.allSettled([
      get("permitted", "http://shop.test:{port}/ok"),
      get("redirect", "http://shop.test:{port}/hop"),
      get("redirect-by-name", "http://shop.test:{port}/hop-by-name"),
      get("direct", "http://{FORBIDDEN}:{port}/direct"),
      get("localhost", "http://localhost:{port}/direct-by-name"),
      get("rebind-1", "http://rebind.test:{port}/rebound"),
      get("rebind-2", "http://rebind.test:{port}/rebound"),
      get("rebind-3", "http://rebind.test:{port}/rebound"),
      get("rebind-4", "http://rebind.test:{port}/rebound"),
      socketTo("ws-permitted", "ws://shop.test:{port}/ws"),
      socketTo("ws-direct", "ws://{FORBIDDEN}:{port}/ws"),
      socketTo("ws-localhost", "ws://localhost:{port}/ws"),
      socketTo("ws-rebind-1", "ws://rebind-ws.test:{port}/ws"),
      socketTo("ws-rebind-2", "ws://rebind-ws.test:{port}/ws"),
    ]).then(() => note("state", "done"));
    </script></body></html>"""


def notes(html: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in html.split("<li>")[1:]:
        what, _, how = item.split("</li>", 1)[0].partition("=")
        found[what] = how
    return found


async def test_chromium_reaches_nothing_private_through_redirects_websockets_or_rebinding(
    browser_mark: str, services: tuple[Service, Service]
) -> None:
    forbidden, permitted = services
    overrides = {"shop.test": PERMITTED}
    cfg = Settings(
        _env_file=None,
        allow_private_networks=False,
        resolve=overrides,  # type: ignore[call-arg]
        allowed_networks=[f"{PERMITTED}/32"],
        render_settle=2.0,
        page_timeout=10,
    )
    resolver = RebindingResolver()
    fetcher = StaticFetcher(cfg, NetworkGuard.from_settings(cfg))
    pool = BrowserPool(cfg, fetcher, resolver=resolver)
    url = f"http://shop.test:{forbidden.port}/"
    document = Page(url=url, final_url=url, status=200, content_type="text/html", text=hostile_page(forbidden.port))
    try:
        async with pool.session() as session:
            page = await session.render(url, prefetched=document)
    finally:
        await pool.close()
        await fetcher.close()
        await resolver.close()

    seen = notes(page.text)
    assert seen.get("state") == "done", seen  # the page ran every attempt to its end
    assert forbidden.hits == Counter(), (forbidden.hits, seen)  # the loopback service saw nothing at all
    # The proxy did carry what was permitted, so a leak would have had a way to show.
    assert seen["permitted"] == f"served by {PERMITTED}"
    assert seen["ws-permitted"] == f"hello from {PERMITTED}"
    assert permitted.hits["/ok"] == 1 and permitted.hits["/ws"] >= 1
    assert permitted.hits["/hop"] == 1  # the first hop was fetched; the second, to loopback, never left
    for what in ("redirect", "redirect-by-name", "direct", "localhost", "ws-direct", "ws-localhost"):
        assert seen[what] == "blocked", (what, seen)
    # Rebinding: rebind.test answered 127.0.0.2 and 127.0.0.1 by turns. Every loopback answer was refused at the
    # proxy, and every request that went out went to the address that had been checked.
    # The fetches: the first answer (permitted) passed the job's own check; the proxy then asked four times.
    assert resolver.answers["rebind.test"] == [PERMITTED, FORBIDDEN, PERMITTED, FORBIDDEN, PERMITTED], seen
    assert permitted.hits["/rebound"] == 2, (seen, permitted.hits)
    assert sorted(seen[f"rebind-{i}"] for i in range(1, 5)) == ["blocked"] * 2 + [f"served by {PERMITTED}"] * 2
    # The WebSockets (never routed by Playwright) meet the proxy only: one answer each.
    assert resolver.answers["rebind-ws.test"] == [PERMITTED, FORBIDDEN]
    assert sorted(seen[f"ws-rebind-{i}"] for i in (1, 2)) == ["blocked", f"hello from {PERMITTED}"]
    refused = " ".join(r.reason for r in pool.egress.refused)
    assert f"resolves to {FORBIDDEN}" in refused
    assert chromium_processes(browser_mark) == []


async def test_the_proxy_refuses_a_client_that_is_not_a_browser_the_same_way(services: tuple[Service, Service]) -> None:
    """Raw proxy requests, as a page could not even write them: absolute forms, CONNECT, numeric spellings."""
    forbidden, _ = services
    pool = BrowserPool(
        Settings(_env_file=None, allow_private_networks=False),  # type: ignore[call-arg]
        StaticFetcher(Settings(_env_file=None), NetworkGuard(allow_private=False)),
    )  # type: ignore[call-arg]
    await pool.egress.start()
    try:
        for request in (
            f"GET http://{FORBIDDEN}:{forbidden.port}/a HTTP/1.1\r\nHost: x\r\n\r\n",
            f"CONNECT {FORBIDDEN}:{forbidden.port} HTTP/1.1\r\nHost: x\r\n\r\n",
            f"GET http://2130706433:{forbidden.port}/b HTTP/1.1\r\nHost: x\r\n\r\n",
            f"CONNECT [::ffff:127.0.0.1]:{forbidden.port} HTTP/1.1\r\n\r\n",
            f"CONNECT 0x7f.1:{forbidden.port} HTTP/1.1\r\n\r\n",
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", pool.egress.port)
            writer.write(request.encode())
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 5)
            writer.close()
            assert status.startswith(b"HTTP/1.1 403"), (request, status)
    finally:
        await pool.close()
    assert forbidden.hits == Counter()
    assert len(pool.egress.refused) == 5
