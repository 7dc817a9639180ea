"""The one options model: every ``RunOptions`` field reaches the CLI, the API schema, the forms and the cache key.

The first test adds a field to ``RunOptions`` (in a fresh interpreter, before any face is imported) and checks that
the CLI (--help and parsing), the API (its OpenAPI schema and validation) and the forms (the apps' Advanced
sections, the browser page) all pick it up with no other change.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tubesum.cli import cli
from tubesum.cli.run_options import flag_name
from tubesum.config import Settings
from tubesum.errors import ConfigError, EnglishOnlyModelError
from tubesum.frontends.session import MAIN_FIELDS, RunRequest, advanced_fields, build_options
from tubesum.jobs.types import API_FIELDS, JobOptions, cache_key
from tubesum.options import LOCAL_ONLY, NOT_RESULT_SHAPING, RunOptions, resolve

REPO = Path(__file__).resolve().parents[1]

ADD_A_FIELD = textwrap.dedent(
    """
    import json
    from pydantic import Field
    import tubesum.options as o

    class WithPatience(o.RunOptions):
        patience: float | None = Field(None, ge=0, le=5, description="Beam search patience (a field added by a test).")

    o.RunOptions = WithPatience  # before any face is imported: they all derive from it

    import click
    from click.testing import CliRunner
    from litestar.testing import TestClient
    from tubesum.api.app import create_app
    from tubesum.cli import cli
    from tubesum.cli.run_options import run_options
    from tubesum.config import Settings
    from tubesum.frontends.session import advanced_fields
    from tubesum.jobs.types import JobOptions

    @click.command()
    @run_options
    def show(options):
        click.echo(options.model_dump_json())

    report = {
        "help": CliRunner().invoke(cli, ["transcribe", "--help"], terminal_width=200).output,
        "parsed": json.loads(CliRunner().invoke(show, ["--patience", "2.5"]).output),
        "refused": CliRunner().invoke(show, ["--patience", "9"]).exit_code,
        "api_parsed": JobOptions(patience=1.5).patience,
        "forms": [f.name for f in advanced_fields(remote=True)] + [f.name for f in advanced_fields(remote=False)],
    }
    settings = Settings(data_dir=DATA_DIR, auth_disabled=True, ui_enabled=True)
    with TestClient(create_app(settings)) as client:
        schema = client.get("/schema/openapi.json").json()
        report["schema"] = schema["components"]["schemas"]["JobOptions"]["properties"].get("patience")
        report["page"] = 'data-option="patience"' in client.get("/").text
    print("REPORT" + json.dumps(report))
    """
)


def test_a_field_added_to_run_options_reaches_the_cli_the_api_schema_and_the_forms(tmp_path: Path) -> None:
    script = ADD_A_FIELD.replace("DATA_DIR", repr(str(tmp_path / "data")))
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False, cwd=REPO
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.split("REPORT", 1)[1])
    assert "--patience FLOAT RANGE" in report["help"] and "a field added by a test" in report["help"]
    assert report["parsed"]["patience"] == 2.5 and report["refused"] == 2
    assert report["api_parsed"] == 1.5
    assert report["schema"]["description"].startswith("Beam search patience")
    assert report["forms"].count("patience") == 2 and report["page"]


def test_every_field_has_a_flag_an_api_decision_a_form_place_and_its_settings_twin() -> None:
    help_text = CliRunner().invoke(cli, ["transcribe", "--help"], terminal_width=200).output
    remote_form = {f.name for f in advanced_fields(remote=True)}
    local_form = {f.name for f in advanced_fields(remote=False)}
    for name, info in RunOptions.model_fields.items():
        assert flag_name(name) in help_text, name
        assert info.description and info.description == Settings.model_fields[name].description, name
        assert (name in API_FIELDS) != (name in LOCAL_ONLY), name
        assert name in MAIN_FIELDS or name in local_form or name == "output_dir", name
        assert name not in remote_form or name in API_FIELDS, name
        setting = Settings.model_fields[name].annotation
        assert _without_none(info.annotation) == _without_none(setting), f"{name}: RunOptions and Settings disagree"
    assert set(JobOptions.model_fields) == set(API_FIELDS)


def test_no_remote_option_names_a_path() -> None:
    for name in API_FIELDS:
        assert Path not in typing.get_args(RunOptions.model_fields[name].annotation), name


def _without_none(annotation: Any) -> Any:
    args = tuple(a for a in typing.get_args(annotation) if a is not type(None))
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return args[0] if len(args) == 1 else args
    return annotation


def test_cli_flags_parse_into_run_options(tmp_path: Path) -> None:
    import click

    from tubesum.cli.run_options import run_options

    @click.command()
    @run_options
    def show(options: RunOptions) -> None:
        click.echo(options.model_dump_json(exclude_none=True))

    args = ["--task", "translate", "--initial-prompt", "Siobhan", "--hotwords", "quay", "--temperature", "0,0.4",
            "--no-condition-on-previous-text", "--hallucination-silence-threshold", "2", "--vad-threshold", "0.6",
            "--vad-min-speech-duration-ms", "100", "--vad-max-speech-duration-s", "20",
            "--vad-min-silence-duration-ms", "500", "--vad-speech-pad-ms", "200", "--beam-size", "3",
            "--max-line-width", "30", "--max-line-count", "3", "-f", "srt,vtt",
            "--speaker-name", "SPEAKER_00=Ann"]  # fmt: skip
    result = CliRunner().invoke(show, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "task": "translate", "initial_prompt": "Siobhan", "hotwords": "quay", "temperature": [0.0, 0.4],
        "condition_on_previous_text": False, "hallucination_silence_threshold": 2.0, "vad_threshold": 0.6,
        "vad_min_speech_duration_ms": 100, "vad_max_speech_duration_s": 20.0, "vad_min_silence_duration_ms": 500,
        "vad_speech_pad_ms": 200, "beam_size": 3, "max_line_width": 30, "max_line_count": 3,
        "formats": ["srt", "vtt"], "speaker_names": ["SPEAKER_00=Ann"],
    }  # fmt: skip
    bad = CliRunner().invoke(show, ["--temperature", "0,3"])
    assert bad.exit_code == 2 and "temperature" in bad.output


def test_resolve_uses_settings_for_unset_options_and_refuses_translate_on_english_only(settings: Settings) -> None:
    resolved = resolve(RunOptions(beam_size=2, temperature=0.3), settings)
    assert resolved.beam_size == 2 and resolved.temperature == (0.3,)
    assert resolved.word_timestamps == settings.word_timestamps and resolved.max_line_width == 42
    with pytest.raises(EnglishOnlyModelError) as refused:
        resolve(RunOptions(model="tiny.en", task="translate"), settings)
    assert refused.value.code == "english_only_model" and refused.value.http_status == 400
    assert resolve(RunOptions(model="small", task="translate"), settings).task == "translate"


def test_front_end_forms_build_run_options_and_server_runs_refuse_local_only_ones() -> None:
    options = build_options(
        {"model": "tiny.en", "beam_size": "3", "vad_filter": "off", "hotwords": " ", "language": ""}
    )
    assert options.overrides() == {"model": "tiny.en", "beam_size": 3, "vad_filter": False}
    with pytest.raises(ConfigError, match="max_line_count"):
        build_options({"max_line_count": "0"})
    assert RunRequest("u", options).job_options().beam_size == 3
    with pytest.raises(ConfigError, match="device"):
        RunRequest("u", RunOptions(device="cpu")).job_options()


#: A value other than the default for every result-shaping option the API takes.
CHANGED: dict[str, Any] = {
    "model": "base.en", "language": "de", "task": "translate", "word_timestamps": True, "beam_size": 2,
    "temperature": (0.2,), "initial_prompt": "Siobhan", "hotwords": "quay", "condition_on_previous_text": False,
    "hallucination_silence_threshold": 2.0, "vad_filter": False, "vad_threshold": 0.7,
    "vad_min_speech_duration_ms": 100, "vad_max_speech_duration_s": 20.0, "vad_min_silence_duration_ms": 500,
    "vad_speech_pad_ms": 100, "captions": "never", "auto_captions": True, "max_line_width": 30, "max_line_count": 3,
    "diarize": True, "num_speakers": 2, "min_speakers": 2, "max_speakers": 3, "speaker_names": ("SPEAKER_00=Ann",),
    "summarize": True, "summary_language": "de",
}  # fmt: skip


def test_every_result_shaping_option_changes_the_cache_key(settings: Settings) -> None:
    base = settings.model_copy(update={"model": "small"})
    shaping = [name for name in API_FIELDS if name not in NOT_RESULT_SHAPING]
    assert sorted(CHANGED) == sorted(shaping), "give the new option a changed value here"
    plain = cache_key("youtube:x", JobOptions(), model_identity="m", settings=base)
    for name, value in CHANGED.items():
        changed = cache_key("youtube:x", JobOptions(**{name: value}), model_identity="m", settings=base)
        assert changed != plain, name
    assert cache_key("youtube:x", JobOptions(formats=("srt",)), model_identity="m", settings=base) == plain
    explicit = JobOptions(beam_size=base.beam_size)  # the same run spelled out: the same result
    assert cache_key("youtube:x", explicit, model_identity="m", settings=base) == plain


def test_openapi_schema_documents_the_option_limits(settings: Settings) -> None:
    schema = JobOptions.model_json_schema()["properties"]
    assert schema["temperature"]["anyOf"][0]["items"] == {"maximum": 1.0, "minimum": 0.0, "type": "number"}
    assert schema["max_line_width"]["anyOf"][0] == {"maximum": 200, "minimum": 10, "type": "integer"}
    assert schema["task"]["anyOf"][0]["enum"] == ["transcribe", "translate"]
    assert "device" not in schema and "output_dir" not in schema
