"""Speaker assignment on constructed timelines, and finding the pyannote pipeline — no torch, always run."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import huggingface_hub
import pytest

from tubesum.config import Settings
from tubesum.diarize import resolve
from tubesum.diarize.assign import assign_speakers, normalise_labels, parse_rename
from tubesum.diarize.pyannote_backend import Diarizer, check_available, doctor_checks, resolve_pipeline
from tubesum.errors import ConfigError, MissingExtraError, ModelNotFoundError, TokenMissingError
from tubesum.records import Segment, SpeakerTurn, Word

SECRET = "hf_TopSecretTokenValue1234567890"
HUB_ID = "pyannote/speaker-diarization-community-1"

A, B = "SPEAKER_00", "SPEAKER_01"
# A speaks 0–5 and 12–15, B speaks 5–10; 10–12 is a gap.
TURNS = (SpeakerTurn(0.0, 5.0, A), SpeakerTurn(5.0, 10.0, B), SpeakerTurn(12.0, 15.0, A))


def word(start: float, end: float, text: str = "w") -> Word:
    return Word(start=start, end=end, text=text, probability=0.9)


def speakers_of_words(words: list[Word], turns: tuple[SpeakerTurn, ...] = TURNS) -> list[str | None]:
    (segment,) = assign_speakers([Segment(0.0, 30.0, "x", words=tuple(words))], turns)
    return [w.speaker for w in segment.words]


@pytest.mark.parametrize(
    ("start", "end", "expected", "why"),
    [
        (1.0, 2.0, A, "inside one turn"),
        (4.5, 6.0, B, "more overlap with the second turn"),
        (4.0, 6.0, A, "equal overlap: the turn that starts first"),
        (4.0, 5.0, A, "ends exactly on the boundary"),
        (5.0, 6.0, B, "starts exactly on the boundary"),
        (5.0, 5.0, A, "zero-length word on the boundary: both at distance 0, the earlier turn"),
        (7.0, 7.0, B, "zero-length word inside a turn"),
        (10.2, 10.5, B, "in the gap, 0.2 s after B"),
        (11.5, 11.8, A, "in the gap, 0.2 s before A"),
        (10.9, 11.1, B, "in the gap, 0.9 s from both: the turn that starts first"),
        (16.0, 16.5, A, "exactly 1 s after the last turn"),
        (16.1, 16.5, None, "more than 1 s from any turn"),
        (20.0, 21.0, None, "far after everything"),
    ],
)
def test_word_gets_speaker_with_most_overlap(start: float, end: float, expected: str | None, why: str) -> None:
    assert speakers_of_words([word(start, end)]) == [expected], why


def test_word_ties_survive_float_rounding() -> None:
    turns = (SpeakerTurn(0.0, 0.3, A), SpeakerTurn(0.3, 0.9, B))
    assert speakers_of_words([word(0.1, 0.5)], turns) == [A]  # 0.2 and 0.19999999999999998 s


def test_overlapping_turns_pick_the_longer_overlap_then_the_earlier_turn() -> None:
    turns = (SpeakerTurn(0.0, 10.0, A), SpeakerTurn(3.0, 4.0, B), SpeakerTurn(6.0, 9.0, B))
    assert speakers_of_words([word(3.0, 4.0), word(2.5, 4.0), word(5.5, 9.5)], turns) == [A, A, A]
    assert speakers_of_words([word(3.2, 3.8)], (SpeakerTurn(3.0, 4.0, B), SpeakerTurn(0.0, 10.0, A))) == [A]


@pytest.mark.parametrize(
    ("segment", "expected", "why"),
    [
        (Segment(0.0, 10.0, "x", words=(word(0.0, 1.0), word(5.5, 9.5))), B, "summed word overlap: A 1 s, B 4 s"),
        (Segment(4.0, 6.0, "x", words=(word(4.0, 6.0),)), A, "equal sums: the speaker whose turn starts first"),
        (Segment(3.0, 8.0, "x"), B, "no words: its own span, A 2 s, B 3 s"),
        (Segment(2.0, 10.0, "x", words=(word(2.5, 3.5),)), A, "words win over the span (span says B)"),
        (Segment(10.2, 10.4, "x"), B, "no words, in the gap: the nearest turn"),
        (Segment(10.2, 11.9, "x", words=(word(10.2, 10.4), word(11.7, 11.9))), A, "words in a gap: the span's nearest"),
        (Segment(30.0, 31.0, "x", words=(word(30.0, 31.0),)), None, "nobody near"),
    ],
)
def test_segment_gets_speaker_with_most_overlap(segment: Segment, expected: str | None, why: str) -> None:
    assert assign_speakers([segment], TURNS)[0].speaker == expected, why


def test_no_turns_leaves_everyone_unnamed() -> None:
    segments = [Segment(0.0, 2.0, "hi", words=(word(0.0, 1.0),), speaker="OLD")]
    (out,) = assign_speakers(segments, [])
    assert out.speaker is None
    assert out.words[0].speaker is None


def test_one_speaker_names_every_segment_near_it() -> None:
    turns = [SpeakerTurn(1.0, 20.0, A)]
    segments = [Segment(0.0, 1.0, "a", words=(word(0.2, 0.8),)), Segment(5.0, 9.0, "b"), Segment(25.0, 26.0, "c")]
    out = assign_speakers(segments, turns)
    assert [s.speaker for s in out] == [A, A, None]
    assert out[0].words[0].speaker == A  # 0.2 s before the turn


def test_assignment_keeps_everything_else() -> None:
    segments = [Segment(0.0, 2.0, "hello there", words=(word(0.0, 1.0, "hello"), word(1.0, 2.0, "there")))]
    (out,) = assign_speakers(segments, TURNS)
    assert (out.start, out.end, out.text) == (0.0, 2.0, "hello there")
    assert [(w.text, w.probability) for w in out.words] == [("hello", 0.9), ("there", 0.9)]
    assert isinstance(assign_speakers(segments, TURNS), tuple)
    assert assign_speakers([], TURNS) == ()


def test_rename_maps_labels_and_keeps_unknown_ones() -> None:
    segments = [Segment(1.0, 2.0, "a", words=(word(1.0, 2.0),)), Segment(6.0, 7.0, "b")]
    out = assign_speakers(segments, TURNS, rename={A: "Alice", "SPEAKER_09": "Nobody"})
    assert [s.speaker for s in out] == ["Alice", B]
    assert out[0].words[0].speaker == "Alice"


def test_assignment_scales_to_long_transcripts() -> None:
    turns = [SpeakerTurn(float(i), i + 0.9, f"SPEAKER_{i % 3:02d}") for i in range(4000)]
    words = tuple(word(i / 4, i / 4 + 0.2) for i in range(16000))
    segments = [Segment(float(i), i + 10.0, "x", words=words[i * 4 : i * 4 + 40]) for i in range(0, 4000, 10)]
    out = assign_speakers(segments, turns)
    assert out[1].words[0].speaker == "SPEAKER_01"  # word at 10.0 s lies in turn 10


def test_normalise_labels_orders_by_first_appearance() -> None:
    turns = [SpeakerTurn(9.0, 10.0, "x"), SpeakerTurn(0.0, 1.0, "b"), SpeakerTurn(2.0, 3.0, "x")]
    turns.append(SpeakerTurn(4.0, 5.0, "a"))
    assert normalise_labels(turns) == [
        SpeakerTurn(0.0, 1.0, "SPEAKER_00"),
        SpeakerTurn(2.0, 3.0, "SPEAKER_01"),
        SpeakerTurn(4.0, 5.0, "SPEAKER_02"),
        SpeakerTurn(9.0, 10.0, "SPEAKER_01"),
    ]
    assert normalise_labels([]) == []


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (None, {}),
        ([], {}),
        (["SPEAKER_00=Alice"], {"SPEAKER_00": "Alice"}),
        ([" speaker_1 = Bob Smith "], {"SPEAKER_01": "Bob Smith"}),
        (["SPEAKER_00=Ann=Marie", "SPEAKER_01=Ann=Marie"], {"SPEAKER_00": "Ann=Marie", "SPEAKER_01": "Ann=Marie"}),
        (["SPEAKER_00=Alice", "SPEAKER_00=Alice"], {"SPEAKER_00": "Alice"}),
        (["Host=Alice"], {"Host": "Alice"}),
    ],
)
def test_parse_rename_reads_label_name_pairs(items: list[str] | None, expected: dict[str, str]) -> None:
    assert parse_rename(items) == expected


@pytest.mark.parametrize("items", [["Alice"], ["=Alice"], ["SPEAKER_00="], ["SPEAKER_00=A", "SPEAKER_00=B"]])
def test_parse_rename_rejects_bad_pairs_with_config_error(items: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_rename(items)
    assert info.value.code == "config_invalid"
    assert "SPEAKER_00=Alice" in str(info.value) or "two names" in str(info.value)


# -- finding the pipeline (no torch) --------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _no_stored_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's `hf auth login` token must not leak into these tests."""
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"model_cache_dir": tmp_path / "models", "diarization_model": HUB_ID, "device": "cpu"}
    return Settings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


