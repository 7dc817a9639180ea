"""Network options for YouTube: TUBESUM_PROXY (captions and media go through it, its password never shows) and
cookies from a file or a browser (CLI only).

The proxy is a real forward HTTP proxy on loopback that asks for Basic credentials, records every URL it is
asked for and relays it; the "video" is an HTML5 page with a subtitles track and real AAC speech, served by the
loopback HTTP server of conftest.
"""

from __future__ import annotations

import base64
import http.server
import json
import logging
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import LoopbackServer
from tubesum.api.app import create_app
from tubesum.cli import cli
from tubesum.config import Settings
from tubesum.errors import ConfigError, TubesumError
from tubesum.pipeline.captions import fetch_captions
from tubesum.pipeline.fetch import fetch_audio
from tubesum.pipeline.ytdlp import base_params, open_ydl, scrub
from tubesum.records import Source

SECRET = "pr0xy-s3cret-9f2"
VTT = "WEBVTT\n\n00:00:00.500 --> 00:00:02.000\nThe quick brown fox\n"


@dataclass
class Proxy:
    port: int = 0
    user: str = "alice"
    password: str = SECRET
    seen: list[str] = field(default_factory=list)
    refused: int = 0

    def url(self, password: str | None = None) -> str:
        return f"http://{self.user}:{password or self.password}@127.0.0.1:{self.port}"


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    state = Proxy()
    expected = "Basic " + base64.b64encode(f"{state.user}:{state.password}".encode()).decode()
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.headers.get("Proxy-Authorization") != expected:
                state.refused += 1
                self.send_response(407)
                self.send_header("Proxy-Authenticate", 'Basic realm="test"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            state.seen.append(self.path)  # absolute-form: the whole URL the client wanted
            headers = {k: v for k, v in self.headers.items() if k.lower() in {"range", "user-agent", "accept"}}
            try:
                with direct.open(urllib.request.Request(self.path, headers=headers), timeout=10) as upstream:
                    status, body, reply_headers = upstream.status, upstream.read(), upstream.headers
            except urllib.error.HTTPError as exc:
                status, body, reply_headers = exc.code, exc.read(), exc.headers
            self.send_response(status)
            for name in ("Content-Type", "Content-Range", "Accept-Ranges"):
                if reply_headers.get(name):
                    self.send_header(name, reply_headers[name])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def video_page(server: LoopbackServer, audio: Path) -> Source:
    """An HTML5 "video": real AAC speech plus an English subtitles track."""
    shutil.copy(audio, server.root / "speech.m4a")
    (server.root / "subs.vtt").write_text(VTT, encoding="utf-8")
    (server.root / "watch.html").write_text(
        '<html><head><title>Talk</title></head><body><video src="speech.m4a">'
        '<track kind="subtitles" srclang="en" src="subs.vtt"></video></body></html>'
    )
    url = server.url("watch.html")
    return Source(kind="url", url=url, original=url)


def test_captions_and_media_requests_go_through_the_proxy(
    http_server: LoopbackServer, proxy: Proxy, settings: Settings, make_media: Any, tmp_path: Path
) -> None:
    source = video_page(http_server, make_media("speech.m4a"))
    via_proxy = settings.model_copy(update={"proxy": Settings(_env_file=None, proxy=proxy.url()).proxy})  # type: ignore[call-arg]
    transcript = fetch_captions(source, settings=via_proxy, workdir=tmp_path / "captions", language=None)
    assert transcript is not None and transcript.segments[0].text == "The quick brown fox"
    audio = fetch_audio(source, settings=via_proxy, workdir=tmp_path / "audio")
    assert audio.path.stat().st_size == (http_server.root / "speech.m4a").stat().st_size
    paths = {url.split(f":{http_server.port}", 1)[1] for url in proxy.seen}
    assert {"/watch.html", "/subs.vtt", "/speech.m4a"} <= paths, proxy.seen
    assert proxy.refused == 0


def test_proxy_password_never_appears_in_errors_logs_or_config(
    http_server: LoopbackServer,
    proxy: Proxy,
    settings: Settings,
    make_media: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = video_page(http_server, make_media("speech.m4a"))
    wrong = "wr0ng-" + SECRET
    bad = settings.model_copy(update={"proxy": Settings(_env_file=None, proxy=proxy.url(wrong)).proxy})  # type: ignore[call-arg]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TubesumError) as raised:
        fetch_audio(source, settings=bad, workdir=tmp_path / "audio")
    assert proxy.refused >= 1, "the request reached the proxy and was refused there"
    error = raised.value
    reported = json.dumps(error.to_dict()) + str(error) + repr(error) + caplog.text
    assert wrong not in reported and SECRET not in reported
    assert scrub(f"GET via {proxy.url(wrong)}/x") == f"GET via http://***@127.0.0.1:{proxy.port}/x"

    monkeypatch.setenv("TUBESUM_PROXY", proxy.url())
    shown = CliRunner().invoke(cli, ["config", "show"], catch_exceptions=False)
    assert shown.exit_code == 0 and SECRET not in shown.output and '"proxy"' in shown.output
    doctor = CliRunner().invoke(cli, ["doctor", "--json"], catch_exceptions=False)
    proxy_check = next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "proxy")
    assert proxy_check["detail"] == f"http://127.0.0.1:{proxy.port}, with credentials"
    assert SECRET not in doctor.output


def test_invalid_proxy_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError) as raised:
        Settings(_env_file=None, proxy=f"ftp://bob:{SECRET}@example.org")  # type: ignore[call-arg]
    assert "TUBESUM_PROXY must be a URL" in str(raised.value) and SECRET not in str(raised.value)


