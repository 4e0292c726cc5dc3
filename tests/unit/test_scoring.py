"""Scoring: components, weights, thresholds, determinism."""

from __future__ import annotations

import pytest

from leadworker.enrich.scoring import (
    COMPONENTS,
    EmailFacts,
    JobCriteria,
    LeadProfile,
    PhoneFacts,
    ScoringPolicy,
    score_lead,
    word_matches,
)

POLICY = ScoringPolicy.build()

PLUMBER = LeadProfile(
    company_name="Acme Plumbing & Heating",
    domain="acme-plumbing.test",
    website="http://acme-plumbing.test/",
    address="1200 SE Morrison St, Portland, OR 97214",
    country="US",
    contact_name="Maria Lopez",
    description="Boiler repair and emergency plumbing in Portland.",
    categories=("Plumber",),
    emails=(
        EmailFacts("maria.lopez@acme-plumbing.test", role=False, free=False),
        EmailFacts("office@acme-plumbing.test", role=True, free=False),
    ),
    phones=(PhoneFacts("+15035550142", "fixed_line_or_mobile", "US"),),
    source_types={"website": 1, "directory:yellow": 1},
)


def test_a_complete_matching_lead_is_hot_with_every_component_explained() -> None:
    job = JobCriteria(keywords=("boiler", "emergency plumbing"), industry="plumbing", geography="Portland, US")
    result = score_lead(PLUMBER, job, POLICY)
    assert result.segment == "hot" and result.score >= 90
    stored = result.components_json()
    assert set(stored) == set(COMPONENTS)
    assert stored["keywords"]["value"] == 1.0 and "matched 2 of 2" in stored["keywords"]["detail"]
    assert stored["geography"]["value"] == 1.0
    assert stored["contact_quality"]["detail"].startswith("direct e-mail")
    assert stored["source_quality"]["value"] == pytest.approx(0.95)
    assert sum(c["points"] for c in stored.values()) == pytest.approx(result.score, abs=0.6)


def test_components_without_criteria_are_left_out_not_zero() -> None:
    result = score_lead(PLUMBER, JobCriteria(), POLICY)
    stored = result.components_json()
    assert stored["keywords"]["value"] is None and stored["keywords"]["points"] is None
    assert result.score >= 90  # only completeness, contact and source quality count


def test_mismatches_lower_the_score() -> None:
    job = JobCriteria(keywords=("solar",), industry="dentistry", geography="Hamburg, Germany")
    result = score_lead(PLUMBER, job, POLICY)
    stored = result.components_json()
    assert stored["keywords"]["value"] == 0 and stored["industry"]["value"] == 0
    assert stored["geography"]["value"] == 0 and "not DE" in stored["geography"]["detail"]
    assert result.segment in ("warm", "cold")


def test_contact_quality_prefers_direct_over_role_over_free_mail() -> None:
    def quality(*emails: EmailFacts) -> float:
        value = (
            score_lead(LeadProfile(domain="a.com", emails=emails), JobCriteria(), POLICY)
            .components["contact_quality"]
            .value
        )
        assert value is not None
        return value

    direct = quality(EmailFacts("jo@a.com", role=False, free=False))
    role = quality(EmailFacts("info@a.com", role=True, free=False))
    free = quality(EmailFacts("info@gmail.com", role=True, free=True))
    assert direct > role > free > 0

    def phone(kind: str) -> float:
        value = (
            score_lead(LeadProfile(phones=(PhoneFacts("+1", kind, "US"),)), JobCriteria(), POLICY)
            .components["contact_quality"]
            .value
        )
        assert value is not None
        return value

    assert phone("mobile") > phone("fixed_line") > phone("toll_free")


def test_weights_and_thresholds_are_configurable() -> None:
    job = JobCriteria(keywords=("solar",))
    only_keywords = ScoringPolicy.build({n: 0.0 for n in COMPONENTS} | {"keywords": 1.0})
    assert score_lead(PLUMBER, job, only_keywords).score == 0
    strict = ScoringPolicy.build(hot=100, warm=99)
    assert score_lead(PLUMBER, JobCriteria(), strict).segment == "cold"
    assert POLICY.segment(70) == "hot" and POLICY.segment(69) == "warm" and POLICY.segment(39) == "cold"


def test_scoring_is_deterministic() -> None:
    job = JobCriteria(keywords=("boiler",), geography="Portland")
    first = score_lead(PLUMBER, job, POLICY)
    assert all(score_lead(PLUMBER, job, POLICY).components_json() == first.components_json() for _ in range(5))


def test_word_matching_is_loose_but_not_silly() -> None:
    assert word_matches("plumbing", "plumber") and word_matches("dentistry", "dental")
    assert word_matches("solar", "solaranlagen")
    assert not word_matches("car", "carpentry") and not word_matches("solar", "polar")
