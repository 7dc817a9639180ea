"""Structured logs: JSON lines in production, secrets masked whatever the caller logs."""

from __future__ import annotations

import io
import json
import logging

from tubesum.logs import configure_logging


def test_json_logs_carry_extras_and_mask_secrets() -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", fmt="json", stream=stream)
    log = logging.getLogger("tubesum.test")
    log.info("model loaded", extra={"model": "tiny.en", "hf_token": "hf_abcdefghijklmnop"})
    log.warning("request failed for hf_abcdefghijklmnop at sk-ABCDEFGHIJKL")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["event"] == "model loaded" and lines[0]["model"] == "tiny.en"
    assert lines[0]["hf_token"] == "***"
    assert lines[0]["level"] == "info" and "timestamp" in lines[0]
    assert "hf_abcdefghijklmnop" not in stream.getvalue()
    assert "sk-ABCDEFGHIJKL" not in stream.getvalue()
