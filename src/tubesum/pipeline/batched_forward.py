"""One batched decoding step of faster-whisper that keeps each chunk's unfinished end.

faster-whisper's ``BatchedInferencePipeline.forward`` splits each chunk's tokens at the model's timestamp pairs
with ``WhisperModel._split_segments_by_timestamps``, which was written for sequential decoding: when the tokens do
not end with a single timestamp, the speech after the last timestamp is *unfinished*, and the sequential loop seeks
back to that timestamp and decodes it again in its next 30 s window. A batched chunk is a whole VAD speech chunk
with no next window, so those words were lost. Two shapes occur:

* text after the last timestamp pair (the model ran out of tokens mid-segment): :func:`keep_tail` keeps it as a
  segment from that timestamp to the chunk's end;
* the model closed a segment and stopped before the chunk's end (tiny.en on real speech: "ten of clubs" ends at
  28.2 s of a 29.9 s chunk, and "four queen of clubs" is never decoded): :func:`forward_keeping_tail` decodes
  those ends again, batched, as the sequential loop would.

Cross-job batching routes ``forward`` through a batcher, which calls :func:`forward_keeping_tail` with the stacked
features of several jobs; the function keeps no state between calls except the pipeline's own
``last_speech_timestamp`` (as faster-whisper's forward does).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["MIN_TAIL_SECONDS", "forward_keeping_tail", "keep_tail", "sentences", "unfinished_from"]

SPEECH_PAD_SECONDS = 0.4  # faster-whisper's VAD pads every speech range by this much (``speech_pad_ms``)
MIN_TAIL_SECONDS = 0.5  # an undecoded end shorter than this is not decoded again (padding, not a word)


def _pairs(tokens: Sequence[int], timestamp_begin: int) -> list[int]:
    return [i for i in range(1, len(tokens)) if tokens[i] >= timestamp_begin <= tokens[i - 1]]


def _single_ending(tokens: Sequence[int], timestamp_begin: int) -> bool:
    return len(tokens) >= 2 and tokens[-2] < timestamp_begin <= tokens[-1]


def keep_tail(
    subsegments: list[dict[str, Any]],
    *,
    tokens: Sequence[int],
    timestamp_begin: int,
    time_offset: float,
    duration: float,
    time_precision: float,
) -> list[dict[str, Any]]:
    """``subsegments`` (from ``_split_segments_by_timestamps``) plus the chunk's unfinished last segment, if any.

    The tail is every token after the last consecutive timestamp pair when the tokens do not end with a single
    timestamp; it becomes a segment from its opening timestamp to the end of the chunk when it holds text.
    """
    pairs = _pairs(tokens, timestamp_begin)
    if not pairs or _single_ending(tokens, timestamp_begin):
        return subsegments  # no pair: one segment of all tokens already; single ending: nothing unfinished
    tail = list(tokens[pairs[-1] :])
    if not any(token < timestamp_begin for token in tail):
        return subsegments
    end = time_offset + duration
    start = min(time_offset + (tail[0] - timestamp_begin) * time_precision, end)
    return [*subsegments, {"seek": 0, "start": start, "end": end, "tokens": tail}]


def unfinished_from(tokens: Sequence[int], *, timestamp_begin: int, duration: float, time_precision: float) -> float:
    """Seconds into the chunk where undecoded speech starts (``duration``: none).

    That is the last timestamp when the tokens end with a timestamp pair (the model closed a segment and stopped)
    at least :data:`MIN_TAIL_SECONDS` before the chunk's end.
    """
    if len(tokens) < 2 or not tokens[-1] >= timestamp_begin <= tokens[-2]:
        return duration
    start = (tokens[-1] - timestamp_begin) * time_precision
    return start if duration - start >= MIN_TAIL_SECONDS else duration


def forward_keeping_tail(
    pipeline: Any, features: Any, tokenizer: Any, chunks_metadata: list[dict[str, Any]], options: Any
) -> list[list[dict[str, Any]]]:
    """Decode a batch of chunks as ``BatchedInferencePipeline.forward`` does, keeping each chunk's end, and
    cut text-only chunks into sentences.

    **Parameters:** the arguments of faster-whisper 1.2's ``BatchedInferencePipeline.forward``: the pipeline,
    the stacked log-mel ``features`` of the chunks, the ``tokenizer``, one ``{"offset", "duration", "segments"}``
    dict per chunk, and the ``TranscriptionOptions``. Returns one list of segment dicts per chunk (text, times,
    tokens, scores, and ``words`` when ``options.word_timestamps``).

    * Segment timestamps: each chunk's unfinished end is kept, and an end the model left undecoded is decoded
      again (one more batch, for the chunks that need it).
    * Text only (tubesum's default): nothing is unfinished; without word timings each chunk is cut into
      sentences timed from the text and the VAD's pauses (:func:`sentences`); with them, tubesum cuts it at the
      words' own times (:mod:`tubesum.pipeline.resegment`).
    """
    segmented = _decode(pipeline, features, tokenizer, chunks_metadata, options)
    if not options.without_timestamps:
        _decode_ends(pipeline, features, tokenizer, chunks_metadata, options, segmented)
    for segments in segmented:
        for segment in segments:
            del segment["all_tokens"]
    return segmented


def _decode_ends(
    pipeline: Any,
    features: Any,
    tokenizer: Any,
    chunks_metadata: list[dict[str, Any]],
    options: Any,
    segmented: list[list[dict[str, Any]]],
) -> None:
    """Decode again, as one batch, the ends of the chunks where the model stopped early (:func:`unfinished_from`),
    adding their segments to ``segmented``."""
    import numpy as np

    model = pipeline.model
    ends: list[tuple[int, dict[str, Any], int]] = []  # chunk index, metadata of the end, its first frame
    for index, (metadata, segments) in enumerate(zip(chunks_metadata, segmented, strict=True)):
        tokens = segments[-1]["all_tokens"] if segments else []
        start = unfinished_from(
            tokens,
            timestamp_begin=tokenizer.timestamp_begin,
            duration=metadata["duration"],
            time_precision=model.time_precision,
        )
        if start < metadata["duration"]:
            frame = round(start * model.frames_per_second)
            moved = {"offset": metadata["offset"] + start, "duration": metadata["duration"] - start}
            ends.append((index, moved, frame))
    if ends:
        width = features.shape[-1]
        rest = np.stack([np.pad(features[i][:, frame:], ((0, 0), (0, frame))) for i, _, frame in ends])
        decoded = _decode(pipeline, rest[..., :width], tokenizer, [meta for _, meta, _ in ends], options)
        for (index, _, _), segments in zip(ends, decoded, strict=True):
            segmented[index].extend(segments)


def speech_spans(
    metadata: dict[str, Any], *, pad: float = SPEECH_PAD_SECONDS, rate: int = 16000
) -> list[tuple[float, float]]:
    """Where the speech is inside a batched chunk, in the chunk's (VAD-joined) time: its VAD speech ranges laid
    end to end from ``offset``, each without ``pad`` seconds at both ends (at most a quarter of the range).

    faster-whisper 1.2's ``collect_chunks`` lists every range of a chunk but the first of each chunk after the
    first; that one's length is what the others leave of ``duration``.
    """
    lengths = [(r["end"] - r["start"]) / rate for r in metadata.get("segments", [])]
    missing = metadata["duration"] - sum(lengths)
    if missing > 1e-3:
        lengths.insert(0, missing)
    spans: list[tuple[float, float]] = []
    start = metadata["offset"]
    for length in lengths:
        trim = min(pad, length / 4)
        spans.append((round(start + trim, 3), round(start + length - trim, 3)))
        start += length
    return spans or [(metadata["offset"], metadata["offset"] + metadata["duration"])]


def sentences(
    subsegments: list[dict[str, Any]], *, tokenizer: Any, spans: list[tuple[float, float]]
) -> list[dict[str, Any]]:
    """Cut text-only chunks into sentence-sized segments, with times estimated from the text
    (:func:`tubesum.pipeline.resegment.estimate_word_times`; no word alignment, which costs 7-9 % more CPU)."""
    from tubesum.pipeline.resegment import estimate_word_times, snap_to_pauses, split_words

    cut: list[dict[str, Any]] = []
    for sub in subsegments:
        text_tokens = [token for token in sub["tokens"] if token < tokenizer.eot]
        words, word_tokens = tokenizer.split_to_word_tokens(text_tokens)
        if len(words) < 2:
            cut.append(sub)
            continue
        timed = estimate_word_times(words, spans=spans, tokens=word_tokens)
        groups = list(split_words(timed))
        times = snap_to_pauses([(group[0].start, group[-1].end) for group in groups], spans)
        for group, (start, end) in zip(groups, times, strict=True):
            tokens = [token for word in group for token in word.tokens]
            cut.append({"seek": sub["seek"], "start": start, "end": end, "tokens": tokens})
    return cut


def _decode(
    pipeline: Any, features: Any, tokenizer: Any, chunks_metadata: list[dict[str, Any]], options: Any
) -> list[list[dict[str, Any]]]:
    """faster-whisper's forward with :func:`keep_tail`; each segment also carries its chunk's ``all_tokens``."""
    from faster_whisper.transcribe import get_compression_ratio

    model = pipeline.model
    encoder_output, outputs = pipeline.generate_segment_batched(features, tokenizer, options)
    segmented: list[list[dict[str, Any]]] = []
    sizes: list[int] = []
    for metadata, output in zip(chunks_metadata, outputs, strict=True):
        duration = metadata["duration"]
        size = int(math.ceil(duration) * model.frames_per_second)
        sizes.append(size)
        subsegments, _seek, _single = model._split_segments_by_timestamps(
            tokenizer=tokenizer,
            tokens=output["tokens"],
            time_offset=metadata["offset"],
            segment_size=size,
            segment_duration=duration,
            seek=0,
        )
        if options.without_timestamps and not options.word_timestamps:
            subsegments = sentences(subsegments, tokenizer=tokenizer, spans=speech_spans(metadata))
        elif not options.without_timestamps:
            subsegments = keep_tail(
                subsegments,
                tokens=output["tokens"],
                timestamp_begin=tokenizer.timestamp_begin,
                time_offset=metadata["offset"],
                duration=duration,
                time_precision=model.time_precision,
            )
        seek = int(metadata["offset"] * model.frames_per_second)
        segments = []
        for sub in subsegments:
            text = tokenizer.decode(sub["tokens"])
            segments.append(
                {
                    "text": text,
                    "avg_logprob": output["avg_logprob"],
                    "no_speech_prob": output["no_speech_prob"],
                    "tokens": sub["tokens"],
                    "start": sub["start"],
                    "end": sub["end"],
                    "compression_ratio": get_compression_ratio(text),
                    "seek": seek,
                    "all_tokens": output["tokens"],
                }
            )
        segmented.append(segments)
    if options.word_timestamps:
        pipeline.last_speech_timestamp = model.add_word_timestamps(
            segmented,
            tokenizer,
            encoder_output,
            sizes,
            options.prepend_punctuations,
            options.append_punctuations,
            pipeline.last_speech_timestamp,
        )
    return segmented
