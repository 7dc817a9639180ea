"""deploy/monitoring/: every series the alert rules and the Grafana dashboard use exists in a real /metrics scrape
of the app after a real job, the rules behave as intended (promtool), and the metrics carry no personal data."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest
import yaml
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from conftest import LoopbackServer
from tubesum.api.app import create_app
from tubesum.config import Settings

MONITORING = Path(__file__).resolve().parents[1] / "deploy" / "monitoring"
PROMETHEUS_MADE = {"up"}  # series Prometheus adds itself, never in an app's /metrics
# Litestar's Prometheus middleware creates this counter at the first unhandled exception, not before.
LAZY = {"tubesum_http_requests_error_total"}
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")
_OUR_NAME = re.compile(r"\b((?:tubesum|process)_[a-z0-9_]+)\b")
_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created")}


def rule_exprs() -> list[str]:
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def used_names(exprs: list[str]) -> set[str]:
    names: set[str] = set()
    for expr in exprs:
        selectors = set(_SELECTOR.findall(expr))
        assert set(_OUR_NAME.findall(expr)) <= selectors, f"select series with a job label: {expr}"
        names |= selectors
    return names


def exposed_names(text: str) -> tuple[set[str], set[str]]:
    """Series names a scrape can have (samples and, for empty labelled families, their would-be names)."""
    names: set[str] = set()
    families: set[str] = set()
    for family in text_string_to_metric_families(text):
        families.add(family.name)
        names.add(family.name)
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names, families


class _FakeNvml(types.ModuleType):
    """pynvml for one 16 GB GPU: there is no GPU here, and the GPU series come from NVML."""

    def __init__(self) -> None:
        super().__init__("pynvml")

    def nvmlInit(self) -> None: ...
    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        return types.SimpleNamespace(used=3 * 2**30, total=16 * 2**30)


@pytest.fixture
def scrape(
    settings: Settings, tmp_path: Path, http_server: LoopbackServer, make_media: Any, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Run one real job (espeak speech, tiny.en) through the app, then scrape /metrics."""
    monkeypatch.setitem(sys.modules, "pynvml", _FakeNvml())
    shutil.copy(make_media("speech.m4a"), http_server.root / "speech.m4a")
    url = http_server.url("speech.m4a")
    config = settings.model_copy(
        update={
            "data_dir": tmp_path / "data",
            "allow_generic_urls": True,
            "auth_disabled": True,
            "workers": 1,
            "rate_limit_per_minute": 0,
            "ready_min_free_mb": 1,
        }
    )
    with TestClient(create_app(config)) as client:
        created = client.post("/v1/jobs", json={"source": url, "options": {"formats": ["txt"]}})
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        deadline = time.monotonic() + 120
        while client.get(f"/v1/jobs/{job_id}").json()["state"] != "succeeded":
            assert time.monotonic() < deadline, client.get(f"/v1/jobs/{job_id}").json()
            time.sleep(0.2)
        assert client.get("/readyz").status_code == 200
        response = client.get("/metrics")
        assert response.status_code == 200
        return {"text": response.text, "job_id": job_id, "url": url}


def test_rules_and_dashboard_use_only_series_the_app_exposes(scrape: dict[str, str]) -> None:
    names, families = exposed_names(scrape["text"])
    used = used_names(rule_exprs()) | used_names(dashboard_exprs())
    assert used - names - PROMETHEUS_MADE - LAZY == set()
    # and the dashboard shows every tubesum series there is
    ours = {f for f in families if f.startswith("tubesum_") and not f.endswith("_created")}
    ours |= {name.removesuffix("_total") for name in LAZY}
    shown = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in used_names(dashboard_exprs())}
    assert ours - shown == set()


def test_scrape_after_a_job_has_real_values(scrape: dict[str, str]) -> None:
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scrape["text"])
        for s in family.samples
    }
    assert samples[("tubesum_ready", ())] == 1
    assert samples[("tubesum_jobs", (("state", "succeeded"),))] == 1
    assert samples[("tubesum_jobs_finished_total", (("state", "succeeded"),))] >= 1
    assert samples[("tubesum_audio_seconds_processed_total", (("origin", "whisper"),))] > 3
    assert samples[("tubesum_gpu_memory_total_bytes", (("gpu", "0"),))] == 16 * 2**30
    assert any(name == "tubesum_stage_duration_seconds_count" for name, _ in samples)


def test_metrics_hold_no_job_ids_sources_or_addresses(scrape: dict[str, str]) -> None:
    text = scrape["text"]
    assert scrape["job_id"] not in text
    assert scrape["url"] not in text and "speech.m4a" not in text and "127.0.0.1" not in text
    paths = {s.labels["path"] for f in text_string_to_metric_families(text) for s in f.samples if "path" in s.labels}
    assert "/v1/jobs/{job_id}" in paths and not any(scrape["job_id"] in p for p in paths)


def _promtool() -> str:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool not installed (apt-get install prometheus; scripts/bootstrap --test does)")
    return tool


@pytest.mark.parametrize(
    "args",
    [["check", "config", "prometheus.yml"], ["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]],
    ids=lambda a: " ".join(a[:2]),
)
def test_promtool_accepts_the_config_and_the_rules_behave(args: list[str]) -> None:
    result = subprocess.run([_promtool(), *args], cwd=MONITORING, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_configs_parse() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    alerts = {
        rule["alert"]
        for group in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    }
    assert alerts == {
        "TubesumDown",
        "TubesumNotReady",
        "TubesumQueueBacklog",
        "TubesumJobFailureRate",
        "TubesumGpuMemoryHigh",
    }
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    assert {p["id"] for p in dashboard["panels"]} == set(range(1, len(dashboard["panels"]) + 1))
