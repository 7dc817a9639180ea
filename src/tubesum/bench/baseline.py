"""Bare faster-whisper: the physical baseline, run as its own process by the bench.

    python -m tubesum.bench.baseline --audio speech.wav --model /path/to/ct2-model --device cpu \\
        --compute-type int8 --beam-size 5 --vad --batched --without-timestamps

Only faster-whisper is imported for the work (no tubesum pipeline), with the decoding options the bench passes
in (tubesum's, and each bare configuration the bench compares against: sequential, batched). Prints one JSON
object: import, load and transcribe seconds, audio length, segments, words and the whole text (for the WER).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

__all__ = ["add_decoding_arguments", "main", "transcribe_bare", "transcribe_with"]


def transcribe_bare(args: argparse.Namespace) -> dict[str, Any]:
    """Load the model and transcribe ``args.audio`` with plain faster-whisper; return the timings."""
    started = time.perf_counter()
    from faster_whisper import WhisperModel

    imported = time.perf_counter()
    model = WhisperModel(args.model, device=args.device, compute_type=args.compute_type, cpu_threads=args.cpu_threads)
    loaded, cpu = time.perf_counter(), time.process_time()
    segments, info = transcribe_with(model, args.audio, args)
    texts = [segment.text for segment in segments]  # lazy: the work happens here
    done = time.perf_counter()
    return {
        "import_s": round(imported - started, 4),
        "load_s": round(loaded - imported, 4),
        "transcribe_s": round(done - loaded, 4),
        "transcribe_cpu_s": round(time.process_time() - cpu, 4),
        "audio_s": round(float(info.duration), 3),
        "segments": len(texts),
        "words": sum(len(t.split()) for t in texts),
        "text": " ".join(t.strip() for t in texts),
    }


def add_decoding_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the model, device and decoding flags (shared with benchmarks/peers/reference_server.py)."""
    parser.add_argument("--model", required=True, help="CTranslate2 model directory.")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--cpu-threads", type=int, default=0)
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--language", default=None)
    parser.add_argument("--word-timestamps", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--vad", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--batched", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--without-timestamps",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Sample text tokens only (default: faster-whisper's own, True when batched, False otherwise).",
    )
    return parser


def transcribe_with(model: Any, audio: Any, args: argparse.Namespace) -> tuple[Any, Any]:
    """Call faster-whisper the way tubesum does for these flags: ``(lazy segments, info)``."""
    from faster_whisper import BatchedInferencePipeline

    options: dict[str, Any] = {
        "language": args.language,
        "beam_size": args.beam_size,
        "word_timestamps": args.word_timestamps,
        "vad_filter": args.vad,
    }
    if getattr(args, "without_timestamps", None) is not None:
        options["without_timestamps"] = args.without_timestamps
    if args.batched:
        return BatchedInferencePipeline(model).transcribe(  # type: ignore[no-any-return]
            audio, batch_size=args.batch_size, **options
        )
    return model.transcribe(audio, **options)  # type: ignore[no-any-return]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Bare faster-whisper transcription (tubesum bench baseline).")
    parser.add_argument("--audio", required=True)
    return add_decoding_arguments(parser)


def main(argv: list[str] | None = None) -> int:
    print(json.dumps(transcribe_bare(_parser().parse_args(argv))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
