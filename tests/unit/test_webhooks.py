"""Webhook signing, and the README's verification snippet run against it."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path
from typing import Any

from leadworker import webhooks

README = Path(__file__).resolve().parents[2] / "README.md"


def test_sign_and_verify() -> None:
    body = b'{"type":"job.completed"}'
    signature = webhooks.sign("s3cret", 1_700_000_000, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert webhooks.verify("s3cret", "1700000000", signature, body, now=1_700_000_100)
    assert not webhooks.verify("other", "1700000000", signature, body, now=1_700_000_100)
    assert not webhooks.verify("s3cret", "1700000000", signature, body + b" ", now=1_700_000_100)
    assert not webhooks.verify("s3cret", "1700000001", signature, body, now=1_700_000_100)  # timestamp is signed
    assert not webhooks.verify("s3cret", "1700000000", signature, body, now=1_700_000_000 + 3600)  # replay
    headers = webhooks.headers(event="job.failed", event_id_="e1", body=body, secret=None, timestamp=1, attempt=2)
    assert webhooks.SIGNATURE_HEADER not in headers and headers[webhooks.ATTEMPT_HEADER] == "2"


def test_readme_snippet_verifies_our_signature() -> None:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- webhook-verify -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README lost its webhook verification snippet"
    namespace: dict[str, Any] = {}
    exec(match.group(1), namespace)
    verify = namespace["verify_leadworker_webhook"]
    body = webhooks.encode({"id": "x", "type": "job.enriched"})
    import time

    now = int(time.time())
    headers = webhooks.headers(event="job.enriched", event_id_="x", body=body, secret="s3cret", timestamp=now,
                               attempt=1)
    assert verify("s3cret", headers, body)
    assert not verify("wrong", headers, body)
    assert not verify("s3cret", headers, body.replace(b"enriched", b"failed__"))


def test_event_ids_and_payload() -> None:
    job_id = uuid.UUID(int=1)
    assert webhooks.event_id(job_id, "job.failed", 17) == f"{job_id}:job.failed:17"
    assert webhooks.event_id(job_id, "job.enriched") == f"{job_id}:job.enriched"
    at = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    payload = webhooks.build_payload("e", "job.enriched", {"id": job_id, "status": "completed", "found": 3},
                                     {"hot": 1, "cold": 2}, at)
    assert payload["job"]["id"] == str(job_id) and payload["created_at"] == "2024-01-02T03:04:05Z"
    assert payload["leads"] == {"total": 3, "hot": 1, "warm": 0, "cold": 2}
    assert webhooks.encode(payload) == webhooks.encode(dict(reversed(payload.items())))  # stable bytes
