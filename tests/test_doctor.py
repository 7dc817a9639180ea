"""``tubesum doctor`` checks added for deployments: port in use, the job store's directory, CUDA libraries."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from tubesum import doctor
from tubesum.cli import cli
from tubesum.config import Settings
from tubesum.pipeline import models


def checks_by_name(settings: Settings) -> dict[str, doctor.Check]:
    return {c.name: c for c in doctor.run_checks(settings)}


def test_port_in_use_is_reported_with_what_to_do(settings: Settings) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        check = checks_by_name(settings.model_copy(update={"port": port}))["port"]
        assert check.status == "warn" and check.detail == f"127.0.0.1:{port} is already in use"
        assert check.hint is not None and "TUBESUM_PORT" in check.hint
    free = checks_by_name(settings.model_copy(update={"port": port}))["port"]
    assert free.status == "ok"


def test_data_dir_is_checked_and_required_only_for_sqlite(settings: Settings, tmp_path: Path) -> None:
    local = checks_by_name(settings.model_copy(update={"data_dir": tmp_path / "state"}))["disk:data_dir"]
    assert local.required and local.status == "ok" and str(tmp_path / "state") in local.detail
    pg = settings.model_copy(update={"database_url": "postgresql+psycopg://u@127.0.0.1/tubesum"})
    assert not checks_by_name(pg)["disk:data_dir"].required


def test_loadable_really_dlopens() -> None:
    loaded, missing = doctor.loadable(("libc.so.6", "libtubesum-nonexistent.so.1"))
    assert loaded == ["libc.so.6"]
    assert len(missing) == 1 and "libtubesum-nonexistent.so.1" in missing[0]


def test_a_gpu_without_cudnn_fails_the_cuda_libs_check(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # No GPU here: pretend CTranslate2 sees one; the libraries are then really looked for (and are not here).
    monkeypatch.setattr(models, "cuda_device_count", lambda: (1, None))
    monkeypatch.setattr(doctor, "_CUDA_LIBS", ("libcublas-tubesum-test.so.12",))
    check = checks_by_name(settings.model_copy(update={"device": "cuda"}))["cuda-libs"]
    assert check.status == "fail" and check.required
    assert "libcublas-tubesum-test.so.12" in check.detail and check.hint and "nvidia-cudnn-cu12" in check.hint
    assert doctor.failed([check]) == [check]


def test_doctor_table_prints_hints_with_brackets_verbatim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUBESUM_MODEL", "tiny.en")
    monkeypatch.setenv("TUBESUM_MODEL_CACHE_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("COLUMNS", "400")  # one line per hint
    monkeypatch.setitem(doctor._EXTRAS, "nosuch", ("tubesum_no_such_module", "a missing extra"))
    runner = CliRunner()
    report = json.loads(runner.invoke(cli, ["doctor", "--json"], catch_exceptions=False).stdout)
    table = runner.invoke(cli, ["doctor"], catch_exceptions=False).stdout
    hints = [c["hint"] for c in report["checks"] if c["hint"] and "[" in c["hint"]]
    assert "pip install 'tubesum[nosuch]'" in hints  # rich would take "[nosuch]" for markup and drop it
    for hint in hints:
        assert hint in table
