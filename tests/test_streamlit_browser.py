"""The Streamlit app in headless Chromium (Playwright) against a real ``streamlit run``: the transcript grows on the
page while a local run transcribes (real tiny.en on 45 s of espeak speech), then the final result replaces it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from servers import free_port
from tubesum.bench.corpus import build_corpus

sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("streamlit")

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
RUN_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def long_speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """45 s of seeded espeak-ng speech: more than the service's first 30 s window, so segments come in bursts."""
    return build_corpus([45.0], seed=3, cache_dir=tmp_path_factory.mktemp("corpus"))[0].path


@pytest.fixture
def streamlit_url(tmp_path: Path) -> Iterator[str]:
    """``streamlit run streamlit_app.py`` on a loopback port, running this checkout's code with tiny.en."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "TUBESUM_MODEL": "tiny.en",
        "TUBESUM_DEVICE": "cpu",
        "TUBESUM_MODEL_CACHE_DIR": str(tmp_path / "models"),
        "TUBESUM_WORK_DIR": str(tmp_path / "work"),
        "HF_HUB_OFFLINE": "1",
    }
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"), "--server.headless=true"]
    command += [f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false"]
    command += ["--server.fileWatcherType=none"]
    log = (tmp_path / "streamlit.log").open("wb")
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=1).text == "ok":
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("streamlit did not start: " + (tmp_path / "streamlit.log").read_text()[-2000:])
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def page(streamlit_url: str) -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is required (scripts/bootstrap --test installs it)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1600})
            page.goto(streamlit_url)
            yield page
        finally:
            browser.close()


def test_the_transcript_grows_on_the_page_while_the_run_transcribes(page: Any, long_speech: Path) -> None:
    page.get_by_role("button", name="Transcribe").wait_for(timeout=60_000)
    page.locator("input[type=file]").set_input_files(str(long_speech))
    page.locator('[data-testid="stFileChip"]').wait_for(timeout=30_000)
    page.locator('[data-testid="stFileChipIconSpinner"]').wait_for(state="detached", timeout=30_000)  # uploaded
    # Every change to the page: the live transcript's text, the progress bar's text, whether the run is done.
    page.evaluate(
        """() => {
            window.__seen = [];
            const look = () => {
                const live = document.querySelector(".st-key-live-transcript");
                const bar = document.querySelector('[data-testid="stProgress"]');
                window.__seen.push([live ? live.innerText.trim() : "", bar ? bar.innerText : "",
                                    document.body.innerText.includes("Done in ")]);
            };
            new MutationObserver(look).observe(document.body, {childList: true, characterData: true, subtree: true});
        }"""
    )
    page.get_by_role("button", name="Transcribe").click()
    page.get_by_text("Done in ").wait_for(timeout=RUN_TIMEOUT_MS)
    page.wait_for_timeout(500)  # the rest of the script run (the result) reaches the page

    seen: list[list[Any]] = page.evaluate("window.__seen")
    live = list(dict.fromkeys(text for text, _bar, done in seen if text and not done))
    assert live, "no transcript text on the page before the run ended"
    assert any("Transcribing" in bar for text, bar, done in seen if text and not done), "text came after transcribing"
    final = page.locator('[data-testid="stCode"]').last.inner_text().strip()
    assert (
        len(page.locator(".st-key-live-transcript").all()) == 0
        or not page.locator(".st-key-live-transcript").inner_text().strip()
    ), "the live view stays after the run"
    assert all(final.startswith(text) for text in live), (live, final)  # the same lines as the result
    assert len(live[0].splitlines()) < len(final.splitlines()), "the text came in one piece at the end"
    assert final.startswith("[00:0") and len(final.splitlines()) >= 5
