"""E-mail verification in the database: mail domains cached with their TTL (``mail_domains``), the verdict on
each address (``email_checks``), and how a lead shows its addresses' verdicts.

A verdict belongs to an address; one rule depends on the lead: a free-mail address on a lead that has a
company domain of its own (not a page on a platform) is ``risky``, as the company's own address was expected.
:data:`LEAD_EMAIL_CHECKS` applies it wherever leads are read (export, ``leads show``, scoring).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from leadworker.enrich.verify import MailDomain
from leadworker.store.pool import Database

FREE_MAIL_REASON = "free mail, though the company has a domain of its own"

_OWN_DOMAIN_EXPECTED = (
    "c.status = 'safe' AND c.free AND l.domain IS NOT NULL AND position('/' IN l.domain) = 0 AND l.domain <> c.domain"
)

LEAD_EMAIL_CHECKS = f"""
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'address', e.address,
                   'status', CASE WHEN {_OWN_DOMAIN_EXPECTED} THEN 'risky' ELSE c.status END,
                   'reason', CASE WHEN {_OWN_DOMAIN_EXPECTED} THEN '{FREE_MAIL_REASON}' ELSE c.reason END,
                   'role', c.role, 'free', c.free, 'disposable', c.disposable, 'smtp', c.smtp,
                   'checked_at', c.checked_at) ORDER BY e.n), '[]'::jsonb)
          FROM unnest(l.emails) WITH ORDINALITY AS e(address, n)
          LEFT JOIN email_checks c ON c.address = e.address) AS email_checks"""
"""A select-list item over a lead ``l``: its e-mails in order, each with ``status`` and ``reason`` (null when
not verified: verification off, or not reached yet)."""


@dataclass(frozen=True)
class EmailCheck:
    address: str
    domain: str
    status: str
    reason: str
    role: bool
    free: bool
    disposable: bool
    smtp: str | None


async def lead_addresses(db: Database, lead_ids: Sequence[int]) -> dict[str, str | None]:
    """Every e-mail of the live leads among ``lead_ids`` → what the SMTP probe said of it before (or None)."""
    rows = await db.fetch(
        """SELECT DISTINCT e.address, c.smtp
             FROM leads l CROSS JOIN LATERAL unnest(l.emails) AS e(address)
             LEFT JOIN email_checks c ON c.address = e.address
            WHERE l.id = ANY($1::bigint[]) AND l.merged_into IS NULL""",
        list(lead_ids),
    )
    return {r["address"]: r["smtp"] for r in rows}


async def cached_domains(db: Database, domains: Iterable[str]) -> dict[str, MailDomain]:
    """The domains among ``domains`` whose DNS answer is still within its TTL."""
    rows = await db.fetch(
        """SELECT domain, outcome, mx_hosts, catch_all FROM mail_domains
            WHERE domain = ANY($1::text[]) AND expires_at > now()""",
        list(domains),
    )
    return {
        r["domain"]: MailDomain(r["domain"], r["outcome"], tuple(r["mx_hosts"]), catch_all=r["catch_all"]) for r in rows
    }


async def save_domains(db: Database, answers: Iterable[MailDomain]) -> None:
    """Keep DNS answers for their TTL (failed lookups, ``unknown``, are not kept). What the SMTP probe learnt
    of a domain (catch-all) survives a fresh DNS answer."""
    kept = [a for a in answers if a.outcome != "unknown"]
    if not kept:
        return
    await db.execute(
        """INSERT INTO mail_domains AS m (domain, outcome, mx_hosts, checked_at, expires_at)
           SELECT t.domain, t.outcome, coalesce(string_to_array(nullif(t.hosts, ''), ' '), '{}'), now(),
                  now() + t.ttl * interval '1 second'
             FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS t(domain, outcome, hosts, ttl)
           ON CONFLICT (domain) DO UPDATE
              SET outcome = EXCLUDED.outcome, mx_hosts = EXCLUDED.mx_hosts, checked_at = EXCLUDED.checked_at,
                  expires_at = EXCLUDED.expires_at""",
        [a.domain for a in kept],
        [a.outcome for a in kept],
        [" ".join(a.mx_hosts) for a in kept],
        [a.ttl for a in kept],
    )


async def save_catch_all(db: Database, domain: str, catch_all: bool) -> None:
    await db.execute("UPDATE mail_domains SET catch_all = $2 WHERE domain = $1", domain, catch_all)


async def save_checks(db: Database, checks: Sequence[EmailCheck]) -> int:
    """Store verdicts; an unchanged verdict is not written again. Returns how many were written."""
    if not checks:
        return 0
    status = await db.execute(
        """INSERT INTO email_checks AS c (address, domain, status, reason, role, free, disposable, smtp)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::bool[],
                                $7::bool[], $8::text[])
           ON CONFLICT (address) DO UPDATE
              SET status = EXCLUDED.status, reason = EXCLUDED.reason, role = EXCLUDED.role, free = EXCLUDED.free,
                  disposable = EXCLUDED.disposable, smtp = coalesce(EXCLUDED.smtp, c.smtp), checked_at = now()
            WHERE (c.status, c.reason, c.role, c.free, c.disposable, c.smtp)
                  IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.reason, EXCLUDED.role, EXCLUDED.free,
                                    EXCLUDED.disposable, coalesce(EXCLUDED.smtp, c.smtp))""",
        [c.address for c in checks],
        [c.domain for c in checks],
        [c.status for c in checks],
        [c.reason for c in checks],
        [c.role for c in checks],
        [c.free for c in checks],
        [c.disposable for c in checks],
        [c.smtp for c in checks],
    )
    return int(status.rsplit(" ", 1)[-1])
