"""Settings: one pydantic-settings model, read from ``TUBESUM_*`` variables, a ``.env`` file and ``HF_TOKEN``.

Build it once at the edge (``Settings()`` in the CLI or app factory) and pass it down; tests build
``Settings(output_dir=tmp_path, ...)`` directly. Every field is documented in ``.env.example``.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = [
    "JS_RUNTIME_NAMES",
    "OUTPUT_FORMATS",
    "PROXY_SCHEMES",
    "CaptionsMode",
    "Device",
    "OutputFormat",
    "Settings",
    "SummaryBackend",
    "Task",
    "Temperature",
    "as_temperatures",
    "distinct_formats",
    "env_example",
    "parse_browser_cookies",
    "parse_js_runtime",
]

Device = Literal["auto", "cpu", "cuda"]
CaptionsMode = Literal["auto", "only", "never"]
Task = Literal["transcribe", "translate"]
SummaryBackend = Literal["auto", "extractive", "transformers", "openai"]
Temperature = Annotated[float, Field(ge=0.0, le=1.0)]
"""One sampling temperature; whisper's fallback schedule is a tuple of them."""
OutputFormat = Literal["txt", "srt", "vtt", "json", "md", "pdf"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("txt", "srt", "vtt", "json", "md", "pdf")
_F = TypeVar("_F", tuple[OutputFormat, ...], tuple[OutputFormat, ...] | None)
UPLOAD_EXTENSIONS = ("aac", "flac", "m4a", "mkv", "mov", "mp3", "mp4", "oga", "ogg", "opus", "wav", "webm")


JS_RUNTIME_NAMES: tuple[str, ...] = ("deno", "node", "bun", "quickjs")
"""yt-dlp's JavaScript runtime keys, in the order ``TUBESUM_JS_RUNTIME=auto`` looks for them on PATH."""
PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")


def parse_js_runtime(value: str) -> tuple[str, str | None]:
    """Split a ``TUBESUM_JS_RUNTIME`` value into (``auto``, ``none`` or a runtime name; binary path or None).

    Raises ``ValueError`` naming the accepted forms for anything else.
    """
    name, sep, path = value.strip().partition(":")
    name = name.strip().lower()
    if name in ("auto", "none") and not sep:
        return name, None
    if name in JS_RUNTIME_NAMES and (not sep or path.strip()):
        return name, path.strip() or None
    raise ValueError(
        f"unknown JavaScript runtime {value!r}: use auto, none, one of {', '.join(JS_RUNTIME_NAMES)}, "
        "or NAME:/path/to/binary"
    )


def parse_browser_cookies(spec: str) -> tuple[str | None, ...]:
    """Parse ``BROWSER[+KEYRING][:PROFILE][::CONTAINER]`` with yt-dlp's own option parser.

    Returns yt-dlp's ``cookiesfrombrowser`` tuple; raises ``ValueError`` with yt-dlp's message (naming the
    supported browsers) for anything it refuses.
    """
    import optparse

    import yt_dlp

    try:
        parsed = yt_dlp.parse_options(["--cookies-from-browser", spec])
    except optparse.OptParseError as exc:
        raise ValueError(str(exc).strip().splitlines()[-1].partition("error: ")[2] or str(exc)) from None
    return tuple(parsed.ydl_opts["cookiesfrombrowser"])


def as_temperatures(value: object) -> object:
    """Accept one temperature (``0``), a comma-separated fallback list (``"0,0.2,0.4"``) or a sequence."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (value,)
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def distinct_formats(value: _F) -> _F:
    """Refuse a format list that names a format twice (None passes)."""
    if value is not None and len(set(value)) != len(value):
        raise ValueError("each format may be listed once")
    return value


def _xdg(var: str, fallback: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / fallback) / "tubesum"


class Settings(BaseSettings):
    """Every knob tubesum has. Field docs are the reference (``.env.example`` repeats them)."""

    model_config = SettingsConfigDict(
        env_prefix="TUBESUM_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
        hide_input_in_errors=True,  # a rejected value may hold a password (proxy, database URL): never echo it
    )

    # -- runtime ---------------------------------------------------------------------------------------
    environment: Literal["development", "production"] = Field(
        "development", description="production refuses unsafe test-only switches."
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: Literal["auto", "console", "json"] = Field(
        "auto", description="auto: pretty on a terminal, JSON otherwise."
    )

    # -- speech recognition ----------------------------------------------------------------------------
    model: str = Field(
        "small",
        description="Whisper model name (tiny, base, small, medium, large-v3, large-v3-turbo, *.en) "
        "or a path to a CTranslate2 model directory.",
    )
    device: Device = Field("auto", description="auto picks CUDA when CTranslate2 sees a GPU, else CPU.")
    compute_type: str = Field(
        "auto", description="auto: float16 on GPU, int8 on CPU; or any CTranslate2 type (int8_float16, ...)."
    )
    batched: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Batched inference (needs the VAD filter): auto = batched everywhere (fastest, most accurate).",
    )
    batch_size: int = Field(8, ge=1, le=256, description="Batch size for batched inference.")
    cpu_threads: int = Field(0, ge=0, description="CPU threads for CTranslate2 (0: its default).")
    beam_size: int = Field(5, ge=1, le=20, description="Beam size for decoding.")
    vad_filter: bool = Field(True, description="Skip silence with the Silero VAD that ships with faster-whisper.")
    language: str | None = Field(
        None,
        max_length=16,
        pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$",
        description="Spoken language code (en, de, ...); empty: detect.",
    )
    word_timestamps: bool = Field(False, description="Add per-word timings to the transcript.")
    task: Task = Field(
        "transcribe", description="transcribe (the spoken language) or translate (into English; multilingual models)."
    )
    initial_prompt: str | None = Field(
        None,
        max_length=1000,
        description="Text Whisper reads before the audio: spellings, names, style (first 30 s window).",
    )
    hotwords: str | None = Field(
        None, max_length=1000, description="Words or phrases to favour in every window (names, jargon)."
    )
    temperature: Annotated[tuple[Temperature, ...], NoDecode] = Field(
        (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
        min_length=1,
        max_length=10,
        description="Sampling temperature, or a comma-separated fallback list tried in turn when decoding fails.",
    )
    condition_on_previous_text: bool = Field(
        True, description="Prompt each window with the previous text (off: fewer repetition loops)."
    )
    hallucination_silence_threshold: float | None = Field(
        None,
        gt=0,
        le=60,
        description="Skip silences longer than this many seconds when a hallucination is suspected (needs word "
        "timestamps; empty: off).",
    )
    vad_threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="VAD: speech probability above which audio is speech (empty: 0.5)."
    )
    vad_min_speech_duration_ms: int | None = Field(
        None, ge=0, le=60_000, description="VAD: speech chunks shorter than this are dropped (empty: 0)."
    )
    vad_max_speech_duration_s: float | None = Field(
        None,
        gt=0,
        le=3600,
        description="VAD: longest speech chunk before it is split, in seconds (empty: no limit; batched "
        "inference always cuts at 30 s).",
    )
    vad_min_silence_duration_ms: int | None = Field(
        None,
        ge=0,
        le=60_000,
        description="VAD: silence this long ends a speech chunk (empty: 2000, or 160 with batched inference).",
    )
    vad_speech_pad_ms: int | None = Field(
        None, ge=0, le=10_000, description="VAD: padding added to each side of speech, in ms (empty: 400)."
    )
    model_cache_dir: Path = Field(
        default_factory=lambda: _xdg("XDG_CACHE_HOME", ".cache") / "models",
        description="Where Whisper models are downloaded and looked up ($XDG_CACHE_HOME/tubesum/models).",
    )

    # -- summaries -------------------------------------------------------------------------------------
    summarize: bool = Field(False, description="Add a summary (abstract, key points with timestamps).")
    summary_backend: SummaryBackend = Field(
        "auto", description="auto: transformers when the summarize extra is installed, else extractive."
    )
    summary_model: str = Field(
        "Qwen/Qwen2.5-1.5B-Instruct",
        description="Local instruct LLM for the transformers backend: hub id or directory (GGUF too).",
    )
    summary_gguf_file: str | None = Field(None, description="GGUF file inside summary_model, when it is GGUF.")
    summary_language: str | None = Field(None, description="Language of summaries (empty: the transcript's).")
    summary_max_points: int = Field(7, ge=1, le=30, description="Most key points in a summary.")
    openai_base_url: str = Field(
        "http://127.0.0.1:11434/v1", description="OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp, OpenAI)."
    )
    openai_model: str = Field("llama3.2", description="Model name the endpoint serves.")
    openai_timeout: float = Field(120.0, gt=0, description="Seconds per chat request to the endpoint.")
    openai_retries: int = Field(3, ge=0, le=10, description="Retries on 429/5xx/timeouts (with backoff).")

    # -- speakers --------------------------------------------------------------------------------------
    diarize: bool = Field(False, description="Label speakers with pyannote (needs tubesum[diarize] and HF_TOKEN).")
    diarization_model: str = Field(
        "pyannote/speaker-diarization-community-1", description="pyannote pipeline: hub id or local directory."
    )
    num_speakers: int | None = Field(None, ge=1, le=50, description="Exact number of speakers, when known.")
    min_speakers: int | None = Field(None, ge=1, le=50, description="Fewest speakers to look for.")
    max_speakers: int | None = Field(None, ge=1, le=50, description="Most speakers to look for.")
    speaker_names: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Rename speakers: SPEAKER_00=Alice,SPEAKER_01=Bob."
    )

    # -- captions --------------------------------------------------------------------------------------
    captions: CaptionsMode = Field(
        "auto", description="auto: use human-made subtitles when the video has them; only; never."
    )
    auto_captions: bool = Field(False, description="Also accept YouTube's automatic captions.")

    # -- sources and downloads -------------------------------------------------------------------------
    allow_generic_urls: bool = Field(False, description="Accept any http(s) media URL, not only YouTube.")
    allow_private_addresses: bool = Field(
        False, description="TEST ONLY: let generic URLs reach loopback/private hosts. Refused in production."
    )
    max_duration: int = Field(4 * 3600, ge=0, description="Longest media accepted, in seconds (0: no limit).")
    max_filesize_mb: int = Field(2048, ge=0, description="Largest download accepted, in MB (0: no limit).")
    max_playlist_items: int = Field(
        0, ge=0, description="Playlist URLs expand to at most this many videos (0: playlists refused)."
    )
    cookies_file: Path | None = Field(None, description="Netscape cookies.txt for yt-dlp (age/login gates).")
    cookies_from_browser: str | None = Field(
        None,
        description="CLI only (tubesum transcribe --cookies-from-browser): BROWSER[+KEYRING][:PROFILE] whose "
        "cookies yt-dlp reads. Servers and workers refuse it: they use TUBESUM_COOKIES_FILE.",
    )
    proxy: SecretStr | None = Field(
        None,
        description="Proxy for every YouTube/media request of yt-dlp (captions and audio): "
        "http://, https://, socks5:// or socks5h:// URL, credentials allowed. Never logged.",
    )
    js_runtime: str = Field(
        "auto",
        description="JavaScript runtime for yt-dlp's YouTube challenge solver: auto (the bundled deno, else "
        "deno/node/bun/quickjs on PATH), none, NAME, or NAME:/path/to/binary.",
    )
    socket_timeout: float = Field(30.0, gt=0, description="Network timeout for downloads, in seconds.")
    download_retries: int = Field(3, ge=0, description="yt-dlp retries for a failing download.")

    # -- files -----------------------------------------------------------------------------------------
    output_dir: Path = Field(Path("outputs"), description="Where transcripts are written.")
    work_dir: Path | None = Field(
        None, description="Parent of per-job temporary directories (empty: the system temp dir)."
    )
    formats: Annotated[tuple[OutputFormat, ...], NoDecode] = Field(
        ("txt", "srt", "vtt", "json", "md"),
        min_length=1,
        max_length=len(OUTPUT_FORMATS),
        description="Output formats: txt, srt, vtt, json, md, pdf (comma separated).",
    )
    max_line_width: int = Field(42, ge=10, le=200, description="Subtitles (srt, vtt): most columns in a cue line.")
    max_line_count: int = Field(2, ge=1, le=10, description="Subtitles (srt, vtt): most lines in a cue.")

    # -- server and job queue -------------------------------------------------------------------------
    data_dir: Path = Field(
        default_factory=lambda: _xdg("XDG_DATA_HOME", ".local/share"),
        description="State of the server: the SQLite job store ($XDG_DATA_HOME/tubesum).",
    )
    database_url: str = Field(
        "", description="SQLAlchemy URL of the job store (empty: sqlite:///<data_dir>/tubesum.db)."
    )
    host: str = Field("127.0.0.1", description="Address `tubesum serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `tubesum serve` listens on.")
    forwarded_allow_ips: str = Field(
        "127.0.0.1", description="Proxies trusted for X-Forwarded-For/Proto (comma separated; nginx's address)."
    )
    auth_disabled: bool = Field(False, description="Serve without API keys (a warning is logged off loopback).")
    workers: int = Field(
        0, ge=0, le=64, description="Jobs run at once (0: one per GPU; on CPU 4, or one per 4 cores if more)."
    )
    job_retries: int = Field(3, ge=0, le=20, description="Retries of a job after a transient failure.")
    retry_backoff: float = Field(10.0, ge=0, description="First retry delay in seconds (doubles each time).")
    shutdown_grace: float = Field(30.0, ge=0, description="Seconds running jobs get to finish on SIGTERM.")
    retention_days: float = Field(30.0, ge=0, description="Finished jobs and results older than this are removed.")
    rate_limit_per_minute: int = Field(
        120, ge=0, description="Writes (submits, uploads, deletes) per key per minute (0: no API rate limit at all)."
    )
    rate_limit_reads_per_minute: int = Field(
        1200, ge=0, description="Reads (status polls, results, lists) per key per minute (0: no limit)."
    )
    rate_limit_per_address_per_minute: int = Field(
        600,
        ge=0,
        description="Requests per client address per minute before authentication: unauthenticated and "
        "failed-auth callers (the address behind trusted proxies in TUBESUM_FORWARDED_ALLOW_IPS; 0: no limit).",
    )
    rate_limit_store_url: str = Field(
        "",
        description="Redis URL for rate-limit counters shared by several API replicas (needs tubesum[scale]; "
        "empty: counters in each process's memory).",
    )
    max_active_jobs_per_key: int = Field(4, ge=0, description="Queued + running jobs per key (0: no limit).")
    max_audio_hours_per_day: float = Field(24.0, ge=0, description="Audio hours per key per day (0: no limit).")
    max_body_kb: int = Field(64, ge=1, description="Largest API request body in KiB.")
    openai_wait_seconds: float = Field(
        600.0,
        gt=0,
        description="How long POST /v1/audio/transcriptions waits for its job before answering 504 with the job "
        "id (the job goes on; fetch it from /v1/jobs).",
    )
    webhook_max_attempts: int = Field(
        5, ge=1, le=20, description="Webhooks: attempts per job (network errors, 5xx, 408, 429 are retried)."
    )
    webhook_retry_seconds: float = Field(
        10.0, ge=0, description="Webhooks: delay before the first retry, tripled each time (10: ~7 min in all)."
    )
    webhook_timeout_seconds: float = Field(10.0, gt=0, description="Webhooks: seconds one delivery may take.")
    webhook_secret: SecretStr | None = Field(
        None,
        description="Webhooks without API keys (TUBESUM_AUTH_DISABLED): the whsec_<base64> secret that signs "
        "them (`tubesum keys webhook-secret --new` makes one). With API keys each key has its own. Never logged.",
    )
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Origins allowed by CORS (comma separated; empty: CORS off)."
    )
    ready_min_free_mb: int = Field(1024, ge=0, description="/readyz fails when a data dir has less free space.")
    queue: Literal["local", "saq"] = Field(
        "local", description="Job executor: local (in-process threads) or saq (`tubesum worker` processes)."
    )
    queue_url: str = Field(
        "", description="SAQ queue URL: redis://... for Redis (empty: SAQ's queue in the PostgreSQL job store)."
    )
    heartbeat_seconds: int = Field(
        60, ge=2, le=3600, description="SAQ: a running job without a heartbeat this long is swept and retried."
    )
    gpu_full: Literal["wait", "cpu"] = Field(
        "wait",
        description="Queue worker: a job whose model does not fit the free GPU memory waits for another worker "
        "or runs on the CPU.",
    )
    model_idle_ttl_seconds: int = Field(
        0,
        ge=0,
        description="Unload a model (Whisper, summary LLM, pyannote) after this many seconds unused, in the "
        "embedded server and in queue workers (0: keep them loaded).",
    )
    job_timeout_seconds: int = Field(
        0,
        ge=0,
        description="Longest run of one job attempt; it then fails with job_timeout (0: no limit).",
    )

    # -- browser UI and uploads ------------------------------------------------------------------------
    ui_enabled: bool = Field(True, description="Serve the browser UI at / (the API works either way).")
    uploads_enabled: bool = Field(
        False, description="Let API/UI callers upload media files (stored under <data_dir>/uploads)."
    )
    upload_max_mb: int = Field(500, ge=1, description="Largest upload accepted, in MB.")
    upload_extensions: Annotated[tuple[str, ...], NoDecode] = Field(
        UPLOAD_EXTENSIONS, description="File extensions an upload may have (comma separated, no dots)."
    )
    upload_quota_mb: int = Field(
        2048, ge=0, description="Uploads stored per key at once, in MB (0: no limit); deleting jobs frees them."
    )
    upload_idle_timeout: float = Field(
        30.0, gt=0, description="Seconds an upload may send nothing before it is dropped (slow-body guard)."
    )
    upload_cache: Literal["key", "off"] = Field(
        "key",
        description="Reuse of upload results: key (same key, same bytes, same file name) or off. Never across keys.",
    )
    api_models: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Whisper models API callers may name (comma separated names or hub ids, never paths; "
        "empty: the default model and faster-whisper's built-in names).",
    )

    # -- secrets ---------------------------------------------------------------------------------------
    hf_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("TUBESUM_HF_TOKEN", "HF_TOKEN", "hf_token"),
        description="Hugging Face token (pyannote diarization, gated models). Never logged.",
    )

    openai_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("TUBESUM_OPENAI_API_KEY", "OPENAI_API_KEY", "openai_api_key"),
        description="Key for the OpenAI-compatible endpoint (empty for local servers). Never logged.",
    )
    sentry_dsn: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("TUBESUM_SENTRY_DSN", "SENTRY_DSN", "sentry_dsn"),
        description="Sentry DSN for error tracking (needs tubesum[sentry]); nothing is sent when empty.",
    )

    @field_validator(
        "language",
        "cookies_file",
        "cookies_from_browser",
        "proxy",
        "work_dir",
        "summary_language",
        "summary_gguf_file",
        "initial_prompt",
        "hotwords",
        "hallucination_silence_threshold",
        "vad_threshold",
        "vad_min_speech_duration_ms",
        "vad_max_speech_duration_s",
        "vad_min_silence_duration_ms",
        "vad_speech_pad_ms",
        "webhook_secret",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("model_cache_dir", "output_dir", "work_dir", "cookies_file", "data_dir")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("formats", "cors_origins", "upload_extensions", mode="before")
    @classmethod
    def _split_csv_lower(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip().lower() for part in value.split(",") if part.strip())
        return value

    @field_validator("temperature", mode="before")
    @classmethod
    def _temperatures(cls, value: object) -> object:
        return as_temperatures(value)

    @field_validator("formats")
    @classmethod
    def _distinct_formats(cls, value: tuple[OutputFormat, ...]) -> tuple[OutputFormat, ...]:
        return distinct_formats(value)

    @field_validator("speaker_names", "api_models", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("cookies_from_browser")
    @classmethod
    def _known_browser(cls, value: str | None) -> str | None:
        if value is not None:
            parse_browser_cookies(value)
        return value

    @field_validator("js_runtime")
    @classmethod
    def _known_js_runtime(cls, value: str) -> str:
        parse_js_runtime(value)
        return value.strip()

    @field_validator("proxy")
    @classmethod
    def _proxy_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = urlsplit(value.get_secret_value().strip())
        if parts.scheme.lower() not in PROXY_SCHEMES or not parts.hostname:
            # Never echo the value: it may carry a password.
            raise ValueError(
                f"TUBESUM_PROXY must be a URL like scheme://[user:password@]host:port with a scheme "
                f"of {', '.join(PROXY_SCHEMES)}"
            )
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value().strip()
        try:
            key = base64.b64decode(text.removeprefix("whsec_"), validate=True)
        except ValueError:
            key = b""
        if not text.startswith("whsec_") or len(key) < 24:  # never echo the value
            raise ValueError("TUBESUM_WEBHOOK_SECRET must be whsec_ followed by the base64 of 24 to 64 random bytes")
        return SecretStr(text)

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @model_validator(mode="after")
    def _safe_in_production(self) -> Settings:
        if self.environment == "production" and self.allow_private_addresses:
            raise ValueError("allow_private_addresses is a test-only switch and is refused in production")
        return self

    def check_server(self) -> None:
        """Refuse what only makes sense on a user's own machine (``tubesum serve`` and ``tubesum worker``)."""
        if self.cookies_from_browser:
            from tubesum.errors import ConfigError

            raise ConfigError(
                "TUBESUM_COOKIES_FROM_BROWSER is for the CLI only: a server or worker reads no browser profile.",
                hint="Export the cookies once (yt-dlp --cookies-from-browser BROWSER --cookies cookies.txt) and set "
                "TUBESUM_COOKIES_FILE.",
            )

    @property
    def sqlalchemy_url(self) -> str:
        """Return the job store URL (SQLite in ``data_dir`` unless ``database_url`` is set)."""
        return self.database_url or f"sqlite:///{self.data_dir / 'tubesum.db'}"

    def remote_models(self) -> tuple[str, ...]:
        """Return the model names a remote caller may ask for: ``api_models``, else the built-in names.

        Never a path: an entry that looks like one (``/``, ``.``, ``~`` first) is left out.
        """
        if self.api_models:
            names: tuple[str, ...] = self.api_models
        else:
            from faster_whisper.utils import available_models

            names = (self.model, *available_models())
        return tuple(dict.fromkeys(n for n in names if n and not n.startswith(("/", ".", "~", "\\"))))

    @property
    def upload_dir(self) -> Path:
        """Return where uploaded media is kept (``<data_dir>/uploads``)."""
        return self.data_dir / "uploads"

    @property
    def max_filesize_bytes(self) -> int | None:
        return self.max_filesize_mb * 1024 * 1024 if self.max_filesize_mb else None


_FACTORY_DEFAULTS = {"model_cache_dir": "~/.cache/tubesum/models", "data_dir": "~/.local/share/tubesum"}
_SECRET_ENV = {"hf_token": "HF_TOKEN", "sentry_dsn": "SENTRY_DSN", "openai_api_key": "OPENAI_API_KEY"}


def env_example() -> str:
    """Render ``.env.example`` from the Settings fields: every variable, its default and its meaning."""
    lines = [
        "# tubesum configuration. Copy to .env and edit; every line shows the default.",
        "# Generated from tubesum.config.Settings by `tubesum config env-example > .env.example`.",
        "",
    ]
    for name, info in Settings.model_fields.items():
        default = info.get_default(call_default_factory=False)
        if name in _SECRET_ENV:
            env = _SECRET_ENV[name]
            value = ""
        else:
            env = f"TUBESUM_{name.upper()}"
            value = _env_value(default)
        if info.default_factory is not None:  # machine-dependent: show the documented default
            value = _FACTORY_DEFAULTS[name]
        lines.append(f"# {info.description}")
        lines.append(f"{env}={value}")
    return "\n".join(lines) + "\n"


def _env_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return str(value)
