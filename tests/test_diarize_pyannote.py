"""The pyannote backend end to end, offline: a random-weight pipeline saved the way the hub ships one.

No PyPI package ships pyannote weights, so the fixture builds the real pipeline classes with random weights
(PyanNet segmentation, XVectorMFCC embedding, agglomerative clustering), saves them as Lightning checkpoints
plus a ``config.yaml`` in the hub layout, and the product loads that through ``Pipeline.from_pretrained`` —
the path users hit. It runs on pyannote's own two-speaker ``sample.wav``, decoded by tubesum. Turns from
random weights mean nothing: the tests check their shape, the loading paths and the errors.
"""

from __future__ import annotations

import gc
import re
import shutil
import time
import warnings
import weakref
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import huggingface_hub
import pytest

from tubesum.config import Settings
from tubesum.diarize.assign import assign_speakers
from tubesum.diarize.pyannote_backend import Diarizer, clear_loaded_pipelines
from tubesum.errors import (
    ConfigError,
    DeviceUnavailableError,
    GatedModelError,
    ModelNotFoundError,
    TokenMissingError,
    TubesumError,
)
from tubesum.model_registry import REGISTRY
from tubesum.pipeline.decode import DecodedAudio, decode_audio
from tubesum.records import Segment

try:
    with warnings.catch_warnings():  # torchcodec cannot load beside the CPU torch; pyannote warns on import
        warnings.simplefilter("ignore")
        import pyannote.audio
        import torch
except (ImportError, OSError) as exc:
    pytest.skip(
        f"pyannote.audio is not importable ({type(exc).__name__}: {exc}); install the extra with "
        "scripts/install-ml diarize",
        allow_module_level=True,
    )

SECRET = "hf_TopSecretTokenValue1234567890"
HUB_ID = "pyannote/speaker-diarization-community-1"
SAMPLE_WAV = Path(pyannote.audio.__file__).parent / "sample" / "sample.wav"


def _save_checkpoint(model: Any, path: Path) -> None:
    import lightning

    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": lightning.__version__,
    }
    model.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, path)


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pyannote 4 pipeline directory laid out like the hub's: config.yaml + segmentation/ embedding/ plda/."""
    import numpy as np
    import yaml
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import XVectorMFCC
    from pyannote.audio.models.segmentation import PyanNet

    out = tmp_path_factory.mktemp("random-pipeline")
    torch.manual_seed(0)
    with warnings.catch_warnings():  # random MFCC settings warn about empty mel filters
        warnings.simplefilter("ignore")
        segmentation = PyanNet(sample_rate=16000)
        segmentation.specifications = Specifications(
            problem=Problem.MONO_LABEL_CLASSIFICATION,
            resolution=Resolution.FRAME,
            duration=5.0,
            classes=["s1", "s2", "s3"],
            powerset_max_classes=2,
        )
        segmentation.build()
        embedding = XVectorMFCC(sample_rate=16000)
        embedding.specifications = Specifications(
            problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=5.0
        )
    _save_checkpoint(segmentation, out / "segmentation" / "pytorch_model.bin")
    _save_checkpoint(embedding, out / "embedding" / "pytorch_model.bin")
    # PLDA files must load even though agglomerative clustering does not use them (VBx would).
    (out / "plda").mkdir()
    rng = np.random.default_rng(0)
    np.savez(out / "plda" / "xvec_transform.npz", mean1=np.zeros(512), mean2=np.zeros(8), lda=rng.normal(size=(512, 8)))
    np.savez(out / "plda" / "plda.npz", mu=np.zeros(8), tr=np.eye(8), psi=np.ones(8))
    config = {
        "dependencies": {"pyannote.audio": pyannote.audio.__version__},
        "pipeline": {
            "name": "pyannote.audio.pipelines.SpeakerDiarization",
            "params": {
                "segmentation": "$model/segmentation",
                "embedding": "$model/embedding",
                "plda": "$model/plda",
                "clustering": "AgglomerativeClustering",
                "segmentation_batch_size": 8,
                "embedding_batch_size": 8,
            },
        },
        "params": {
            "segmentation": {"min_duration_off": 0.0},
            "clustering": {"method": "centroid", "min_cluster_size": 2, "threshold": 0.7},
        },
    }
    (out / "config.yaml").write_text(yaml.safe_dump(config))
    return out


@pytest.fixture(scope="module")
def sample_audio() -> DecodedAudio:
    """pyannote's 30 s two-speaker sample, decoded by tubesum (16 kHz mono float32)."""
    return decode_audio(SAMPLE_WAV)


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)  # no developer `hf auth login` token
    monkeypatch.setenv("PYANNOTE_METRICS_ENABLED", "0")
    clear_loaded_pipelines()
    yield
    clear_loaded_pipelines()


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"model_cache_dir": tmp_path / "models", "device": "auto"}
    return Settings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


