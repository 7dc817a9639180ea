#!/usr/bin/env bash
# Regenerate src/tubesum/data/sample.ogg: synthetic English speech (espeak-ng) encoded as Opus.
# Needs: apt-get install espeak-ng ffmpeg. The committed file was made with espeak-ng 1.51 (Debian bookworm).
set -euo pipefail
cd "$(dirname "$0")/.."
text="Welcome to tubesum. This sample recording is transcribed on your own computer, without a network, \
by the tiny English Whisper model. Every output format is written: plain text, subtitles, JSON, markdown \
and a PDF report."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
espeak-ng -s 150 -w "$tmp/sample.wav" "$text"
ffmpeg -hide_banner -loglevel error -y -i "$tmp/sample.wav" -ac 1 -ar 16000 -c:a libopus -b:a 24k \
  -metadata title="tubesum sample" src/tubesum/data/sample.ogg
ls -l src/tubesum/data/sample.ogg
