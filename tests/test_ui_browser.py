"""The browser UI in headless Chromium (Playwright) against a real `tubesum serve` with the real tiny.en model.

Covers: the API-key prompt (a wrong key is refused with a clear message), an upload through the page with live
progress, the transcript, every download link and one download's content, a timestamp that seeks the player,
keyboard-only submission of a URL, and untrusted titles/segments rendering as inert text. A screenshot of the
finished page goes to test-artifacts/.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import SPEECH_WORDS, LoopbackServer, word_overlap
from servers import Server, make_server
from tubesum.jobs.db import make_engine
from tubesum.jobs.store import SqlJobStore
from tubesum.jobs.types import JobOptions, NewJob
from tubesum.outputs import CONTENT_TYPES, render
from tubesum.records import KeyPoint, MediaInfo, Rendered, Segment, Source, Summary, Transcript

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
JOB_TIMEOUT_MS = 120_000
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is required (scripts/bootstrap --test installs it)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1100, "height": 1400})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
    # The page must work under its own CSP: any violation it reports fails the test.
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    try:
        yield page
    finally:
        context.close()
    assert not errors, errors


def started(tmp_path: Path, **env: str) -> Iterator[Server]:
    server = make_server(tmp_path, **env)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """Auth on (one API key), uploads on."""
    yield from started(tmp_path, TUBESUM_UPLOADS_ENABLED="true")


@pytest.fixture
def open_server(tmp_path: Path) -> Iterator[Server]:
    """Auth off: the page just works."""
    yield from started(tmp_path, TUBESUM_AUTH_DISABLED="true")


def record_progress(page: Any) -> None:
    """Collect every text the progress live region shows (the page's CSP does not apply to Playwright's scripts)."""
    page.evaluate(
        """() => {
            window.__progress = [];
            const target = document.getElementById("progress-text");
            new MutationObserver(() => window.__progress.push(target.textContent))
                .observe(target, {childList: true, characterData: true, subtree: true});
            window.__live = [];  // the live transcript's texts, with what the progress line said meanwhile
            const live = document.getElementById("live-text");
            new MutationObserver(() => window.__live.push([live.textContent, target.textContent]))
                .observe(live, {childList: true, characterData: true, subtree: true});
        }"""
    )


def poll(page: Any, expression: str, *, timeout: float = 10.0) -> None:
    """Wait until ``expression`` is truthy in the page (``wait_for_function`` would eval(), which the CSP forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        page.wait_for_timeout(50)


def wait_for_result(page: Any) -> None:
    page.locator("#result-section").wait_for(state="visible", timeout=JOB_TIMEOUT_MS)
    page.locator("#transcript li").first.wait_for(timeout=10_000)


def test_wrong_key_is_refused_then_upload_shows_progress_transcript_player_and_downloads(
    server: Server, page: Any, make_media: Any, tmp_path: Path
) -> None:
    page.goto(server.base + "/")
    # Auth on: the page asks for a key before anything else.
    assert page.locator("#key-section").is_visible()
    assert page.locator("#submit-section").is_hidden()
    page.fill("#api-key", "tsk_wrong-key")
    page.click("#key-section button[type=submit]")
    error = page.locator("#key-error")
    error.wait_for(state="visible")
    assert "not accepted" in error.inner_text() and "invalid or revoked" in error.inner_text()
    assert page.locator("#submit-section").is_hidden()
    assert page.evaluate("sessionStorage.getItem('tubesum.apiKey')") is None
    token = server.headers["Authorization"].removeprefix("Bearer ")
    page.fill("#api-key", token)
    page.click("#key-section button[type=submit]")
    page.locator("#submit-section").wait_for(state="visible")
    assert page.evaluate("sessionStorage.getItem('tubesum.apiKey')") == token

    media = tmp_path / "fox speech.m4a"
    shutil.copy(make_media("speech.m4a"), media)
    record_progress(page)
    page.set_input_files("#file", str(media))
    page.click("#submit")
    wait_for_result(page)

    seen = page.evaluate("window.__progress")
    assert any(text.startswith("Uploading") for text in seen), seen
    assert any(text.startswith("Transcribing") for text in seen), seen
    assert page.locator("#progress-text").inner_text() == "Done."
    live = page.evaluate("window.__live")  # text grew while the job ran, from the events stream's segments
    assert live and all(status != "Done." for _text, status in live), live
    assert word_overlap(SPEECH_WORDS, live[-1][0]) >= 0.7, live
    assert page.locator("#progress-bar").evaluate("bar => bar.value") == 1
    assert page.locator("#result-title").inner_text() == "fox speech"
    assert word_overlap(SPEECH_WORDS, page.locator("#transcript").inner_text()) >= 0.7

    links = page.locator("#downloads a.download")
    assert links.count() == 6
    assert {links.nth(i).get_attribute("data-format") for i in range(6)} == {"txt", "srt", "vtt", "json", "md", "pdf"}
    with page.expect_download() as download_info:
        page.click("#downloads a[data-format=srt]")
    download = download_info.value
    assert download.suggested_filename.endswith(".srt")
    srt = Path(download.path()).read_text(encoding="utf-8")
    assert "-->" in srt and srt.lstrip().startswith("1")
    assert word_overlap(SPEECH_WORDS, srt) >= 0.7

    # A timestamp seeks the player (an <audio> fed with the uploaded file).
    audio = page.locator("audio#media-player")
    audio.wait_for(state="attached")
    poll(page, "document.getElementById('media-player').readyState >= 1")
    duration = audio.evaluate("a => a.duration")
    assert duration > 5
    buttons = page.locator("#transcript button.ts")
    target = buttons.nth(buttons.count() - 1)
    start = float(target.get_attribute("data-start"))
    audio.evaluate("(a, t) => { a.pause(); a.currentTime = t; }", duration - 0.3)
    target.click()
    poll(page, f"Math.abs(document.getElementById('media-player').currentTime - {start}) < 1.0")
    # The job is listed under recent jobs, with its state written out.
    assert "succeeded" in page.locator("#jobs").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-browser-result.png"), full_page=True)
    assert (ARTIFACTS / "ui-browser-result.png").stat().st_size > 10_000


def test_keyboard_only_submission_of_a_url(
    open_server: Server, page: Any, http_server: LoopbackServer, make_media: Any
) -> None:
    media = make_media("speech.webm")
    shutil.copy(media, http_server.root / media.name)
    url = http_server.url(media.name)
    page.goto(open_server.base + "/")
    assert page.locator("#key-section").is_hidden()  # auth disabled: no key prompt
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "source":
            break
    else:
        raise AssertionError("Tab never reached the URL field")
    page.keyboard.type(url)
    page.keyboard.press("Enter")
    wait_for_result(page)
    assert word_overlap(SPEECH_WORDS, page.locator("#transcript").inner_text()) >= 0.7
    # The focused element is always visibly outlined (keyboard users can see where they are).
    page.locator("#transcript button.ts").first.focus()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")


def test_refused_uploads_say_why(tmp_path: Path, page: Any) -> None:
    server = make_server(
        tmp_path, TUBESUM_AUTH_DISABLED="true", TUBESUM_UPLOADS_ENABLED="true", TUBESUM_UPLOAD_MAX_MB="1"
    )
    server.start()
    try:
        page.goto(server.base + "/")
        error = page.locator("#form-error")
        big = tmp_path / "big.wav"
        big.write_bytes(b"\0" * (1024 * 1024 + 1))
        page.set_input_files("#file", str(big))
        page.click("#submit")
        assert error.inner_text() == "The file is larger than 1 MB."  # refused before uploading
        notes = tmp_path / "notes.txt"
        notes.write_text("not media")
        page.set_input_files("#file", str(notes))
        page.click("#submit")
        error.wait_for(state="visible")
        page.locator("#form-error:has-text('not accepted')").wait_for()
        assert error.inner_text().startswith("Could not start the job: Files of type '.txt' are not accepted.")
        assert page.locator("#result-section").is_hidden()
    finally:
        server.kill()


def test_untrusted_title_segments_and_summary_render_as_inert_text_with_speakers(tmp_path: Path, page: Any) -> None:
    server = make_server(tmp_path, TUBESUM_AUTH_DISABLED="true")
    job_id = _finished_job(server.db_url, title=HOSTILE, text=f"Hello {HOSTILE} world")
    server.start()
    try:
        page.goto(server.base + "/")
        listed = page.locator(f"#jobs button[data-job-id='{job_id}']")
        listed.wait_for()
        assert listed.inner_text() == HOSTILE
        listed.click()
        wait_for_result(page)
        assert page.locator("#result-title").inner_text() == HOSTILE
        assert page.locator("#transcript .text").first.inner_text() == f"Hello {HOSTILE} world"
        assert page.locator("#transcript li").count() == 2
        assert page.locator("#summary-abstract").inner_text() == f"Abstract {HOSTILE}"
        assert page.locator("#key-points li").inner_text().endswith(f"Point {HOSTILE}")
        assert page.locator("main img, main script").count() == 0
        assert page.evaluate("window.__pwned") is None
        # Speakers: named in text (not only by colour), one colour each.
        labels = page.locator("#transcript .speaker")
        assert [labels.nth(i).inner_text() for i in range(2)] == ["SPEAKER_00:", "Bob:"]
        colours = {labels.nth(i).evaluate("e => getComputedStyle(e).color") for i in range(2)}
        assert len(colours) == 2
    finally:
        server.kill()


def _finished_job(db_url: str, *, title: str, text: str) -> str:
    """Store a succeeded job (as a worker would) whose title and transcript carry markup."""
    store = SqlJobStore(make_engine(db_url))
    new = NewJob(
        owner="anonymous",
        source="https://media.example/talk.mp3",
        source_key="url:https://media.example/talk.mp3",
        options=JobOptions(formats=("txt", "json")),
        cache_key="hostile-test",
    )
    job, _ = store.create(new)
    claimed = store.claim(worker="test:1")
    assert claimed is not None and claimed.id == job.id
    transcript = Transcript(
        source=Source(kind="url", original=new.source, url=new.source),
        segments=(
            Segment(start=0.0, end=2.0, text=text, speaker="SPEAKER_00"),
            Segment(start=2.0, end=4.0, text="</li><li>second", speaker="Bob"),
        ),
        summary=Summary(
            abstract=f"Abstract {HOSTILE}",
            key_points=(KeyPoint(text=f"Point {HOSTILE}", start=2.0),),
            method="extractive",
            backend="extractive",
        ),
        language="en",
        origin="whisper",
        info=MediaInfo(title=title, duration=4.0),
        duration=4.0,
        created_at=datetime.now(UTC).isoformat(),
    )
    store.save_checkpoint(job.id, "transcript", transcript.to_dict())
    artifacts = [Rendered(fmt, CONTENT_TYPES[fmt], f"talk.{fmt}", render(transcript, fmt)) for fmt in ("txt", "json")]
    store.succeed(job.id, artifacts=artifacts, audio_seconds=4.0, title=title)
    return job.id


def test_advanced_options_reach_the_job_and_a_refusal_says_why(
    open_server: Server, page: Any, http_server: LoopbackServer, make_media: Any
) -> None:
    media = make_media("speech.webm")
    shutil.copy(media, http_server.root / media.name)
    page.goto(open_server.base + "/")
    page.click("#advanced summary")
    page.fill("#opt-beam_size", "2")
    page.fill("#opt-temperature", "0, 0.4")
    page.fill("#opt-speaker_names", "SPEAKER_00=Ann, SPEAKER_01=Bo")
    page.select_option("#opt-condition_on_previous_text", "off")
    page.fill("#source", http_server.url(media.name))
    page.click("#submit")
    page.locator("#progress-section").wait_for(state="visible")
    job = httpx.get(f"{open_server.base}/v1/jobs", timeout=10).json()["items"][0]
    assert {k: job["options"][k] for k in ("beam_size", "temperature", "condition_on_previous_text")} == {
        "beam_size": 2,
        "temperature": [0.0, 0.4],
        "condition_on_previous_text": False,
    }
    assert job["options"]["speaker_names"] == ["SPEAKER_00=Ann", "SPEAKER_01=Bo"]
    page.select_option("#opt-task", "translate")
    page.click("#submit")
    page.locator("#form-error:has-text('English only')").wait_for()
