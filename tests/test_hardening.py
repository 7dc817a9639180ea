"""Issue 19 hardening: nothing of one caller reaches another, no server paths, client mistakes are 4xx.

Each test here failed on the code before the fix it names (item numbers refer to issue 19).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from inprocess import client_for, migrated_store
from tubesum.config import Settings
from tubesum.jobs.runner import run_job
from tubesum.jobs.store import SqlJobStore
from tubesum.jobs.submit import submit_job
from tubesum.jobs.types import JobOptions, JobState
from tubesum.jobs.uploads import save_upload

pytestmark = pytest.mark.usefixtures("loopback_dns_only")
URL = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"


@pytest.fixture
def hard_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={"data_dir": tmp_path / "data", "rate_limit_per_minute": 0, "uploads_enabled": True}
    )


@pytest.fixture
def store(hard_settings: Settings) -> SqlJobStore:
    return migrated_store(hard_settings)


@pytest.fixture
def client(hard_settings: Settings, store: SqlJobStore) -> Iterator[TestClient[Any]]:
    with client_for(hard_settings, store) as c:
        yield c


@pytest.fixture
def key(store: SqlJobStore) -> dict[str, str]:
    return {"Authorization": f"Bearer {store.create_key('alice')[1]}"}


def _store_upload(settings: Settings, owner: str, name: str, data: bytes) -> str:
    async def chunks() -> AsyncIterator[bytes]:
        yield data

    record = asyncio.run(save_upload(chunks(), owner=owner, filename=name, content_type="audio/wav", settings=settings))
    return record.ref


def _run_next(store: SqlJobStore, settings: Settings) -> str:
    claimed = store.claim(worker="test:1")
    assert claimed is not None
    run_job(claimed, store=store, settings=settings)
    done = store.get(claimed.id)
    assert done is not None and done.state is JobState.SUCCEEDED, done
    return done.id


# -- items 1 and 4: the cache and results ------------------------------------------------------------------
def test_upload_results_are_never_shared_across_keys_or_names_and_carry_no_server_path(
    hard_settings: Settings, store: SqlJobStore, speech_wav: Path
) -> None:
    data = speech_wav.read_bytes()
    options = JobOptions(formats=("json", "txt"))
    alice_ref = _store_upload(hard_settings, "alice", "secret plan.wav", data)
    submit_job(alice_ref, options, owner="alice", store=store, settings=hard_settings)
    alice_job = _run_next(store, hard_settings)
    alice_json = store.artifact(alice_job, "json")
    assert alice_json is not None
    body = json.loads(alice_json.data)
    assert body["source"]["path"] is None, "item 4: no server path in results"
    assert body["source"]["original"] == "secret plan.wav" and body["title"] == "secret plan"
    assert str(hard_settings.data_dir) not in alice_json.data.decode()

    # Item 1: another key uploading the same bytes is not a cache hit and sees nothing of alice.
    bob_ref = _store_upload(hard_settings, "bob", "mine.wav", data)
    bob = submit_job(bob_ref, options, owner="bob", store=store, settings=hard_settings)
    assert not bob.cache_hit and bob.job.state is JobState.QUEUED
    bob_job = _run_next(store, hard_settings)
    bob_json = store.artifact(bob_job, "json")
    assert bob_json is not None
    text = bob_json.data.decode()
    assert "secret plan" not in text and alice_ref.removeprefix("upload:") not in text
    assert store.get(bob_job, checkpoint=False).title == "mine"  # type: ignore[union-attr]

    # Within one key another display name is another identity: the title is the caller's own.
    renamed = submit_job(
        _store_upload(hard_settings, "alice", "renamed.wav", data),
        options,
        owner="alice",
        store=store,
        settings=hard_settings,
    )
    assert not renamed.cache_hit


def test_upload_cache_can_be_switched_off(hard_settings: Settings, store: SqlJobStore) -> None:
    from tubesum.jobs.submit import source_key
    from tubesum.jobs.uploads import resolve_upload

    ref = _store_upload(hard_settings, "alice", "a.wav", b"RIFFdata")
    source, record = resolve_upload(ref, owner="alice", settings=hard_settings)
    shared = source_key(source, upload=record, settings=hard_settings)
    assert shared.startswith("upload:alice:") and shared.endswith(
        ":sha256:" + __import__("hashlib").sha256(b"RIFFdata").hexdigest()
    )
    off = hard_settings.model_copy(update={"upload_cache": "off"})
    assert source_key(source, upload=record, settings=off) == f"upload:{record.id}"


def test_youtube_results_do_not_carry_the_callers_spelling() -> None:
    from tubesum.records import Source, Transcript
    from tubesum.service import shareable as _shareable

    source = Source(
        kind="youtube",
        original="https://youtu.be/dQw4w9WgXcQ?si=alice-share-id&t=42",
        url=URL,
        video_id="dQw4w9WgXcQ",
        start=42.0,
    )
    shared = _shareable(Transcript(source=source, segments=(), language="en", origin="captions"))
    assert shared.source.original == URL and shared.source.start is None


# -- item 2: models ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["/", "~", "~/models", "../models", ".", "/tmp", "models", "org/uncached-model"])
def test_remote_callers_name_models_only_from_the_allow_list(
    client: TestClient[Any], key: dict[str, str], hard_settings: Settings, tmp_path: Path, model: str
) -> None:
    (tmp_path / "models").mkdir(exist_ok=True)
    response = client.post("/v1/jobs", json={"source": URL, "options": {"model": model}}, headers=key)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "model_not_found"
    assert body["detail"] == "This server does not offer that model."
    for secret in (str(Path.home()), str(tmp_path), str(hard_settings.model_cache_dir)):
        assert secret not in response.text


def test_an_allowed_but_missing_model_names_no_server_path(
    client: TestClient[Any], key: dict[str, str], hard_settings: Settings
) -> None:
    response = client.post("/v1/jobs", json={"source": URL, "options": {"model": "large-v3"}}, headers=key)
    assert response.status_code == 422 and response.json()["code"] == "model_not_found"
    assert str(hard_settings.model_cache_dir) not in response.text


def test_api_models_setting_is_the_allow_list(hard_settings: Settings, store: SqlJobStore) -> None:
    listed = hard_settings.model_copy(update={"api_models": ("tiny.en", "/srv/models/x")})
    assert listed.remote_models() == ("tiny.en",), "paths never enter the allow-list"
    with client_for(listed, store) as c:
        headers = {"Authorization": f"Bearer {store.create_key('k')[1]}"}
        assert c.post("/v1/jobs", json={"source": URL, "options": {"model": "tiny.en"}}, headers=headers).is_success
        refused = c.post("/v1/jobs", json={"source": URL, "options": {"model": "small"}}, headers=headers)
        assert refused.status_code == 422


# -- item 3: no filesystem oracle --------------------------------------------------------------------------
def test_local_path_shaped_sources_all_get_one_refusal_without_touching_disk(
    client: TestClient[Any], key: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file.wav").write_bytes(b"RIFF")
    sources = [
        "/etc/shadow",
        "/etc/passwd",
        "/dev/null",
        str(tmp_path / "dir"),
        str(tmp_path / "file.wav"),
        str(tmp_path / "missing.wav"),
        "dir",
        "file.wav",
        "~",
        "~root/x",
        "take:1.mp3",
        "file:///etc/passwd",
        "C:\\Windows\\win.ini",
    ]
    touched: list[str] = []
    real_exists, real_is_file = Path.exists, Path.is_file

    def spy_exists(self: Path, *args: Any, **kwargs: Any) -> bool:
        touched.append(str(self))
        return real_exists(self, *args, **kwargs)

    def spy_is_file(self: Path, *args: Any, **kwargs: Any) -> bool:
        touched.append(str(self))
        return real_is_file(self, *args, **kwargs)

    answers = set()
    monkeypatch.setattr(Path, "exists", spy_exists)
    monkeypatch.setattr(Path, "is_file", spy_is_file)
    for source in sources:
        response = client.post("/v1/jobs", json={"source": source}, headers=key)
        answers.add((response.status_code, response.json()["code"], response.json()["detail"]))
    monkeypatch.undo()
    assert answers == {(422, "invalid_url", "Only URLs can be submitted to the server.")}
    assert not [p for p in touched if "dir" in p or "file.wav" in p or p.startswith(("/etc", "/dev"))], touched


# -- item 7: client-actionable refusals are 4xx -------------------------------------------------------------
def test_unresolvable_generic_host_is_queued_not_503(hard_settings: Settings, store: SqlJobStore) -> None:
    generic = hard_settings.model_copy(update={"allow_generic_urls": True, "allow_private_addresses": False})
    with client_for(generic, store) as c:
        headers = {"Authorization": f"Bearer {store.create_key('k')[1]}"}
        response = c.post("/v1/jobs", json={"source": "https://no-such-host.invalid/a.mp3"}, headers=headers)
        assert response.status_code == 202, response.text
        unsafe = c.post("/v1/jobs", json={"source": "http://127.0.0.1/a.mp3"}, headers=headers)
        assert unsafe.status_code == 422 and unsafe.json()["code"] == "unsafe_url"


def test_diarize_without_the_extra_is_a_4xx_missing_extra(
    client: TestClient[Any], key: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name.startswith("pyannote") else real(name, *a)
    )
    response = client.post("/v1/jobs", json={"source": URL, "options": {"diarize": True}}, headers=key)
    assert response.status_code == 422 and response.json()["code"] == "missing_extra"


# -- item 5: secrets in URLs -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://tubesum:hunter2@db:5432/tubesum",
            "postgresql+psycopg://tubesum:**********@db:5432/tubesum",
        ),
        ("redis://:hunter2@127.0.0.1:6379/0", "redis://:**********@127.0.0.1:6379/0"),
        ("https://hunter2@proxy.example:8080", "https://**********@proxy.example:8080"),
        (
            "https://u:hunter2@llm.example/v1?api_key=hunter2&model=x",
            "https://u:**********@llm.example/v1?api_key=**********&model=x",
        ),
        ("http://proxy.example:3128", "http://proxy.example:3128"),
        ("sqlite:////data/tubesum.db", "sqlite:////data/tubesum.db"),
        ("not a url: hunter2", "not a url: hunter2"),
    ],
)
def test_mask_url_hides_passwords_and_secret_query_values(url: str, shown: str) -> None:
    from tubesum.redact import mask_url

    assert mask_url(url) == shown


def test_config_show_masks_every_url_valued_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from tubesum.cli import cli

    monkeypatch.setenv("TUBESUM_DATABASE_URL", "postgresql+psycopg://tubesum:pw-db-1@db/tubesum")
    monkeypatch.setenv("TUBESUM_QUEUE_URL", "redis://:pw-queue-2@127.0.0.1:6379/0")
    monkeypatch.setenv("TUBESUM_OPENAI_BASE_URL", "https://me:pw-llm-3@llm.example/v1?token=pw-llm-4")
    monkeypatch.setenv("HF_TOKEN", "hf_pw5")
    monkeypatch.setenv("TUBESUM_PROXY", "http://me:pw-proxy-6@proxy.example:3128")
    result = CliRunner().invoke(cli, ["config", "show"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for secret in ("pw-db-1", "pw-queue-2", "pw-llm-3", "pw-llm-4", "hf_pw5", "pw-proxy-6"):
        assert secret not in result.output
    shown = json.loads(result.output)
    assert shown["database_url"] == "postgresql+psycopg://tubesum:**********@db/tubesum"
    assert shown["openai_base_url"] == "https://me:**********@llm.example/v1?token=**********"


def test_a_failed_summary_names_no_internal_endpoint(caplog: pytest.LogCaptureFixture) -> None:
    from tubesum.errors import SummaryBackendError
    from tubesum.summarize.base import ChatMessage
    from tubesum.summarize.openai_backend import OpenAIChatBackend

    dead = OpenAIChatBackend("http://127.0.0.1:9/v1", "m", api_key=None, timeout=1, retries=0, backoff=0.01)
    with pytest.raises(SummaryBackendError) as caught:
        dead.complete([ChatMessage(role="user", content="hi")], max_tokens=8)
    text = json.dumps(caught.value.to_dict())
    assert "127.0.0.1" not in text and ":9" not in text
    assert "127.0.0.1:9" in caplog.text, "the operator still sees the endpoint in the log"


# -- item 6: bodies that break parsers are 400 with one log line ---------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        b"[" * 10_000 + b"]" * 10_000,
        b'{"source": "https://youtu.be/dQw4w9WgXcQ", "options": ' + b'{"a":' * 3000 + b"1" + b"}" * 3001,
        b'{"source": "\xff\xfe"}',
        b"\xff",
        b'{"source": ' + b"[" * 40 + b"]" * 40 + b"}",
    ],
)
def test_deep_or_invalid_utf8_json_is_400_and_logs_one_line(
    client: TestClient[Any], key: dict[str, str], body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    response = client.post("/v1/jobs", content=body, headers={**key, "Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["code"] in {"invalid_body", "bad_request"}
    assert [r.getMessage() for r in caplog.records if r.levelno >= 30] == []
    assert "Traceback" not in caplog.text


def test_json_depth_skips_strings() -> None:
    from tubesum.api.guards import json_depth

    assert json_depth(b'{"a": "[[[[[[", "b": [1, {"c": "\\"[["}]}') == 3
    assert json_depth(b"[" * 100) == 100


# -- item 12: CSRF ------------------------------------------------------------------------------------------
@pytest.fixture
def open_client(hard_settings: Settings, store: SqlJobStore) -> Iterator[TestClient[Any]]:
    with client_for(hard_settings.model_copy(update={"auth_disabled": True}), store) as c:
        yield c


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
)
def test_job_bodies_must_be_declared_json(open_client: TestClient[Any], content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    body = json.dumps({"source": URL}).encode()
    response = open_client.post("/v1/jobs", content=body, headers=headers)
    assert response.status_code == 415, response.text
    assert open_client.get("/v1/jobs").json()["total"] == 0


def test_uploads_need_a_content_type(open_client: TestClient[Any]) -> None:
    response = open_client.post("/v1/uploads", params={"filename": "a.wav"}, content=b"RIFFdata")
    assert response.status_code == 415 and response.json()["code"] == "not_media"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://other.testserver.local"},
        {"Origin": "null"},
    ],
)
def test_cross_site_writes_are_refused(open_client: TestClient[Any], headers: dict[str, str]) -> None:
    response = open_client.post("/v1/jobs", json={"source": URL}, headers=headers)
    assert response.status_code == 403 and response.json()["code"] == "cross_site"
    assert open_client.delete("/v1/jobs/x", headers=headers).status_code == 403


def test_same_origin_and_non_browser_writes_pass(open_client: TestClient[Any], hard_settings: Settings) -> None:
    assert open_client.post("/v1/jobs", json={"source": URL}).status_code == 202
    same = {"Origin": "http://testserver.local", "Sec-Fetch-Site": "same-origin"}
    assert open_client.post("/v1/jobs", json={"source": URL, "options": {"language": "en"}}, headers=same).is_success
    proxied = {"Origin": "https://testserver.local:8443"}  # behind nginx: Host is $host, without the port
    assert open_client.post("/v1/jobs", json={"source": URL, "options": {"language": "de"}}, headers=proxied).is_success
    assert open_client.get("/v1/jobs", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200  # reads pass


# -- item 13: invisible characters in upload names -------------------------------------------------------------
def test_upload_names_lose_bidi_and_zero_width_characters(hard_settings: Settings) -> None:
    from tubesum.jobs.uploads import check_upload

    assert check_upload("evil\u202egnp.wav", "audio/wav", settings=hard_settings) == "evilgnp.wav"
    assert check_upload("a\u200bb\u200d\ufeff.wav", "audio/wav", settings=hard_settings) == "ab.wav"


# -- item 14: smaller ones ---------------------------------------------------------------------------------
def test_idempotency_key_reused_with_another_body_is_422(client: TestClient[Any], key: dict[str, str]) -> None:
    headers = {**key, "Idempotency-Key": "k-1"}
    first = client.post("/v1/jobs", json={"source": URL}, headers=headers)
    again = client.post("/v1/jobs", json={"source": URL}, headers=headers)
    assert first.status_code == 202 and again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = client.post("/v1/jobs", json={"source": "https://youtu.be/aaaaaaaaaaa"}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    options = client.post("/v1/jobs", json={"source": URL, "options": {"summarize": True}}, headers=headers)
    assert options.status_code == 422


def test_duplicate_formats_are_refused(client: TestClient[Any], key: dict[str, str]) -> None:
    response = client.post("/v1/jobs", json={"source": URL, "options": {"formats": ["txt", "txt"]}}, headers=key)
    assert response.status_code == 422 and response.json()["code"] == "validation_error"


def test_healthz_shows_no_pid(client: TestClient[Any]) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_two_different_keys_are_refused(client: TestClient[Any], store: SqlJobStore, key: dict[str, str]) -> None:
    other = store.create_key("bob")[1]
    both = client.get("/v1/jobs", headers={**key, "X-API-Key": other})
    assert both.status_code == 401
    same = client.get("/v1/jobs", headers={**key, "X-API-Key": key["Authorization"].removeprefix("Bearer ")})
    assert same.status_code == 200


def test_text_results_name_one_charset(client: TestClient[Any], store: SqlJobStore, key: dict[str, str]) -> None:
    from tubesum.records import Rendered

    job_id = client.post("/v1/jobs", json={"source": URL}, headers=key).json()["id"]
    assert store.claim(worker="w") is not None
    store.succeed(
        job_id,
        artifacts=[
            Rendered(format=fmt, content_type="text/plain", filename=f"t.{fmt}", data=b"hi")
            for fmt in ("txt", "md", "vtt")
        ],
        audio_seconds=1.0,
        title="T",
    )
    for fmt in ("txt", "md", "vtt"):
        content_type = client.get(f"/v1/jobs/{job_id}/result?format={fmt}", headers=key).headers["content-type"]
        assert content_type.lower().count("charset") == 1, content_type


# -- property test: the JSON body parser never answers 5xx -----------------------------------------------------
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)
_bodies = st.one_of(
    st.binary(max_size=300),
    _json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"source": st.text(max_size=80)}, optional={"options": _json_values}).map(
        lambda v: json.dumps(v).encode()
    ),
    st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=1, max_value=3000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
)


@hyp_settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=_bodies)
def test_any_json_body_is_answered_without_a_5xx(hard_settings: Settings, store: SqlJobStore, body: bytes) -> None:
    with client_for(hard_settings.model_copy(update={"auth_disabled": True}), store) as c:
        response = c.post("/v1/jobs", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code < 500, (body[:200], response.text)


# -- item 8: rate limits that fit polling ----------------------------------------------------------------------
def test_status_polling_does_not_use_up_the_write_budget(hard_settings: Settings, store: SqlJobStore) -> None:
    limited = hard_settings.model_copy(update={"rate_limit_per_minute": 2, "rate_limit_reads_per_minute": 500})
    with client_for(limited, store) as c:
        headers = {"Authorization": f"Bearer {store.create_key('k')[1]}"}
        job = c.post("/v1/jobs", json={"source": URL}, headers=headers).json()["id"]
        assert all(c.get(f"/v1/jobs/{job}", headers=headers).status_code == 200 for _ in range(150))  # 0.5 s polls
        assert c.post("/v1/jobs", json={"source": URL}, headers=headers).status_code == 202
        assert c.post("/v1/jobs", json={"source": URL}, headers=headers).status_code == 429


def test_rejected_requests_are_logged_and_counted_with_their_status(
    hard_settings: Settings, store: SqlJobStore, caplog: pytest.LogCaptureFixture
) -> None:
    limited = hard_settings.model_copy(update={"rate_limit_per_minute": 1})
    with client_for(limited, store) as c, caplog.at_level("INFO", logger="tubesum.access"):
        headers = {"Authorization": f"Bearer {store.create_key('k')[1]}"}
        assert c.get("/v1/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        statuses = [c.delete("/v1/jobs/x", headers=headers).status_code for _ in range(2)]
        assert statuses == [404, 429]
        logged = [r.__dict__["status"] for r in caplog.records if r.name == "tubesum.access"]
        assert logged == [401, 404, 429], logged
        metrics = c.get("/metrics").text
    assert 'status_code="500"' not in metrics and 'status_code="429"' in metrics and 'status_code="401"' in metrics


def test_failed_auth_is_limited_per_address_and_public_pages_are_not_one_shared_bucket(
    hard_settings: Settings, store: SqlJobStore
) -> None:
    limited = hard_settings.model_copy(update={"rate_limit_per_minute": 100, "rate_limit_per_address_per_minute": 3})
    with client_for(limited, store) as c:
        statuses = [c.get("/v1/jobs", headers={"Authorization": f"Bearer guess-{i}"}).status_code for i in range(4)]
        assert statuses == [401, 401, 401, 429], "key guessing is limited per client address"
    from tubesum.api.auth import owner_of

    class Conn:
        def __init__(self, client: tuple[str, int]) -> None:
            self.scope = {"client": client}

    assert owner_of(Conn(("192.0.2.1", 1))) != owner_of(Conn(("192.0.2.2", 1)))  # type: ignore[arg-type]


# -- item 9: cache hits count against quotas -------------------------------------------------------------------
def test_cache_hits_do_not_skip_quotas(client: TestClient[Any], store: SqlJobStore, key: dict[str, str]) -> None:
    from tubesum.records import Rendered

    job_id = client.post("/v1/jobs", json={"source": URL}, headers=key).json()["id"]
    assert store.claim(worker="w") is not None
    artifact = Rendered(format="txt", content_type="text/plain", filename="t.txt", data=b"hi")
    store.succeed(job_id, artifacts=[artifact], audio_seconds=25 * 3600.0, title="T")  # over the 24 h/day quota
    again = client.post("/v1/jobs", json={"source": URL}, headers=key)
    assert again.status_code == 429 and again.json()["code"] == "quota_exceeded", again.text


# -- item 11: uploads are deleted with their job, capped per key, and cannot stall ---------------------------
def test_deleting_the_last_job_of_an_upload_deletes_the_upload(
    client: TestClient[Any], store: SqlJobStore, key: dict[str, str], hard_settings: Settings
) -> None:
    ref = client.post(
        "/v1/uploads", params={"filename": "a.wav"}, content=b"RIFFdata", headers={**key, "Content-Type": "audio/wav"}
    ).json()["source"]
    first = client.post("/v1/jobs", json={"source": ref}, headers=key).json()["id"]
    second = client.post("/v1/jobs", json={"source": ref, "options": {"language": "en"}}, headers=key).json()["id"]
    folder = hard_settings.upload_dir / ref.removeprefix("upload:")
    for job_id in (first, second):
        assert client.delete(f"/v1/jobs/{job_id}", headers=key).status_code == 200  # cancel
    assert client.delete(f"/v1/jobs/{first}", headers=key).status_code == 204
    assert folder.is_dir(), "still named by the second job"
    assert client.delete(f"/v1/jobs/{second}", headers=key).status_code == 204
    assert not folder.exists()
    resubmit = client.post("/v1/jobs", json={"source": ref}, headers=key)
    assert resubmit.status_code == 404


def test_uploads_have_a_per_key_quota(hard_settings: Settings, store: SqlJobStore) -> None:
    from tubesum.jobs.uploads import UploadQuotaError

    capped = hard_settings.model_copy(update={"upload_quota_mb": 1})
    _store_upload(capped, "alice", "a.wav", b"\0" * 700_000)
    with pytest.raises(UploadQuotaError):
        _store_upload(capped, "alice", "b.wav", b"\0" * 700_000)
    _store_upload(capped, "bob", "b.wav", b"\0" * 700_000)  # per key
    assert len(list(capped.upload_dir.iterdir())) == 2, "nothing of the refused upload is kept"


def test_a_stalled_upload_body_is_dropped(hard_settings: Settings) -> None:
    from tubesum.jobs.uploads import UploadTimeoutError

    async def stalls() -> AsyncIterator[bytes]:
        yield b"RIFF"
        await asyncio.sleep(30)
        yield b"late"

    quick = hard_settings.model_copy(update={"upload_idle_timeout": 0.2})
    with pytest.raises(UploadTimeoutError):
        asyncio.run(save_upload(stalls(), owner="a", filename="a.wav", content_type="audio/wav", settings=quick))
    assert list(quick.upload_dir.iterdir()) == []


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="TEST_REDIS_URL is not set (.ci/run starts redis)")
def test_api_replicas_share_rate_limits_through_redis(hard_settings: Settings, store: SqlJobStore) -> None:
    shared = hard_settings.model_copy(
        update={"rate_limit_per_minute": 2, "rate_limit_store_url": os.environ["TEST_REDIS_URL"]}
    )
    headers = {"Authorization": f"Bearer {store.create_key(f'replicas-{os.getpid()}-{time.time_ns()}')[1]}"}
    with client_for(shared, store) as one, client_for(shared, store) as two:
        statuses = [c.delete("/v1/jobs/x", headers=headers).status_code for c in (one, two, one)]
    assert statuses == [404, 404, 429]


def test_rate_limit_store_url_is_masked_like_every_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from tubesum.redact import masked_settings

    shown = masked_settings(Settings(_env_file=None, rate_limit_store_url="redis://:s3cret@cache:6379/2"))  # type: ignore[call-arg]
    assert shown["rate_limit_store_url"] == "redis://:**********@cache:6379/2"


def test_failed_job_messages_name_no_server_directory(hard_settings: Settings) -> None:
    from tubesum.errors import ModelNotFoundError
    from tubesum.jobs.runner import _public_message
    from tubesum.redact import scrub_paths

    cache = hard_settings.model_cache_dir
    exc = ModelNotFoundError(f"Model 'small' is not in the model cache {cache}.")
    assert _public_message(exc, hard_settings) == "Model 'small' is not in the model cache <server path>."
    assert scrub_paths("at '/srv/data/x/y.wav': bad, /srvother", ["/srv/data"]) == "at '<server path>': bad, /srvother"


def test_public_readyz_names_no_server_directory(hard_settings: Settings, store: SqlJobStore, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    broken = hard_settings.model_copy(update={"work_dir": blocker / "work", "model": "small"})
    with client_for(broken, store) as c:
        response = c.get("/readyz")
    assert response.status_code == 503 and set(response.json()["failing"]) == {"work_dir", "model"}
    for path in (str(tmp_path), str(broken.model_cache_dir)):
        assert path not in response.text
