"""A real OpenAI-compatible chat-completions server on loopback, with scripted failures.

By default it answers each ``POST /v1/chat/completions`` with a JSON summary derived from the request: the
first timestamped lines of the user message become key points citing their timestamps. Queue ``Scripted``
answers to fail on purpose (status codes, Retry-After, slow replies, plain-text replies).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChatRequest", "ChatServer", "Scripted", "serve_chat"]

_TIMED_LINE = re.compile(r"^(?:- )?\[(\d+:\d\d(?::\d\d)?)\] (.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Scripted:
    """One scripted answer. ``content`` is the assistant message (200); ``message`` an error's text.

    ``{auth}`` in ``message`` is replaced by the request's Authorization header (a server that leaks it).
    """

    status: int = 200
    content: str | None = None
    message: str = "scripted failure"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class ChatRequest:
    body: dict[str, Any]
    headers: dict[str, str]
    at: float

    @property
    def messages(self) -> list[dict[str, str]]:
        return list(self.body["messages"])

    @property
    def user(self) -> str:
        return next(m["content"] for m in reversed(self.messages) if m["role"] == "user")

    @property
    def system(self) -> str:
        return next(m["content"] for m in self.messages if m["role"] == "system")


@dataclass
class ChatServer:
    port: int = 0
    script: list[Scripted] = field(default_factory=list)
    requests: list[ChatRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def next_answer(self, request: ChatRequest) -> Scripted:
        with self.lock:
            self.requests.append(request)
            if self.script:
                return self.script.pop(0)
        return Scripted(content=default_reply(request.user))


def default_reply(user: str) -> str:
    """Return a fenced JSON summary citing the first two timestamped lines of ``user``."""
    lines = _TIMED_LINE.findall(user)
    points = [{"text": text, "timestamp": stamp} for stamp, text in lines[:2]]
    summary = {"summary": f"A summary of {len(lines)} lines.", "key_points": points}
    return "Here is the summary:\n```json\n" + json.dumps(summary, indent=2) + "\n```\n"


@contextlib.contextmanager
def serve_chat() -> Iterator[ChatServer]:
    """Run a ChatServer on 127.0.0.1 (random port) for the duration of the block."""
    state = ChatServer()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def handle(self) -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that timed out
                super().handle()

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            request = ChatRequest(body=body, headers=dict(self.headers.items()), at=time.monotonic())
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": "not found"}})
                return
            answer = state.next_answer(request)
            time.sleep(answer.delay)
            if answer.status != 200:
                message = answer.message.replace("{auth}", self.headers.get("Authorization", ""))
                self._send(answer.status, {"error": {"message": message}}, answer.headers)
                return
            completion = {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "model": body.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.content}}],
            }
            self._send(200, completion, answer.headers)

        def _send(self, status: int, data: object, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
