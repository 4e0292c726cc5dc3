"""The verdict on an e-mail address, from what DNS (and optionally its mail server) said: pure, no I/O.

The vocabulary is Reacher's ``is_reachable``, which lead tools' users know:

- ``safe``: the domain takes mail (MX, or an address record when it lists no MX, as RFC 5321 allows), it is not
  a disposable-mail service, and the address names a person, not a function.
- ``risky``: a role address (info@, sales@...), a domain whose mail server accepts any address (catch-all, from
  the SMTP probe) or whose MX is a known parking or catch-all service. (Free mail on a lead that has its own
  company domain is also risky; that depends on the lead, see :mod:`leadworker.store.email_verdicts`.)
- ``invalid``: the domain does not exist, takes no mail (no MX, A or AAAA; or a null MX ``0 .``, RFC 7505), is
  a disposable-mail service, or its mail server refused the address.
- ``unknown``: the resolver failed or timed out. Never counted as invalid; asked again at the next enrichment.
"""

from __future__ import annotations

from dataclasses import dataclass

from disposable_email_domains import blocklist as _DISPOSABLE

from leadworker.common.domains import registrable_domain

STATUSES = ("safe", "risky", "invalid", "unknown")

PARKING_MX_SUFFIXES = (
    "sedoparking.com",
    "parkingcrew.net",
    "bodis.com",
    "above.com",
    "parklogic.com",
    "dan.com",
    "afternic.com",
    "domaincontrol.com.parked",
    "h-email.net",
    "hugedomains.com",
    "uniregistry-mail.com",
    "namebrightmail.com",
)
"""MX hosts of domain-parking services: mail to a parked domain is swallowed or bounced by whoever parks it."""


@dataclass(frozen=True)
class MailDomain:
    """What DNS says about a domain's mail servers."""

    domain: str
    outcome: str
    """``mx``, ``address`` (no MX, but A/AAAA), ``null_mx``, ``no_mail``, ``no_domain``, or ``unknown`` (the
    lookup failed: not cached)."""
    mx_hosts: tuple[str, ...] = ()
    ttl: int = 0
    """Seconds the answer may be kept."""
    error: str | None = None
    catch_all: bool | None = None

    @property
    def takes_mail(self) -> bool:
        return self.outcome in ("mx", "address")


@dataclass(frozen=True)
class Verdict:
    status: str
    reason: str


def is_disposable(domain: str) -> bool:
    """True if ``domain`` (or its registrable domain) is a disposable-mail service (the
    ``disposable-email-domains`` list, shipped with the package)."""
    return domain in _DISPOSABLE or (registrable_domain(domain) or domain) in _DISPOSABLE


def parking_host(mx_hosts: tuple[str, ...]) -> str | None:
    """The first MX host that belongs to a parking service, or None."""
    for host in mx_hosts:
        name = host.rstrip(".").lower()
        if any(name == s or name.endswith("." + s) for s in PARKING_MX_SUFFIXES):
            return name
    return None


_DOMAIN_REASONS = {
    "no_domain": "the domain does not exist",
    "null_mx": "the domain takes no mail (null MX)",
    "no_mail": "the domain has no mail servers (no MX, A or AAAA)",
}


def _smtp_verdict(smtp: str | None, mail: MailDomain) -> Verdict | None:
    if smtp == "rejected":
        return Verdict("invalid", "the mail server refused the address")
    if mail.catch_all:
        return Verdict("risky", "the mail server accepts any address (catch-all)")
    return None


def verdict(*, role: bool, disposable: bool, mail: MailDomain, smtp: str | None = None) -> Verdict:
    """The status of one address: ``role`` and ``disposable`` describe it, ``mail`` is its domain's DNS answer,
    ``smtp`` what the mail server said to ``RCPT TO`` (``accepted``, ``rejected``, ``deferred``, ``failed``, or
    None when not probed)."""
    if disposable:
        return Verdict("invalid", "a disposable-mail domain")
    if mail.outcome in _DOMAIN_REASONS:
        return Verdict("invalid", _DOMAIN_REASONS[mail.outcome])
    if not mail.takes_mail:
        return Verdict("unknown", f"the DNS lookup failed: {mail.error or 'no answer'}")
    by_smtp = _smtp_verdict(smtp, mail)
    if by_smtp is not None:
        return by_smtp
    parked = parking_host(mail.mx_hosts)
    if parked:
        return Verdict("risky", f"the domain's mail goes to a parking service ({parked})")
    if role:
        return Verdict("risky", "a role address, not a person")
    via = "MX" if mail.outcome == "mx" else "its address (no MX)"
    accepted = " and the mail server accepts the address" if smtp == "accepted" else ""
    return Verdict("safe", f"the domain takes mail via {via}{accepted}")
