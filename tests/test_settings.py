"""Settings: environment, .env, secrets that never show, the generated .env.example."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tubesum.config import Settings, env_example

REPO = Path(__file__).resolve().parents[1]


def test_env_prefix_and_comma_separated_formats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUBESUM_MODEL", "base")
    monkeypatch.setenv("TUBESUM_FORMATS", "srt, VTT")
    s = Settings()
    assert s.model == "base"
    assert s.formats == ("srt", "vtt")


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TUBESUM_MAX_DURATION=60\nHF_TOKEN=hf_fromdotenv123456\n")
    s = Settings()  # the autouse fixture chdir'ed into tmp_path
    assert s.max_duration == 60
    assert s.hf_token is not None and s.hf_token.get_secret_value() == "hf_fromdotenv123456"


def test_hf_token_is_secret_in_repr_and_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_supersecretvalue42")
    s = Settings()
    assert "hf_supersecretvalue42" not in repr(s)
    assert "hf_supersecretvalue42" not in str(s.model_dump())
    assert "hf_supersecretvalue42" not in s.model_dump_json()


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(formats="txt,docx")


def test_private_addresses_switch_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="test-only"):
        Settings(environment="production", allow_private_addresses=True)


def test_home_is_expanded_in_paths() -> None:
    assert Settings(output_dir="~/transcripts").output_dir == Path.home() / "transcripts"


def test_env_example_documents_every_setting_and_matches_the_committed_file() -> None:
    text = env_example()
    for name in Settings.model_fields:
        secret_env = {"hf_token": "HF_TOKEN", "sentry_dsn": "SENTRY_DSN", "openai_api_key": "OPENAI_API_KEY"}
        assert f"\n{secret_env.get(name, 'TUBESUM_' + name.upper())}=" in text
    committed = (REPO / ".env.example").read_text()
    assert committed == text, "regenerate with: tubesum config env-example > .env.example"
