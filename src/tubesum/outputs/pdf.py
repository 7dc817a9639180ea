"""PDF report writer, drawn with Cairo's text API (the optional ``pdf`` extra: pycairo).

A4 pages with 2 cm margins: the title (wrapped), a metadata block, a rule, then the transcript paragraphs
(see ``_common.paragraphs``) with their ``[mm:ss]`` timestamp in a left gutter. Timestamps and the source
are PDF links for YouTube sources. Speaker turns get a bold ``SPEAKER_00`` line. Lines are wrapped with
Cairo's own text measurements; words wider than a line (and space-less scripts) are cut by characters.
Pages break automatically, never leaving a speaker line alone at the bottom, and the footer numbers every
page ``Page n of N``. Text uses "DejaVu Sans" (fontconfig falls back to another sans-serif font when it is
missing); glyphs the font lacks show as boxes but never fail.

Layout is computed first (a list of pages of positioned text runs), then drawn, so the page count is known
for the footers. The PDF's title and creator ("tubesum") are set in its metadata, and its creation date
comes from ``Transcript.created_at`` when that parses, so the bytes depend only on the record.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tubesum.errors import MissingExtraError
from tubesum.outputs._common import (
    clean_text,
    metadata_items,
    paragraphs,
    source_url,
    summary_label,
    timestamp,
    timestamp_url,
)
from tubesum.records import Summary, Transcript

__all__ = ["FONT_FAMILY", "PAGE_SIZE", "to_pdf"]

#: A4 in PostScript points.
PAGE_SIZE = (595.28, 841.89)
#: 2 cm.
MARGIN = 56.69
FONT_FAMILY = "DejaVu Sans"
_GUTTER_GAP = 10.0

Color = tuple[float, float, float]
_TEXT: Color = (0.1, 0.1, 0.1)
_MUTED: Color = (0.4, 0.4, 0.4)
_LINK: Color = (0.1, 0.3, 0.7)


@dataclass(frozen=True, slots=True)
class Style:
    """Font size (pt), weight, colour and line height (pt) of a run of text."""

    size: float
    bold: bool = False
    color: Color = _TEXT
    leading: float = 0.0

    @property
    def line_height(self) -> float:
        return self.leading or self.size * 1.45


TITLE = Style(size=18, bold=True)
META = Style(size=9.5, color=_MUTED)
META_LABEL = Style(size=9.5, bold=True, color=_MUTED)
STAMP = Style(size=9.5, color=_MUTED)
STAMP_LINK = Style(size=9.5, color=_LINK)
SPEAKER = Style(size=10, bold=True)
HEADING = Style(size=13, bold=True)
SUBHEADING = Style(size=11, bold=True)
BODY = Style(size=11)
FOOTER = Style(size=8, color=_MUTED)

Measure = Callable[[str, Style], float]


@dataclass(frozen=True, slots=True)
class Run:
    """Text to draw at a baseline position, optionally as a link."""

    x: float
    y: float
    text: str
    style: Style
    link: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """A thin horizontal line across the text width."""

    y: float


@dataclass
class Layout:
    """Pages of positioned runs, filled top to bottom."""

    measure: Measure
    pages: list[list[Run | Rule]] = field(default_factory=lambda: [[]])
    y: float = MARGIN

    @property
    def bottom(self) -> float:
        return PAGE_SIZE[1] - MARGIN - FOOTER.line_height * 2

    def need(self, height: float) -> None:
        """Start a new page unless ``height`` more points fit on this one."""
        if self.y + height > self.bottom and self.pages[-1]:
            self.pages.append([])
            self.y = MARGIN

    def line(self, x: float, text: str, style: Style, *, link: str | None = None) -> None:
        """Place one line at ``x`` on the next baseline."""
        self.need(style.line_height)
        self.y += style.line_height
        self.pages[-1].append(Run(x, self.y, text, style, link))

    def add(self, item: Run | Rule) -> None:
        self.pages[-1].append(item)


def to_pdf(transcript: Transcript) -> bytes:
    """Render the transcript as a PDF report. Needs pycairo (``pip install 'tubesum[pdf]'``)."""
    try:
        import cairo
    except ImportError as exc:
        raise MissingExtraError("PDF output", "pdf", package="pycairo") from exc
    buffer = io.BytesIO()
    surface = cairo.PDFSurface(buffer, *PAGE_SIZE)
    _set_metadata(cairo, surface, transcript)
    context = cairo.Context(surface)
    pages = layout(transcript, measure=lambda text, style: _advance(cairo, context, text, style))
    for number, page in enumerate(pages, start=1):
        for item in page:
            _draw(cairo, context, item)
        _footer(cairo, context, transcript, number, len(pages))
        context.show_page()
    surface.finish()
    return buffer.getvalue()


def layout(transcript: Transcript, *, measure: Measure) -> list[list[Run | Rule]]:
    """Lay the report out on pages; ``measure(text, style)`` returns a text's width in points."""
    page = Layout(measure)
    width = PAGE_SIZE[0] - 2 * MARGIN
    for line in wrap(clean_text(transcript.title) or "Transcript", width, TITLE, measure):
        page.line(MARGIN, line, TITLE)
    page.y += 6
    _metadata_block(page, transcript, width)
    page.y += 10
    page.add(Rule(page.y))
    page.y += 8
    if transcript.summary is not None:
        _summary_block(page, transcript, transcript.summary, width)
        page.y += 10
        page.add(Rule(page.y))
        page.y += 8
    _transcript_block(page, transcript, width)
    return page.pages


