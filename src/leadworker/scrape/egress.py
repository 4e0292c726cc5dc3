"""The browser's only way out: an HTTP proxy in the worker process, bound to loopback, that applies the guard.

Chromium is launched with ``--proxy-server`` pointing here and with its own resolver mapped to nothing (see
:data:`leadworker.scrape.browser.BROWSER_ARGS`), so every request it makes — sub-resources, every hop of a
redirect it follows, WebSockets (which Chromium always tunnels with ``CONNECT``) — arrives here by name. The
proxy resolves the name once, checks every answer with the :class:`~leadworker.scrape.guard.NetworkGuard`,
and connects to the checked address: a name that answers differently the second time (DNS rebinding) has no
second time to exploit. A refused request gets ``403`` and is kept in :attr:`EgressProxy.refused`.

Plain ``http://`` requests are forwarded one per connection (``Connection: close`` both ways), which keeps
the proxy free of HTTP framing; ``CONNECT`` tunnels are spliced byte for byte (TLS stays end to end).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog

from leadworker.errors import LeadworkerError
from leadworker.scrape.guard import ForbiddenTarget, GuardedResolver, NetworkGuard

log = structlog.get_logger(__name__)

_HEAD_LIMIT = 64 * 1024
_HEAD_TIMEOUT = 10.0
_CONNECT_TIMEOUT = 10.0
_IDLE_TIMEOUT = 60.0
_CHUNK = 64 * 1024
_HOP_HEADERS = frozenset(
    {"connection", "proxy-connection", "keep-alive", "proxy-authorization", "te", "trailer", "upgrade"}
)


@dataclass(frozen=True)
class Refusal:
    """A request the proxy refused: what was asked for and why."""

    target: str
    reason: str


class BadRequest(Exception):
    """The client sent something that is not a proxy request we serve."""


class EgressProxy:
    """A guarded forward proxy on ``127.0.0.1``; start it, hand :attr:`url` to Chromium, close it with the browser."""

    def __init__(
        self, guard: NetworkGuard, resolver: GuardedResolver | None = None, *, keep_refusals: int = 200
    ) -> None:
        self.guard = guard
        self.resolver = resolver or GuardedResolver(guard)
        self.refused: collections.deque[Refusal] = collections.deque(maxlen=keep_refusals)
        """The latest refusals, newest last (for logs and tests)."""
        self.forwarded = 0
        """Connections opened to an upstream since start."""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the egress proxy is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """What Chromium's ``--proxy-server`` is given."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, limit=_HEAD_LIMIT)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (asyncio.CancelledError, ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass
        except Exception:  # one broken exchange must not take the proxy down
            log.debug("egress proxy exchange failed", exc_info=True)
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT)
            method, target, version, headers = _parse_head(head)
        except (BadRequest, asyncio.LimitOverrunError, ValueError) as exc:
            await _answer(writer, 400, f"bad proxy request: {exc}")
            return
        try:
            if method == "CONNECT":
                host, port = _split_authority(target, 443)
                upstream = await self._open(host, port, target)
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                await writer.drain()
                await _splice(reader, writer, *upstream)
                return
            host, port, origin_form = _split_absolute(target)
            upstream = await self._open(host, port, target)
        except ForbiddenTarget as exc:
            self.refused.append(Refusal(target, str(exc)))
            log.info("egress proxy refused a browser request", target=target, reason=str(exc))
            await _answer(writer, 403, str(exc))
            return
        except (LeadworkerError, OSError, TimeoutError, BadRequest) as exc:
            await _answer(writer, 502, f"{type(exc).__name__}: {exc}")
            return
        up_reader, up_writer = upstream
        kept = [(name, value) for name, value in headers if name.lower() not in _HOP_HEADERS]
        lines = [f"{method} {origin_form} {version}", *(f"{n}: {v}" for n, v in kept), "Connection: close", "", ""]
        up_writer.write("\r\n".join(lines).encode("latin-1"))
        await up_writer.drain()
        await _splice(reader, writer, up_reader, up_writer, rewrite_response=True)

    async def _open(self, host: str, port: int, target: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Resolve ``host`` once, check each answer, connect to a checked address."""
        checked = self.guard.check_host(host)
        results = await self.resolver.resolve(checked, port)
        last: BaseException | None = None
        for result in results:
            address = result["host"]
            self.guard.check_connect(address)
            try:
                opened = await asyncio.wait_for(asyncio.open_connection(address, port, limit=_CHUNK), _CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                last = exc
                continue
            self.forwarded += 1
            return opened
        raise OSError(f"cannot connect to {target}: {last}")


def _parse_head(head: bytes) -> tuple[str, str, str, list[tuple[str, str]]]:
    text = head.decode("latin-1")
    request_line, *header_lines = text.split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"request line {request_line[:100]!r}")
    headers: list[tuple[str, str]] = []
    for line in header_lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(f"header line {line[:100]!r}")
        headers.append((name, value.strip()))
    return parts[0].upper(), parts[1], parts[2], headers


def _split_authority(authority: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(f"//{authority}")
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if not parts.hostname or parts.username is not None:
        raise BadRequest(f"authority {authority[:100]!r}")
    return parts.hostname, port


def _split_absolute(target: str) -> tuple[str, int, str]:
    parts = urlsplit(target)
    if parts.scheme.lower() != "http":
        raise BadRequest(f"only absolute http:// targets are proxied, not {target[:100]!r}")
    host, port = _split_authority(parts.netloc, 80)
    origin_form = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return host, port, origin_form


async def _answer(writer: asyncio.StreamWriter, status: int, reason: str) -> None:
    body = reason.encode("utf-8", "replace")[:2000]
    phrase = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}[status]
    writer.write(
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode("latin-1")
        + body
    )
    with contextlib.suppress(Exception):
        await writer.drain()


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, rewrite_response: bool = False) -> None:
    try:
        if rewrite_response:
            head = await asyncio.wait_for(source.readuntil(b"\r\n\r\n"), _IDLE_TIMEOUT)
            sink.write(_close_delimited(head))
        while True:
            chunk = await asyncio.wait_for(source.read(_CHUNK), _IDLE_TIMEOUT)
            if not chunk:
                break
            sink.write(chunk)
            await sink.drain()
    finally:
        with contextlib.suppress(Exception):
            if sink.can_write_eof():
                sink.write_eof()


def _close_delimited(head: bytes) -> bytes:
    """The upstream's response head with its hop-by-hop headers replaced by ``Connection: close``."""
    status_line, *lines = head.decode("latin-1").split("\r\n")
    kept = [line for line in lines if line and line.partition(":")[0].strip().lower() not in _HOP_HEADERS]
    return "\r\n".join([status_line, *kept, "Connection: close", "Proxy-Connection: close", "", ""]).encode("latin-1")


async def _splice(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
    *,
    rewrite_response: bool = False,
) -> None:
    """Copy both ways until the upstream is done (or either side goes quiet for a minute)."""
    upward = asyncio.ensure_future(_copy(client_reader, up_writer))
    try:
        await _copy(up_reader, client_writer, rewrite_response=rewrite_response)
    except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        upward.cancel()
        with contextlib.suppress(BaseException):
            await upward
        up_writer.close()