def assert_well_formed(turns: list[Any], duration: float) -> None:
    assert turns, "the seeded random pipeline finds speech in the sample"
    assert all(0.0 <= t.start < t.end <= duration for t in turns)
    assert [t.start for t in turns] == sorted(t.start for t in turns)
    labels = list(dict.fromkeys(t.speaker for t in turns))
    assert labels == [f"SPEAKER_{i:02d}" for i in range(len(labels))]


def test_local_pipeline_directory_diarizes_decoded_audio(
    pipeline_dir: Path, sample_audio: DecodedAudio, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="tubesum.diarize")
    diarizer = Diarizer.from_settings(make_settings(tmp_path, diarization_model=str(pipeline_dir)))
    calls: list[tuple[str, float, float | None]] = []
    turns = diarizer.diarize(sample_audio, progress=lambda stage, done, total=None: calls.append((stage, done, total)))
    assert_well_formed(turns, sample_audio.duration)
    assert calls
    assert {stage for stage, _, _ in calls} == {"diarize"}
    if not torch.cuda.is_available():
        assert diarizer.device == "cpu"
        assert re.match(r"auto: .*; using CPU", diarizer.reason)
    assert any(r.getMessage() == "diarization pipeline loaded" and r.reason == diarizer.reason for r in caplog.records)


def test_pipeline_is_loaded_once_per_process(pipeline_dir: Path, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, diarization_model=str(pipeline_dir))
    first, second = Diarizer.from_settings(settings), Diarizer.from_settings(settings)
    assert first._state is second._state
    by_config = Diarizer.from_settings(make_settings(tmp_path, diarization_model=str(pipeline_dir / "config.yaml")))
    assert by_config._state is not first._state  # a config.yaml path loads too


def test_pipeline_lives_in_the_model_registry_and_idle_unload_frees_it(
    pipeline_dir: Path, sample_audio: DecodedAudio, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, diarization_model=str(pipeline_dir))
    diarizer = Diarizer.from_settings(settings)
    (info,) = [i for i in REGISTRY.snapshot() if i.kind == "diarize" and i.loaded]
    assert (info.name, info.estimate_mb, info.estimate_basis) == (str(pipeline_dir), 1500, "table")
    diarizer.diarize(sample_audio)
    assert REGISTRY.unload_idle(3600) == []  # just used
    pipeline = weakref.ref(diarizer._state.pipeline)
    del diarizer
    time.sleep(1.05)
    # other tests may have left their own models idle in this process: only this kind matters here
    assert [k.kind for k in REGISTRY.unload_idle(1) if k.kind == "diarize"] == ["diarize"]
    gc.collect()
    assert pipeline() is None
    assert Diarizer.from_settings(settings).diarize(sample_audio)  # loads again on the next use


def test_speaker_counts_reach_pyannote(pipeline_dir: Path, sample_audio: DecodedAudio, tmp_path: Path) -> None:
    diarizer = Diarizer.from_settings(make_settings(tmp_path, diarization_model=str(pipeline_dir)))
    turns = diarizer.diarize(sample_audio, num_speakers=2)
    assert {t.speaker for t in turns} <= {"SPEAKER_00", "SPEAKER_01"}
    assert_well_formed(diarizer.diarize(sample_audio, min_speakers=1, max_speakers=3), sample_audio.duration)
    with pytest.raises(ConfigError):
        diarizer.diarize(sample_audio, min_speakers=3, max_speakers=2)


def test_turns_label_a_transcript(pipeline_dir: Path, sample_audio: DecodedAudio, tmp_path: Path) -> None:
    turns = Diarizer.from_settings(make_settings(tmp_path, diarization_model=str(pipeline_dir))).diarize(sample_audio)
    segments = [Segment(float(s), s + 4.0, f"part {s}") for s in range(0, 28, 4)]
    named = assign_speakers(segments, turns, rename={"SPEAKER_00": "Alice"})
    assert {s.speaker for s in named} <= {"Alice"} | {t.speaker for t in turns}
    assert any(s.speaker == "Alice" for s in named)


