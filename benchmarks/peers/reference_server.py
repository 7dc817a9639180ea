"""A minimal reference transcription server: one synchronous faster-whisper call per request.

    python benchmarks/peers/reference_server.py --model /path/to/ct2-model --port 8100 [decoding flags]

``POST /v1/audio/transcriptions`` with a multipart ``file`` field answers ``{"text": ...}`` (the OpenAI shape);
``GET /health`` answers ``{"status": "ok"}``. The model is loaded on the first request and calls run one at a
time behind a lock, the way simple Whisper web services serialise a shared model. No queue, no job store, no
auth, no cache, no outputs: this is the yardstick ``tubesum bench`` puts beside ``tubesum serve``, not a product.
It takes the same decoding flags as ``python -m tubesum.bench.baseline`` (minus ``--audio``) and makes the same
faster-whisper call.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import http.server
import io
import json
import threading
from typing import Any

from tubesum.bench.baseline import add_decoding_arguments, transcribe_with  # the baseline's exact call

_lock = threading.Lock()
_model: dict[str, Any] = {}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    return add_decoding_arguments(parser)


def _file_field(content_type: str, body: bytes) -> bytes:
    """Return the bytes of the multipart field named ``file``."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload
    raise ValueError("no multipart field named 'file'")


def _transcribe(args: argparse.Namespace, audio: bytes) -> str:
    from faster_whisper import WhisperModel

    with _lock:
        if "model" not in _model:
            _model["model"] = WhisperModel(
                args.model, device=args.device, compute_type=args.compute_type, cpu_threads=args.cpu_threads
            )
        segments, _ = transcribe_with(_model["model"], io.BytesIO(audio), args)
        return " ".join(segment.text.strip() for segment in segments)


def serve(args: argparse.Namespace) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *log_args: object) -> None:
            pass

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._answer(200, {"status": "ok"})
            else:
                self._answer(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != "/v1/audio/transcriptions":
                self._answer(404, {"error": "not found"})
                return
            try:
                audio = _file_field(self.headers.get("Content-Type", ""), body)
            except ValueError as exc:
                self._answer(400, {"error": str(exc)})
                return
            self._answer(200, {"text": _transcribe(args, audio)})

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()


if __name__ == "__main__":
    import signal
    import sys

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(_parser().parse_args())
