"""The ack / retry / dead-letter decision, in one function: :func:`decide_outcome`."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from leadworker.errors import LeadworkerError, PermanentError, ServiceUnavailable, one_line


class Outcome(enum.StrEnum):
    """How a delivery is settled."""

    ACK = "ack"
    """Done (or nothing to do): acknowledge."""
    RETRY = "retry"
    """Transient failure: re-publish to a retry tier with attempt + 1, then acknowledge."""
    DEAD = "dead"
    """Permanent failure or attempts exhausted: publish to the dead queue, fail the job, acknowledge."""
    REQUEUE = "requeued"
    """Our own database is down: give the delivery back to the broker (no attempt spent) and pause."""


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    kind: str = ""
    """Machine-readable error kind (``invalid_message``, ``timeout``, ``attempts_exhausted``...)."""
    reason: str = ""
    """One line for humans: what went wrong."""
    error: str = ""
    """The underlying error, one line (for exhausted attempts: the last one)."""


def error_kind(error: BaseException) -> str:
    if isinstance(error, LeadworkerError):
        return error.kind
    if isinstance(error, TimeoutError):
        return "timeout"
    return "unexpected"


def describe_error(error: BaseException) -> str:
    if isinstance(error, LeadworkerError):
        return one_line(error.reason)
    text = one_line(str(error))
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def decide_outcome(error: BaseException | None, attempt: int, max_attempts: int) -> Decision:
    """Decide how to settle a delivery whose handler ended with ``error`` (``None``: success).

    - success → ack;
    - our database unreachable → requeue, spending no attempt;
    - a permanent error → dead, whatever the attempt;
    - anything else (transient, timeout, unexpected exception) → retry, or dead once ``attempt`` has reached
      ``max_attempts``.
    """
    if error is None:
        return Decision(Outcome.ACK)
    if isinstance(error, ServiceUnavailable):
        return Decision(Outcome.REQUEUE, error.kind, describe_error(error), describe_error(error))
    kind = error_kind(error)
    text = describe_error(error)
    if isinstance(error, PermanentError):
        return Decision(Outcome.DEAD, kind, text, text)
    if attempt >= max_attempts:
        return Decision(
            Outcome.DEAD,
            "attempts_exhausted",
            f"attempts exhausted ({attempt} of {max_attempts}); last error ({kind}): {text}",
            text,
        )
    return Decision(Outcome.RETRY, kind, text, text)