def _summary_block(page: Layout, transcript: Transcript, summary: Summary, width: float) -> None:
    """Place the summary: heading, how it was made, the abstract, then key points and chapters with times."""
    page.line(MARGIN, "Summary", HEADING)
    for line in wrap(summary_label(summary), width, META, page.measure):
        page.line(MARGIN, line, META)
    if summary.abstract.strip():
        page.y += BODY.size * 0.4
        for line in wrap(clean_text(summary.abstract), width, BODY, page.measure):
            page.line(MARGIN, line, BODY)
    sections: list[tuple[str, list[tuple[float | None, str]]]] = [
        ("Key points", [(k.start, k.text) for k in summary.key_points]),
        ("Chapters", [(c.start, c.title) for c in summary.chapters]),
    ]
    for heading, items in sections:
        if not items:
            continue
        page.y += BODY.size * 0.6
        page.need(SUBHEADING.line_height + BODY.line_height)
        page.line(MARGIN, heading, SUBHEADING)
        gutter = page.measure("00:00:00", STAMP) + _GUTTER_GAP
        for start, text in items:
            lines = wrap(clean_text(text), width - gutter, BODY, page.measure)
            page.need(BODY.line_height * min(2, len(lines)))
            link = timestamp_url(transcript, start) if start is not None else None
            for i, line in enumerate(lines):
                page.line(MARGIN + gutter, line, BODY)
                if i == 0 and start is not None:
                    page.add(Run(MARGIN, page.y, timestamp(start), STAMP_LINK if link else STAMP, link))


def _metadata_block(page: Layout, transcript: Transcript, width: float) -> None:
    """Place the metadata as a two-column list: bold labels, values wrapped in the second column."""
    items = metadata_items(transcript)
    link = source_url(transcript)
    indent = max((page.measure(f"{label}:", META_LABEL) for label, _ in items), default=0.0) + 6
    for label, value in items:
        for i, line in enumerate(wrap(value, width - indent, META, page.measure)):
            page.line(MARGIN + indent, line, META, link=link if label == "Source" else None)
            if i == 0:
                page.add(Run(MARGIN, page.y, f"{label}:", META_LABEL))


def _transcript_block(page: Layout, transcript: Transcript, width: float) -> None:
    items = paragraphs(transcript.segments)
    if not items:
        page.line(MARGIN, "No speech was transcribed.", META)
        return
    gutter = page.measure(timestamp(items[-1].start), STAMP) + _GUTTER_GAP
    column = MARGIN + gutter
    speaker: str | None = None
    for paragraph in items:
        lines = wrap(paragraph.text, width - gutter, BODY, page.measure)
        turn = bool(paragraph.speaker) and paragraph.speaker != speaker
        speaker = paragraph.speaker
        page.y += BODY.size * 0.6
        page.need((SPEAKER.line_height if turn else 0) + BODY.line_height * min(2, len(lines)))
        if turn:
            page.line(column, clean_text(paragraph.speaker or ""), SPEAKER)
        link = timestamp_url(transcript, paragraph.start)
        stamp = STAMP_LINK if link else STAMP
        for i, line in enumerate(lines):
            page.line(column, line, BODY)
            if i == 0:
                page.add(Run(MARGIN, page.y, timestamp(paragraph.start), stamp, link))


