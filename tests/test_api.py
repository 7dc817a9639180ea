"""The HTTP API in-process (Litestar TestClient, real SQLite store): auth, limits, validation, ownership, health.

The whole flow with the real worker and model runs in test_server_e2e.py against a real uvicorn process.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from inprocess import client_for, migrated_store
from tubesum.config import Settings
from tubesum.jobs.store import SqlJobStore

URL = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"

pytestmark = pytest.mark.usefixtures("loopback_dns_only")


@pytest.fixture
def api_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"data_dir": tmp_path / "data" / "db", "rate_limit_per_minute": 0})


@pytest.fixture
def store(api_settings: Settings) -> SqlJobStore:
    return migrated_store(api_settings)


@pytest.fixture
def client(api_settings: Settings, store: SqlJobStore) -> Iterator[TestClient[Any]]:
    with client_for(api_settings, store) as c:
        yield c


@pytest.fixture
def key(store: SqlJobStore) -> dict[str, str]:
    _, token = store.create_key("alice")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def other_key(store: SqlJobStore) -> dict[str, str]:
    _, token = store.create_key("bob")
    return {"X-API-Key": token}


def submit(client: TestClient[Any], headers: dict[str, str], **body: Any) -> Any:
    return client.post("/v1/jobs", json={"source": URL, **body}, headers=headers)


# -- authentication ----------------------------------------------------------------------------------------
def test_missing_key_is_401_with_a_challenge(client: TestClient[Any]) -> None:
    response = submit(client, {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "unauthorized"


def test_wrong_and_revoked_keys_are_401(client: TestClient[Any], store: SqlJobStore) -> None:
    record, token = store.create_key("carol")
    assert submit(client, {"Authorization": f"Bearer {token}x"}).status_code == 401
    assert submit(client, {"Authorization": "Bearer tsk_nope_nope"}).status_code == 401
    assert submit(client, {"Authorization": f"Bearer {token}"}).status_code == 202
    store.revoke_key(record.id)
    assert submit(client, {"Authorization": f"Bearer {token}"}).status_code == 401


def test_health_and_metrics_need_no_key(client: TestClient[Any]) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.get("/schema/openapi.json").status_code == 200


# -- submitting --------------------------------------------------------------------------------------------
def test_submit_returns_202_location_and_a_queued_job(client: TestClient[Any], key: dict[str, str]) -> None:
    response = submit(client, key, options={"formats": ["srt", "json"], "language": "en"})
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert job["state"] == "queued" and job["options"]["formats"] == ["srt", "json"]
    assert client.get(response.headers["Location"], headers=key).json()["id"] == job["id"]


def test_idempotency_key_returns_the_same_job(client: TestClient[Any], key: dict[str, str]) -> None:
    first = client.post("/v1/jobs", json={"source": URL}, headers={**key, "Idempotency-Key": "abc-1"})
    again = client.post("/v1/jobs", json={"source": URL}, headers={**key, "Idempotency-Key": "abc-1"})
    other = client.post("/v1/jobs", json={"source": URL}, headers={**key, "Idempotency-Key": "abc-2"})
    assert first.status_code == 202 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"] != other.json()["id"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"source": URL, "colour": "red"}, "validation_error"),
        ({"source": URL, "options": {"formats": ["docx"]}}, "validation_error"),
        ({"source": URL, "options": {"beam": 3}}, "validation_error"),
        ({"source": ""}, "validation_error"),
        ({"source": "https://youtube.com.evil.tld/watch?v=dQw4w9WgXcQ"}, "generic_url_disabled"),
        ({"source": "javascript:alert(1)"}, "invalid_url"),
        ({"source": "/etc/passwd"}, "invalid_url"),
    ],
)
def test_bad_submissions_are_422_with_a_stable_code(
    client: TestClient[Any], key: dict[str, str], body: dict[str, Any], code: str
) -> None:
    if body["source"] == "/etc/passwd" and not Path("/etc/passwd").exists():
        pytest.skip("needs a local file to refuse")
    response = client.post("/v1/jobs", json=body, headers=key)
    assert response.status_code in (404, 422), response.text
    assert response.json()["code"] == code
    assert "Traceback" not in response.text


def test_local_files_are_never_read_for_remote_callers(
    client: TestClient[Any], key: dict[str, str], speech_wav: Path
) -> None:
    response = client.post("/v1/jobs", json={"source": str(speech_wav)}, headers=key)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_url"


def test_ssrf_attempts_are_refused(api_settings: Settings, store: SqlJobStore, key: dict[str, str]) -> None:
    strict = api_settings.model_copy(update={"allow_generic_urls": True, "allow_private_addresses": False})
    with client_for(strict, store) as c:
        for url in (
            "http://127.0.0.1:8000/x.mp4",
            "http://[::1]/a",
            "http://169.254.169.254/latest",
            "http://10.0.0.1/v.mp4",
            "http://2130706433/",
            "http://localhost/a",
        ):
            response = c.post("/v1/jobs", json={"source": url}, headers=key)
            assert response.status_code == 422, (url, response.text)
            assert response.json()["code"] == "unsafe_url", url


def test_oversized_body_is_413(client: TestClient[Any], key: dict[str, str]) -> None:
    response = client.post(
        "/v1/jobs",
        content=b'{"source": "' + b"a" * 200_000 + b'"}',
        headers={**key, "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_diarization_without_the_extra_is_refused_at_submit_not_queued(
    client: TestClient[Any], key: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec

    def without_pyannote(name: str, *args: Any) -> Any:
        return None if name.startswith("pyannote") else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_pyannote)
    response = submit(client, key, options={"diarize": True})
    assert response.status_code == 422 and response.json()["code"] == "missing_extra"
    assert "tubesum[diarize]" in response.json()["hint"]
    assert client.get("/v1/jobs", headers=key).json()["total"] == 0


def test_diarization_without_a_token_is_refused_at_submit(client: TestClient[Any], key: dict[str, str]) -> None:
    pytest.importorskip("pyannote.audio")
    response = submit(client, key, options={"diarize": True})
    assert response.status_code == 422 and response.json()["code"] == "hf_token_missing"
    assert "HF_TOKEN" in response.json()["detail"]


def test_summary_and_speaker_settings_change_the_cache_identity(api_settings: Settings) -> None:
    from tubesum.jobs.submit import result_identity
    from tubesum.jobs.types import JobOptions, cache_key

    plain, summarized = JobOptions(), JobOptions(summarize=True)
    assert cache_key("youtube:x", plain, model_identity="m") != cache_key("youtube:x", summarized, model_identity="m")
    first = result_identity("tiny.en", summarized, api_settings)
    other_llm = result_identity("tiny.en", summarized, api_settings.model_copy(update={"summary_model": "other"}))
    assert first != other_llm
    assert result_identity("tiny.en", plain, api_settings) == result_identity(
        "tiny.en", plain, api_settings.model_copy(update={"summary_model": "other"})
    ), "the summary model only matters when a summary is asked for"


def test_unknown_model_is_refused_at_submit(client: TestClient[Any], key: dict[str, str]) -> None:
    response = submit(client, key, options={"model": "gigantic"})
    assert response.status_code == 422 and response.json()["code"] == "model_not_found"


# -- ownership, listing, cancelling ------------------------------------------------------------------------
def test_another_key_cannot_read_cancel_or_list_your_job(
    client: TestClient[Any], key: dict[str, str], other_key: dict[str, str]
) -> None:
    job_id = submit(client, key).json()["id"]
    assert client.get(f"/v1/jobs/{job_id}", headers=other_key).status_code == 404
    assert client.delete(f"/v1/jobs/{job_id}", headers=other_key).status_code == 404
    assert client.get(f"/v1/jobs/{job_id}/result", headers=other_key).status_code == 404
    assert client.get("/v1/jobs", headers=other_key).json()["total"] == 0
    assert client.get("/v1/jobs", headers=key).json()["total"] == 1


def test_cancel_a_queued_job_then_delete_it(client: TestClient[Any], key: dict[str, str]) -> None:
    job_id = submit(client, key).json()["id"]
    cancelled = client.delete(f"/v1/jobs/{job_id}", headers=key)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert client.get(f"/v1/jobs/{job_id}/result", headers=key).status_code == 409
    assert client.delete(f"/v1/jobs/{job_id}", headers=key).status_code == 204
    assert client.get(f"/v1/jobs/{job_id}", headers=key).status_code == 404


def test_list_is_paginated_and_filtered_by_state(client: TestClient[Any], key: dict[str, str]) -> None:
    ids = [submit(client, key, options={"language": lang}).json()["id"] for lang in ("en", "de", "fr")]
    client.delete(f"/v1/jobs/{ids[0]}", headers=key)
    page = client.get("/v1/jobs?limit=2", headers=key).json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["items"][0]["id"] == ids[2]
    queued = client.get("/v1/jobs?state=queued", headers=key).json()
    assert {j["id"] for j in queued["items"]} == set(ids[1:])
    assert client.get("/v1/jobs?state=bogus", headers=key).status_code in (400, 422)


# -- limits ------------------------------------------------------------------------------------------------
def test_rate_limit_is_429_with_retry_after(
    api_settings: Settings, store: SqlJobStore, key: dict[str, str], other_key: dict[str, str]
) -> None:
    with client_for(api_settings.model_copy(update={"rate_limit_per_minute": 3}), store) as c:
        statuses = [c.delete("/v1/jobs/nope", headers=key).status_code for _ in range(4)]
        assert statuses == [404, 404, 404, 429]
        limited = c.delete("/v1/jobs/nope", headers=key)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
        assert c.delete("/v1/jobs/nope", headers=other_key).status_code == 404, "limits are per key"
        assert c.get("/v1/jobs", headers=key).status_code == 200, "reads have their own budget"
        assert c.get("/healthz").status_code == 200, "health is never rate limited"


def test_active_jobs_quota_is_429(api_settings: Settings, store: SqlJobStore, key: dict[str, str]) -> None:
    with client_for(api_settings.model_copy(update={"max_active_jobs_per_key": 1}), store) as c:
        assert submit(c, key).status_code == 202
        refused = submit(c, key, options={"language": "de"})
        assert refused.status_code == 429 and refused.json()["code"] == "quota_exceeded"
        assert int(refused.headers["Retry-After"]) > 0


# -- health, metrics, headers ------------------------------------------------------------------------------
def test_readyz_follows_the_database_and_the_work_dir(
    api_settings: Settings, store: SqlJobStore, tmp_path: Path
) -> None:
    with client_for(api_settings, store) as c:
        assert c.get("/readyz").status_code == 200
        # The database directory disappears: new connections cannot open the file.
        store.engine.dispose()
        db_dir = api_settings.data_dir
        shutil.move(db_dir, tmp_path / "moved")
        down = c.get("/readyz")
        assert down.status_code == 503 and "database" in down.json()["failing"]
        shutil.move(tmp_path / "moved", db_dir)
        assert c.get("/readyz").status_code == 200
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with client_for(api_settings.model_copy(update={"work_dir": blocker / "work"}), store) as c:
        down = c.get("/readyz")
        assert down.status_code == 503 and down.json()["failing"] == ["work_dir"]
    with client_for(api_settings.model_copy(update={"model": "small"}), store) as c:
        assert c.get("/readyz").json()["failing"] == ["model"]


def test_metrics_expose_jobs_by_state_and_http_requests(client: TestClient[Any], key: dict[str, str]) -> None:
    submit(client, key)
    text = client.get("/metrics").text
    assert 'tubesum_jobs{state="queued"} 1.0' in text
    assert "tubesum_queue_depth 1.0" in text
    assert "tubesum_jobs_in_flight 0.0" in text
    age = next(line for line in text.splitlines() if line.startswith("tubesum_oldest_queued_age_seconds "))
    assert 0.0 <= float(age.split()[1]) < 60
    assert "tubesum_http_requests_total" in text


def test_security_headers_and_request_id(client: TestClient[Any]) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "req-12345678"})
    assert response.headers["X-Request-ID"] == "req-12345678"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert len(client.get("/healthz", headers={"X-Request-ID": "bad id!"}).headers["X-Request-ID"]) == 32


def test_cors_is_off_by_default_and_on_for_configured_origins(
    api_settings: Settings, store: SqlJobStore, client: TestClient[Any]
) -> None:
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in client.options("/v1/jobs", headers=preflight).headers
    allowed = api_settings.model_copy(update={"cors_origins": ("https://app.example",)})
    with client_for(allowed, store) as c:
        response = c.options("/v1/jobs", headers=preflight)
        assert response.headers["access-control-allow-origin"] == "https://app.example"


def test_status_reads_run_inline_only_on_sqlite(store: SqlJobStore) -> None:
    from tubesum.api.jobs import _reads_inline

    assert _reads_inline(store)
    assert not _reads_inline(object())  # type: ignore[arg-type]  # no engine known: through a worker thread


def test_status_of_a_finished_job_lists_its_results(
    client: TestClient[Any], store: SqlJobStore, key: dict[str, str]
) -> None:
    from tubesum.records import Rendered

    job_id = submit(client, key).json()["id"]
    assert store.claim(worker="w") is not None
    store.save_checkpoint(job_id, "transcribe", {"text": "hello"})
    store.succeed(
        job_id,
        artifacts=[Rendered(format="txt", content_type="text/plain", filename="t.txt", data=b"hi")],
        audio_seconds=3.0,
        title="T",
    )
    status = client.get(f"/v1/jobs/{job_id}", headers=key)
    assert status.status_code == 200
    body = status.json()
    assert body["state"] == "succeeded" and body["audio_seconds"] == 3.0
    assert body["results"]["txt"] == f"/v1/jobs/{job_id}/result?format=txt"
    assert client.get(body["results"]["txt"], headers=key).content == b"hi"


def test_a_format_not_stored_is_rendered_from_the_checkpointed_transcript(
    client: TestClient[Any], store: SqlJobStore, key: dict[str, str]
) -> None:
    from jobs_fakes import saved_transcript
    from tubesum.records import Rendered

    job_id = submit(client, key).json()["id"]
    assert store.claim(worker="w") is not None
    transcript = saved_transcript(URL, text="Museum and library tomorrow.", title="Visit", duration=4.0)
    store.save_checkpoint(job_id, "transcript", transcript.to_dict())
    txt = Rendered(format="txt", content_type="text/plain", filename="t.txt", data=b"stored")
    store.succeed(job_id, artifacts=[txt], audio_seconds=4.0, title="Visit")
    assert client.get(f"/v1/jobs/{job_id}/result?format=txt", headers=key).content == b"stored"
    srt = client.get(f"/v1/jobs/{job_id}/result?format=srt", headers=key)
    assert srt.status_code == 200 and "Museum and library tomorrow." in srt.text and "00:00:00,000 -->" in srt.text


def test_openapi_json_and_docs_aliases_need_no_key(client: TestClient[Any]) -> None:
    schema = client.get("/openapi.json")
    assert schema.status_code == 200 and schema.headers["content-type"].startswith("application/json")
    assert schema.json() == client.get("/schema/openapi.json").json()
    assert "/v1/jobs" in schema.json()["paths"] and "/openapi.json" not in schema.json()["paths"]
    docs = client.get("/docs", follow_redirects=False)
    assert docs.status_code in (302, 307) and docs.headers["location"] == "/schema/swagger"
    assert client.get("/schema/swagger").status_code == 200
