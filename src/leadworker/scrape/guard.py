"""The network guard: a job must never make the worker fetch loopback, private or cloud-metadata addresses.

The check happens where the address is decided, not before: :class:`GuardedResolver` is the resolver of the
HTTP client, so the address checked is the address connected to, for the first request, every redirect and
every link followed. IP-literal hosts bypass resolvers in aiohttp, so :meth:`NetworkGuard.check_url` checks
those before each request. The resolver override (``LEADWORKER_RESOLVE``, curl's ``--resolve`` without the
port) maps test and staging host names to fixed addresses for the fetcher, the browser and this guard alike.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from leadworker.errors import PermanentError, TransientError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ForbiddenTarget(PermanentError):
    """The URL is not http(s), or its host resolves to an address a job may not reach."""

    kind = "forbidden_target"


def is_public_address(address: IPAddress) -> bool:
    """True for globally routable unicast addresses (no loopback, private, link-local, multicast, reserved)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return bool(
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and not address.is_loopback
        and not address.is_link_local
        and not address.is_private
        and not address.is_unspecified
    )


class NetworkGuard:
    """Decides which URLs and addresses a job may reach; knows the resolver override."""

    def __init__(self, *, allow_private: bool, overrides: dict[str, str] | None = None) -> None:
        self.allow_private = allow_private
        self.overrides = {k.lower().rstrip("."): v for k, v in (overrides or {}).items()}

    def check_address(self, host: str, address: str) -> None:
        if self.allow_private:
            return
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not is_public_address(ip):
            raise ForbiddenTarget(
                f"{host} resolves to {ip}, which is not a public address "
                "(set LEADWORKER_ALLOW_PRIVATE_NETWORKS=true to allow private targets)"
            )

    def check_url(self, url: str) -> str:
        """Check scheme and, for IP literals, the address. Returns the lower-cased host name."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https"):
            raise ForbiddenTarget(f"{url!r} is not an http(s) URL")
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            raise ForbiddenTarget(f"{url!r} has no host")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return host
        self.check_address(host, str(ip))
        return host

    def override_for(self, host: str) -> str | None:
        return self.overrides.get(host.lower().rstrip("."))

    def chromium_host_rules(self) -> str:
        """The resolver override as Chromium's ``--host-resolver-rules`` value."""
        return ", ".join(f"MAP {host} {address}" for host, address in sorted(self.overrides.items()))


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that applies the override and refuses forbidden addresses."""

    def __init__(self, guard: NetworkGuard) -> None:
        self.guard = guard
        self._system = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        override = self.guard.override_for(host)
        if override is not None:
            ip = ipaddress.ip_address(override)
            self.guard.check_address(host, override)
            fam = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            return [
                ResolveResult(hostname=host, host=override, port=port, family=fam, proto=0, flags=0)
            ]
        try:
            results = await self._system.resolve(host, port, family)
        except OSError as exc:
            raise TransientError(f"cannot resolve {host}: {exc}", kind="dns") from exc
        allowed: list[ResolveResult] = []
        refusal: ForbiddenTarget | None = None
        for result in results:
            try:
                self.guard.check_address(host, result["host"])
            except ForbiddenTarget as exc:
                refusal = exc
                continue
            allowed.append(result)
        if not allowed:
            raise refusal or ForbiddenTarget(f"{host} has no usable address")
        return allowed

    async def close(self) -> None:
        await self._system.close()


async def resolve_for_browser(guard: NetworkGuard, host: str) -> None:
    """Check a host the browser is about to contact (raises :class:`ForbiddenTarget`)."""
    if guard.allow_private:
        return
    override = guard.override_for(host)
    if override is not None:
        guard.check_address(host, override)
        return
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        guard.check_address(host, host)
        return
    loop = asyncio.get_running_loop()
    infos: list[Any] = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    for info in infos:
        guard.check_address(host, info[4][0])