def test_cached_hub_id_loads_from_the_cache_without_touching_the_hub(
    pipeline_dir: Path, sample_audio: DecodedAudio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, diarization_model=HUB_ID)
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = settings.model_cache_dir / f"models--{HUB_ID.replace('/', '--')}"
    shutil.copytree(pipeline_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)

    def no_hub(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the hub was called for a cached pipeline")

    monkeypatch.setattr("pyannote.audio.utils.hf_hub.hf_hub_download", no_hub)
    diarizer = Diarizer.from_settings(settings)  # no token, HF_HUB_OFFLINE=1
    assert diarizer.name == HUB_ID
    assert_well_formed(diarizer.diarize(sample_audio), sample_audio.duration)


def test_hub_id_without_token_offline_is_token_missing(tmp_path: Path) -> None:
    with pytest.raises(TokenMissingError, match="HF_TOKEN"):
        Diarizer.from_settings(make_settings(tmp_path, diarization_model=HUB_ID))


def _hub_failure(kind: str) -> Exception:
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError

    url = f"https://huggingface.co/{HUB_ID}/resolve/main/config.yaml"
    status = {"gated": 403, "unauthorized": 401}.get(kind, 404)
    response = SimpleNamespace(status_code=status, headers={}, url=url, request=None)
    if kind == "gated":
        return GatedRepoError(f"403 Client Error.\n\nCannot access gated repo for url {url}.", response=response)
    if kind == "unauthorized":
        return HfHubHTTPError(f"401 Client Error: Unauthorized for url: {url}", response=response)
    return LocalEntryNotFoundError("Cannot find the requested files in the disk cache and outgoing traffic is off")


@pytest.mark.parametrize(
    ("kind", "error", "code"),
    [
        ("gated", GatedModelError, "gated_model"),
        ("unauthorized", TokenMissingError, "hf_token_missing"),
        ("unreachable", ModelNotFoundError, "model_not_found"),
    ],
)
def test_hub_failures_become_stable_errors_without_the_token(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    kind: str,
    error: type[TubesumError],
    code: str,
) -> None:
    """The hub cannot exist here: its download call is replaced by one raising huggingface_hub's own errors."""
    caplog.set_level("DEBUG")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    seen: dict[str, Any] = {}

    def fake_download(repo_id: str, filename: str, **kwargs: Any) -> str:
        seen.update(kwargs, repo_id=repo_id, filename=filename)
        raise _hub_failure(kind)

    monkeypatch.setattr("pyannote.audio.utils.hf_hub.hf_hub_download", fake_download)
    with pytest.raises(error) as info:
        Diarizer.from_settings(make_settings(tmp_path, diarization_model=HUB_ID, hf_token=SECRET))
    assert info.value.code == code
    assert (seen["repo_id"], seen["filename"], seen["token"]) == (HUB_ID, "config.yaml", SECRET)
    if kind == "gated":
        assert f"https://hf.co/{HUB_ID}" in (info.value.hint or "")
        assert "accept" in (info.value.hint or "")
    captured = capsys.readouterr()
    for text in (str(info.value), repr(info.value.to_dict()), caplog.text, captured.out, captured.err):
        assert SECRET not in text
    assert "Could not download" not in captured.out  # pyannote's own print is swallowed


def test_token_is_never_logged_on_success(
    pipeline_dir: Path,
    sample_audio: DecodedAudio,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level("DEBUG")
    settings = make_settings(tmp_path, diarization_model=str(pipeline_dir), hf_token=SECRET)
    Diarizer.from_settings(settings).diarize(sample_audio)
    captured = capsys.readouterr()
    assert caplog.records
    assert SECRET not in caplog.text + captured.out + captured.err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine where torch sees no CUDA device")
def test_cuda_requested_without_a_gpu_is_device_unavailable(pipeline_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DeviceUnavailableError):
        Diarizer.from_settings(make_settings(tmp_path, diarization_model=str(pipeline_dir), device="cuda"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device visible to torch")
def test_diarizes_on_cuda(pipeline_dir: Path, sample_audio: DecodedAudio, tmp_path: Path) -> None:
    diarizer = Diarizer.from_settings(make_settings(tmp_path, diarization_model=str(pipeline_dir), device="auto"))
    assert diarizer.device == "cuda"
    assert_well_formed(diarizer.diarize(sample_audio), sample_audio.duration)


def test_cli_transcribes_with_speakers_and_renames_them(
    pipeline_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole path users take: one decode feeds Whisper and pyannote; speakers reach txt, srt and json."""
    import json

    from click.testing import CliRunner

    from tubesum.cli import cli

    monkeypatch.setenv("TUBESUM_MODEL", "tiny.en")
    monkeypatch.setenv("TUBESUM_DEVICE", "cpu")
    monkeypatch.setenv("TUBESUM_DIARIZATION_MODEL", str(pipeline_dir))
    result = CliRunner().invoke(
        cli,
        [
            "transcribe",
            str(SAMPLE_WAV),
            "--diarize",
            "--speaker-name",
            "SPEAKER_00=Alice",
            "-f",
            "txt,srt,json",
            "-o",
            str(tmp_path / "out"),
            "-q",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "out" / "sample.json").read_text())
    assert doc["diarization"] == str(pipeline_dir)
    assert doc["speakers"] and all(s["speaker"] for s in doc["segments"])
    labelled = {s["speaker"] for s in doc["segments"]}
    assert "SPEAKER_00" not in labelled, "the rename map applies"
    txt = (tmp_path / "out" / "sample.txt").read_text().splitlines()
    assert all(line.split(": ", 1)[0] in labelled for line in txt)
