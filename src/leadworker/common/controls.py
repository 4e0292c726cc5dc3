"""Control characters in text that sites wrote: stripped when a lead is normalized, escaped when the CLI prints.

A scraped company name can carry terminal escape sequences (``ESC [ 2 J`` clears the screen of whoever runs
``leadworker leads show``, ``OSC 8`` plants a hyperlink, ``OSC 52`` writes their clipboard), C1 controls that
some terminals read as ``ESC [``, and bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069) that
make text display in another order than it is stored. None of them belongs in a lead.

- :func:`strip_controls` removes them (an escape sequence as a whole, so ``ESC [ 3 1 m`` leaves no ``[31m``
  behind); tab, line feed and carriage return stay, for the normalizer's own whitespace rules to handle.
- :func:`escape_controls` shows them instead (``\\x1b``, ``\\n``, ``\\u202e``): for printing stored text that was
  not normalized (a raw record, an error message) or was stored before normalization stripped anything.
"""

from __future__ import annotations

import re

# Only the 7-bit forms are removed as whole sequences: ESC has no business in text, while a lone C1 character is
# more often a mis-decoded Windows-1252 letter than an introducer, and removing it alone disarms it.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI ... final byte (colors, cursor, erase)
    r"|\x1b[]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC, DCS, SOS, PM, APC ... BEL or ST
    r"|\x1b[ -/]*[0-~]"  # the other escape sequences: ESC (intermediates) final
)
_BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
_STRIPPED = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI_CONTROLS}]")
_SHOWN = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI_CONTROLS}\u2028\u2029]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def strip_controls(text: str) -> str:
    """``text`` without escape sequences, C0 and C1 controls (bar tab, line feed, carriage return) and
    bidirectional overrides and isolates."""
    if not _SHOWN.search(text):
        return text
    return _STRIPPED.sub("", _ESCAPE_SEQUENCE.sub("", text))


def _shown(match: re.Match[str]) -> str:
    char = match.group(0)
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape_controls(text: str) -> str:
    """``text`` safe to print on a terminal, on one line: every control character, bidirectional override or
    isolate and line or paragraph separator written as a visible escape (``\\x1b``, ``\\n``, ``\\u202e``)."""
    return _SHOWN.sub(_shown, text)
