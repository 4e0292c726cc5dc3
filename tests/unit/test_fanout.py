"""Packing fan-outs into leads.normalize messages."""

from __future__ import annotations

import uuid

from leadworker.contracts import NormalizeBatch
from leadworker.stages.fanout import normalize_messages


def test_fanouts_of_jobs_share_messages_up_to_the_batch_size() -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    messages = normalize_messages([(a, [1, 2, 3]), (b, list(range(10, 17))), (c, [20])], "p.leads.normalize", 5)
    batches = [NormalizeBatch.model_validate_json(m.body) for m in messages]
    packed = [[(item.job_id, item.raw_lead_ids) for item in batch.items] for batch in batches]
    assert packed == [
        [(a, [1, 2, 3])],
        [(b, [10, 11, 12, 13, 14])],
        [(b, [15, 16]), (c, [20])],
    ]
    assert all(m.routing_key == "p.leads.normalize" for m in messages)
    assert [m.message_id for m in messages] == [f"{a}:1", f"{b}:10", f"{b}:15"]
    # every raw lead exactly once
    assert sorted(i for batch in batches for item in batch.items for i in item.raw_lead_ids) == [
        1,
        2,
        3,
        *range(10, 17),
        20,
    ]


def test_no_requests_no_messages() -> None:
    assert normalize_messages([], "q", 5) == []