# -- cookies ------------------------------------------------------------------------------------------------
def test_cookies_from_browser_reaches_yt_dlp_as_its_own_option(settings: Settings) -> None:
    params = base_params(settings.model_copy(update={"cookies_from_browser": "firefox:work"}))
    assert params["cookiesfrombrowser"] == ("firefox", "work", None, None)
    keyring = base_params(settings.model_copy(update={"cookies_from_browser": "chrome+basictext:Profile 1"}))
    assert keyring["cookiesfrombrowser"] == ("chrome", "Profile 1", "BASICTEXT", None)


def test_cookies_from_a_browser_without_a_profile_is_a_clear_config_error(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no browser profile on this machine
    firefox = settings.model_copy(update={"cookies_from_browser": "firefox"})
    with pytest.raises(ConfigError) as raised, open_ydl(firefox, url_guard=None) as ydl:
        ydl.cookiejar  # yt-dlp really looks for the profile here  # noqa: B018
    assert raised.value.code == "config_invalid" and "--cookies-from-browser" in (raised.value.hint or "")


def test_transcribe_passes_cookie_options_to_the_run(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n")
    seen: list[Settings] = []

    def fake_transcribe(source: Source, *, settings: Settings, progress: Any) -> Any:
        seen.append(settings)
        raise ConfigError("stop here")

    monkeypatch.setattr("tubesum.service.transcribe", fake_transcribe)  # the command imports it when it runs
    media = tmp_path / "talk.wav"
    media.write_bytes(b"RIFF")
    args = ["transcribe", str(media), "--cookies", str(cookies), "--cookies-from-browser", "edge:Default", "-q"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 2 and "stop here" in result.output
    assert seen[0].cookies_file == cookies and seen[0].cookies_from_browser == "edge:Default"
    assert base_params(seen[0])["cookiesfrombrowser"] == ("edge", "Default", None, None)

    unknown = CliRunner().invoke(cli, ["transcribe", str(media), "--cookies-from-browser", "netscape"])
    assert unknown.exit_code == 2 and "unsupported browser" in unknown.output and "firefox" in unknown.output


def test_servers_and_workers_refuse_browser_cookies(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="CLI only"):
        create_app(settings.model_copy(update={"cookies_from_browser": "chrome"}))
    result = CliRunner().invoke(cli, ["worker"], env={"TUBESUM_COOKIES_FROM_BROWSER": "chrome"})
    assert result.exit_code == 2 and "CLI only" in result.output
