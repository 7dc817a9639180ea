"""Build the real-speech benchmark file: human speech with reference transcripts, from a registry package.

pocketsphinx's source distribution on PyPI (5.1.1) ships test recordings with their transcripts:
five LibriVox sentences (Jane Austen, *Sense and Sensibility*, read by a human narrator; public domain) and
five CMU "cards" utterances. This script concatenates them, 0.6 s of silence apart, into one 16 kHz mono WAV
(about 40 s, 92 words) and writes the transcript next to it (``FILE.txt``: `tubesum bench --audio FILE` then
reports a WER for it).

    python benchmarks/real_speech.py pocketsphinx-5.1.1.tar.gz benchmarks/real/librivox-cards.wav

The sdist comes from PyPI: ``pip download --no-deps --no-binary :all: pocketsphinx==5.1.1`` (or its URL on
https://pypi.org/project/pocketsphinx/5.1.1/#files). Needs ffmpeg.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

_LINE = re.compile(r"<s>\s*(.*?)\s*</s>\s*\((.+)\)")


def _utterances(root: Path) -> list[tuple[Path, str]]:
    data = root / "test" / "data"
    found = []
    for listing, folder in (
        (data / "librivox" / "transcription", "librivox"),
        (data / "cards" / "cards.transcription", "cards"),
    ):
        for line in listing.read_text().splitlines():
            match = _LINE.match(line.strip())
            if match:
                found.append((data / folder / f"{match.group(2)}.wav", match.group(1)))
    return found


def build(sdist: Path, out: Path) -> Path:
    """Write ``out`` (WAV) and ``out.with_suffix('.txt')`` from the pocketsphinx sdist."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with tarfile.open(sdist) as archive:
            members = [
                m for m in archive.getmembers() if "/test/data/librivox/" in m.name or "/test/data/cards/" in m.name
            ]
            archive.extractall(work, members=members, filter="data")
        (root,) = [p for p in work.iterdir() if p.is_dir()]
        items = _utterances(root)
        gap = work / "gap.wav"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "0.6", str(gap)],
            check=True,
        )
        parts = []
        for index, (wav, _text) in enumerate(items):
            part = work / f"p{index}.wav"
            subprocess.run(
                ["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-ar", "16000", "-ac", "1", str(part)], check=True
            )
            parts += [part, gap]
        listing = work / "list.txt"
        listing.write_text("".join(f"file '{p}'\n" for p in parts))
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out)],
            check=True,
        )
    out.with_suffix(".txt").write_text(" ".join(text for _wav, text in items) + "\n")
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1]), Path(sys.argv[2])))
