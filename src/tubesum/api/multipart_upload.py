"""Read the ``file`` part of a ``multipart/form-data`` upload as a stream (what ``curl -F``, browsers and SDKs send).

The body is parsed incrementally with the ``multipart`` package's push parser (already installed with Litestar's
standard extra): the file part's bytes go straight to :func:`~tubesum.jobs.uploads.save_upload`, never all in
memory, so the upload size limit is enforced while streaming exactly as for a raw-body upload. Other form fields
are collected as text into :attr:`FilePart.fields` (within small limits): those before the file are there when
:func:`open_file_part` returns, those after it once the file's bytes have been read to the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from multipart import MultipartError, MultipartSegment, PushMultipartParser, parse_options_header

from tubesum.api.guards import InvalidBodyError

__all__ = ["FilePart", "is_multipart", "open_file_part", "open_form"]

FIELD = "file"
_MAX_PARTS = 32  # OpenAI-style forms send a handful of fields beside the file
_MAX_FIELD_BYTES = 64 * 1024  # a form field other than the file is a short text


def is_multipart(content_type: str) -> bool:
    media_type: str = parse_options_header(content_type)[0]
    return media_type == "multipart/form-data"


@dataclass
class FilePart:
    """The ``file`` part: its name and media type as the client sent them, and its bytes as an async stream."""

    filename: str
    content_type: str
    chunks: AsyncIterator[bytes]
    fields: dict[str, list[str]] = field(default_factory=dict)  # other form fields, by name, in order


async def open_file_part(body: AsyncIterator[bytes], content_type: str) -> FilePart:
    """Read ``body`` up to the header of its ``file`` part; the returned part streams the rest of that part.

    Raises :class:`~tubesum.api.guards.InvalidBodyError` (400) for a body that is not valid multipart or has no
    ``file`` part with a file name.
    """
    part, _ = await open_form(body, content_type)
    if part is None:
        raise InvalidBodyError(
            f"The multipart body has no '{FIELD}' part with a file name.", hint="curl -F 'file=@talk.mp3' …"
        )
    return part


async def open_form(body: AsyncIterator[bytes], content_type: str) -> tuple[FilePart | None, dict[str, list[str]]]:
    """Like :func:`open_file_part`, but a form without a ``file`` part is no error: it is read to its end and
    ``(None, fields)`` returned (its text fields only, within the same limits)."""
    boundary = parse_options_header(content_type)[1].get("boundary")
    if not boundary:
        raise InvalidBodyError("The multipart body has no boundary.", hint="Send it as multipart/form-data.")
    parser = PushMultipartParser(boundary, max_segment_count=_MAX_PARTS)
    events = _events(parser, body)
    fields: dict[str, list[str]] = {}
    collect = _FieldCollector(fields)
    async for event in events:
        if isinstance(event, MultipartSegment) and event.name == FIELD and event.filename:
            part = FilePart(event.filename, event.content_type or "application/octet-stream", _payload(events, collect))
            part.fields = fields
            return part, fields
        collect(event)
    return None, fields


async def _events(
    parser: PushMultipartParser, body: AsyncIterator[bytes]
) -> AsyncIterator[MultipartSegment | bytes | bytearray | None]:
    try:
        with parser:
            async for chunk in body:
                if not chunk:
                    continue
                for event in parser.parse(chunk):
                    yield event
            for event in parser.parse(b""):  # end of input: an incomplete stream raises here
                yield event
    except MultipartError as exc:
        raise InvalidBodyError(f"The multipart body is malformed: {exc}") from None


class _FieldCollector:
    """Gather the text fields of the form (name → values) from parser events, within the size limit."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields
        self.segment: MultipartSegment | None = None
        self.data = bytearray()

    def __call__(self, event: MultipartSegment | bytes | bytearray | None) -> None:
        if isinstance(event, MultipartSegment):
            self.segment, self.data = event, bytearray()
        elif isinstance(event, bytes | bytearray) and self.segment is not None:
            self.data += event
            if len(self.data) > _MAX_FIELD_BYTES:
                raise InvalidBodyError(f"A form field is larger than {_MAX_FIELD_BYTES // 1024} KiB.")
        elif event is None and self.segment is not None:
            if self.segment.name and not self.segment.filename:
                text = self.data.decode(self.segment.charset or "utf-8", errors="replace")
                self.fields.setdefault(self.segment.name, []).append(text)
            self.segment = None


async def _payload(
    events: AsyncIterator[MultipartSegment | bytes | bytearray | None], collect: _FieldCollector
) -> AsyncIterator[bytes]:
    """The file part's bytes; after its end, the rest of the body is read for its fields (the client sent it)."""
    async for event in events:
        if event is None:
            break
        if isinstance(event, bytes | bytearray):
            yield bytes(event)
    async for event in events:
        collect(event)
