"""The Streamlit app through streamlit.testing.v1.AppTest: real tiny.en in-process, a real server in remote mode."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import SPEECH_WORDS, LoopbackServer, word_overlap
from servers import Server, running_server
from tubesum.service import sample_path

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_WORDS = ("sample", "recording", "computer", "network", "whisper")


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setenv("TUBESUM_MODEL", "tiny.en")
    monkeypatch.setenv("TUBESUM_DEVICE", "cpu")
    monkeypatch.setenv("TUBESUM_MODEL_CACHE_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("TUBESUM_WORK_DIR", str(tmp_path / "work"))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    return at


def _transcript(at: Any) -> str:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return str(at.code[0].value)


def test_upload_transcribes_in_process_and_offers_every_download(app: Any) -> None:
    app.file_uploader(key="upload").set_value(("sample.ogg", sample_path().read_bytes(), "audio/ogg"))
    app.multiselect(key="formats").set_value(["txt", "srt", "vtt", "json", "md", "pdf"])
    app.button(key="go").click().run()
    text = _transcript(app).lower()
    assert sum(word in text for word in SAMPLE_WORDS) >= 3, text
    assert text.startswith("[00:0")  # timestamps on every line
    assert [b.label for b in app.download_button] == [f"⬇ {f}" for f in ("txt", "srt", "vtt", "json", "md", "pdf")]
    result = app.session_state["results"][0]
    assert result.where == "this machine" and result.transcript.model == "tiny.en"
    files = result.files
    assert b"-->" in files["srt"].data and files["vtt"].data.startswith(b"WEBVTT")
    assert files["pdf"].data.startswith(b"%PDF") and files["srt"].filename == "sample.srt"
    assert sum(word in files["txt"].data.decode().lower() for word in SAMPLE_WORDS) >= 3


def test_sample_button_then_url_keeps_recent_results(
    app: Any, monkeypatch: pytest.MonkeyPatch, http_server: LoopbackServer, make_media: Any
) -> None:
    app.button(key="sample").click().run()
    assert "sample" in _transcript(app).lower()
    media = make_media("speech.m4a")
    shutil.copy(media, http_server.root / media.name)
    monkeypatch.setenv("TUBESUM_ALLOW_GENERIC_URLS", "true")
    monkeypatch.setenv("TUBESUM_ALLOW_PRIVATE_ADDRESSES", "true")
    app.text_input(key="url").set_value(http_server.url(media.name))
    app.checkbox(key="summarize").check()
    app.button(key="go").click().run()
    assert word_overlap(SPEECH_WORDS, _transcript(app)) >= 0.6
    assert any("Summary" in m.value for m in app.markdown)  # extractive summary without the summarize extra
    assert len(app.session_state["results"]) == 2
    assert len(app.selectbox(key="recent").options) == 2
    (video,) = app.get("video")  # the media plays from the line picked under "Play from"
    assert video.proto.url == http_server.url(media.name) and video.proto.start_time == 0
    second = app.selectbox(key="seek").options[1]
    app.selectbox(key="seek").select(second).run()
    assert app.get("video")[0].proto.start_time > 0


def test_a_model_not_on_this_machine_is_downloaded_on_first_use(
    app: Any, monkeypatch: pytest.MonkeyPatch, tiny_model_path: Path, tmp_path: Path
) -> None:
    from huggingface_hub import constants

    from fake_hub import fake_hub

    with fake_hub("Systran/faster-whisper-base.en", tiny_model_path) as hub:
        # huggingface_hub reads its endpoint at import: point the imported module at the loopback hub
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(
            constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}"
        )
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        app.selectbox(key="model").set_value("base.en")
        app.button(key="sample").click().run()
    assert "sample" in _transcript(app).lower()
    assert app.session_state["results"][0].transcript.model == "base.en"
    assert any(r.startswith("GET") and r.endswith("/model.bin") for r in hub.requests)
    assert list((tmp_path / "models").glob("models--Systran--faster-whisper-base.en/snapshots/*/model.bin"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("https://www.youtube.com/watch?v=x", "No valid YouTube video id"),
        ("/etc/passwd", "is not a URL"),
        ("", "Paste a YouTube"),
    ],
)
def test_bad_input_shows_a_clear_error(app: Any, text: str, message: str) -> None:
    app.text_input(key="url").set_value(text)
    app.button(key="go").click().run()
    assert not app.exception
    assert len(app.error) == 1 and message in app.error[0].value, app.error[0].value
    assert "results" not in app.session_state or not app.session_state["results"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with running_server(tmp_path / "srv") as srv:
        yield srv


def test_remote_mode_runs_the_job_on_a_server(
    app: Any, server: Server, http_server: LoopbackServer, make_media: Any
) -> None:
    media = make_media("speech.webm")
    shutil.copy(media, http_server.root / media.name)
    # URL and key come from .streamlit/secrets.toml ([server] url, api_key), as on Streamlit Cloud
    app.secrets["server"] = {"url": server.base, "api_key": server.headers["Authorization"].removeprefix("Bearer ")}
    app.radio(key="mode").set_value("tubesum server").run()
    assert not app.file_uploader  # servers take URLs only
    assert app.text_input(key="server_url").value == server.base
    app.text_input(key="url").set_value(http_server.url(media.name))
    app.multiselect(key="formats").set_value(["txt", "srt", "json"])
    app.button(key="go").click().run()
    assert word_overlap(SPEECH_WORDS, _transcript(app)) >= 0.6
    result = app.session_state["results"][0]
    assert result.where == server.base and set(result.files) == {"txt", "srt", "json"}
    assert b"-->" in result.files["srt"].data
    app.button(key="list_jobs").click().run()  # the key's jobs, through the client's list()
    listed = " ".join(m.value for m in app.sidebar.markdown)
    assert "**succeeded**" in listed and "speech" in listed
    assert any(c.value == "1 of 1 jobs" for c in app.sidebar.caption)


def test_remote_mode_with_a_wrong_key_says_so(app: Any, server: Server) -> None:
    app.radio(key="mode").set_value("tubesum server").run()
    app.text_input(key="server_url").set_value(server.base)
    app.text_input(key="api_key").set_value("ts_wrong")
    app.text_input(key="url").set_value("https://youtu.be/dQw4w9WgXcQ")
    app.button(key="go").click().run()
    assert len(app.error) == 1 and "unauthorized" in app.error[0].value


def test_speakers_are_coloured_and_markdown_is_escaped() -> None:
    from tubesum.frontends.streamlit_ui import transcript_markdown
    from tubesum.records import Segment, Source, Transcript

    transcript = Transcript(
        source=Source(kind="file", original="talk.wav"),
        segments=(
            Segment(0.0, 2.0, " Hello *there*", speaker="SPEAKER_00"),
            Segment(2.0, 4.0, " Hi [link](x)", speaker="Bob"),
            Segment(65.0, 66.0, " Bye", speaker="SPEAKER_00"),
        ),
        language="en",
        origin="whisper",
    )
    lines = transcript_markdown(transcript).splitlines()
    assert lines[0] == "`00:00` :blue[**SPEAKER\\_00**] Hello \\*there\\*  "
    assert lines[1].startswith("`00:02` :orange[**Bob**] Hi \\[link\\]")
    assert lines[2].startswith("`01:05` :blue[")


def test_invalid_settings_are_named_without_their_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUBESUM_MAX_DURATION", "-12345")
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert "max_duration" in at.error[0].value and "-12345" not in at.error[0].value


def test_advanced_options_are_generated_and_reach_the_run(app: Any) -> None:
    from tubesum.frontends.session import advanced_fields

    for field in advanced_fields(remote=False):  # one widget per RunOptions field of the Advanced section
        widget = app.selectbox(key=f"opt-{field.name}") if field.kind in ("bool", "choice") else None
        widget = widget or app.text_input(key=f"opt-{field.name}")
        assert widget.label.startswith(field.label)
    app.text_input(key="opt-max_line_width").set_value("16")
    app.text_input(key="opt-initial_prompt").set_value("Computer network")
    app.selectbox(key="opt-condition_on_previous_text").set_value("off")
    app.multiselect(key="formats").set_value(["srt"])
    app.button(key="sample").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    srt = app.session_state["results"][0].files["srt"].data.decode()
    lines = [line for line in srt.splitlines() if line and "-->" not in line and not line.isdigit()]
    assert lines and max(len(line) for line in lines) <= 16, lines


def test_a_bad_advanced_value_is_named(app: Any) -> None:
    app.text_input(key="opt-beam_size").set_value("99")
    app.button(key="sample").click().run()
    assert any("beam_size" in e.value for e in app.error), [e.value for e in app.error]
