"""Webhook signing, and the README's verification snippet run against it."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path
from typing import Any

from leadworker.common import webhook_events as webhooks

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
    headers = webhooks.headers(
        event="job.failed", event_id_="e1", body=body, url="https://a.test/hook", secret=None, timestamp=1, attempt=2
    )
    assert webhooks.SIGNATURE_HEADER not in headers and headers[webhooks.ATTEMPT_HEADER] == "2"


def test_a_signature_is_bound_to_its_destination() -> None:
    body = b'{"type":"job.completed"}'
    now = 1_700_000_000
    to_a = webhooks.headers(
        event="job.completed",
        event_id_="e",
        body=body,
        url="https://a.test/hook",
        secret="master",
        timestamp=now,
        attempt=1,
    )
    signature, timestamp = to_a[webhooks.SIGNATURE_HEADER], to_a[webhooks.TIMESTAMP_HEADER]
    key_a = webhooks.destination_secret("master", "https://a.test/hook")
    key_b = webhooks.destination_secret("master", "https://b.test/hook")
    assert webhooks.verify(key_a, timestamp, signature, body, now=now)
    assert not webhooks.verify(key_b, timestamp, signature, body, now=now)  # a replay to B is refused
    assert not webhooks.verify("master", timestamp, signature, body, now=now)  # the global secret is not the key
    assert webhooks.destination_secret("master", "https://a.test/hook?x=1") != key_a
    assert not webhooks.verify(key_a, timestamp, signature, body, now=now + 301)  # the replay window stays


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
    url = "https://crm.test/hooks/leadworker"
    headers = webhooks.headers(
        event="job.enriched", event_id_="x", body=body, url=url, secret="s3cret", timestamp=now, attempt=1
    )
    key = webhooks.destination_secret("s3cret", url)
    assert verify(key, headers, body)
    assert not verify("s3cret", headers, body)
    assert not verify(webhooks.destination_secret("s3cret", "https://other.test/hooks/leadworker"), headers, body)
    assert not verify(key, headers, body.replace(b"enriched", b"failed__"))


def test_readme_documents_the_destination_secret_as_computed() -> None:
    import hashlib
    import hmac

    text = README.read_text(encoding="utf-8")
    assert '"leadworker-webhook-destination:" + webhook URL' in text
    url = "https://crm.test/in?token=1"
    documented = hmac.new(b"s3cret", b"leadworker-webhook-destination:" + url.encode(), hashlib.sha256).hexdigest()
    assert webhooks.destination_secret("s3cret", url) == documented


def test_event_ids_and_payload() -> None:
    job_id = uuid.UUID(int=1)
    assert webhooks.event_id(job_id, "job.failed", 17) == f"{job_id}:job.failed:17"
    assert webhooks.event_id(job_id, "job.enriched") == f"{job_id}:job.enriched"
    at = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    payload = webhooks.build_payload(
        "e", "job.enriched", {"id": job_id, "status": "completed", "found": 3}, {"hot": 1, "cold": 2}, at
    )
    assert payload["job"]["id"] == str(job_id) and payload["created_at"] == "2024-01-02T03:04:05Z"
    assert payload["leads"] == {"total": 3, "hot": 1, "warm": 0, "cold": 2}
    assert webhooks.encode(payload) == webhooks.encode(dict(reversed(payload.items())))  # stable bytes
