"""Model resolution, device choice and the errors that tell users what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tubesum.config import Settings
from tubesum.errors import ConfigError, DeviceUnavailableError, ModelLoadError, ModelNotFoundError
from tubesum.pipeline import models


def test_bundled_tiny_en_resolves_offline(settings: Settings, tiny_model_path: Path) -> None:
    resolved = models.resolve_model("tiny.en", settings=settings)
    assert resolved.origin == "bundled"
    assert resolved.path == tiny_model_path


def test_local_model_directory_resolves_by_path(settings: Settings, tiny_model_path: Path) -> None:
    resolved = models.resolve_model(str(tiny_model_path), settings=settings)
    assert resolved.origin == "path"


def test_cache_wins_over_bundled(settings: Settings, tiny_model_path: Path) -> None:
    # Lay the model out the way huggingface_hub's snapshot cache does.
    snapshot = settings.model_cache_dir / "models--Systran--faster-whisper-tiny.en" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    for f in tiny_model_path.iterdir():
        (snapshot / f.name).symlink_to(f)
    refs = settings.model_cache_dir / "models--Systran--faster-whisper-tiny.en" / "refs"
    refs.mkdir()
    (refs / "main").write_text("abc123")
    resolved = models.resolve_model("tiny.en", settings=settings)
    assert resolved.origin == "cache"
    assert {m.origin for m in models.cached_models(settings) if m.name == "tiny.en"} == {"cache", "bundled"}


def test_missing_model_names_the_model_cache_dir_and_command(settings: Settings) -> None:
    with pytest.raises(ModelNotFoundError) as excinfo:
        models.resolve_model("small", settings=settings)
    err = excinfo.value
    assert err.code == "model_not_found"
    assert "'small'" in err.message and str(settings.model_cache_dir) in err.message
    assert "tubesum models pull small" in (err.hint or "")


def test_unknown_model_name_lists_known_ones(settings: Settings) -> None:
    with pytest.raises(ModelNotFoundError, match="Unknown model 'gigantic'") as excinfo:
        models.resolve_model("gigantic", settings=settings)
    assert "large-v3-turbo" in (excinfo.value.hint or "")


def test_directory_without_model_bin_is_refused(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "empty-model").mkdir()
    with pytest.raises(ModelNotFoundError, match=r"no model\.bin"):
        models.resolve_model(str(tmp_path / "empty-model"), settings=settings)


def test_corrupt_model_fails_to_load_with_a_clear_error(
    settings: Settings, tmp_path: Path, tiny_model_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in tiny_model_path.iterdir():
        (broken / f.name).symlink_to(f)
    (broken / "model.bin").unlink()
    (broken / "model.bin").write_bytes(b"not a model")
    with pytest.raises(ModelLoadError) as excinfo:
        models.load_model(settings, model=str(broken))
    assert str(broken) in excinfo.value.message
    assert "tubesum models pull" in (excinfo.value.hint or "")


def test_auto_device_without_gpu_picks_cpu_int8_and_says_why() -> None:
    choice = models.choose_device("auto", "auto")
    assert (choice.device, choice.compute_type) == ("cpu", "int8")
    assert "CUDA" in choice.reason and "CPU" in choice.reason


def test_explicit_cuda_without_gpu_is_refused() -> None:
    with pytest.raises(DeviceUnavailableError) as excinfo:
        models.choose_device("cuda", "auto")
    assert excinfo.value.code == "device_unavailable"


def test_unsupported_compute_type_is_refused() -> None:
    with pytest.raises(ConfigError, match="not supported on cpu"):
        models.choose_device("cpu", "float16")


@pytest.mark.gpu
def test_cuda_is_chosen_when_a_gpu_is_visible() -> None:
    count, why = models.cuda_device_count()
    if not count:
        pytest.skip(f"needs a CUDA device: {why}")
    choice = models.choose_device("auto", "auto")
    assert choice.device == "cuda" and choice.compute_type in {"float16", "int8_float16"}
