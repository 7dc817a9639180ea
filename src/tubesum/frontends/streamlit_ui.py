"""The Streamlit app: paste a URL or upload a file, pick options, watch progress, read and download the result.

Two modes, chosen in the sidebar: **this machine** runs the pipeline in the Streamlit process through
``tubesum.service`` (the Whisper model is loaded once per process, cached with ``st.cache_resource``), and
**tubesum server** sends the job to a server by URL + API key through ``tubesum.client``. ``streamlit_app.py`` at
the repository root only calls :func:`main`. Needs the ``ui`` extra (``pip install 'tubesum[ui]'``).

A local run shows the transcript growing under the progress bar while it transcribes (segments from
:func:`tubesum.frontends.session.run_local`, redrawn at most every ``LIVE_REDRAW_SECONDS``), then the result.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from tubesum.config import OUTPUT_FORMATS, Settings
from tubesum.errors import ConfigError, MissingExtraError, TubesumError
from tubesum.frontends.models import download_progress, ensure_model
from tubesum.frontends.session import (
    MODEL_CHOICES,
    LiveText,
    OptionField,
    RunRequest,
    RunResult,
    advanced_fields,
    build_options,
    describe_error,
    overall_fraction,
    require_url,
    run_local,
    run_remote,
    settings_problems,
    stage_label,
    transcript_lines,
    transcript_text,
)
from tubesum.records import Segment, Transcript
from tubesum.textfmt import http_url, md_escape, timestamp

try:
    import streamlit as st
except ImportError:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("The Streamlit app", "ui", package="streamlit") from None

if TYPE_CHECKING:
    from tubesum.client import JobEvent
    from tubesum.service import LoadedModel

__all__ = ["main", "transcript_markdown"]

LOCAL, REMOTE = "This machine", "tubesum server"
MAX_RECENT = 10
LIVE_REDRAW_SECONDS = 0.3  # the live transcript is redrawn whole: at most this often, so long runs stay cheap
SPEAKER_COLOURS = ("blue", "orange", "green", "violet", "red", "gray")
LIMITS = (
    "Runs on the CPU here (no GPU): `tiny`/`base` take about a tenth of the audio's length, `small` about half; "
    "larger models need a server with a GPU (switch to *tubesum server*). Uploads up to 200 MB. Speakers need "
    "`tubesum[diarize]` and `HF_TOKEN`; local LLM summaries need `tubesum[summarize]` — without it summaries are "
    "extractive (key sentences picked, not written)."
)


def _secret(section: str, key: str, env: str) -> str:
    """Read ``[section] key`` from st.secrets, else the environment variable ``env``; never shown anywhere."""
    try:
        value = st.secrets.get(section, {}).get(key)
    except Exception:  # no secrets.toml at all
        value = None
    return str(value or os.environ.get(env, ""))


@st.cache_resource(show_spinner="Loading the Whisper model (once per process)…")
def _model(name: str, device: str, compute_type: str, cache_dir: str) -> LoadedModel:
    from tubesum.service import load_model

    settings = Settings(model=name, device=device, compute_type=compute_type, model_cache_dir=Path(cache_dir))
    return load_model(settings)


def _sidebar(settings: Settings) -> tuple[str, str, str]:
    with st.sidebar:
        st.header("Where to run")
        mode = st.radio("Run on", (LOCAL, REMOTE), key="mode", help="This machine, or a tubesum server you can reach.")
        url = key = ""
        if mode == REMOTE:
            url = st.text_input("Server URL", value=_secret("server", "url", "TUBESUM_SERVER_URL"), key="server_url")
            key = st.text_input(
                "API key", value=_secret("server", "api_key", "TUBESUM_API_KEY"), type="password", key="api_key"
            )
            st.caption("Servers take URLs; uploads run on this machine.")
            if url and st.button("Show my jobs on the server", key="list_jobs"):
                _server_jobs(url, key)
        st.header("Limits")
        st.caption(LIMITS)
        st.caption(f"Default model here: `{settings.model}` on `{settings.device}`.")
    return mode, url, key


def _server_jobs(url: str, key: str) -> None:
    """List the key's latest jobs on the server (state, title or source, when)."""
    from tubesum.client import TubesumClient

    try:
        with TubesumClient(url, api_key=key or None) as client:
            page = client.list(limit=10)
    except TubesumError as exc:
        st.error(describe_error(exc))
        return
    rows = [
        f"- **{job.state.value}** · {md_escape(job.title or job.source)} · {job.created_at:%Y-%m-%d %H:%M}"
        for job in page.items
    ]
    st.markdown("\n".join(rows) or "No jobs yet.")
    st.caption(f"{len(page.items)} of {page.total} jobs")


