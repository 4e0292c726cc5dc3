import pytest

from leadworker.broker.outcome import Outcome, decide_outcome
from leadworker.errors import InvalidMessage, PermanentError, ServiceUnavailable, TransientError


@pytest.mark.parametrize(
    ("error", "attempt", "outcome", "kind"),
    [
        (None, 1, Outcome.ACK, ""),
        (TransientError("503", kind="http_status"), 1, Outcome.RETRY, "http_status"),
        (TransientError("503", kind="http_status"), 5, Outcome.DEAD, "attempts_exhausted"),
        (TimeoutError(), 2, Outcome.RETRY, "timeout"),
        (KeyError("surprise"), 1, Outcome.RETRY, "unexpected"),
        (KeyError("surprise"), 5, Outcome.DEAD, "attempts_exhausted"),
        (InvalidMessage("bad"), 1, Outcome.DEAD, "invalid_message"),
        (PermanentError("no", kind="forbidden_target"), 1, Outcome.DEAD, "forbidden_target"),
        (ServiceUnavailable("db down"), 5, Outcome.REQUEUE, "service_unavailable"),
    ],
)
def test_decision(error: BaseException | None, attempt: int, outcome: Outcome, kind: str) -> None:
    decision = decide_outcome(error, attempt, max_attempts=5)
    assert decision.outcome is outcome and decision.kind == kind


def test_exhausted_reason_keeps_the_last_error() -> None:
    decision = decide_outcome(TransientError("http://a/ answered HTTP 500", kind="http_status"), 3, 3)
    assert decision.reason == "attempts exhausted (3 of 3); last error (http_status): http://a/ answered HTTP 500"
    assert decision.error == "http://a/ answered HTTP 500"
