"""The network guard: a job must never make the worker reach loopback, private or cloud-metadata addresses.

The guard decides at the point of connection, not at the string of a URL:

- the static fetcher and the webhook sender connect through :meth:`NetworkGuard.connector`, whose resolver
  (:class:`GuardedResolver`) refuses forbidden addresses and whose socket factory checks the address of every
  socket it is about to connect, IP literals included (aiohttp connects to those without asking a resolver);
- Chromium reaches the network only through :class:`~leadworker.scrape.egress.EgressProxy`, which resolves each
  host once, checks the answer and connects to the checked address;
- :meth:`NetworkGuard.check_url` refuses, before any request, a URL whose host the HTTP client would read
  differently from the way a person reads it (fullwidth digits or ideographic full stops that IDNA turns into
  an IPv4 literal) and the numeric spellings of IPv4 (``2130706433``, ``127.1``, ``0x7f.1``, ``0177.0.0.1``)
  that some resolvers and browsers accept. Such a URL is :class:`ForbiddenTarget`, a permanent error.

The resolver override (``LEADWORKER_RESOLVE``, curl's ``--resolve`` without the port) maps test and staging
host names to fixed addresses for the fetcher, the browser's proxy and this guard alike;
``LEADWORKER_ALLOWED_NETWORKS`` lets an operator open chosen private networks (a staging site) without
opening them all.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from leadworker.errors import PermanentError, TransientError

if TYPE_CHECKING:  # pragma: no cover
    from leadworker.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_HEX_DIGITS = frozenset("0123456789abcdef")


class ForbiddenTarget(PermanentError):
    """The URL is not http(s), is spelled so that clients read it as another host, or its host resolves to an
    address a job may not reach."""

    kind = "forbidden_target"


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries to a relay or translator: IPv4-mapped, 6to4, NAT64."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in prefix for prefix in _NAT64_PREFIXES):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address: IPAddress) -> bool:
    """True for globally routable unicast addresses (no loopback, private, link-local, multicast, reserved).

    An IPv6 address that carries an IPv4 address (mapped, 6to4, NAT64) is judged by the IPv4 address, since
    a relay on the way delivers it there; Teredo tunnels are refused outright.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.teredo is not None:
            return False
        inner = embedded_ipv4(address)
        if inner is not None:
            return is_public_address(inner)
    return bool(
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and not address.is_loopback
        and not address.is_link_local
        and not address.is_private
        and not address.is_unspecified
    )


def ends_in_number(host: str) -> bool:
    """WHATWG URL's "ends in a number": browsers parse such a host as an IPv4 address, in any of its numeric
    spellings (``2130706433``, ``127.1``, ``0x7f.0.0.1``, ``0177.0.0.1``)."""
    labels = host.split(".")
    if labels and labels[-1] == "" and len(labels) > 1:
        labels.pop()
    last = labels[-1] if labels else ""
    if last and last.isascii() and last.isdigit():
        return True
    return last[:2] in ("0x", "0X") and set(last[2:].lower()) <= _HEX_DIGITS


def client_host(url: str) -> str:
    """The host as aiohttp (yarl) will connect to it: IDNA-encoded, lower-cased, without the trailing dot."""
    try:
        host = yarl.URL(url).raw_host
    except (ValueError, UnicodeError) as exc:
        raise ForbiddenTarget(f"{url!r} is not a valid URL: {exc}") from None
    return (host or "").lower().rstrip(".")


def _as_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


