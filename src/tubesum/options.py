"""One options model: what a single run may vary, for every face (CLI, API, UIs, serverless).

``RunOptions`` names the per-run knobs; each field's meaning, limits and default live once, on the
:class:`~tubesum.config.Settings` field of the same name (``None`` here means "use the setting"). Faces build a
``RunOptions``, and :func:`resolve` turns it into the settings one run uses. The CLI flags
(:mod:`tubesum.cli.run_options`), the API's ``JobOptions`` (:mod:`tubesum.jobs.types`, a validated subset) and the
cache identity are all derived from these fields, so a new field reaches every face. Usage::

    options = RunOptions(model="small", task="translate", formats=("srt",))
    settings_for_run = resolve(options, Settings())
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo

from tubesum.config import (
    CaptionsMode,
    Device,
    OutputFormat,
    Settings,
    SummaryBackend,
    Task,
    Temperature,
    as_temperatures,
    distinct_formats,
)
from tubesum.errors import ConfigError, EnglishOnlyModelError

__all__ = [
    "LOCAL_ONLY",
    "MAIN_FORM_FIELDS",
    "NOT_RESULT_SHAPING",
    "VALIDATORS",
    "OptionField",
    "RunOptions",
    "advanced_fields",
    "english_only",
    "first_error",
    "form_values",
    "option_fields",
    "resolve",
    "result_shaping",
]

_CONSTRAINTS: Final = {
    annotated_types.Ge: "ge",
    annotated_types.Gt: "gt",
    annotated_types.Le: "le",
    annotated_types.Lt: "lt",
    annotated_types.MinLen: "min_length",
    annotated_types.MaxLen: "max_length",
}

#: Fields only this machine's user may set, never a remote caller (the API's ``JobOptions`` has every other field:
#: a new field is remote unless listed here, and no remote field may name a path).
LOCAL_ONLY: Final = frozenset({"device", "compute_type", "output_dir", "summary_backend", "summary_model"})

#: Fields that change how a result is delivered, not the result itself (left out of the cache identity).
NOT_RESULT_SHAPING: Final = frozenset({"formats", "output_dir", "device"})


def _setting(name: str) -> Any:
    """A ``RunOptions`` field defaulting to None, with the description and limits of ``Settings.<name>``."""
    info: FieldInfo = Settings.model_fields[name]
    kwargs: dict[str, Any] = {}
    for item in info.metadata:
        if isinstance(item, tuple(_CONSTRAINTS)):
            key = _CONSTRAINTS[type(item)]
            kwargs[key] = getattr(item, key)
        elif getattr(item, "pattern", None) is not None:
            kwargs["pattern"] = item.pattern
    return Field(None, description=info.description, **kwargs)


class RunOptions(BaseModel):
    """What one run may vary; ``None`` means "use the setting of the same name" (see :func:`resolve`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # -- speech recognition ----------------------------------------------------------------------------
    model: str | None = _setting("model")
    device: Device | None = _setting("device")
    compute_type: str | None = _setting("compute_type")
    language: str | None = _setting("language")
    task: Task | None = _setting("task")
    word_timestamps: bool | None = _setting("word_timestamps")
    beam_size: int | None = _setting("beam_size")
    temperature: tuple[Temperature, ...] | None = _setting("temperature")
    initial_prompt: str | None = _setting("initial_prompt")
    hotwords: str | None = _setting("hotwords")
    condition_on_previous_text: bool | None = _setting("condition_on_previous_text")
    hallucination_silence_threshold: float | None = _setting("hallucination_silence_threshold")
    vad_filter: bool | None = _setting("vad_filter")
    vad_threshold: float | None = _setting("vad_threshold")
    vad_min_speech_duration_ms: int | None = _setting("vad_min_speech_duration_ms")
    vad_max_speech_duration_s: float | None = _setting("vad_max_speech_duration_s")
    vad_min_silence_duration_ms: int | None = _setting("vad_min_silence_duration_ms")
    vad_speech_pad_ms: int | None = _setting("vad_speech_pad_ms")
    # -- captions --------------------------------------------------------------------------------------
    captions: CaptionsMode | None = _setting("captions")
    auto_captions: bool | None = _setting("auto_captions")
    # -- outputs ---------------------------------------------------------------------------------------
    formats: tuple[OutputFormat, ...] | None = _setting("formats")
    output_dir: Path | None = _setting("output_dir")
    max_line_width: int | None = _setting("max_line_width")
    max_line_count: int | None = _setting("max_line_count")
    # -- speakers --------------------------------------------------------------------------------------
    diarize: bool | None = _setting("diarize")
    num_speakers: int | None = _setting("num_speakers")
    min_speakers: int | None = _setting("min_speakers")
    max_speakers: int | None = _setting("max_speakers")
    speaker_names: tuple[str, ...] | None = _setting("speaker_names")
    # -- summaries -------------------------------------------------------------------------------------
    summarize: bool | None = _setting("summarize")
    summary_backend: SummaryBackend | None = _setting("summary_backend")
    summary_model: str | None = _setting("summary_model")
    summary_language: str | None = _setting("summary_language")

    _temperatures = field_validator("temperature", mode="before")(classmethod(lambda _cls, v: as_temperatures(v)))
    _formats = field_validator("formats")(classmethod(lambda _cls, v: distinct_formats(v)))

    def overrides(self) -> dict[str, Any]:
        """The fields that are set (not None): what this run changes from the settings."""
        return {name: value for name, value in self if value is not None}


#: The field validators of ``RunOptions``, for models derived from its fields (the API's ``JobOptions``).
VALIDATORS: Final = {
    "_temperatures": field_validator("temperature", mode="before")(classmethod(lambda _cls, v: as_temperatures(v))),
    "_formats": field_validator("formats")(classmethod(lambda _cls, v: distinct_formats(v))),
}


def resolve(options: RunOptions | None, settings: Settings) -> Settings:
    """Return ``settings`` with ``options`` applied, validated like any setting.

    The one place a run's options meet the configuration. Raises ``ConfigError`` naming the first invalid
    option, and ``EnglishOnlyModelError`` for translation on an English-only (``*.en``) model.
    """
    updates = options.overrides() if options is not None else {}
    if updates:
        try:
            settings = settings.model_validate({**settings.model_dump(), **updates})
        except ValidationError as exc:
            raise ConfigError(f"Invalid option: {first_error(exc)}") from None
    if settings.task == "translate" and english_only(settings.model):
        raise EnglishOnlyModelError(
            f"Model {settings.model!r} understands English only: it cannot translate.",
            hint="Use a multilingual model (e.g. 'small') for task=translate, or transcribe.",
        )
    return settings


def english_only(model: str) -> bool:
    """Whether a model name (or path) names an English-only Whisper model (``tiny.en``, ``.../small.en``)."""
    return Path(model.rstrip("/\\")).name.lower().endswith(".en")


def result_shaping(settings: Settings) -> dict[str, Any]:
    """The resolved value of every ``RunOptions`` field that shapes a result (for the cache identity).

    Derived from the fields, so a new option is part of the identity unless listed in ``NOT_RESULT_SHAPING``.
    """
    return {name: getattr(settings, name) for name in RunOptions.model_fields if name not in NOT_RESULT_SHAPING}


def first_error(exc: ValidationError) -> str:
    """Return ``field: message`` of the first validation error (never the rejected value)."""
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc']) or 'options'}: {first['msg']}"


@dataclass(frozen=True, slots=True)
class OptionField:
    """One option as a form shows it, derived from its ``RunOptions`` field (UI-neutral).

    ``kind`` is ``bool``, ``choice``, ``int``, ``float`` or ``text`` (numbers lists such as temperature are text,
    validated by ``RunOptions``). Forms send what the user typed as text; ``RunOptions`` converts and checks it.
    """

    name: str
    label: str
    help: str
    kind: Literal["bool", "choice", "int", "float", "text"]
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    many: bool = False  # a list, typed as comma-separated text


_LABEL_WORDS: Final = {"vad": "VAD", "ms": "(ms)", "s": "(s)"}
#: Options every app shows on its main form; the others go in its "Advanced" section (:func:`advanced_fields`).
MAIN_FORM_FIELDS: Final = ("model", "language", "formats", "diarize", "summarize")
#: Options no app form offers: where files go is the app's own business (a download, a "Save as…").
_NOT_IN_FORMS: Final = frozenset({"output_dir"})


def advanced_fields(allowed: Iterable[str] | None = None) -> tuple[OptionField, ...]:
    """The options of an app's "Advanced" section: every field not on the main form (only ``allowed`` ones,
    e.g. the API's, when given). A new ``RunOptions`` field shows up in every app by itself."""
    permitted = set(RunOptions.model_fields if allowed is None else allowed)
    return option_fields(
        n for n in RunOptions.model_fields if n in permitted and n not in MAIN_FORM_FIELDS and n not in _NOT_IN_FORMS
    )


def option_fields(names: Iterable[str] | None = None) -> tuple[OptionField, ...]:
    """Describe ``RunOptions`` fields (all, or ``names`` in field order) for forms: label, help, kind, limits."""
    wanted = set(RunOptions.model_fields if names is None else names)
    out = []
    for name, info in RunOptions.model_fields.items():
        if name not in wanted:
            continue
        words = [_LABEL_WORDS.get(w, w) for w in name.split("_")]
        label = " ".join(words)
        limits = {key: getattr(m, key) for m in info.metadata if (key := _CONSTRAINTS.get(type(m)))}
        kind, choices = _kind(info.annotation)
        out.append(
            OptionField(
                name=name,
                label=label[0].upper() + label[1:],
                help=info.description or "",
                kind=kind,
                choices=choices,
                minimum=limits.get("ge", limits.get("gt")) if kind in ("int", "float") else None,
                maximum=limits.get("le", limits.get("lt")) if kind in ("int", "float") else None,
                many=any(get_origin(a) is tuple for a in get_args(info.annotation)),
            )
        )
    return tuple(out)


def _kind(annotation: Any) -> tuple[Literal["bool", "choice", "int", "float", "text"], tuple[str, ...]]:
    inner = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
    kind = inner[0]
    if kind is bool:
        return "bool", ()
    if get_origin(kind) is Literal:
        return "choice", tuple(str(a) for a in get_args(kind))
    if kind is int:
        return "int", ()
    if kind is float:
        return "float", ()
    return "text", ()


def form_values(values: dict[str, str]) -> dict[str, Any]:
    """What a form sent, ready for ``RunOptions(**...)``: blank entries (use the setting) left out, a
    comma-separated text kept for tuple fields (temperature) and split for string lists (speaker names)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        text: Any = value.strip() if isinstance(value, str) else value
        if text in ("", None):
            continue
        if name == "speaker_names" and isinstance(text, str):
            text = tuple(part.strip() for part in text.split(",") if part.strip())
        out[name] = text
    return out
