"""Enrichment logic without I/O: normalization, merge planning, scoring, webhook signing; plus the HTTP provider."""
