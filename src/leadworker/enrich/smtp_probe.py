"""The optional SMTP probe: ask a domain's mail server whether it would accept an address (``RCPT TO``), then
an address nobody has, to see whether it accepts anything (a catch-all domain). Nothing is ever sent: the
conversation ends with ``QUIT`` before ``DATA``.

Off by default (``LEADWORKER_SMTP_PROBE``): outbound port 25 is closed on most hosts and mail servers remember
who asks. When on, connections to one mail server are paced by a token bucket per server
(``LEADWORKER_SMTP_PROBE_RATE``), addresses go through the network guard like every other connection a job
makes, and any answer other than a clear 2xx / 5xx (greylisting, a dropped connection, a timeout) tells nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from leadworker.common.ratelimit import TokenBucket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

PROBES_AT_ONCE = 8
"""SMTP conversations a process holds open at once, whatever the servers."""


@dataclass(frozen=True)
class ProbeResult:
    smtp: str
    """``accepted``, ``rejected`` (5xx to RCPT TO), ``deferred`` (4xx) or ``failed`` (no conversation)."""
    catch_all: bool | None
    """True if the server also accepted an address nobody has; None when that was not learnt."""
    detail: str


class SmtpError(Exception):
    """The conversation could not go on (unexpected reply, closed connection)."""


async def _reply(reader: asyncio.StreamReader) -> tuple[int, str]:
    """One (possibly multi-line) SMTP reply: its code and its text."""
    lines = []
    while True:
        line = (await reader.readline()).decode("utf-8", "replace")
        if len(line) < 4 or not line[:3].isdigit():
            raise SmtpError(f"not an SMTP reply: {line.strip()[:80]!r}")
        lines.append(line[4:].strip())
        if line[3] != "-":
            return int(line[:3]), " ".join(lines)[:200]


class _Conversation:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def command(self, line: str) -> tuple[int, str]:
        self.writer.write(line.encode("ascii", "replace") + b"\r\n")
        await self.writer.drain()
        return await _reply(self.reader)

    async def expect(self, line: str, *good: int) -> None:
        code, text = await self.command(line)
        if code not in good:
            raise SmtpError(f"{line.split(' ', 1)[0]}: {code} {text}")


class SmtpProber:
    """Probes addresses at their domain's mail servers. ``resolve`` gives a host's addresses (the same DNS
    servers as the MX lookup), ``permits`` is the network guard's verdict on an address."""

    def __init__(
        self,
        *,
        resolve: Callable[[str], Awaitable[list[str]]],
        permits: Callable[[IPAddress], bool],
        port: int = 25,
        helo: str = "leadworker.invalid",
        timeout: float = 10.0,
        rate: float = 1.0,
    ) -> None:
        self.resolve, self.permits = resolve, permits
        self.port, self.helo, self.timeout, self.rate = port, helo, timeout, rate
        self._buckets: dict[str, TokenBucket] = {}
        self._gate = asyncio.Semaphore(PROBES_AT_ONCE)

    async def probe(self, address: str, mx_hosts: tuple[str, ...]) -> ProbeResult:
        """Ask the first mail server that answers whether it takes ``address``."""
        if not mx_hosts:
            return ProbeResult("failed", None, "no mail server to ask")
        last = "no mail server answered"
        for host in mx_hosts[:2]:
            try:
                async with self._gate:
                    return await self._probe_host(address, host)
            except (OSError, SmtpError, TimeoutError) as exc:
                last = f"{host}: {exc or type(exc).__name__}"
        return ProbeResult("failed", None, last)

    async def _connect(self, host: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        for text in await self.resolve(host):
            ip = ipaddress.ip_address(text)
            if self.permits(ip):
                return await asyncio.open_connection(str(ip), self.port)
        raise SmtpError(f"{host} has no address the network guard permits")

    async def _probe_host(self, address: str, host: str) -> ProbeResult:
        bucket = self._buckets.setdefault(host, TokenBucket(self.rate, 1))
        await bucket.acquire()
        async with asyncio.timeout(self.timeout):
            reader, writer = await self._connect(host)
            try:
                return await self._converse(_Conversation(reader, writer), address)
            finally:
                writer.close()

    async def _converse(self, smtp: _Conversation, address: str) -> ProbeResult:
        code, text = await _reply(smtp.reader)
        if code != 220:
            raise SmtpError(f"greeting: {code} {text}")
        await smtp.expect(f"EHLO {self.helo}", 250)
        await smtp.expect(f"MAIL FROM:<verify@{self.helo}>", 250)
        code, text = await smtp.command(f"RCPT TO:<{address}>")
        if 500 <= code < 600:
            result = ProbeResult("rejected", None, f"{code} {text}")
        elif 400 <= code < 500:
            result = ProbeResult("deferred", None, f"{code} {text}")
        elif code in (250, 251):
            domain = address.rpartition("@")[2]
            nobody = f"no-such-user-{secrets.token_hex(6)}@{domain}"
            other, _ = await smtp.command(f"RCPT TO:<{nobody}>")
            catch_all = True if other in (250, 251) else False if 500 <= other < 600 else None
            result = ProbeResult("accepted", catch_all, f"{code} {text}")
        else:
            raise SmtpError(f"RCPT TO: {code} {text}")
        try:
            await smtp.command("QUIT")
        except (OSError, SmtpError):
            pass  # the answer is in; a server that hangs up first is no concern
        return result