def wrap(text: str, width: float, style: Style, measure: Measure) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` points (words wider than that are cut)."""
    space = measure(" ", style)
    lines: list[str] = []
    current, current_width = "", 0.0
    for word in text.split():
        word_width = measure(word, style)
        if current and current_width + space + word_width <= width:
            current, current_width = f"{current} {word}", current_width + space + word_width
            continue
        if current:
            lines.append(current)
        pieces = _cut(word, width, style, measure) if word_width > width else [word]
        lines += pieces[:-1]
        current, current_width = pieces[-1], measure(pieces[-1], style)
    if current:
        lines.append(current)
    return lines


def _cut(word: str, width: float, style: Style, measure: Measure) -> list[str]:
    """Cut one over-wide word into pieces that fit ``width`` (at least one character each)."""
    pieces, current = [], ""
    for char in word:
        if current and measure(current + char, style) > width:
            pieces.append(current)
            current = ""
        current += char
    return [*pieces, current]


# -- drawing (everything below touches cairo) --------------------------------------------------------------
def _select(cairo: Any, context: Any, style: Style) -> None:
    weight = cairo.FONT_WEIGHT_BOLD if style.bold else cairo.FONT_WEIGHT_NORMAL
    context.select_font_face(FONT_FAMILY, cairo.FONT_SLANT_NORMAL, weight)
    context.set_font_size(style.size)


def _advance(cairo: Any, context: Any, text: str, style: Style) -> float:
    _select(cairo, context, style)
    return float(context.text_extents(text).x_advance)


def _draw(cairo: Any, context: Any, item: Run | Rule) -> None:
    if isinstance(item, Rule):
        context.set_source_rgb(*_MUTED)
        context.set_line_width(0.5)
        context.move_to(MARGIN, item.y)
        context.line_to(PAGE_SIZE[0] - MARGIN, item.y)
        context.stroke()
        return
    _select(cairo, context, item.style)
    context.set_source_rgb(*item.style.color)
    context.move_to(item.x, item.y)
    linked = item.link is not None and hasattr(context, "tag_begin")
    if linked:
        context.tag_begin(cairo.TAG_LINK, _link_attributes(item.link or ""))
    context.show_text(item.text)
    if linked:
        context.tag_end(cairo.TAG_LINK)


def _link_attributes(url: str) -> str:
    """Return Cairo's link attribute string; quotes and backslashes in the URL are escaped."""
    return "uri='{}'".format(url.replace("\\", "\\\\").replace("'", "\\'"))


def _footer(cairo: Any, context: Any, transcript: Transcript, number: int, total: int) -> None:
    y = PAGE_SIZE[1] - MARGIN + FOOTER.size
    label = f"Page {number} of {total}"
    right = PAGE_SIZE[0] - MARGIN - _advance(cairo, context, label, FOOTER)
    title = clean_text(transcript.title)
    title = title if len(title) <= 70 else title[:69] + "…"
    _draw(cairo, context, Run(MARGIN, y, title, FOOTER))
    _draw(cairo, context, Run(right, y, label, FOOTER))


def _set_metadata(cairo: Any, surface: Any, transcript: Transcript) -> None:
    if not hasattr(surface, "set_metadata"):  # cairo < 1.16
        return
    surface.set_metadata(cairo.PDF_METADATA_TITLE, clean_text(transcript.title))
    surface.set_metadata(cairo.PDF_METADATA_CREATOR, "tubesum")
    surface.set_metadata(cairo.PDF_METADATA_SUBJECT, "Transcript")
    created = _pdf_date(transcript.created_at)
    if created:
        surface.set_metadata(cairo.PDF_METADATA_CREATE_DATE, created)


def _pdf_date(value: str) -> str | None:
    """Return ``value`` as the ISO 8601 form Cairo wants, or None when it does not parse."""
    try:
        return datetime.fromisoformat(value).isoformat(timespec="seconds") if value else None
    except ValueError:
        return None
