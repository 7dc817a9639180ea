"""Speakers: pyannote.audio diarization (the ``diarize`` extra) and assignment of speakers to the transcript."""

from __future__ import annotations