class NetworkGuard:
    """Decides which URLs and addresses a job may reach; knows the resolver override."""

    def __init__(
        self,
        *,
        allow_private: bool,
        overrides: dict[str, str] | None = None,
        allowed_networks: Iterable[str | IPNetwork] = (),
    ) -> None:
        self.allow_private = allow_private
        self.overrides = {k.lower().rstrip("."): v for k, v in (overrides or {}).items()}
        self.allowed_networks: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(network, strict=False) for network in allowed_networks
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> NetworkGuard:
        """The guard ``settings`` describe (``LEADWORKER_ALLOW_PRIVATE_NETWORKS``, ``_RESOLVE``,
        ``_ALLOWED_NETWORKS``)."""
        return cls(
            allow_private=settings.allow_private_networks,
            overrides=settings.resolve,
            allowed_networks=settings.allowed_networks,
        )

    def permits(self, address: IPAddress) -> bool:
        """True if a job may connect to ``address``."""
        if self.allow_private or is_public_address(address):
            return True
        return any(address in network for network in self.allowed_networks if network.version == address.version)

    def check_address(self, host: str, address: str) -> None:
        """Raise :class:`ForbiddenTarget` unless a job may connect to ``address`` (what ``host`` resolved to)."""
        ip = _as_ip(address)
        if ip is None:
            raise ForbiddenTarget(f"{host} resolves to {address!r}, which is not an IP address")
        if not self.permits(ip):
            raise ForbiddenTarget(
                f"{host} resolves to {ip}, which is not a public address "
                "(set LEADWORKER_ALLOW_PRIVATE_NETWORKS=true to allow private targets)"
            )

    def check_url(self, url: str) -> str:
        """Check scheme, spelling and, for IP literals, the address. Returns the host as the client sees it
        (lower case, IDNA-encoded)."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https"):
            raise ForbiddenTarget(f"{url!r} is not an http(s) URL")
        host = client_host(url)
        if not host:
            raise ForbiddenTarget(f"{url!r} has no host")
        written = (parts.hostname or "").lower().rstrip(".")
        ip = _as_ip(host)
        if ip is None:
            self._check_spelling(url, written, host)
            return host
        if _as_ip(written) != ip:
            raise ForbiddenTarget(f"{url!r}: its host {written!r} is read by HTTP clients as the address {host!r}")
        self.check_address(host, str(ip))
        return host

    def check_host(self, host: str) -> str:
        """:meth:`check_url` for a bare host name (what a browser's proxy request names)."""
        bracketed = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return self.check_url(f"http://{bracketed}/")

    @staticmethod
    def _check_spelling(url: str, written: str, host: str) -> None:
        if ends_in_number(host):  # canonical dotted quads are addresses, handled before this
            raise ForbiddenTarget(f"{url!r}: {written!r} is a numeric spelling of an IPv4 address")

    def check_connect(self, address: str) -> None:
        """The last check, on the address of a socket about to connect."""
        ip = _as_ip(address)
        if ip is None or not self.permits(ip):
            raise ForbiddenTarget(
                f"refusing to connect to {address}: not a public address "
                "(set LEADWORKER_ALLOW_PRIVATE_NETWORKS=true to allow private targets)"
            )

    def open_socket(self, addr_info: tuple[Any, ...]) -> socket.socket:
        """aiohttp's ``socket_factory``: the socket for ``addr_info`` once its address passes the guard."""
        family, type_, proto, _, sockaddr = addr_info
        self.check_connect(str(sockaddr[0]))
        return socket.socket(family=family, type=type_, proto=proto)

    def connector(self, resolver: AbstractResolver | None = None, **options: Any) -> aiohttp.TCPConnector:
        """A TCP connector that resolves through the guard and checks every address it connects to."""
        return aiohttp.TCPConnector(
            resolver=GuardedResolver(self, resolver), socket_factory=self.open_socket, **options
        )

    def override_for(self, host: str) -> str | None:
        return self.overrides.get(host.lower().rstrip("."))


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that applies the override and refuses forbidden addresses.

    ``resolver`` is the one asked for names without an override (the system's, through a thread, by default).
    """

    def __init__(self, guard: NetworkGuard, resolver: AbstractResolver | None = None) -> None:
        self.guard = guard
        self._system = resolver or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        override = self.guard.override_for(host)
        if override is not None:
            ip = ipaddress.ip_address(override)
            self.guard.check_address(host, override)
            fam = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            return [ResolveResult(hostname=host, host=override, port=port, family=fam, proto=0, flags=0)]
        try:
            results = await self._system.resolve(host, port, family)
        except OSError as exc:
            raise TransientError(f"cannot resolve {host}: {exc}", kind="dns") from exc
        return self._permitted(host, results)

    def _permitted(self, host: str, results: Sequence[ResolveResult]) -> list[ResolveResult]:
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
