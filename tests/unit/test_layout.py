"""The visible text of a page: lines per block, offsets that point into the text, invisible characters gone."""

from selectolax.lexbor import LexborHTMLParser

from leadworker.scrape.layout import layout_text


def lines_of(html: str) -> list[str]:
    layout = layout_text(LexborHTMLParser(html))
    return [layout.line_text(line) for line in layout.lines]


def test_blocks_make_lines_and_inline_pieces_join() -> None:
    html = (
        "<p>Call <b>us</b></p><footer><h2>Contact</h2><span>Phone:</span> 1</footer><table><tr><td>Tel</td><td>2</td>"
    )
    layout = layout_text(LexborHTMLParser(html))
    texts = [layout.line_text(line).split() for line in layout.lines]
    assert texts == [["Call", "us"], ["Contact"], ["Phone:", "1"], ["Tel", "2"]]
    assert [line.footer for line in layout.lines] == [False, True, True, False]
    assert [line.heading for line in layout.lines] == [False, True, False, False]


def test_zero_width_characters_are_taken_out_and_offsets_stay_true() -> None:
    # A zero-width space or soft hyphen hides an address from naive scrapers; the text reads without it, and a
    # link's offset still points at its own text.
    html = "<p>in\u200bfo@ac\u00adme.test <a href=' mailto:x@y.test '>wri&#8203;te</a></p><p>next</p>"
    layout = layout_text(LexborHTMLParser(html))
    assert "\u200b" not in layout.text and "\u00ad" not in layout.text
    first = layout.lines[0]
    assert layout.line_text(first).split() == ["info@acme.test", "write"]
    (anchor,) = first.anchors
    assert anchor.href == "mailto:x@y.test"
    assert layout.text[anchor.offset :].lstrip().startswith("write")
    assert layout.line_text(layout.lines[1]) == "next"


def test_a_line_of_whitespace_is_left_out() -> None:
    assert lines_of("<div> </div><p>\n</p><p>x</p>") == ["x"]
