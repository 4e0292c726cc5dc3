"""Logging with structlog: JSON lines when the log stream is not a terminal, readable console when it is.

Logs go to stderr so that a command's own output (``--json``) stays clean on stdout. The standard-library
loggers of aio-pika, aiormq and asyncpg go through the same renderer. Every line passes through
:func:`mask_secrets`, so a password or token in a URL, or a secret-named value at any depth, never reaches a log,
whoever logged it (:mod:`leadworker.common.masking` says what is masked).
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from leadworker.common.masking import MASK, is_secret_key, mask_value


def mask_secrets(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask credentials in URLs in every string value and hide secret-named keys, in
    nested dicts and lists too."""
    for key, value in list(event.items()):
        if is_secret_key(key) and value is not None:
            event[key] = MASK
        else:
            event[key] = mask_value(value)
    return event


def configure_logging(
    log_format: str = "auto",
    level: str = "info",
    *,
    stream: TextIO | None = None,
    static: dict[str, Any] | None = None,
) -> None:
    """Configure structlog and the standard library once per process.

    ``static`` key/values (the worker id) are added to every line.
    """
    stream = stream or sys.stderr
    use_json = log_format == "json" or (log_format == "auto" and not stream.isatty())
    numeric_level = getattr(logging, level.upper(), logging.INFO)
    extra = dict(static or {})

    def add_static(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in extra.items():
            event.setdefault(key, value)
        return event

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_static,
        mask_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if use_json else _identity,
            mask_secrets,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    # Library chatter at info level is noise for operators; their warnings still come through.
    for name in ("aio_pika", "aiormq", "asyncio", "aiohttp.access"):
        logging.getLogger(name).setLevel(max(numeric_level, logging.WARNING))


PROCESS_CONTEXT = ("worker",)
"""Context keys that describe the process rather than one delivery."""


def log_for_process(logger: Any, event: str, **values: Any) -> None:
    """Log ``event`` (info) as a line about the process, not about the delivery whose task happens to log
    it: the delivery's job_id, attempt and message_id are left out, the worker's identity kept."""
    keep = {k: v for k, v in structlog.contextvars.get_contextvars().items() if k in PROCESS_CONTEXT}
    contextvars.Context().run(lambda: logger.info(event, **{**keep, **values}))


def _identity(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return event
