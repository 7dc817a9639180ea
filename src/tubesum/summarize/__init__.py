"""Summaries of transcripts: extractive (no torch, no network), transformers (local LLM), openai (any endpoint)."""

from __future__ import annotations
