"""The memory a job's crawl keeps: a byte budget for what read pages leave behind.

A page is reduced to what extraction needs as soon as it is read (its facts; the visible text only where the
site's phone region is still to be found; the HTML only for the few pages a later render may want), and what
is kept is counted here against ``LEADWORKER_JOB_MEMORY_BYTES``. When a job holds that much, its crawls stop
taking pages, as they do at ``max_pages`` or the deadline: the job completes with what it read, and the stop
is logged once per job with the numbers. Pages in flight when the budget was reached are still read, so a
job may hold up to ``concurrency`` pages more than the budget; pages being fetched and parsed are bounded by
the concurrency and ``LEADWORKER_MAX_BODY_BYTES``, not by this budget.
"""

from __future__ import annotations

import structlog

log = structlog.get_logger(__name__)


class MemoryBudget:
    """Bytes one job keeps in memory from the pages it read, shared by every site it crawls."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.peak = 0
        self.reached = 0
        """Times the budget was found full when a page was to be kept."""
        self.pages_left = 0
        """Pages crawls left in their frontier because the budget was full."""

    @property
    def full(self) -> bool:
        return self.held >= self.limit

    def hold(self, size: int) -> None:
        """Count ``size`` bytes kept (they are in memory already: the page was read)."""
        self.held += size
        if self.held > self.peak:
            self.peak = self.held
        if self.full:
            self.reached += 1
            if self.reached == 1:
                log.warning(
                    "job memory budget reached; its crawls take no more pages",
                    held_bytes=self.held,
                    limit_bytes=self.limit,
                )

    def try_hold(self, size: int) -> bool:
        """Count ``size`` bytes kept if they fit; False (nothing counted) if they do not. For what is optional,
        such as a page kept to save fetching it again."""
        if self.held + size > self.limit:
            return False
        self.hold(size)
        return True

    def release(self, size: int) -> None:
        """``size`` bytes counted before are no longer kept."""
        self.held = max(self.held - size, 0)

    def stopped(self, pages_left: int) -> None:
        """A crawl stopped with ``pages_left`` pages in its frontier because the budget was full."""
        self.pages_left += pages_left
