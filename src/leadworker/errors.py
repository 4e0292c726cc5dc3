"""The error vocabulary that handlers raise and the consumer turns into an outcome.

- :class:`PermanentError`: retrying cannot help (invalid message, unknown source, forbidden target). The
  message goes to the dead queue and the job fails.
- :class:`TransientError`: may succeed later (network, timeout, HTTP 429/5xx). The message goes to a retry
  tier until attempts run out. Any exception that is not one of ours counts as transient too.
- :class:`ServiceUnavailable`: our own database is unreachable. Not the message's fault: the delivery is
  returned to the queue without spending an attempt, and the consumer pauses until the database is back.

Every error carries a short machine-readable ``kind`` (stored in ``scrape_jobs.error_kind`` and the
``x-leadworker-error-kind`` header) and a one-line human reason.
"""

from __future__ import annotations


class LeadworkerError(Exception):
    """Base of the errors that carry a ``kind``."""

    kind: str = "error"

    def __init__(self, reason: str, *, kind: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if kind is not None:
            self.kind = kind

    def __str__(self) -> str:
        return self.reason


class PermanentError(LeadworkerError):
    """Retrying cannot help: dead-letter the message and fail the job."""

    kind = "permanent"


class InvalidMessage(PermanentError):
    """The message body cannot be decoded or does not validate as its contract."""

    kind = "invalid_message"


class TransientError(LeadworkerError):
    """May succeed on a later attempt: retry through the tiers."""

    kind = "transient"


class ServiceUnavailable(LeadworkerError):
    """A service this worker depends on (the database) is unreachable; not the message's fault."""

    kind = "service_unavailable"


class UsageError(Exception):
    """A bad command-line argument or input file: the CLI prints it on one line and exits 2."""


def one_line(text: object, limit: int = 500) -> str:
    """Collapse ``text`` to a single line of at most ``limit`` characters (for headers and logs)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
