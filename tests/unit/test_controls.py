"""Control characters: stripped at normalization, escaped wherever the CLI prints stored text."""

from __future__ import annotations

import pytest

from leadworker.cli.helpers import print_table
from leadworker.contracts import LeadRecord
from leadworker.enrich.normalization import normalize_record

HOSTILE = "\x1b[2J\x1b]8;;http://evil.test/\x1b\\Acme\x1b]8;;\x1b\\ \x1b[31mPlumbing\x1b[0m\u202e\u2066 LLC\x07\x9b"


def test_normalization_strips_escape_sequences_controls_and_bidi_overrides() -> None:
    record = LeadRecord(
        company_name=HOSTILE,
        emails=["info@acme.test\x1b[0m"],
        phones=["+1 503 555 0100\x1b[8m"],
        address="1 Main St\x1b[1m\nPortland\u202e",
        city="Port\x00land",
        contact_name="Jane\u2067 Doe",
        categories=["plumb\x1bcing"],
        socials={"facebook": "https://facebook.com/acme\x1b[0m"},
    )
    lead = normalize_record(record)
    assert lead.company is not None and lead.company.name == "Acme Plumbing LLC"
    assert [e.address for e in lead.emails] == ["info@acme.test"]
    assert [p.e164 for p in lead.phones] == ["+15035550100"]
    assert (lead.address, lead.city, lead.contact_name) == ("1 Main St, Portland", "Portland", "Jane Doe")
    # ESC c (a terminal reset) goes as a whole sequence, so no stray "c" is left behind
    assert lead.categories == ["plumbing"] and lead.socials == {"facebook": "https://facebook.com/acme"}


def test_tables_escape_what_would_drive_the_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    print_table([[1, HOSTILE], [2, "two\nlines\tand a tab"], [3, "\u202eHbmG\x9b"]], ["lead", "company"])
    out = capsys.readouterr().out
    assert not any(c in out for c in ("\x1b", "\x07", "\x9b", "\u202e", "\u2066", "\t"))
    assert out.count("\n") == 5  # header, rule, one line per row
    assert "\\x1b[2J" in out and "\\u202eHbmG\\x9b" in out and "two\\nlines\\tand a tab" in out


def test_ordinary_text_is_left_alone() -> None:
    from leadworker.common.controls import escape_controls, strip_controls

    for text in ("Müller & Söhne GmbH", "שלום\u200f 123", "Zürich\u00a0AG", "東京株式会社", "Ž\u017e"):
        assert strip_controls(text) == text and escape_controls(text) == text
