"""The retry policy, in one place: how many attempts a job gets, which retry tier (and so which delay) follows
each failed attempt, and the broker's own last guard (the quorum queue's delivery limit).

``Settings.retry_policy`` builds it from the settings. The consumer reads it to settle a delivery
(:func:`leadworker.broker.outcome.decide_outcome` gets its ``max_attempts``), the scrape stage to refuse a
job started more often than it may be, maintenance to fail a stuck job that has used its attempts, and the
topology to declare the retry tiers and the delivery limit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    """Attempts a job gets; the one that fails with this number is dead-lettered."""
    backoff: tuple[float, ...]
    """Seconds before the next attempt, by tier: tier n follows failed attempt n, the last tier repeats."""
    delivery_limit: int
    """The quorum queue's ``x-delivery-limit``: redeliveries of one message before the broker itself
    dead-letters it (a message that kills its worker before any code of ours can count it)."""

    def tier(self, attempt: int) -> int:
        """The retry tier (1-based) a message goes to after failing attempt ``attempt``."""
        return min(max(attempt, 1), len(self.backoff))

    def delay(self, attempt: int) -> float:
        """Seconds between failed attempt ``attempt`` and the next one."""
        return self.backoff[self.tier(attempt) - 1]

    @property
    def longest_delay(self) -> float:
        return max(self.backoff)

    def is_last(self, attempt: int) -> bool:
        """True if ``attempt`` is the last one: failing it dead-letters the job."""
        return attempt >= self.max_attempts

    def is_beyond(self, attempt: int) -> bool:
        """True if ``attempt`` should not run at all (its predecessors were started and never finished: a job
        that kills its worker)."""
        return attempt > self.max_attempts