def fake_hub_cache(cache_dir: Path, repo_id: str) -> Path:
    """Lay out ``repo_id`` as huggingface_hub caches it: refs/main → snapshots/<commit>/config.yaml."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache_dir / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.yaml").write_text("pipeline: {}\n")
    return snapshot


def assert_secret_absent(exc: Exception) -> None:
    assert SECRET not in str(exc)
    assert SECRET not in repr(getattr(exc, "to_dict", dict)())


def test_hub_id_without_token_and_not_cached_is_token_missing(tmp_path: Path) -> None:
    with pytest.raises(TokenMissingError) as info:
        resolve_pipeline(make_settings(tmp_path))
    assert info.value.code == "hf_token_missing"
    assert "HF_TOKEN" in info.value.message
    assert "https://hf.co/settings/tokens" in (info.value.hint or "")
    assert f"https://hf.co/{HUB_ID}" in (info.value.hint or "")


def test_hub_id_with_token_offline_and_not_cached_is_model_not_found(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, hf_token=SECRET)
    with pytest.raises(ModelNotFoundError) as info:
        resolve_pipeline(settings)
    assert info.value.code == "model_not_found"
    assert "HF_HUB_OFFLINE" in info.value.message
    assert f"hf download {HUB_ID} --cache-dir {settings.model_cache_dir}" in (info.value.hint or "")
    assert_secret_absent(info.value)


@pytest.mark.parametrize("cache", ["model_cache_dir", "hf_default_cache"])
def test_cached_hub_id_loads_from_its_snapshot_without_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: str
) -> None:
    settings = make_settings(tmp_path)
    hf_cache = tmp_path / "hf-cache"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hf_cache))
    snapshot = fake_hub_cache(settings.model_cache_dir if cache == "model_cache_dir" else hf_cache, HUB_ID)
    resolved = resolve_pipeline(settings)
    assert (resolved.origin, resolved.checkpoint) == ("cache", str(snapshot))


def test_local_pipeline_directory_or_config_file(tmp_path: Path) -> None:
    (tmp_path / "pipe").mkdir()
    (tmp_path / "pipe" / "config.yaml").write_text("pipeline: {}\n")
    for name in (str(tmp_path / "pipe"), str(tmp_path / "pipe" / "config.yaml")):
        resolved = resolve_pipeline(make_settings(tmp_path, diarization_model=name))
        assert (resolved.origin, resolved.checkpoint) == ("path", name)


def test_local_directory_without_config_is_model_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"no config\.yaml"):
        resolve_pipeline(make_settings(tmp_path, diarization_model=str(tmp_path)))
    with pytest.raises(ModelNotFoundError):
        resolve_pipeline(make_settings(tmp_path, diarization_model="./missing-dir"))


def test_garbage_model_name_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        resolve_pipeline(make_settings(tmp_path, diarization_model="not a model!"))


def test_missing_extra_is_reported_before_anything_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyannote" else real(name, *a))
    for call in (check_available, Diarizer.from_settings):
        with pytest.raises(MissingExtraError) as info:
            call(make_settings(tmp_path))
        assert info.value.code == "missing_extra"
        assert info.value.details["extra"] == "diarize"
        assert "pip install 'tubesum[diarize]'" in str(info.value)


def test_broken_pyannote_import_is_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from tubesum.diarize import pyannote_backend

    monkeypatch.setenv("PYANNOTE_METRICS_ENABLED", "0")
    monkeypatch.setitem(sys.modules, "pyannote.audio", None)  # `from pyannote.audio import ...` → ImportError
    with pytest.raises(MissingExtraError, match="diarize"):
        pyannote_backend._import_pipeline_class()


def test_importing_the_backend_does_not_import_torch() -> None:
    code = "import sys, tubesum.diarize.pyannote_backend, tubesum.diarize.assign; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_doctor_checks_report_token_presence_never_its_value(tmp_path: Path) -> None:
    checks = {c.name: c for c in doctor_checks(make_settings(tmp_path, hf_token=SECRET))}
    assert set(checks) == {"diarize_extra", "diarize_token", "diarize_model"}
    assert checks["diarize_token"].status == "ok"
    assert checks["diarize_token"].detail == "set (HF_TOKEN)"
    assert checks["diarize_model"].status == "warn"  # offline, not cached; diarization is off
    assert SECRET not in repr(checks)


def test_doctor_checks_fail_when_diarization_is_on_but_cannot_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.metadata.version

    def version(name: str) -> str:
        if name == "pyannote.audio":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    checks = {c.name: c for c in doctor_checks(make_settings(tmp_path, diarize=True))}
    assert checks["diarize_extra"].status == "fail"
    assert "scripts/install-ml diarize" in (checks["diarize_extra"].hint or "")
    assert checks["diarize_token"].status == "warn"
    assert checks["diarize_model"].status == "fail"
    assert "HF_TOKEN" in checks["diarize_model"].detail


def test_resolve_module_is_the_backends_source() -> None:
    assert resolve_pipeline is resolve.resolve_pipeline


def test_gated_error_names_the_repo_that_is_gated(tmp_path: Path) -> None:
    """pyannote 3.1 pulls pyannote/segmentation-3.0: the page to visit is the one the hub refused."""
    from types import SimpleNamespace

    from huggingface_hub.errors import GatedRepoError

    url = "https://huggingface.co/pyannote/segmentation-3.0/resolve/main/pytorch_model.bin"
    response = SimpleNamespace(status_code=403, headers={}, url=url, request=None)
    exc = GatedRepoError(f"403 Client Error.\n\nCannot access gated repo for url {url}.", response=response)
    error = resolve.hub_error(exc, "pyannote/speaker-diarization-3.1", make_settings(tmp_path))
    assert error.code == "gated_model"
    assert "https://hf.co/pyannote/segmentation-3.0" in (error.hint or "")
