"""Asking DNS where a domain's mail goes (dnspython's asyncio resolver): MX, else A/AAAA as RFC 5321 §5.1 says,
with RFC 7505's null MX (``0 .``: no mail at all). Each answer comes with how long it may be kept (its TTL, or the
zone's negative-caching time for "no such domain" and "no such record"); a failure (timeout, SERVFAIL, no
resolver) is ``unknown`` and kept nowhere."""

from __future__ import annotations

import asyncio

import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from leadworker.enrich.verify import MailDomain

NEGATIVE_TTL = 3600
"""Seconds a "no such domain / record" answer is kept when the zone does not say (its SOA)."""
MIN_TTL, MAX_TTL = 300, 7 * 86_400
"""Bounds on how long an answer is kept: a zone's 5-second TTL must not make us ask for every batch, and a
week-long one must not hide a domain that stopped taking mail for longer than that."""


def _clamp(ttl: int) -> int:
    return max(MIN_TTL, min(MAX_TTL, ttl))


def _negative_ttl(response: dns.message.Message | None) -> int:
    """RFC 2308: the SOA's TTL capped by its minimum field, from the authority section."""
    if response is not None:
        for rrset in response.authority:
            if rrset.rdtype == dns.rdatatype.SOA:
                return _clamp(min(rrset.ttl, rrset[0].minimum))
    return NEGATIVE_TTL


class MailDnsResolver:
    """Looks up domains' mail servers with ``servers`` (``host:port`` strings; empty = the system's resolver),
    each lookup bounded by ``timeout`` seconds in all. ``questions`` counts the domains asked."""

    def __init__(self, servers: list[str], timeout: float) -> None:
        self.timeout = timeout
        self.questions = 0
        self._servers = servers
        self._resolver: dns.asyncresolver.Resolver | None = None

    def _get_resolver(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            resolver = dns.asyncresolver.Resolver(configure=not self._servers)
            if self._servers:
                resolver.nameservers = [
                    dns.nameserver.Do53Nameserver(host.strip("[]"), int(port))
                    for host, _, port in (s.rpartition(":") for s in self._servers)
                ]
            # A UDP answer lost on the way (resolvers drop bursts) is asked again within the lookup's time.
            resolver.timeout = max(0.2, self.timeout / 3)
            resolver.lifetime = self.timeout
            self._resolver = resolver
        return self._resolver

    async def addresses(self, host: str) -> list[str]:
        """The IPv4 and IPv6 addresses of ``host`` (a mail server), from the same DNS servers."""
        found: list[str] = []
        for rdtype in ("A", "AAAA"):
            try:
                answer = await self._get_resolver().resolve(host, rdtype, search=False)
            except dns.exception.DNSException:
                continue
            found.extend(r.to_text() for r in answer)
        return found

    async def lookup(self, domain: str) -> MailDomain:
        """What DNS says about ``domain``'s mail; ``outcome="unknown"`` if it could not be asked."""
        self.questions += 1
        try:
            async with asyncio.timeout(self.timeout):
                return await self._lookup(self._get_resolver(), domain)
        except (TimeoutError, dns.exception.Timeout):
            return MailDomain(domain, "unknown", error=f"no answer within {self.timeout:g} s")
        except dns.resolver.NoNameservers as exc:
            return MailDomain(domain, "unknown", error=f"the DNS servers failed ({type(exc).__name__})")
        except dns.resolver.NoResolverConfiguration:
            return MailDomain(domain, "unknown", error="no DNS resolver configured")
        except (dns.exception.DNSException, OSError) as exc:  # OSError: no route to the DNS server, ...
            return MailDomain(domain, "unknown", error=f"{type(exc).__name__}: {exc}")

    async def _lookup(self, resolver: dns.asyncresolver.Resolver, domain: str) -> MailDomain:
        try:
            answer = await resolver.resolve(domain, "MX", search=False)
        except dns.resolver.NXDOMAIN as exc:
            return MailDomain(domain, "no_domain", ttl=_negative_ttl(_response_of(exc, domain)))
        except dns.resolver.NoAnswer as exc:
            response: dns.message.Message | None = exc.response()  # type: ignore[no-untyped-call]
            return await self._address_fallback(resolver, domain, _negative_ttl(response))
        assert answer.rrset is not None
        records = sorted(answer.rrset, key=lambda r: (r.preference, str(r.exchange)))
        ttl = _clamp(answer.rrset.ttl)
        if any(r.exchange == dns.name.root for r in records):
            return MailDomain(domain, "null_mx", ttl=ttl)
        hosts = tuple(dict.fromkeys(r.exchange.to_text(omit_final_dot=True).lower() for r in records))
        return MailDomain(domain, "mx", mx_hosts=hosts, ttl=ttl)

    async def _address_fallback(
        self, resolver: dns.asyncresolver.Resolver, domain: str, negative_ttl: int
    ) -> MailDomain:
        """No MX: the domain itself is the mail server if it has an address (RFC 5321 §5.1)."""
        for rdtype in ("A", "AAAA"):
            try:
                answer = await resolver.resolve(domain, rdtype, search=False)
            except dns.resolver.NoAnswer:
                continue
            except dns.resolver.NXDOMAIN:
                break
            assert answer.rrset is not None
            return MailDomain(domain, "address", mx_hosts=(domain,), ttl=_clamp(answer.rrset.ttl))
        return MailDomain(domain, "no_mail", ttl=negative_ttl)


def _response_of(exc: dns.resolver.NXDOMAIN, domain: str) -> dns.message.Message | None:
    responses: dict[dns.name.Name, dns.message.Message] = exc.responses()  # type: ignore[no-untyped-call]
    for name, response in responses.items():
        if name.to_text(omit_final_dot=True).lower() == domain.lower():
            return response
    return next(iter(responses.values()), None)
