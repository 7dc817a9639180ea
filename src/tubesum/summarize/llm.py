"""Abstractive summaries by any ChatBackend: map the transcript's chunks to partial summaries, then reduce.

The transcript is split into timed sentences and rendered as ``[mm:ss] text`` lines (``[h:mm:ss]`` after an
hour), cut into chunks that fit the backend's context next to the instructions and the answer. MAP asks for a
JSON summary of each chunk whose key points cite those timestamps; REDUCE combines the partial summaries (in
rounds, when they do not fit one prompt together) into the abstract and key points. A short transcript is
summarized by one call. Every request is a system and a user message; replies are JSON of this form::

    {"summary": "2 to 5 sentences", "key_points": [{"text": "one sentence", "timestamp": "12:34"}]}

Replies are read leniently: the first JSON object (also inside a ```json fence), validated with pydantic;
else bullet or plain lines as key points. A cited timestamp maps to the nearest sentence start within two
seconds, else the key point gets no time: a time is never made up.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from tubesum.errors import SummaryBackendError, SummaryError
from tubesum.progress import ProgressFn, no_progress
from tubesum.records import KeyPoint, Summary, Transcript
from tubesum.summarize.base import ChatBackend, ChatMessage
from tubesum.summarize.chunking import chunk_sentences
from tubesum.summarize.sentences import Sentence, split_sentences

__all__ = ["LlmSummarizer", "format_timestamp", "parse_reply"]

logger = logging.getLogger(__name__)

_MESSAGE_OVERHEAD = 8  # role markers and separators a chat template adds per message
_TOLERANCE = 2.0  # seconds between a cited timestamp and a sentence start
_LANGUAGES = {
    "ar": "Arabic", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "fi": "Finnish", "fr": "French", "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian",
    "id": "Indonesian", "it": "Italian", "ja": "Japanese", "ko": "Korean", "nl": "Dutch", "no": "Norwegian",
    "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sv": "Swedish", "th": "Thai",
    "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese",
}  # fmt: skip
_FORMAT = (
    'Answer with one JSON object and nothing else: {"summary": "<SENTENCES>", "key_points": '
    '[{"text": "<one sentence>", "timestamp": "<mm:ss>"}]}. '
)
_MAP_SYSTEM = (
    "You summarize transcripts of spoken media (videos, talks, meetings). Each transcript line starts with the "
    "time it was said, like [12:34]. Write in {language}. "
    + _FORMAT.replace("SENTENCES", "2 to 4 sentences")
    + "Each key point's timestamp is the time of the transcript line it comes from, exactly as shown. "
    "Use only what the transcript says."
)
_REDUCE_SYSTEM = (
    "You combine partial summaries of one transcript, in order, into one summary of the whole. "
    "Write in {language}. "
    + _FORMAT.replace("SENTENCES", "3 to 5 sentences about the whole")
    + "Keep each key point's timestamp exactly as given; leave it out when the point has none."
)
_MAP_USER = "Part {part} of {parts} of the transcript ({start}-{end}):\n\n{text}\n\n{ask}"
_ONE_USER = "Transcript ({start}-{end}):\n\n{text}\n\n{ask}"
_REDUCE_USER = "Partial summaries, in time order:\n\n{text}\n\n{ask}"
_ASK = "Summarize this and list up to {points} key points, in the order they occur."


class _Point(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str = Field(validation_alias=AliasChoices("text", "point", "key_point", "content"))
    timestamp: str | None = Field(None, validation_alias=AliasChoices("timestamp", "time", "start", "ts"))

    @field_validator("timestamp", mode="before")
    @classmethod
    def _seconds_to_stamp(cls, value: object) -> object:
        return format_timestamp(float(value)) if isinstance(value, int | float) else value


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")

    summary: str = Field("", validation_alias=AliasChoices("summary", "abstract", "overview"))
    key_points: list[_Point | str] = Field(
        default_factory=list, validation_alias=AliasChoices("key_points", "keyPoints", "keypoints", "points")
    )


_POINT: TypeAdapter[_Point | str] = TypeAdapter(_Point | str)


@dataclass(frozen=True, slots=True)
class _Partial:
    """A parsed reply: summary text and key points (times mapped onto the transcript)."""

    summary: str
    points: tuple[KeyPoint, ...]


class LlmSummarizer:
    """Summarize with any ChatBackend by map-reduce over chunks that fit its context.

    The answer may take ``min(768, max(128, context_tokens // 4))`` tokens; the transcript text of one request
    gets what is left after the instructions, 8 tokens a message and a 2% margin (``prompt_budget()``).
    """

    def __init__(self, backend: ChatBackend, *, max_points: int = 7) -> None:
        if max_points < 1:
            raise ValueError(f"max_points must be at least 1, not {max_points}")
        self.backend = backend
        self.max_points = max_points
        self.name = backend.name
        self.answer_tokens = min(768, max(128, backend.context_tokens // 4))

    def summarize(
        self, transcript: Transcript, *, language: str | None = None, progress: ProgressFn | None = None
    ) -> Summary:
        """Return an abstractive summary in ``language`` (default: the transcript's language)."""
        sentences = split_sentences(transcript)
        if not sentences:
            raise SummaryError("Nothing to summarize: the transcript is empty.")
        lang = language or transcript.language
        run = _Run(self, sentences, _language_name(lang), progress or no_progress)
        final = run.summarize()
        points = _unique(final.points)[: self.max_points]
        abstract = final.summary or " ".join(p.text for p in points[:3])
        return Summary(
            abstract=abstract,
            key_points=points,
            method="abstractive",
            backend=self.backend.name,
            model=self.backend.model,
            language=lang,
        )

    def prompt_budget(self) -> int:
        """Return the tokens left for transcript text in one request (context minus instructions and answer)."""
        count = self.backend.count_tokens
        sample = {"part": 999, "parts": 999, "start": "00:00:00", "end": "00:00:00", "text": ""}
        ask = _ASK.format(points=self.max_points * 2)
        overhead = max(
            count(system.replace("{language}", "x" * 40)) + count(user.format(ask=ask, **sample))
            for system, user in ((_MAP_SYSTEM, _MAP_USER), (_MAP_SYSTEM, _ONE_USER), (_REDUCE_SYSTEM, _REDUCE_USER))
        )
        context = self.backend.context_tokens
        budget = context - self.answer_tokens - overhead - 2 * _MESSAGE_OVERHEAD - max(16, context // 50)
        if budget < 64:
            raise SummaryError(
                f"The summary model's context ({context} tokens) is too small for a prompt.",
                hint="Use a model with a larger context window.",
            )
        return budget


class _Run:
    """One summarize call: the chunks, the calls made so far and the progress reported."""

    def __init__(self, owner: LlmSummarizer, sentences: list[Sentence], language: str, progress: ProgressFn) -> None:
        self.owner = owner
        self.backend = owner.backend
        self.sentences = sentences
        self.starts = [math.floor(s.start) for s in sentences]
        self.language = language
        self.progress = progress
        self.budget = owner.prompt_budget()
        self.done = 0
        self.total = 0

    def summarize(self) -> _Partial:
        count = self.backend.count_tokens
        chunks = chunk_sentences(
            self.sentences,
            max_tokens=self.budget,
            overlap_tokens=min(200, self.budget // 10),
            count_tokens=lambda text: count(f"[00:00:00] {text}\n"),
        )
        self.total = len(chunks) + (len(chunks) > 1)
        self.progress("summarize", 0, self.total)
        if len(chunks) == 1:
            start, end = format_timestamp(chunks[0].start), format_timestamp(chunks[0].end)
            ask = _ASK.format(points=self.owner.max_points)
            user = _ONE_USER.format(start=start, end=end, text=_lines(chunks[0].sentences), ask=ask)
            return self._ask_required(_MAP_SYSTEM, user)
        per_chunk = min(self.owner.max_points, max(3, math.ceil(2 * self.owner.max_points / len(chunks))))
        partials: list[tuple[str, _Partial]] = []
        for number, chunk in enumerate(chunks, 1):
            start, end = format_timestamp(chunk.start), format_timestamp(chunk.end)
            user = _MAP_USER.format(
                part=number,
                parts=len(chunks),
                start=start,
                end=end,
                text=_lines(chunk.sentences),
                ask=_ASK.format(points=per_chunk),
            )
            partial = self._ask(_MAP_SYSTEM, user)
            if partial is None:
                logger.warning("The summary model's answer for part %d was not usable; skipping it", number)
            else:
                partials.append((f"{start}-{end}", partial))
        if not partials:
            raise SummaryBackendError("The summary model gave no usable answer for any part of the transcript.")
        return self._reduce([_render(i, span, p) for i, (span, p) in enumerate(partials, 1)])

    def _reduce(self, blocks: list[str]) -> _Partial:
        """Combine rendered partial summaries, in rounds of prompts that fit, into the final one."""
        count = self.backend.count_tokens
        while True:
            blocks = [_fit(block, self.budget // 2, count) for block in blocks]
            groups: list[list[str]] = [[]]
            used = 0
            for block in blocks:
                tokens = count(block + "\n\n")
                if groups[-1] and used + tokens > self.budget:
                    groups.append([])
                    used = 0
                groups[-1].append(block)
                used += tokens
            if len(groups) == 1:
                user = _REDUCE_USER.format(text="\n\n".join(blocks), ask=_ASK.format(points=self.owner.max_points))
                return self._ask_required(_REDUCE_SYSTEM, user)
            self.total += len(groups)
            merged = []
            for number, group in enumerate(groups, 1):
                user = _REDUCE_USER.format(text="\n\n".join(group), ask=_ASK.format(points=self.owner.max_points))
                merged.append(_render(number, "", self._ask_required(_REDUCE_SYSTEM, user)))
            blocks = merged

    def _ask(self, system: str, user: str) -> _Partial | None:
        """Make one chat call and parse its reply (None when the reply is not usable)."""
        messages = [ChatMessage("system", system.replace("{language}", self.language)), ChatMessage("user", user)]
        reply = self.backend.complete(messages, max_tokens=self.owner.answer_tokens)
        self.done += 1
        self.progress("summarize", self.done, max(self.total, self.done))
        return self._parse(reply)

    def _ask_required(self, system: str, user: str) -> _Partial:
        partial = self._ask(system, user)
        if partial is None:
            raise SummaryBackendError("The summary model's answer had no summary or key points.")
        return partial

    def _parse(self, reply: str) -> _Partial | None:
        parsed = parse_reply(reply)
        if parsed is None:
            return None
        summary, points = parsed
        return _Partial(summary, tuple(self._key_point(text, stamp) for text, stamp in points))

    def _key_point(self, text: str, stamp: str | None) -> KeyPoint:
        seconds = _parse_timestamp(stamp) if stamp else None
        if seconds is None:
            return KeyPoint(text)
        at = bisect.bisect_left(self.starts, seconds)
        nearest = min(
            (i for i in (at - 1, at) if 0 <= i < len(self.starts)), key=lambda i: (abs(self.starts[i] - seconds), i)
        )
        if abs(self.starts[nearest] - seconds) > _TOLERANCE:
            return KeyPoint(text)
        sentence = self.sentences[nearest]
        return KeyPoint(text, start=sentence.start, end=sentence.end)


_STAMP = r"\d{1,2}:\d{2}(?::\d{2})?"
_LEADING_STAMP = re.compile(rf"^\s*\[?({_STAMP})\]?\s*[-–:]?\s*")
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_BULLET = re.compile(r"^\s*(?:[-*•‣–]|\d{1,2}[.)])\s+(.*\S)\s*$")


def parse_reply(reply: str) -> tuple[str, list[tuple[str, str | None]]] | None:
    """Return ``(summary, [(key point, timestamp or None)])`` read from a model's reply, or None if unusable.

    The first JSON object (in a ```json fence or not) wins when it validates and says something; else bullet
    lines are key points and the other lines the summary; else every line is a key point.
    """
    data = _first_json_object(reply)
    if data is not None:
        model = _validate(data)
        points = [_split_stamp(p) if isinstance(p, str) else _point(p) for p in model.key_points]
        points = [(text, stamp) for text, stamp in points if text]
        if model.summary.strip() or points:
            return " ".join(model.summary.split()), points
    lines = [_clean(line) for line in reply.splitlines()]
    lines = [line for line in lines if line and not _jsonish(line) and not line.endswith(":")]
    bullets = [m.group(1) for m in map(_BULLET.match, lines) if m]
    if bullets:
        prose = [line for line in lines if not _BULLET.match(line)]
        return " ".join(prose), [_split_stamp(b) for b in bullets]
    if lines:
        return "", [_split_stamp(line) for line in lines]
    return None


def format_timestamp(seconds: float) -> str:
    """Return ``mm:ss`` (``h:mm:ss`` from one hour on) for a time in seconds, rounded down."""
    total = max(0, math.floor(seconds))
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


def _parse_timestamp(stamp: str) -> int | None:
    match = re.search(_STAMP, stamp)
    if match is None:
        return None
    value = 0
    for part in match.group(0).split(":"):
        value = value * 60 + int(part)
    return value


def _validate(data: dict[str, Any]) -> _Reply:
    """Validate a reply object; when some key points are malformed, keep the summary and the others."""
    try:
        return _Reply.model_validate(data)
    except ValidationError:
        pass
    summary = next((data[k] for k in ("summary", "abstract", "overview") if isinstance(data.get(k), str)), "")
    raw: object = next((data[k] for k in ("key_points", "keyPoints", "keypoints", "points") if k in data), [])
    kept: list[_Point | str] = []
    for item in raw if isinstance(raw, list) else []:
        try:
            kept.append(_POINT.validate_python(item))
        except ValidationError:
            continue
    return _Reply.model_validate({"summary": summary, "key_points": kept})


def _first_json_object(reply: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    for text in [*_FENCE.findall(reply), reply]:
        for match in re.finditer(r"\{", text):
            try:
                value, _ = decoder.raw_decode(text, match.start())
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def _point(point: _Point) -> tuple[str, str | None]:
    text, stamp = _split_stamp(point.text)
    return text, point.timestamp or stamp


def _split_stamp(text: str) -> tuple[str, str | None]:
    """Split a leading ``[12:34]`` off a key point's text."""
    match = _LEADING_STAMP.match(text)
    if match is None:
        return " ".join(text.split()), None
    return " ".join(text[match.end() :].split()), match.group(1)


def _clean(line: str) -> str:
    return line.strip().strip("#").replace("**", "").strip()


def _jsonish(line: str) -> bool:
    return line[:1] in '{}[]"`' or line.endswith(("{", "[", "```"))


def _lines(sentences: Sequence[Sentence]) -> str:
    return "\n".join(f"[{format_timestamp(s.start)}] {s.text}" for s in sentences)


def _render(number: int, span: str, partial: _Partial) -> str:
    lines = [f"Part {number}" + (f" ({span}):" if span else ":"), partial.summary]
    for point in partial.points:
        stamp = f"[{format_timestamp(point.start)}] " if point.start is not None else ""
        lines.append(f"- {stamp}{point.text}")
    return "\n".join(line for line in lines if line)


def _fit(block: str, limit: int, count: Callable[[str], int]) -> str:
    """Drop a block's last lines until it takes at most ``limit`` tokens (never below its first line)."""
    lines = block.split("\n")
    while len(lines) > 1 and count("\n".join(lines) + "\n\n") > limit:
        lines.pop()
    text = "\n".join(lines)
    while count(text + "\n\n") > limit and len(text) > 1:
        text = text[: len(text) * 3 // 4]
    return text


def _unique(points: Sequence[KeyPoint]) -> tuple[KeyPoint, ...]:
    seen: set[str] = set()
    unique = []
    for point in points:
        key = point.text.casefold()
        if key not in seen:
            seen.add(key)
            unique.append(point)
    return tuple(unique)


def _language_name(code: str | None) -> str:
    if not code:
        return "the language of the transcript"
    return _LANGUAGES.get(code.lower().split("-")[0], f"the language with code '{code}'")
