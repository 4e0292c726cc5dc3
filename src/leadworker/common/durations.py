"""Durations as operators write them: ``90s``, ``15m``, ``1h``, ``1h30m``, ``7d``, ``2w``.

A unit is required: ``--older-than 90`` could mean seconds or days, and a wrong guess deletes data."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str) -> float:
    """Seconds in ``text``: one or more ``<number><unit>`` parts (units s, m, h, d, w), e.g. ``1h30m``.

    Raises ValueError with a message fit for a one-line CLI error.
    """
    value = text.strip().lower()
    position, total = 0, 0.0
    for match in _PART.finditer(value):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not value or position != len(value):
        raise ValueError(f"{text!r} is not a duration; write it like 90s, 15m, 1h, 1h30m, 7d or 2w")
    if total <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return total


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of whole ``seconds`` in the units above (``5400`` → ``1h30m``)."""
    remaining = round(seconds)
    if remaining <= 0:
        return "0s"
    parts = []
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
