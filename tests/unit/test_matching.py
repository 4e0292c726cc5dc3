"""The merge plan: which lead a raw lead joins, which leads it bridges, which it must not merge."""

from __future__ import annotations

from leadworker.enrich.matching import MergePlan, plan_merge

D, E, P = "domain", "email", "phone"


def test_no_owner_makes_a_new_lead_claiming_every_key() -> None:
    keys = [(D, "acme.com"), (E, "info@acme.com"), (P, "+15035550142")]
    assert plan_merge("acme.com", keys, {}, {}) == MergePlan(target=None, claim=tuple(keys))


def test_domain_beats_email_beats_phone() -> None:
    keys = [(D, "acme.com"), (E, "info@acme.com"), (P, "+1")]
    owners = {(D, "acme.com"): 7, (E, "info@acme.com"): 3}
    plan = plan_merge("acme.com", keys, owners, {7: "acme.com", 3: None})
    assert plan.target == 7 and plan.absorb == (3,) and plan.claim == ((P, "+1"),)
    owners = {(E, "info@acme.com"): 9, (P, "+1"): 2}
    plan = plan_merge(None, [(E, "info@acme.com"), (P, "+1")], owners, {9: None, 2: None})
    assert plan.target == 9 and plan.absorb == (2,)


def test_a_domainless_listing_joins_the_site_through_a_shared_phone() -> None:
    plan = plan_merge(None, [(P, "+1")], {(P, "+1"): 4}, {4: "acme.com"})
    assert plan.target == 4 and plan.absorb == () and plan.claim == ()


def test_bridge_absorbs_the_lead_without_a_domain_into_the_one_with_it() -> None:
    # the raw lead has the e-mail of a domainless lead (5) and the phone of a site's lead (8)
    owners = {(E, "jo@acme.com"): 5, (P, "+1"): 8}
    plan = plan_merge(None, [(E, "jo@acme.com"), (P, "+1")], owners, {5: None, 8: "acme.com"})
    assert plan.target == 8 and plan.absorb == (5,) and plan.conflicts == ()


def test_two_domains_never_merge() -> None:
    # a new site shares a call-centre phone with another company's lead
    plan = plan_merge("beta.com", [(D, "beta.com"), (P, "+1")], {(P, "+1"): 4}, {4: "alpha.com"})
    assert plan.target is None and plan.claim == ((D, "beta.com"),)
    assert plan.conflicts == ((4, P, "+1"),)
    # a domainless raw lead bridging two different sites joins the better match and links the other
    owners = {(E, "x@alpha.com"): 1, (P, "+1"): 2}
    plan = plan_merge(None, [(E, "x@alpha.com"), (P, "+1")], owners, {1: "alpha.com", 2: "beta.com"})
    assert plan.target == 1 and plan.absorb == () and plan.conflicts == ((2, P, "+1"),)


def test_unowned_domain_is_claimed_by_a_matching_domainless_lead() -> None:
    owners = {(E, "info@acme.com"): 3}
    plan = plan_merge("acme.com", [(D, "acme.com"), (E, "info@acme.com")], owners, {3: None})
    assert plan.target == 3 and plan.claim == ((D, "acme.com"),)


def test_one_lead_matched_through_several_keys_is_one_candidate() -> None:
    keys = [(D, "acme.com"), (E, "a@acme.com"), (E, "b@acme.com"), (P, "+1")]
    owners = {k: 6 for k in keys}
    assert plan_merge("acme.com", keys, owners, {6: "acme.com"}) == MergePlan(target=6)
