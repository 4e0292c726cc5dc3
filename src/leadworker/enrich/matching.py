"""Which canonical lead a raw lead belongs to: the merge plan, as a pure function of the keys and their owners.

The rule of the design: same registrable domain → same lead, else same e-mail, else same E.164 phone. Keys
(``lead_keys``: a domain, an e-mail or a phone) each belong to exactly one lead.

The ``domain`` key is the website's *site identity* (:func:`leadworker.common.domains.site_identity`): the
registrable domain, except on a shared platform, where it is the host and path that name the business
(``bondi.myshopify.com``, ``facebook.com/bondiblooms``). Two shops on one platform are two domains here; two
records of one Facebook page (``www.``/``m.``, trailing slash, query, case) are one. E-mails match as whole
addresses, never by their domain: two people at gmail.com, or two shops that write from their platform's
domain, are not one company for sharing it.

A raw lead may match several leads through different keys, and so *bridge* them: the domain of one, the e-mail
of another. What happens then:

- Two different registrable domains never merge: a domain names a company. Leads whose domain differs from the
  raw lead's (or from the group's, see below) are *conflicts*: the shared key stays with its lead, the raw
  lead's value is still recorded on its own lead, and a ``lead_conflicts`` row keeps the pair for review.
- Every other matched lead is the same company and is merged: the group is built from the best match down
  (domain match first, then e-mail, then phone; lower id first), admitting each lead whose domain is unknown
  or equal to the group's domain. The lead that holds the group's domain survives (else the best match), and
  the others are absorbed into it (their keys, values, sources and scores move; they stay as tombstones
  pointing at it).
- A raw lead matching nothing makes a new lead.

So a directory listing without a website that shares a phone with a company's site is merged into the site's
lead, while two franchise sites sharing a call-centre number stay two leads, linked as a conflict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

KIND_RANK = {"domain": 0, "email": 1, "phone": 2}

Key = tuple[str, str]


@dataclass(frozen=True)
class MergePlan:
    target: int | None
    """The lead the raw lead joins; None: create a new one."""
    absorb: tuple[int, ...] = ()
    """Leads merged into the target."""
    claim: tuple[Key, ...] = ()
    """The raw lead's keys no lead owns yet: they become the target's."""
    conflicts: tuple[tuple[int, str, str], ...] = ()
    """``(other lead, kind, value)``: keys shared with leads that are not merged (different domain)."""


def plan_merge(
    raw_domain: str | None,
    keys: Sequence[Key],
    owners: Mapping[Key, int],
    lead_domains: Mapping[int, str | None],
) -> MergePlan:
    """Plan where a raw lead with ``keys`` (its ``raw_domain`` among them) goes.

    ``owners`` maps each owned key to its lead; ``lead_domains`` gives every owner's domain (None if it has
    none).
    """
    claim = tuple(key for key in dict.fromkeys(keys) if key not in owners)
    best: dict[int, tuple[int, int]] = {}
    for key in keys:
        lead = owners.get(key)
        if lead is None:
            continue
        rank = (KIND_RANK[key[0]], lead)
        best[lead] = min(best.get(lead, rank), rank)
    if not best:
        return MergePlan(target=None, claim=claim)

    ordered = sorted(best, key=lambda lead: best[lead])
    group_domain = raw_domain
    group: list[int] = []
    for lead in ordered:
        domain = lead_domains.get(lead)
        if domain is None or group_domain is None or domain == group_domain:
            group.append(lead)
            group_domain = group_domain or domain
    target: int | None = None
    if group:
        anchored = [lead for lead in group if group_domain is not None and lead_domains.get(lead) == group_domain]
        target = anchored[0] if anchored else group[0]
    members = set(group)
    conflicts = tuple(
        (lead, kind, value) for (kind, value), lead in owners.items() if lead not in members and (kind, value) in keys
    )
    absorb = tuple(lead for lead in group if lead != target)
    return MergePlan(target=target, absorb=absorb, claim=claim, conflicts=tuple(sorted(set(conflicts))))