def _form(settings: Settings, mode: str) -> tuple[tuple[str, dict[str, Any]] | None, Any, bool]:
    url = st.text_input("YouTube or media URL", key="url", placeholder="https://www.youtube.com/watch?v=…")
    upload = None
    if mode == LOCAL:
        upload = st.file_uploader("…or upload an audio/video file", key="upload", type=None)
    models = MODEL_CHOICES if settings.model in MODEL_CHOICES else (settings.model, *MODEL_CHOICES)
    cols = st.columns(3)
    model = cols[0].selectbox("Model", models, index=models.index(settings.model), key="model")
    language = cols[1].text_input("Language", value=settings.language or "", key="language", help="Empty: detect.")
    formats = cols[2].multiselect("Formats", OUTPUT_FORMATS, default=list(settings.formats), key="formats")
    flags = st.columns(3)
    diarize = flags[0].checkbox("Speakers (diarize)", key="diarize")
    summarize = flags[1].checkbox("Summary and key points", key="summarize")
    sample = flags[2].button("Try the bundled sample", key="sample", disabled=mode != LOCAL)
    with st.expander("Advanced: decoding, VAD, subtitles, speakers"):
        advanced = {field.name: _widget(field) for field in advanced_fields(remote=mode == REMOTE)}
    go = st.button("Transcribe", type="primary", key="go")
    if not (go or sample):
        return None, None, False
    values: dict[str, Any] = {
        **advanced,
        "model": model,
        "language": language,
        "formats": tuple(formats or ("txt",)),
        "diarize": diarize,
        "summarize": summarize,
    }
    return (url, values), (None if sample else upload), sample


_DEFAULT = "(default)"


def _widget(field: OptionField) -> str:
    """One advanced option as a widget; blank (or "(default)") means "use the setting"."""
    key = f"opt-{field.name}"
    if field.kind == "bool":
        picked = st.selectbox(field.label, (_DEFAULT, "on", "off"), key=key, help=field.help)
        return "" if picked == _DEFAULT else str(picked)
    if field.kind == "choice":
        picked = st.selectbox(field.label, (_DEFAULT, *field.choices), key=key, help=field.help)
        return "" if picked == _DEFAULT else str(picked)
    limits = (
        f" ({field.minimum:g}–{field.maximum:g})" if field.minimum is not None and field.maximum is not None else ""
    )
    return str(st.text_input(field.label + limits, key=key, help=field.help, placeholder="default"))


def _run(request: RunRequest, *, settings: Settings, mode: str, server: tuple[str, str], upload: Any) -> RunResult:
    bar = st.progress(0.0, text="Starting…")
    if mode == REMOTE:
        from tubesum.client import TubesumClient

        def on_event(event: JobEvent) -> None:
            label = stage_label(event.stage) if event.stage else event.state.value.capitalize()
            bar.progress(overall_fraction(event.stage or "", event.progress or 0.0, 1.0), text=label)

        with TubesumClient(server[0], api_key=server[1] or None) as client:
            return run_remote(request, client=client, on_event=on_event)

    holder = st.empty()  # the transcript as it grows; gone once the run ends (the result is shown below)
    live_box = holder.container(key="live-transcript")
    live_text = live_box.empty()
    live = LiveText(min_interval=LIVE_REDRAW_SECONDS)

    def draw() -> None:
        if (text := live.take()) is not None:
            live_text.code(text, language=None)

    def progress(stage: str, done: float, total: float | None = None, /) -> None:
        bar.progress(overall_fraction(stage, done, total), text=stage_label(stage))
        draw()  # a change held back by the interval shows at the next progress call

    def on_segment(segment: Segment) -> None:
        live.add(segment)
        draw()

    def on_download(mb: float, total_mb: float | None) -> None:
        text, fraction = download_progress(mb, total_mb)
        bar.progress(fraction, text=text)

    name = request.model or settings.model
    ensure_model(name, settings=settings, report=on_download)  # first use of a model: from the Hugging Face Hub
    _model(name, settings.device, settings.compute_type, str(settings.model_cache_dir))
    try:
        if upload is None:
            return run_local(request, settings=settings, progress=progress, on_segment=on_segment)
        with tempfile.TemporaryDirectory(prefix="tubesum-upload-") as tmp:
            path = Path(tmp) / Path(upload.name).name
            path.write_bytes(upload.getvalue())
            source = replace(request, source=str(path))
            return run_local(source, settings=settings, progress=progress, on_segment=on_segment)
    finally:
        holder.empty()


