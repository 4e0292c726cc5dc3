"""E-mail verification of a batch of canonical leads, run by the normalize stage before it asks for scores.

Cost follows distinct domains, not leads: the batch's addresses are grouped by domain; a domain whose DNS
answer is still within its TTL (``mail_domains``) is not asked again, and each other domain is asked once
(concurrently, a bounded number at a time). Disposable-mail domains are judged without asking. A resolver that
fails makes the domain's addresses ``unknown`` and nothing is cached, so the next enrichment of the domain asks
again; verification never fails a batch. With the SMTP probe on, each address not probed before is probed at
its domain's mail server (paced per server), and a server that accepts an address nobody has marks its domain
catch-all.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from leadworker.config import Settings
from leadworker.enrich.maildns import MailDnsResolver
from leadworker.enrich.normalization import is_free_mail, is_role_address
from leadworker.enrich.smtp_probe import SmtpProber
from leadworker.enrich.verify import MailDomain, is_disposable, verdict
from leadworker.store import email_verdicts as verification
from leadworker.store.pool import Database

DNS_CONCURRENCY = 16
"""Domains asked at once: enough to hide the round trips, few enough not to flood a resolver."""
RECENT_DOMAINS = 50_000
"""Answers remembered in the process (beside the database) so that batches running at once, which all missed
the database before the first of them stored the answer, still ask once."""


@dataclass
class VerifyReport:
    addresses: int = 0
    domains_asked: int = 0
    """Questions this batch asked DNS (domains other batches were asking at the same moment are not counted)."""
    unknown_domains: int = 0
    written: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    """Domains asked, by outcome."""


class EmailVerifier:
    """Verifies the e-mails of canonical leads (see the module's doc)."""

    def __init__(self, db: Database, resolver: MailDnsResolver, prober: SmtpProber | None = None) -> None:
        self.db = db
        self.resolver = resolver
        self.prober = prober
        self._gate = asyncio.Semaphore(DNS_CONCURRENCY)
        self._inflight: dict[str, asyncio.Future[MailDomain]] = {}
        self._recent: dict[str, tuple[float, MailDomain]] = {}

    async def verify_leads(self, lead_ids: Sequence[int]) -> VerifyReport:
        report = VerifyReport()
        probed_before = await verification.lead_addresses(self.db, lead_ids)
        if not probed_before:
            return report
        report.addresses = len(probed_before)
        domains = await self._domains({a.rpartition("@")[2] for a in probed_before}, report)
        smtp: dict[str, str | None] = dict(probed_before)
        if self.prober is not None:
            smtp.update(await self._probe(probed_before, domains))
        checks = [self._check(address, domains, smtp.get(address)) for address in sorted(probed_before)]
        report.written = await verification.save_checks(self.db, checks)
        return report

    async def _domains(self, wanted: set[str], report: VerifyReport) -> dict[str, MailDomain]:
        asked = {d for d in wanted if not is_disposable(d)}
        known = await verification.cached_domains(self.db, asked)
        missing = sorted(asked - set(known))

        answers = await asyncio.gather(*(self._ask(d, report) for d in missing))
        report.domains_asked = sum(report.outcomes.values())
        report.unknown_domains = sum(1 for a in answers if a.outcome == "unknown")
        await verification.save_domains(self.db, answers)
        known.update((a.domain, a) for a in answers)
        return known

    async def _ask(self, domain: str, report: VerifyReport) -> MailDomain:
        """One question per domain in this process, however many batches want it at once (the batch that
        asked counts it in its report)."""
        now = time.monotonic()
        recent = self._recent.get(domain)
        if recent is not None and recent[0] > now:
            return recent[1]
        future = self._inflight.get(domain)
        asking = future is None
        if future is None:
            future = asyncio.ensure_future(self._lookup(domain))
            self._inflight[domain] = future
        answer = await asyncio.shield(future)
        if asking:
            report.outcomes[answer.outcome] += 1
        return answer

    async def _lookup(self, domain: str) -> MailDomain:
        try:
            async with self._gate:
                answer = await self.resolver.lookup(domain)
            if answer.outcome != "unknown":
                if len(self._recent) >= RECENT_DOMAINS:
                    self._recent.clear()
                self._recent[domain] = (time.monotonic() + answer.ttl, answer)
            return answer
        finally:
            self._inflight.pop(domain, None)

    async def _probe(self, before: dict[str, str | None], domains: dict[str, MailDomain]) -> dict[str, str]:
        prober = self.prober
        assert prober is not None
        todo = [
            a
            for a, smtp in before.items()
            if smtp in (None, "deferred", "failed")
            and (d := domains.get(a.rpartition("@")[2])) is not None
            and d.takes_mail
        ]
        results = await asyncio.gather(*(prober.probe(a, domains[a.rpartition("@")[2]].mx_hosts) for a in todo))
        learnt: dict[str, str] = {}
        for address, result in zip(todo, results, strict=True):
            learnt[address] = result.smtp
            domain = address.rpartition("@")[2]
            if result.catch_all is not None and domains[domain].catch_all != result.catch_all:
                await verification.save_catch_all(self.db, domain, result.catch_all)
                old = domains[domain]
                domains[domain] = MailDomain(
                    old.domain, old.outcome, old.mx_hosts, old.ttl, old.error, result.catch_all
                )
        return learnt

    @staticmethod
    def _check(address: str, domains: dict[str, MailDomain], smtp: str | None) -> verification.EmailCheck:
        local, _, domain = address.rpartition("@")
        disposable = is_disposable(domain)
        mail = domains.get(domain) or MailDomain(domain, "unknown", error="not asked")
        result = verdict(role=is_role_address(local), disposable=disposable, mail=mail, smtp=smtp)
        return verification.EmailCheck(
            address,
            domain,
            result.status,
            result.reason,
            is_role_address(local),
            is_free_mail(domain),
            disposable,
            smtp,
        )


def email_verifier(settings: Settings, db: Database) -> EmailVerifier | None:
    """The verifier ``settings`` describe (``LEADWORKER_VERIFY_EMAILS``, ``_DNS_*``, ``_SMTP_PROBE*``), or None."""
    if not settings.verify_emails:
        return None
    resolver = MailDnsResolver(settings.dns_servers, settings.dns_timeout)
    prober = None
    if settings.smtp_probe:
        from leadworker.scrape.guard import NetworkGuard

        prober = SmtpProber(
            resolve=resolver.addresses,
            permits=NetworkGuard.from_settings(settings).permits,
            port=settings.smtp_probe_port,
            helo=settings.smtp_probe_helo,
            timeout=settings.smtp_probe_timeout,
            rate=settings.smtp_probe_rate,
        )
    return EmailVerifier(db, resolver, prober)
