"""Issue 19 item 10: caption parsing is safe on hostile input — no entity expansion anywhere in the document,
and, for any input of bounded size, either segments of bounded size or ``ValueError`` (property tests)."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tubesum.pipeline.captions import parse_captions

FORMATS = ("vtt", "srt", "json3", "srv3", "ttml")
MAX_INPUT = 4_000  # characters: enough for every construct, small enough for a fast CI run


def _bomb(padding: int) -> str:
    entities = "".join(f'<!ENTITY e{i} "{f"&e{i - 1};" * 10 if i else "x" * 100}">' for i in range(4))
    return (
        '<?xml version="1.0"?>'
        + f"<!-- {'pad ' * padding} -->"
        + f"<!DOCTYPE tt [{entities}]>"
        + '<tt><body><p begin="0s" end="1s">&e3;</p></body></tt>'
    )


@pytest.mark.parametrize("fmt", ["srv3", "ttml"])
@pytest.mark.parametrize("padding", [0, 2_000, 50_000])
def test_a_dtd_is_refused_wherever_it_appears(fmt: str, padding: int) -> None:
    with pytest.raises(ValueError, match="DTD"):
        parse_captions(_bomb(padding), fmt)


def test_external_entities_are_refused() -> None:
    doc = '<?xml version="1.0"?><!DOCTYPE tt SYSTEM "file:///etc/passwd"><tt><body><p begin="0s">x</p></body></tt>'
    with pytest.raises(ValueError):
        parse_captions(doc, "ttml")


def _check(data: str, fmt: str) -> None:
    started = time.perf_counter()
    try:
        segments = parse_captions(data, fmt)
    except ValueError:
        return
    finally:
        assert time.perf_counter() - started < 2.0, "parsing a small input must be fast"
    assert sum(len(s.text) for s in segments) <= len(data), "output is never larger than the input"


_xml_fragment = st.sampled_from(
    [
        "<p ",
        'begin="',
        'end="',
        't="',
        'd="',
        '">',
        "</p>",
        "<br/>",
        "<span>",
        "</span>",
        "&amp;",
        "&#x41;",
        "&lt;",
        "<tt>",
        "</tt>",
        "<body>",
        "</body>",
        "<timedtext>",
        "</timedtext>",
        "1s",
        "00:00:01.000",
        "00:00:01:15",
        "-1",
        "1e999",
        "nan",
        "ms",
        "<!--",
        "-->",
        "<![CDATA[",
        "]]>",
        "<!DOCTYPE x>",
        "\n",
        " ",
    ]
)
_cue_fragment = st.sampled_from(
    [
        "WEBVTT\n",
        "\n",
        "\n\n",
        "00:00:01.000 --> 00:00:02.000\n",
        "1\n",
        "00:00:01,000 --> 00:00:02,000\n",
        "-->",
        "<b>",
        "</b>",
        "<c.colorE5E5E5>",
        "{\\an8}",
        "&amp;",
        "&#9999999;",
        "99:99:99.999",
        "text ",
        "\r\n",
        "\u00a0",
        "\ufeff",
    ]
)
_json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=40,
)
_json3_event = st.fixed_dictionaries(
    {},
    optional={
        "tStartMs": st.integers() | st.floats(allow_nan=True) | st.text(max_size=5) | st.none(),
        "dDurationMs": st.integers() | st.floats(allow_nan=True) | st.text(max_size=5) | st.none(),
        "segs": st.lists(st.dictionaries(st.sampled_from(["utf8", "x"]), _json_value, max_size=2), max_size=4)
        | _json_value,
    },
)
_fuzz = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_fuzz
@given(st.text(max_size=MAX_INPUT), st.sampled_from(FORMATS))
def test_any_text_parses_or_raises_value_error(data: str, fmt: str) -> None:
    _check(data, fmt)


@_fuzz
@given(st.lists(_xml_fragment, max_size=200).map("".join), st.sampled_from(["srv3", "ttml"]))
def test_xml_shaped_input_parses_or_raises_value_error(data: str, fmt: str) -> None:
    _check(data, fmt)


@_fuzz
@given(st.lists(_cue_fragment, max_size=200).map("".join), st.sampled_from(["vtt", "srt"]))
def test_cue_shaped_input_parses_or_raises_value_error(data: str, fmt: str) -> None:
    _check(data, fmt)


@_fuzz
@given(st.one_of(st.lists(_json3_event, max_size=20).map(lambda e: {"events": e}), _json_value))
def test_json3_shaped_input_parses_or_raises_value_error(document: object) -> None:
    _check(json.dumps(document)[:MAX_INPUT], "json3")


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (
            '<timedtext><body><p t="1e999" d="1">a</p><p t="nan" d="1">b</p><p t="5" d="1">c</p></body></timedtext>',
            "srv3",
        ),
        (
            '{"events": [{"tStartMs": "inf", "segs": [{"utf8": "a"}]}, {"tStartMs": 1, "segs": [{"utf8": "c"}]}]}',
            "json3",
        ),
    ],
)
def test_times_are_finite_and_ordered(data: str, fmt: str) -> None:
    from tubesum.outputs import render
    from tubesum.records import Source, Transcript

    segments = parse_captions(data, fmt)
    assert [s.text for s in segments] == ["c"]
    assert all(0 <= s.start <= s.end for s in segments)
    transcript = Transcript(
        source=Source(kind="url", original="x", url="x"), segments=segments, language="en", origin="captions"
    )
    for out in ("srt", "vtt", "json", "txt", "md"):
        render(transcript, out)  # type: ignore[arg-type]
