"""Message contracts of the enrichment stages, and their settings."""

from __future__ import annotations

import uuid

import pytest

from leadworker.config import Settings
from leadworker.contracts import JobEvent, ScoreBatch, decode_message
from leadworker.errors import InvalidMessage


def make(**kwargs: object) -> Settings:
    return Settings(_env_file=None, **kwargs)  # type: ignore[call-arg]


def test_score_batch_and_job_event() -> None:
    job_id = uuid.uuid4()
    batch = decode_message(ScoreBatch(job_id=job_id, lead_ids=[1, 2]).model_dump_json().encode(), ScoreBatch, 10_000)
    assert batch.version == 1 and batch.lead_ids == [1, 2]
    with pytest.raises(InvalidMessage, match="lead_ids"):
        decode_message(f'{{"job_id": "{job_id}", "lead_ids": []}}'.encode(), ScoreBatch, 10_000)
    with pytest.raises(InvalidMessage, match="urgent: Extra inputs"):
        decode_message(f'{{"job_id": "{job_id}", "lead_ids": [1], "urgent": true}}'.encode(), ScoreBatch, 10_000)
    with pytest.raises(InvalidMessage, match="version"):
        decode_message(f'{{"version": 2, "job_id": "{job_id}", "lead_ids": [1]}}'.encode(), ScoreBatch, 10_000)
    event = JobEvent(event_id="e", event="job.enriched", job_id=job_id)
    assert decode_message(event.model_dump_json().encode(), JobEvent, 10_000) == event
    with pytest.raises(InvalidMessage, match="event"):
        decode_message(f'{{"event_id": "e", "event": "job.exploded", "job_id": "{job_id}"}}'.encode(), JobEvent, 10_000)


def test_enrichment_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADWORKER_SCORE_WEIGHTS", "keywords=0.5, contact_quality=0")
    cfg = make()
    assert cfg.score_weights == {"keywords": 0.5, "contact_quality": 0.0}
    assert (cfg.score_hot, cfg.score_warm, cfg.enrich_provider_rate, cfg.enrich_provider_burst) == (70, 40, 5.0, 10)
    with pytest.raises(ValueError, match="unknown score component 'luck'"):
        make(score_weights="luck=1")
    with pytest.raises(ValueError, match="weight of keywords"):
        make(score_weights="keywords=lots")
    with pytest.raises(ValueError, match="score_warm must be below score_hot"):
        make(score_hot=50, score_warm=60)
    with pytest.raises(ValueError, match="http"):
        make(webhook_url="ftp://x.test/")
    view = make(enrich_provider_url="https://u:pw@enrich.test/v1", enrich_provider_token="tok").public_view()
    assert "pw" not in str(view["enrich_provider_url"]) and view["enrich_provider_token"] == "***"
