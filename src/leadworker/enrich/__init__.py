"""Enrichment logic without I/O: normalization, merge planning, scoring, webhook signing; plus the HTTP provider."""

SCORE_COMPONENTS = ("completeness", "keywords", "industry", "geography", "contact_quality", "source_quality")
"""The parts of a lead's score, each weighted by ``LEADWORKER_SCORE_WEIGHTS``. Defined here rather than in
:mod:`leadworker.enrich.scoring` so that checking the settings does not import the scoring libraries
(phonenumbers, email-validator, tldextract) into every process."""
