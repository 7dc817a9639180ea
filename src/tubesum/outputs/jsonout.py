"""JSON writer and reader, with the JSON Schema the document follows.

The document is ``Transcript.to_dict()`` plus fields that save readers a lookup (``video_id``, ``title``,
``text``) and a segment ``id`` (0-based, like OpenAI's ``verbose_json``). ``duration`` is the transcript's own
(``media.duration`` is the site's). Keys keep a stable insertion order; non-ASCII text is written as UTF-8, not
``\\u`` escapes. ``format_version`` changes only when a field is removed or changes meaning; new fields come
with a schema update (the schema is strict, so tests catch drift between the records and the schema).

The schema (JSON Schema draft 2020-12) ships as package data: ``transcript.schema.json``, read with
``load_schema()``.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from tubesum.errors import OutputError
from tubesum.records import Transcript

__all__ = ["FORMAT_VERSION", "SCHEMA_FILE", "from_json", "load_schema", "to_json", "transcript_document"]

#: Version of the document layout (not of tubesum).
FORMAT_VERSION = 1
#: The schema's file name inside the ``tubesum.outputs`` package.
SCHEMA_FILE = "transcript.schema.json"


def transcript_document(transcript: Transcript) -> dict[str, Any]:
    """Return the JSON document for ``transcript`` as a dict (what ``to_json`` serialises)."""
    data = transcript.to_dict()
    segments = [{"id": i, **segment} for i, segment in enumerate(data["segments"])]
    return {
        "format_version": FORMAT_VERSION,
        "tubesum_version": data["tubesum_version"],
        "created_at": data["created_at"],
        "source": data["source"],
        "media": data["media"],
        "video_id": transcript.source.video_id,
        "title": transcript.title,
        "duration": data["duration"],
        "language": data["language"],
        "language_probability": data["language_probability"],
        "model": data["model"],
        "origin": data["origin"],
        "diarization": data["diarization"],
        "speakers": list(transcript.speakers),
        "summary": data["summary"],
        "segments": segments,
        "text": transcript.text,
    }


def to_json(transcript: Transcript) -> str:
    """Render the transcript as an indented JSON document (UTF-8 text, a trailing newline)."""
    return json.dumps(transcript_document(transcript), ensure_ascii=False, indent=2) + "\n"


def from_json(text: str | bytes) -> Transcript:
    """Read a document written by ``to_json`` back into a ``Transcript``.

    The derived fields (``title``, ``text``, ...) are ignored: the record computes them. Raises
    ``OutputError`` when the text is not a transcript document.
    """
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError("the document is not a JSON object")
        if data.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
            raise ValueError(f"format_version {data['format_version']} is newer than this tubesum reads")
        return Transcript.from_dict(data)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise OutputError(
            f"Not a tubesum transcript document: {exc}",
            hint="Pass a file written by tubesum's json output.",
        ) from exc


def load_schema() -> dict[str, Any]:
    """Return the JSON Schema of the document (a fresh dict on each call)."""
    text = resources.files("tubesum.outputs").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
