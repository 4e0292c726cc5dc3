"""Plain-text tables of stored values, for the CLI and the demo.

Stored text is a site's: :func:`shown` escapes its control characters so that printing it cannot drive the
reader's terminal (see :mod:`leadworker.common.controls`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from leadworker.common.controls import escape_controls

MAX_COLUMN_WIDTH = 60
"""Longer cells are cut: a table stays readable in a terminal."""


def shown(value: Any) -> str:
    """``value`` as text safe to print: stored text is a site's, so its control characters are escaped."""
    return "" if value is None else escape_controls(str(value))


def table_lines(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> list[str]:
    """The lines of a table: the headers, a rule, one line per row (cells :func:`shown`, columns aligned)."""
    text_rows = [[shown(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        for i, cell in enumerate(row):
            widths[i] = min(max(widths[i], len(cell)), MAX_COLUMN_WIDTH)
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip(), "  ".join("-" * w for w in widths)]
    lines.extend(
        "  ".join(cell[: widths[i]].ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in text_rows
    )
    return lines
