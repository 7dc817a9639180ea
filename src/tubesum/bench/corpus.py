"""The benchmark corpus: espeak-ng speech of fixed English texts, concatenated to a target length, from a seed.

The seed picks the order of the sentences and the pauses between them; the same seed, durations and espeak-ng
version give the same bytes (the SHA-256 is recorded next to every file). Files are cached under
``<cache>/bench/`` and reused. User files join the corpus with :func:`user_file`.

    files = build_corpus([60, 300, 1800], seed=1, cache_dir=settings.model_cache_dir.parent / "bench")
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Iterable
from pathlib import Path

from tubesum.bench.records import BenchError, CorpusFile

__all__ = ["SENTENCES", "build_corpus", "corpus_file", "default_cache_dir", "sha256_of", "user_file"]

# Plain, varied English (numbers, names, places) so the transcript is checkable and the decoder does real work.
SENTENCES: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Tomorrow morning we will visit the museum and the public library.",
    "Please send the quarterly report to the finance team before Friday.",
    "The weather in the mountains changes quickly, so bring a warm jacket.",
    "Our train leaves the central station at seven forty five in the evening.",
    "She planted tomatoes, carrots and beans in the garden behind the house.",
    "The committee approved the new budget after a long discussion.",
    "Heavy rain is expected across the northern coast later this week.",
    "He learned to play the piano when he was nine years old.",
    "The software update fixes several bugs and improves battery life.",
    "Scientists measured the temperature of the ocean at different depths.",
    "The restaurant on the corner serves fresh bread every morning.",
    "Remember to water the plants and lock the back door.",
    "The history lecture covered the industrial revolution in Europe.",
    "Traffic on the bridge was slow because of the road works.",
    "The children built a sand castle with towers and a deep moat.",
)
_SPEEDS = (145, 160, 175)  # words per minute, chosen per sentence by the seed
_RATE = 22050  # espeak-ng's output rate; tubesum and faster-whisper resample to 16 kHz themselves


def default_cache_dir(model_cache_dir: Path) -> Path:
    """Return ``<tubesum cache>/bench`` (next to the model cache)."""
    return model_cache_dir.parent / "bench"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _espeak() -> str:
    found = shutil.which("espeak-ng")
    if found is None:
        raise BenchError("espeak-ng is needed to build the benchmark corpus.", hint="apt-get install espeak-ng")
    return found


def _espeak_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
    return out.split("text-to-speech:")[-1].split("Data")[0].strip() or "unknown"


def _speak(binary: str, text: str, speed: int, workdir: Path, cache: dict[tuple[str, int], bytes]) -> bytes:
    """Return espeak-ng's 16-bit mono frames for ``text`` at ``speed`` (memoised within one build)."""
    key = (text, speed)
    if key not in cache:
        out = workdir / f"s{len(cache)}.wav"
        subprocess.run([binary, "-v", "en-us", "-s", str(speed), "-w", str(out), text], check=True)
        with wave.open(str(out), "rb") as w:
            if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, _RATE):
                raise BenchError(f"espeak-ng wrote an unexpected format: {w.getparams()}")
            cache[key] = w.readframes(w.getnframes())
    return cache[key]


def _synthesize(target: Path, seconds: float, seed: int) -> str:
    """Write the speech file and return its script: the words spoken in it, in order."""
    binary = _espeak()
    rng = random.Random(seed)  # noqa: S311 - reproducibility, not security
    need = int(seconds * _RATE) * 2  # bytes of 16-bit frames
    chunks: list[bytes] = []
    spoken: list[str] = []
    size = 0
    memo: dict[tuple[str, int], bytes] = {}
    with tempfile.TemporaryDirectory(prefix="tubesum-corpus-") as tmp:
        while size < need:
            order = list(SENTENCES)
            rng.shuffle(order)
            for text in order:
                speech = _speak(binary, text, rng.choice(_SPEEDS), Path(tmp), memo)
                pause = b"\x00\x00" * int(_RATE * rng.uniform(0.3, 1.2))
                spoken.append(_spoken_part(text, min(1.0, (need - size) / len(speech))))
                chunks += [speech, pause]
                size += len(speech) + len(pause)
                if size >= need:
                    break
    frames = b"".join(chunks)[:need]
    partial = target.with_suffix(".part")
    with wave.open(str(partial), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(_RATE)
        w.writeframes(frames)
    partial.replace(target)
    return " ".join(part for part in spoken if part)


def _spoken_part(text: str, fraction: float) -> str:
    """The words of ``text`` heard when only ``fraction`` of its audio is kept (the file's last sentence)."""
    if fraction >= 1.0:
        return text
    words = text.split()
    return " ".join(words[: round(len(words) * fraction)])


def _label(seconds: float) -> str:
    return f"{seconds / 60:g}min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g}s"


def corpus_file(seconds: float, *, seed: int, cache_dir: Path) -> CorpusFile:
    """Return the cached speech file of ``seconds`` for ``seed``, building it first when missing."""
    if seconds <= 0:
        raise BenchError(f"Corpus durations must be positive, got {seconds:g}.")
    cache_dir.mkdir(parents=True, exist_ok=True)
    binary = _espeak()
    version = _espeak_version(binary)
    stem = f"speech-{_label(seconds)}-seed{seed}-espeak{version.replace(' ', '_')}"
    path, meta = cache_dir / f"{stem}.wav", cache_dir / f"{stem}.json"
    recorded = json.loads(meta.read_text()) if path.is_file() and meta.is_file() else {}
    if "script" not in recorded:  # missing, or cached before the script was recorded: the same seed, same bytes
        script = _synthesize(path, seconds, seed)
        recorded = {"sha256": sha256_of(path), "seconds": seconds, "seed": seed, "espeak": version, "script": script}
        meta.write_text(json.dumps(recorded))
    return CorpusFile(
        name=_label(seconds),
        path=path,
        seconds=float(seconds),
        sha256=recorded["sha256"],
        seed=seed,
        script=recorded["script"],
    )


def build_corpus(durations: Iterable[float], *, seed: int, cache_dir: Path) -> list[CorpusFile]:
    """Return one generated file per duration (seconds), cached under ``cache_dir``."""
    return [corpus_file(seconds, seed=seed, cache_dir=cache_dir) for seconds in durations]


def user_file(path: Path) -> CorpusFile:
    """Describe a user-supplied media file (its length is read with PyAV; ``FILE.txt`` next to it: its script)."""
    from tubesum.service import media_duration

    if not path.is_file():
        raise BenchError(f"No such audio file: {path}.")
    seconds = media_duration(path)
    if seconds is None:
        raise BenchError(f"Cannot read the length of {path}.", hint="Pass an audio or video file PyAV can open.")
    sidecar = path.with_suffix(".txt")
    script = sidecar.read_text(encoding="utf-8").strip() or None if sidecar.is_file() else None
    return CorpusFile(
        name=path.name, path=path.resolve(), seconds=seconds, sha256=sha256_of(path), seed=None, script=script
    )
