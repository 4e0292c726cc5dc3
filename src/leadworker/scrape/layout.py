"""A page's visible text as a visitor reads it: lines of blocks, and where each line sits on the page.

Block elements (paragraphs, headings, list items, sections, the footer...) start and end lines, so the text of
two adjacent blocks never runs together (``…acme DOT com.</p><footer>Phone:`` reads ``…acme DOT com.`` and
``Phone:`` on two lines); inline elements and table cells are joined by a space, so a label in a row's first
cell still sits next to its value. Each line keeps what the extractors that judge *whose* contact a value is
need: whether it is in the page's footer, the block elements it sits in, and the links it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

BLOCK_TAGS = frozenset(
    {
        "body",
        "p",
        "div",
        "section",
        "article",
        "header",
        "footer",
        "main",
        "nav",
        "aside",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "li",
        "ul",
        "ol",
        "table",
        "tr",
        "tbody",
        "thead",
        "tfoot",
        "caption",
        "form",
        "fieldset",
        "blockquote",
        "pre",
        "address",
        "br",
        "hr",
        "dl",
        "dt",
        "dd",
        "figure",
        "figcaption",
        "details",
        "summary",
        "option",
        "center",
        "menu",
        "dialog",
        "legend",
        "hgroup",
        "search",
    }
)
_BREAKS = frozenset({"br", "hr"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_INVISIBLE_CHARS = dict.fromkeys(map(ord, _INVISIBLE), None)
FOOTER_SELECTOR = (
    "footer, [role=contentinfo i], [id*=footer i], [class*=footer i], [id*=colophon i], [class*=colophon i], "
    "[id*=credit i], [class*=credit i], [id*=copyright i], [class*=copyright i], [class*=site-info i]"
)
"""Elements that are a page's footer: the ``<footer>``, its ARIA role, and the ids and classes themes give it."""


@dataclass(slots=True)
class Anchor:
    """A link in the text: where it starts and what it points to (``mailto:``, ``tel:`` and web links)."""

    offset: int
    href: str


@dataclass(slots=True)
class Line:
    """One line of the text: ``text[start:end]`` of :class:`Layout`."""

    start: int
    end: int
    blocks: tuple[int, ...]
    """The block elements (their ``mem_id``) the line sits in, outermost first."""
    footer: bool
    heading: bool = False
    """Inside a heading (``h1``-``h6``)."""
    anchors: list[Anchor] = field(default_factory=list)


@dataclass
class Layout:
    """The visible text of a page and its lines (blank lines left out)."""

    text: str
    lines: list[Line]

    def line_text(self, line: Line) -> str:
        return self.text[line.start : line.end]


class _Builder:
    """The text and lines so far, and the elements the walk is inside."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.lines: list[Line] = []
        self.line_start = 0
        self.has_text = False
        self.anchors: list[Anchor] = []
        self.blocks: list[int] = []
        self.current_blocks: tuple[int, ...] = ()
        self.footer_depth = 0
        self.heading_depth = 0

    def end_line(self) -> None:
        """Close the current line (kept if it holds more than whitespace) and start the next one."""
        if self.has_text or self.anchors:
            self.lines.append(
                Line(
                    self.line_start,
                    self.length,
                    self.current_blocks,
                    self.footer_depth > 0,
                    self.heading_depth > 0,
                    self.anchors,
                )
            )
            self.anchors = []
            self.has_text = False
        self.parts.append("\n")
        self.length += 1
        self.line_start = self.length

    def enter(self, node: LexborNode, tag: str | None, is_block: bool, is_footer: bool) -> None:
        """Step into an element's children."""
        if is_block:
            self.blocks.append(node.mem_id)
            self.current_blocks = tuple(self.blocks)
            if tag in _HEADINGS:
                self.heading_depth += 1
        if is_footer:
            self.footer_depth += 1

    def leave(self, node: LexborNode, was_block: bool, was_footer: bool) -> None:
        """Step out of an element whose children are all read."""
        if was_block:
            self.end_line()
            self.blocks.pop()
            self.current_blocks = tuple(self.blocks)
            if node.tag in _HEADINGS:
                self.heading_depth -= 1
        if was_footer:
            self.footer_depth -= 1


def layout_text(tree: LexborHTMLParser) -> Layout:
    """The visible text of ``tree``'s body (scripts, styles and hidden elements already removed), a line per
    block and a space between inline pieces."""
    body = tree.body
    if body is None:
        return Layout("", [])
    footers = {node.mem_id for node in tree.css(FOOTER_SELECTOR)}
    layout = _walk(body, footers, strip_invisible=False)
    if any(char in layout.text for char in _INVISIBLE):
        # Rare: walk again taking the invisible characters out of each piece, so that offsets stay true.
        layout = _walk(body, footers, strip_invisible=True)
    return layout


def _walk(body: LexborNode, footers: set[int], *, strip_invisible: bool) -> Layout:
    """A depth-first walk of ``body`` that also sees where elements end. It runs for every node of every page
    fetched: text, the commonest node, is added here rather than through a method call."""
    out = _Builder()
    parts = out.parts
    # (node, is block, is footer) of the open elements.
    stack: list[tuple[LexborNode, bool, bool]] = []
    node: LexborNode | None = body.child
    while node is not None:
        tag = node.tag
        if tag == "-text":
            text = node.text_content
            if text:
                if strip_invisible:
                    text = text.translate(_INVISIBLE_CHARS)
                parts.append(text)
                out.length += len(text)
                if not out.has_text and not text.isspace():
                    out.has_text = True
        else:
            child = node.child
            is_block = tag in BLOCK_TAGS
            if is_block:
                out.end_line()
            else:
                href = node.attributes.get("href") if tag in ("a", "area") else None
                if href:
                    out.anchors.append(Anchor(out.length, href.strip()))
                parts.append(" ")
                out.length += 1
            if child is not None and tag not in _BREAKS:
                is_footer = node.mem_id in footers
                stack.append((node, is_block, is_footer))
                if is_block or is_footer:
                    out.enter(node, tag, is_block, is_footer)
                node = child
                continue
        # No children to enter: on to the next sibling, closing the elements that end here.
        following = node.next
        while following is None and stack:
            node, was_block, was_footer = stack.pop()
            if was_block or was_footer:
                out.leave(node, was_block, was_footer)
            following = node.next
        node = following
    out.end_line()
    return Layout("".join(parts), out.lines)
