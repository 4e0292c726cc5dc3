"""Secrets never reach a log line: passwords with ``@``, tokens in URLs, secrets nested in logged values."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from leadworker.config import mask_url
from leadworker.ops.logging import configure_logging


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Logging configured as a worker configures it, into a buffer; the previous setup restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    try:
        yield stream
    finally:
        structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)


def test_a_password_with_at_signs_is_masked_whole() -> None:
    assert mask_url("amqp://user:p@ss@broker:5672/vh") == "amqp://user:***@broker:5672/vh"
    assert mask_url("postgresql://u:a@b@c@db.internal/leads") == "postgresql://u:***@db.internal/leads"
    assert mask_url("amqp://user:s3cret@broker:5672/vh") == "amqp://user:***@broker:5672/vh"
    assert mask_url("postgresql://127.0.0.1/db") == "postgresql://127.0.0.1/db"
    assert mask_url("https://mastodon.test/@acme/posts") == "https://mastodon.test/@acme/posts"  # not userinfo


def test_tokens_in_urls_are_masked() -> None:
    assert mask_url("https://hooks.test/in?token=abc123&page=2") == "https://hooks.test/in?token=***&page=2"
    assert (
        mask_url("https://h.test/x?api_key=k1&sig=s2&X-Amz-Signature=s3")
        == "https://h.test/x?api_key=***&sig=***&X-Amz-Signature=***"
    )
    assert mask_url("https://app.test/cb#access_token=t0k&state=1") == "https://app.test/cb#access_token=***&state=1"
    assert mask_url("https://ghp_s3cr3t@git.test/repo") == "https://***@git.test/repo"
    assert mask_url("https://h.test/?key=&q=plumbers") == "https://h.test/?key=&q=plumbers"


def test_log_lines_mask_urls_and_nested_values(log_lines: io.StringIO) -> None:
    log = structlog.get_logger("test.masking")
    log.info(
        "connecting to amqp://worker:p@ss@broker/ now",
        target="https://hooks.test/in?token=abc123&page=2",
        nested={
            "db": {"password": "pw-nested", "url": "postgresql://u:pw-in-url@h/d"},
            "hooks": ["https://hooks.test/x?sig=sig-in-list", ("https://tok-in-tuple@h.test/",)],
        },
    )
    logging.getLogger("aiormq.connection").warning("lost amqp://worker:p@ss@broker/")
    text = log_lines.getvalue()
    for secret in ("ss@broker", "p@ss", "abc123", "pw-nested", "pw-in-url", "sig-in-list", "tok-in-tuple"):
        assert secret not in text, f"{secret!r} reached the log: {text}"
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["event"] == "connecting to amqp://worker:***@broker/ now"
    assert lines[0]["target"] == "https://hooks.test/in?token=***&page=2"
    assert lines[0]["nested"]["db"] == {"password": "***", "url": "postgresql://u:***@h/d"}
    assert lines[1]["event"] == "lost amqp://worker:***@broker/"


def test_masking_a_logged_value_leaves_the_callers_object_alone(log_lines: io.StringIO) -> None:
    criteria = {"webhook_url": "https://hooks.test/in?token=abc", "auth": {"token": "t"}}
    structlog.get_logger("test.masking").info("job", criteria=criteria)
    assert criteria == {"webhook_url": "https://hooks.test/in?token=abc", "auth": {"token": "t"}}
    assert "abc" not in log_lines.getvalue()
