"""Recipe patterns: the regular expressions of directory recipes, run on scraped text with a time bound.

A recipe's ``pattern`` is written by whoever wrote the recipe, and the text it runs on by whoever owns the
listing site. A pattern that backtracks (``(a|aa)+c``, ``(\\w+\\s?)*$``) on text made for it takes seconds to
centuries, and Python's ``re`` can neither be interrupted nor moved to a thread (it holds the GIL while it
matches, so the event loop would stall all the same). Patterns therefore run with the ``regex`` module (the
same syntax as ``re``), whose matcher takes a timeout:

- a pattern is at most :data:`MAX_PATTERN_LENGTH` characters (checked when the recipe loads);
- it reads at most :data:`MAX_INPUT_CHARS` characters of each value (a field's value is a line or two);
- one search may run :data:`SEARCH_SECONDS`, and all the searches of one directory run together
  :data:`RUN_SECONDS`. A search that times out matches nothing; once the run's time is spent, patterns match
  nothing for the rest of the run. Both are logged, once per run, so a recipe that needs fixing is visible.

So the event loop is held at most :data:`SEARCH_SECONDS` at a time and :data:`RUN_SECONDS` per job.
"""

from __future__ import annotations

import time

import regex
import structlog

log = structlog.get_logger(__name__)

MAX_PATTERN_LENGTH = 500
MAX_INPUT_CHARS = 10_000
SEARCH_SECONDS = 0.05
RUN_SECONDS = 1.0


def check_pattern(source: str) -> str:
    """Return ``source`` if it is a usable recipe pattern; raise ValueError saying why not."""
    if len(source) > MAX_PATTERN_LENGTH:
        raise ValueError(f"pattern is {len(source)} characters, over the limit of {MAX_PATTERN_LENGTH}")
    try:
        regex.compile(source)
    except regex.error as exc:
        raise ValueError(f"pattern {source!r} is not a regular expression: {exc}") from None
    return source


class PatternClock:
    """The time budget of one directory run's pattern searches (see the module docstring)."""

    def __init__(self, budget: float = RUN_SECONDS, *, recipe: str | None = None) -> None:
        self.budget = budget
        self.recipe = recipe
        self.spent = 0.0
        self.timeouts = 0
        self.skipped = 0
        self._announced = False

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.budget

    def search(self, pattern: str, text: str) -> str:
        """The first group of ``pattern``'s first match in ``text`` (or the whole match); ``""`` if none, or if
        the search ran out of time."""
        if self.exhausted:
            self.skipped += 1
            return ""
        started = time.perf_counter()
        try:
            found = regex.search(pattern, text[:MAX_INPUT_CHARS], timeout=min(SEARCH_SECONDS, self.budget - self.spent))
        except TimeoutError:
            found = None
            self.timeouts += 1
            if self.timeouts == 1:
                log.warning(
                    "recipe pattern timed out; it matches nothing",
                    recipe=self.recipe,
                    pattern=pattern[:100],
                    seconds=SEARCH_SECONDS,
                )
        finally:
            self.spent += time.perf_counter() - started
        if self.exhausted and not self._announced:
            self._announced = True
            log.warning(
                "recipe patterns used up their time for this job; they match nothing from now on",
                recipe=self.recipe,
                seconds=self.budget,
                timeouts=self.timeouts,
            )
        if found is None:
            return ""
        value = found.group(1) if found.groups() else found.group(0)
        return value or ""