def _show(result: RunResult) -> None:
    transcript = result.transcript
    st.subheader(transcript.title)
    st.caption(
        f"{transcript.duration or 0:.1f} s of audio · language {transcript.language or '?'} · "
        f"{transcript.origin} · model {transcript.model or '-'} · {result.seconds:.1f} s on {result.where}"
    )
    cols = st.columns(max(1, len(result.files)))
    for col, (fmt, file) in zip(cols, result.files.items(), strict=False):
        col.download_button(f"⬇ {fmt}", file.data, file_name=file.filename, mime=file.content_type, key=f"dl-{fmt}")
    if transcript.summary is not None:
        st.markdown("#### Summary")
        st.markdown(md_escape(transcript.summary.abstract))
        for point in transcript.summary.key_points:
            stamp = f"`{timestamp(point.start)}` " if point.start is not None else ""
            st.markdown(f"- {stamp}{md_escape(point.text)}")
    if transcript.speakers:
        st.markdown("#### Speakers")
        st.write(", ".join(transcript.speakers))
    _player(transcript)
    st.markdown("#### Transcript")
    if transcript.speakers:
        st.markdown(transcript_markdown(transcript))
    else:
        st.code(transcript_text(transcript), language=None)


def _player(transcript: Transcript) -> None:
    """Embed the video (YouTube or a media URL) with a "play from" picker over the transcript's lines."""
    media = http_url(transcript.info.webpage_url or transcript.source.url)
    lines = transcript_lines(transcript)
    if media is None or not lines:
        return
    pick = st.selectbox(
        "Play from", range(len(lines)), format_func=lambda i: f"[{lines[i].stamp}] {lines[i].text[:80]}", key="seek"
    )
    st.video(media, start_time=int(lines[pick].start))


def transcript_markdown(transcript: Transcript) -> str:
    """Return the transcript as Markdown lines with each speaker in its own colour."""
    colours = {name: SPEAKER_COLOURS[i % len(SPEAKER_COLOURS)] for i, name in enumerate(transcript.speakers)}
    out = []
    for line in transcript_lines(transcript):
        who = f":{colours[line.speaker]}[**{md_escape(line.speaker)}**] " if line.speaker else ""
        out.append(f"`{line.stamp}` {who}{md_escape(line.text)}  ")
    return "\n".join(out)


def _recent() -> list[RunResult]:
    recent: list[RunResult] = st.session_state.setdefault("results", [])
    return recent


def main() -> None:
    """Draw the app (one Streamlit script run)."""
    st.set_page_config(page_title="tubesum", page_icon="📝", layout="wide")
    st.title("tubesum — transcripts and summaries")
    try:
        settings = Settings()
    except ValidationError as exc:  # name the settings, never their values (one may be a secret)
        st.error(f"Invalid configuration: {settings_problems(exc)}. Check TUBESUM_* variables and the secrets.")
        return
    mode, server_url, api_key = _sidebar(settings)
    picked, upload, sample = _form(settings, mode)
    if picked is not None:
        try:
            request = RunRequest(source=picked[0], options=build_options(picked[1]))
            if sample:
                from tubesum.service import sample_path

                request = replace(request, source=str(sample_path()))
            elif upload is None:
                request = replace(
                    request, source=require_url(request.source, settings=None if mode == REMOTE else settings)
                )
            if mode == REMOTE and not server_url:
                raise ConfigError("Enter the server URL in the sidebar first.")
            result = _run(request, settings=settings, mode=mode, server=(server_url, api_key), upload=upload)
        except TubesumError as exc:
            st.error(describe_error(exc))
        else:
            recent = _recent()
            recent.insert(0, result)
            del recent[MAX_RECENT:]
            st.session_state.pop("recent", None)  # show the new result, not the one picked before
            st.success(f"Done in {result.seconds:.1f} s.")
    recent = _recent()
    if recent:
        labels = [f"{i + 1}. {r.label}" for i, r in enumerate(recent)]
        chosen = st.selectbox("Recent results (this session)", labels, index=0, key="recent")
        _show(recent[labels.index(chosen)])
