"""The PDF report: real Cairo output, checked for structure, page breaks, links, metadata and text.

Text is read back two ways: with poppler's ``pdftotext`` when it is installed (CI installs poppler-utils),
and always with a small reader below that decodes Cairo's content streams through the fonts' ToUnicode
maps, so the text check runs on machines without poppler too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from tubesum.errors import MissingExtraError
from tubesum.outputs import render, to_pdf
from tubesum.outputs.pdf import MARGIN, PAGE_SIZE, SPEAKER, Layout, Run, layout, wrap
from tubesum.records import MediaInfo, Segment, Source, Transcript, Word

pytest.importorskip("cairo", reason="the pdf extra (pycairo) is not installed")

VIDEO_ID = "dQw4w9WgXcQ"


def make_transcript(*, segments: int = 4, title: str = "Quarterly Zeppelin Review") -> Transcript:
    base = (
        Segment(
            0.0,
            4.0,
            " Welcome to the zeppelin hangar.",
            speaker="SPEAKER_00",
            words=(Word(0.0, 1.0, " Welcome", 0.9), Word(1.0, 4.0, " to the zeppelin hangar.", 0.8)),
        ),
        Segment(4.0, 4.0, "Grüße aus Köln, ünïcödé — 日本語 and 🚀 emoji.", speaker="SPEAKER_01"),
        Segment(5.0, 9.0, "Control\x00 chars\x07 and a lone \ud800 surrogate survive.", speaker="SPEAKER_01"),
        Segment(9.0, 12.0, "A" + "very" * 15 + "longwordwithoutspacesthatmustbecutsomewhere."),
    )
    extra = tuple(
        Segment(
            12.0 + 6 * i,
            17.5 + 6 * i,
            f"Paragraph filler number {i} talks about airships. " * 2,
            speaker=f"SPEAKER_0{(i // 12) % 2}",
        )
        for i in range(max(0, segments - len(base)))
    )
    return Transcript(
        source=Source(
            kind="youtube",
            original=f"https://youtu.be/{VIDEO_ID}",
            url=f"https://www.youtube.com/watch?v={VIDEO_ID}",
            video_id=VIDEO_ID,
        ),
        segments=base[:segments] + extra,
        language="en",
        origin="whisper",
        info=MediaInfo(title=title, duration=12.0 + 6 * len(extra), uploader="Airship Society"),
        model="tiny.en",
        tubesum_version="0.1.0",
        created_at="2025-03-04T05:06:07+00:00",
    )


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))


# -- a minimal text reader for Cairo's PDFs -----------------------------------------------------------------
def _objects(pdf: bytes) -> dict[int, bytes]:
    return {int(m.group(1)): m.group(2) for m in re.finditer(rb"(\d+) 0 obj(.*?)endobj", pdf, re.S)}


def _stream(body: bytes) -> bytes:
    data = re.search(rb"stream\r?\n(.*?)\r?\nendstream", body, re.S)
    assert data is not None
    return zlib.decompress(data.group(1)) if b"/FlateDecode" in body else data.group(1)


def _cmap(text: bytes) -> tuple[int, dict[bytes, str]]:
    width = len(re.search(rb"begincodespacerange\s*<([0-9a-fA-F]+)>", text).group(1)) // 2  # type: ignore[union-attr]
    mapping = {}
    for src, dst in re.findall(rb"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>", text.split(b"endcodespacerange")[1]):
        mapping[bytes.fromhex(src.decode())] = bytes.fromhex(dst.decode()).decode("utf-16-be")
    return width, mapping


def _literal(raw: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(raw):
        if raw[i : i + 1] == b"\\":
            octal = re.match(rb"[0-7]{1,3}", raw[i + 1 :])
            if octal:
                out.append(int(octal.group(), 8))
                i += 1 + len(octal.group())
                continue
            out += {b"n": b"\n", b"r": b"\r", b"t": b"\t"}.get(raw[i + 1 : i + 2], raw[i + 1 : i + 2])
            i += 2
            continue
        out += raw[i : i + 1]
        i += 1
    return bytes(out)


def extract_text(pdf: bytes) -> str:
    """Return the text of every page, one shown string per line, decoded through the ToUnicode maps."""
    objects = _objects(pdf)
    fonts = {}
    for name, number in set(re.findall(rb"/(f-\d+-\d+) (\d+) 0 R", pdf)):
        to_unicode = re.search(rb"/ToUnicode (\d+) 0 R", objects[int(number)])
        if to_unicode:
            fonts[name] = _cmap(_stream(objects[int(to_unicode.group(1))]))
    lines = []
    for number in re.findall(rb"/Contents (\d+) 0 R", pdf):
        content = _stream(objects[int(number)])
        token = re.compile(rb"/(f-\d+-\d+) [\d.]+ Tf|\((?:\\.|[^\\)])*\)|<[0-9a-fA-F]*>|T[jJ]")
        font, shown = (1, {}), ""
        for match in token.finditer(content):
            piece = match.group()
            if match.group(1):
                font = fonts[match.group(1)]
            elif piece in (b"Tj", b"TJ"):
                lines.append(shown)
                shown = ""
            else:
                data = bytes.fromhex(piece[1:-1].decode()) if piece[:1] == b"<" else _literal(piece[1:-1])
                width, mapping = font
                shown += "".join(mapping.get(data[i : i + width], "\ufffd") for i in range(0, len(data), width))
    return "\n".join(lines)


# -- the report ---------------------------------------------------------------------------------------------
def test_pdf_is_a_pdf_document() -> None:
    pdf = to_pdf(make_transcript())
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert page_count(pdf) == 1


def test_render_pdf_returns_the_same_bytes_as_to_pdf() -> None:
    transcript = make_transcript()
    assert render(transcript, "pdf") == to_pdf(transcript)


def test_pdf_is_deterministic_for_one_record() -> None:
    assert to_pdf(make_transcript(segments=30)) == to_pdf(make_transcript(segments=30))


def test_pdf_page_count_grows_with_a_long_transcript() -> None:
    short, long = to_pdf(make_transcript(segments=4)), to_pdf(make_transcript(segments=200))
    assert page_count(short) == 1
    assert page_count(long) >= 5
    assert b"/Count %d" % page_count(long) in long


def test_pdf_text_is_extractable_with_unicode() -> None:
    text = extract_text(to_pdf(make_transcript()))
    for expected in (
        "Quarterly Zeppelin Review",
        "Welcome to the zeppelin hangar.",
        "Grüße aus Köln",
        "ünïcödé",
        "SPEAKER_01",
        "00:04",
        "Airship Society",
        "Page 1 of 1",
    ):
        assert expected in text
    assert "Control chars and a lone surrogate" in text


def test_pdf_footer_numbers_every_page() -> None:
    pdf = to_pdf(make_transcript(segments=200))
    total = page_count(pdf)
    text = extract_text(pdf)
    assert [f"Page {n} of {total}" in text for n in range(1, total + 1)] == [True] * total


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext: apt-get install poppler-utils")
def test_pdf_text_is_extractable_with_pdftotext(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(to_pdf(make_transcript(segments=60)))
    output = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    text = " ".join(output.split())
    for expected in ("Quarterly Zeppelin Review", "zeppelin hangar", "Grüße aus Köln", "filler number 55"):
        assert expected in text
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True).stdout
    assert re.search(r"Creator:\s+tubesum", info)
    assert re.search(r"Page size:\s+595\.\d+ x 841\.\d+ pts", info)


def test_pdf_metadata_has_title_and_creator() -> None:
    pdf = to_pdf(make_transcript())
    assert b"/Title (Quarterly Zeppelin Review)" in pdf
    assert b"/Creator (tubesum)" in pdf
    assert b"/CreationDate (20250304050607" in pdf


def test_pdf_links_timestamps_into_the_youtube_video() -> None:
    pdf = to_pdf(make_transcript(segments=30))
    assert f"/URI (https://www.youtube.com/watch?v={VIDEO_ID})".encode() in pdf
    assert f"/URI (https://www.youtube.com/watch?v={VIDEO_ID}&t=0s)".encode() in pdf


def test_pdf_survives_hostile_and_empty_input() -> None:
    hostile = make_transcript(title="<script>alert('x')</script> \x00 " + "Very long title " * 20)
    text = " ".join(extract_text(to_pdf(hostile)).split())
    assert text.startswith("<script>alert('x')</script> " + "Very long title " * 20)
    empty = make_transcript().with_segments(())
    assert "No speech was transcribed." in extract_text(to_pdf(empty))


def test_pdf_without_pycairo_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cairo", None)  # makes `import cairo` raise ImportError
    with pytest.raises(MissingExtraError) as info:
        to_pdf(make_transcript())
    assert info.value.code == "missing_extra"
    assert "tubesum[pdf]" in str(info.value)
    assert "pycairo" in str(info.value)


# -- layout, with a fake 6-points-per-character font ------------------------------------------------------
def fake_measure(text: str, style: object) -> float:
    return 6.0 * len(text)


def test_wrap_keeps_lines_inside_the_width_and_cuts_long_words() -> None:
    lines = wrap("one two three " + "x" * 50 + " four", 60.0, SPEAKER, fake_measure)
    assert all(fake_measure(line, SPEAKER) <= 60.0 for line in lines)
    assert lines[:2] == ["one two", "three"]
    assert "".join(lines[2:-1]) == "x" * 50
    assert lines[-1].endswith("four")


def test_layout_keeps_every_run_inside_the_page_margins() -> None:
    pages = layout(make_transcript(segments=200), measure=fake_measure)
    assert len(pages) > 3
    bottom = Layout(fake_measure).bottom
    runs = [item for page in pages for item in page if isinstance(item, Run)]
    assert all(
        run.x >= MARGIN and run.x + fake_measure(run.text, run.style) <= PAGE_SIZE[0] - MARGIN + 0.01 for run in runs
    )
    assert all(MARGIN < run.y <= bottom for run in runs)


def test_layout_never_leaves_a_speaker_line_last_on_a_page() -> None:
    for page in layout(make_transcript(segments=200), measure=fake_measure):
        runs = [item for item in page if isinstance(item, Run)]
        assert runs[-1].style != SPEAKER
