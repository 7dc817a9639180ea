"""Webhooks: a real receiver on 127.0.0.1 verifies every request with the official ``standardwebhooks`` package.

The app runs in-process (Litestar TestClient) over a real SQLite store with its real executor and sender
threads; the success case runs the real pipeline (yt-dlp from a loopback server, tiny.en).
"""

from __future__ import annotations

import base64
import http.server
import json
import logging
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from litestar.testing import TestClient
from prometheus_client import REGISTRY
from pydantic import ValidationError
from standardwebhooks import Webhook, WebhookVerificationError

from conftest import LoopbackServer
from databases import BACKENDS, POSTGRES_URL, fresh_database
from inprocess import migrated_store
from servers import wait_for
from tubesum.api.app import create_app
from tubesum.api.schemas import webhook_body
from tubesum.config import Settings
from tubesum.jobs.db import make_engine
from tubesum.jobs.migrate import upgrade
from tubesum.jobs.store import SqlJobStore
from tubesum.jobs.submit import submit_job
from tubesum.jobs.types import JobOptions, NewJob
from tubesum.jobs.webhook_sender import WebhookSender
from tubesum.jobs.webhooks import RetryPolicy, new_secret, retryable, sign, signed_headers
from tubesum.records import Rendered

YOUTUBE = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
TOKEN_IN_PATH = "tok-PATH-s3cr3t-0xdeadbeef"

pytestmark = pytest.mark.usefixtures("loopback_dns_only")  # nothing here can reach past 127.0.0.1


# -- a real receiver ---------------------------------------------------------------------------------------
@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and answers ``statuses`` in turn (then 200)."""

    port: int = 0
    statuses: list[int] = field(default_factory=list)
    location: str | None = None  # sent with a 3xx status
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def serve(
    state: Receiver, address: str = "127.0.0.1", tls: ssl.SSLContext | None = None
) -> http.server.ThreadingHTTPServer:
    """Start a receiver's HTTP(S) server on ``address`` (at ``state.port``, or a free port) in a thread."""

    class Handler(http.server.BaseHTTPRequestHandler):
        receiver = state

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            self.receiver.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            status = self.receiver.statuses.pop(0) if self.receiver.statuses else 200
            self.send_response(status)
            if 300 <= status < 400 and self.receiver.location:
                self.send_header("Location", self.receiver.location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer((address, state.port), Handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    state.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    """Two receivers (the second one is a redirect target that must never be reached)."""
    started = [(state, serve(state)) for state in (Receiver(), Receiver())]
    try:
        yield [state for state, _ in started]
    finally:
        for _, httpd in started:
            httpd.shutdown()
            httpd.server_close()


@pytest.fixture
def receiver(receivers: list[Receiver]) -> Receiver:
    return receivers[0]


# -- the app -----------------------------------------------------------------------------------------------
@pytest.fixture
def api_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={
            "data_dir": tmp_path / "data",
            "rate_limit_per_minute": 0,
            "allow_generic_urls": True,
            "job_retries": 0,
            "webhook_retry_seconds": 0.2,
            "webhook_timeout_seconds": 5.0,
            "workers": 1,
        }
    )


@pytest.fixture
def store(api_settings: Settings) -> SqlJobStore:
    return migrated_store(api_settings)


@pytest.fixture
def key(store: SqlJobStore) -> tuple[str, dict[str, str]]:
    """An API key: its id and the request headers that carry it."""
    record, token = store.create_key("alice")
    return record.id, {"Authorization": f"Bearer {token}"}


def cancelled_job(store: SqlJobStore, owner: str, callback_url: str) -> str:
    """A job that ended (cancelled while queued) before any sender ran: its webhook is owed."""
    job, _ = store.create(
        NewJob(
            owner=owner,
            source=YOUTUBE,
            source_key="youtube:dQw4w9WgXcQ",
            options=JobOptions(),
            cache_key="not-a-real-key",
            callback_url=callback_url,
        )
    )
    store.cancel(job.id)
    return job.id


def running_app(settings: Settings, store: SqlJobStore) -> TestClient[Any]:
    return TestClient(app=create_app(settings, store=store, worker=True))


def verified(secret: str, request: tuple[str, dict[str, str], bytes]) -> dict[str, Any]:
    """The payload of a request whose signature the official Standard Webhooks verifier accepts."""
    _, headers, body = request
    payload: dict[str, Any] = Webhook(secret).verify(body, headers)
    return payload


def webhook_of(client: TestClient[Any], job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(f"/v1/jobs/{job_id}", headers=headers)
    assert response.status_code == 200
    webhook: dict[str, Any] = response.json()["webhook"]
    return webhook


def counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("tubesum_webhook_attempts_total", {"outcome": outcome}) or 0.0


def settled(client: TestClient[Any], job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """Wait until the job's webhook is delivered or failed for good, and return it."""
    return wait_for(  # type: ignore[no-any-return]
        lambda: (w := webhook_of(client, job_id, headers))["state"] != "pending" and w,
        timeout=60,
        what="the webhook to settle",
    )


# -- signatures --------------------------------------------------------------------------------------------
def test_signature_is_what_the_official_verifier_accepts() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    body = b'{"id":"abc","state":"succeeded"}'
    import time

    headers = signed_headers(secret, msg_id="msg_abc", timestamp=int(time.time()), body=body)
    assert Webhook(secret).verify(body, headers) == {"id": "abc", "state": "succeeded"}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"succeeded", b"failed"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    # the spec's own example (standard-webhooks/spec.md): a fixed secret, id, timestamp and body
    example = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=1614265330,
        body=b'{"test": 2432232314}',
    )
    assert example == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_retry_policy_backs_off_and_stops() -> None:
    policy = RetryPolicy(max_attempts=5, first_delay=10, factor=3)
    assert [policy.delay_after(n) for n in range(1, 6)] == [10, 30, 90, 270, None]
    assert retryable(None) and retryable(500) and retryable(503) and retryable(408) and retryable(429)
    assert not retryable(400) and not retryable(404) and not retryable(410) and not retryable(302)


def test_server_secret_setting_must_be_a_whsec_secret(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, webhook_secret="hunter2-not-a-secret")  # type: ignore[call-arg]
    assert "whsec_" in str(caught.value) and "hunter2" not in str(caught.value)
    good = new_secret()
    assert Settings(_env_file=None, webhook_secret=good).webhook_secret.get_secret_value() == good  # type: ignore[call-arg,union-attr]


# -- deliveries --------------------------------------------------------------------------------------------
def test_succeeded_job_is_posted_signed_and_retried_after_a_500(
    api_settings: Settings,
    store: SqlJobStore,
    key: tuple[str, dict[str, str]],
    receiver: Receiver,
    http_server: LoopbackServer,
    make_media: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="httpx")  # httpx stays at WARNING, as tubesum.logs sets it ...
    caplog.set_level(logging.DEBUG)  # ... and everything else is captured, tubesum's debug lines included
    key_id, headers = key
    (http_server.root / "talk.m4a").write_bytes(make_media("speech.m4a").read_bytes())
    receiver.statuses = [500]
    callback = receiver.url(f"/hook/{TOKEN_IN_PATH}?sig=abc")
    with running_app(api_settings, store) as client:
        created = client.post(
            "/v1/jobs", json={"source": http_server.url("talk.m4a"), "callback_url": callback}, headers=headers
        )
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        webhook = settled(client, job_id, headers)
        job = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
    assert job["state"] == "succeeded"
    assert webhook["state"] == "delivered" and webhook["url"] == callback
    assert [(d["attempt"], d["status_code"]) for d in webhook["deliveries"]] == [(1, 500), (2, 200)]
    assert len(receiver.requests) == 2
    secret = store.webhook_secret(key_id)
    assert secret is not None
    first, second = (verified(secret, r) for r in receiver.requests)
    assert first == second
    assert receiver.requests[0][1]["webhook-id"] == receiver.requests[1][1]["webhook-id"] == f"msg_{job_id}"
    assert receiver.requests[0][0] == f"/hook/{TOKEN_IN_PATH}?sig=abc"
    job.pop("webhook")
    assert first == job  # the same JSON as GET /v1/jobs/{id}
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "webhook delivered" in logged
    assert secret not in logged and secret[6:] not in logged and TOKEN_IN_PATH not in logged


def test_failed_job_is_posted_with_its_error(
    api_settings: Settings, store: SqlJobStore, key: tuple[str, dict[str, str]], receiver: Receiver, http_server: Any
) -> None:
    key_id, headers = key
    with running_app(api_settings, store) as client:
        created = client.post(
            "/v1/jobs",
            json={"source": http_server.url("missing.m4a"), "callback_url": receiver.url()},
            headers=headers,
        )
        job_id = created.json()["id"]
        webhook = settled(client, job_id, headers)
    payload = verified(store.webhook_secret(key_id) or "", receiver.requests[0])
    assert payload["id"] == job_id and payload["state"] == "failed" and payload["error"]["code"]
    assert webhook["state"] == "delivered" and len(webhook["deliveries"]) == 1


def test_cache_hit_is_posted_at_once(
    api_settings: Settings, store: SqlJobStore, key: tuple[str, dict[str, str]], receiver: Receiver
) -> None:
    key_id, headers = key
    first = submit_job(YOUTUBE, JobOptions(), owner=key_id, store=store, settings=api_settings)
    claimed = store.claim(worker="seed")
    assert claimed is not None and claimed.id == first.job.id
    txt = Rendered("txt", "text/plain", "t.txt", b"hello")
    store.succeed(first.job.id, artifacts=[txt], audio_seconds=3.0, title="t")
    with running_app(api_settings, store) as client:
        hit = client.post("/v1/jobs", json={"source": YOUTUBE, "callback_url": receiver.url()}, headers=headers)
        assert hit.status_code == 200 and hit.json()["cache_hit"] is True
        webhook = settled(client, hit.json()["id"], headers)
    payload = verified(store.webhook_secret(key_id) or "", receiver.requests[0])
    assert payload["cache_hit"] is True and payload["state"] == "succeeded" and payload["id"] == hit.json()["id"]
    assert webhook["state"] == "delivered"


def test_a_4xx_is_not_retried(
    api_settings: Settings, store: SqlJobStore, key: tuple[str, dict[str, str]], receiver: Receiver
) -> None:
    key_id, headers = key
    receiver.statuses = [410]
    job_id = cancelled_job(store, key_id, receiver.url())
    with running_app(api_settings, store) as client:
        webhook = settled(client, job_id, headers)
    assert webhook["state"] == "failed" and [d["status_code"] for d in webhook["deliveries"]] == [410]
    assert len(receiver.requests) == 1


def test_retries_stop_after_the_configured_attempts(
    api_settings: Settings, store: SqlJobStore, key: tuple[str, dict[str, str]], receiver: Receiver
) -> None:
    key_id, headers = key
    receiver.statuses = [503, 503, 503, 503]
    settings = api_settings.model_copy(update={"webhook_max_attempts": 3})
    job_id = cancelled_job(store, key_id, receiver.url())
    retries, failures = counted("retry"), counted("failed")
    with running_app(settings, store) as client:
        webhook = settled(client, job_id, headers)
    assert webhook["state"] == "failed" and [d["status_code"] for d in webhook["deliveries"]] == [503, 503, 503]
    assert len(receiver.requests) == 3
    assert counted("retry") - retries == 2 and counted("failed") - failures == 1


def test_a_redirect_is_not_followed(
    api_settings: Settings, store: SqlJobStore, key: tuple[str, dict[str, str]], receivers: list[Receiver]
) -> None:
    allowed, target = receivers
    allowed.statuses, allowed.location = [307], target.url("/elsewhere")
    key_id, headers = key
    job_id = cancelled_job(store, key_id, allowed.url())
    with running_app(api_settings, store) as client:
        webhook = settled(client, job_id, headers)
    assert webhook["state"] == "failed"
    assert [(d["status_code"], d["error"]) for d in webhook["deliveries"]] == [(307, "redirect not followed")]
    assert len(allowed.requests) == 1 and target.requests == []


@pytest.mark.parametrize(
    "callback",
    ["http://127.0.0.1:{port}/hook", "http://localhost:{port}/hook", "http://[::1]:{port}/", "http://0x7f.1:{port}/"],
)
def test_production_refuses_a_loopback_callback_at_submit(
    api_settings: Settings, store: SqlJobStore, key: tuple[str, dict[str, str]], receiver: Receiver, callback: str
) -> None:
    settings = api_settings.model_copy(update={"environment": "production", "allow_private_addresses": False})
    _, headers = key
    with TestClient(app=create_app(settings, store=store, worker=False)) as client:
        refused = client.post(
            "/v1/jobs", json={"source": YOUTUBE, "callback_url": callback.format(port=receiver.port)}, headers=headers
        )
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_callback_url"
    assert store.list(owner=None).total == 0 and receiver.requests == []


@pytest.mark.parametrize("callback", ["ftp://example.com/x", "http://user:pw@example.com/", "not a url"])
def test_a_callback_that_is_not_http_to_a_host_is_refused(
    api_settings: Settings, store: SqlJobStore, key: tuple[str, dict[str, str]], callback: str
) -> None:
    _, headers = key
    with TestClient(app=create_app(api_settings, store=store, worker=False)) as client:
        refused = client.post("/v1/jobs", json={"source": YOUTUBE, "callback_url": callback}, headers=headers)
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_callback_url"


def test_every_delivery_goes_through_the_guard(api_settings: Settings, store: SqlJobStore, receiver: Receiver) -> None:
    """A callback accepted earlier (or whose name now resolves to loopback) is refused when it is sent."""
    record, _ = store.create_key("bob")
    job_id = cancelled_job(store, record.id, receiver.url())
    production = api_settings.model_copy(update={"environment": "production", "allow_private_addresses": False})
    sender = WebhookSender(store, production, body=lambda j: b"{}")
    task = store.claim_webhook(lease=30)
    assert task is not None
    sender.deliver(task)
    sender.stop()
    [delivery] = store.deliveries(job_id)
    assert delivery.status_code is None and delivery.error and delivery.error.startswith("refused")
    assert store.get(job_id).webhook_state == "failed"  # type: ignore[union-attr]
    assert receiver.requests == []


def certificate_for(name: str, directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for ``name`` (openssl): the server's TLS context and a client one trusting it."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=str(cert))


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_delivery_connects_to_the_address_the_guard_approved(
    api_settings: Settings, store: SqlJobStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, scheme: str
) -> None:
    """DNS rebinding: the name answers a (pretend) public address to the guard, then loopback. The POST goes to
    the approved address with the name in Host (and, over TLS, in SNI and the certificate check); a second
    lookup, which would reach loopback, never happens."""
    from tubesum.pipeline import ssrf

    if scheme == "https" and shutil.which("openssl") is None:
        pytest.fail("openssl is required for this test (apt-get install openssl)")
    server_tls, client_tls = certificate_for("hook.test", tmp_path) if scheme == "https" else (None, None)
    approved, rebound = Receiver(), Receiver()
    servers = [serve(approved, "127.0.0.2", server_tls)]
    rebound.port = approved.port
    servers.append(serve(rebound, "127.0.0.1", server_tls))
    lookups: list[str] = []
    real_getaddrinfo, real_is_public = socket.getaddrinfo, ssrf.is_public_address

    def rebinding_dns(host: Any, port: Any = None, *args: Any, **kwargs: Any) -> Any:
        if host == "hook.test":
            lookups.append(host)
            return real_getaddrinfo("127.0.0.2" if len(lookups) == 1 else "127.0.0.1", port, *args, **kwargs)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    monkeypatch.setattr(ssrf, "is_public_address", lambda ip: str(ip) == "127.0.0.2" or real_is_public(ip))
    record, _ = store.create_key("k")
    job_id = cancelled_job(store, record.id, f"{scheme}://hook.test:{approved.port}/hook?x=1")
    production = api_settings.model_copy(update={"environment": "production", "allow_private_addresses": False})
    transport = httpx.HTTPTransport(verify=client_tls) if client_tls is not None else None
    sender = WebhookSender(store, production, body=webhook_body, transport=transport)
    try:
        task = store.claim_webhook(lease=30)
        assert task is not None
        sender.deliver(task)
    finally:
        sender.stop()
        for httpd in servers:
            httpd.shutdown()
            httpd.server_close()
    assert lookups == ["hook.test"] and rebound.requests == []
    [(path, headers, _)] = approved.requests
    assert path == "/hook?x=1" and headers["host"] == f"hook.test:{approved.port}"
    assert verified(store.webhook_secret(record.id) or "", approved.requests[0])["id"] == job_id
    assert store.get(job_id).webhook_state == "delivered", store.deliveries(job_id)  # type: ignore[union-attr]


def test_pending_deliveries_survive_a_restart(
    api_settings: Settings, store: SqlJobStore, key: tuple[str, dict[str, str]], receiver: Receiver
) -> None:
    """A webhook owed while no sender ran (the process had stopped) is sent when a process starts."""
    key_id, headers = key
    job_id = cancelled_job(store, key_id, receiver.url())
    assert store.pending_webhooks() == 1 and receiver.requests == []
    with running_app(api_settings, store) as client:
        webhook = settled(client, job_id, headers)
    assert webhook["state"] == "delivered"
    assert verified(store.webhook_secret(key_id) or "", receiver.requests[0])["state"] == "cancelled"


def test_anonymous_mode_signs_with_the_server_secret(
    api_settings: Settings, store: SqlJobStore, receiver: Receiver, http_server: LoopbackServer
) -> None:
    without = api_settings.model_copy(update={"auth_disabled": True})
    with TestClient(app=create_app(without, store=store, worker=False)) as client:
        refused = client.post("/v1/jobs", json={"source": YOUTUBE, "callback_url": receiver.url()})
    assert refused.status_code == 422 and refused.json()["code"] == "webhook_secret_missing"

    secret = new_secret()
    with_secret = Settings(**{**without.model_dump(), "webhook_secret": secret})
    with running_app(with_secret, store) as client:
        source = http_server.url("missing.m4a")  # fails at once: no YouTube, no model
        created = client.post("/v1/jobs", json={"source": source, "callback_url": receiver.url()})
        job_id = created.json()["id"]
        assert settled(client, job_id, {})["state"] == "delivered"
    assert verified(secret, receiver.requests[0])["id"] == job_id


def test_callback_url_is_not_part_of_the_cache_key_but_of_the_idempotent_request(
    api_settings: Settings, store: SqlJobStore, key: tuple[str, dict[str, str]], receiver: Receiver
) -> None:
    _, headers = key
    with TestClient(app=create_app(api_settings, store=store, worker=False)) as client:
        plain = client.post("/v1/jobs", json={"source": YOUTUBE}, headers=headers).json()
        hooked = client.post("/v1/jobs", json={"source": YOUTUBE, "callback_url": receiver.url()}, headers=headers)
        again = client.post(
            "/v1/jobs",
            json={"source": YOUTUBE, "callback_url": receiver.url("/other")},
            headers={**headers, "Idempotency-Key": "k1"},
        )
        reused = client.post(
            "/v1/jobs",
            json={"source": YOUTUBE, "callback_url": receiver.url()},
            headers={**headers, "Idempotency-Key": "k1"},
        )
        listed = client.get("/v1/jobs", headers=headers).json()["items"]
    assert store.get(plain["id"]).cache_key == store.get(hooked.json()["id"]).cache_key  # type: ignore[union-attr]
    assert plain["webhook"] is None and hooked.json()["webhook"]["state"] == "pending"
    assert again.status_code == 202 and reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    assert any(item["webhook"] and item["webhook"]["deliveries"] is None for item in listed)


# -- the CLI -----------------------------------------------------------------------------------------------
def test_keys_show_and_rotate_the_webhook_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tubesum.cli import cli
    from tubesum.cli.keys import keys

    monkeypatch.setitem(cli.commands, "keys", keys)
    monkeypatch.setenv("TUBESUM_DATA_DIR", str(tmp_path / "data"))

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    created = json.loads(run("keys", "create", "--name", "hooks", "--json").stdout)
    secret = created["webhook_secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert run("keys", "webhook-secret", created["id"]).stdout.strip() == secret
    rotated = run("keys", "webhook-secret", created["id"], "--rotate").stdout.strip()
    assert rotated.startswith("whsec_") and rotated != secret
    assert run("keys", "webhook-secret", created["id"]).stdout.strip() == rotated
    plain = run("keys", "create", "--name", "shown")
    assert "webhook signing secret: whsec_" in plain.stderr
    standalone = run("keys", "webhook-secret", "--new").stdout.strip()
    assert Settings(_env_file=None, webhook_secret=standalone).webhook_secret is not None  # type: ignore[call-arg]
    missing = run("keys", "webhook-secret", "0" * 16)
    assert missing.exit_code == 1 and "No API key" in missing.output


# -- the store, on every backend ---------------------------------------------------------------------------
@pytest.fixture(params=BACKENDS)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlJobStore]:
    with fresh_database(request.param, tmp_path) as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            yield SqlJobStore(engine)
        finally:
            engine.dispose()


def test_store_claims_a_due_webhook_once_and_logs_each_attempt(any_store: SqlJobStore) -> None:
    store = any_store
    record, _ = store.create_key("k")
    assert (store.webhook_secret(record.id) or "").startswith("whsec_")
    queued, _ = store.create(
        NewJob(owner=record.id, source=YOUTUBE, source_key="s", options=JobOptions(), cache_key="c", callback_url="u")
    )
    assert store.claim_webhook(lease=30) is None  # not finished yet: nothing is owed
    job_id = cancelled_job(store, record.id, "http://example.com/hook")
    task = store.claim_webhook(lease=30)
    assert task is not None and (task.job_id, task.attempt, task.url) == (job_id, 1, "http://example.com/hook")
    assert store.claim_webhook(lease=30) is None  # leased: no other sender takes it
    store.record_delivery(task, status_code=500, error=None, outcome="pending", retry_at=datetime.now(UTC))
    again = store.claim_webhook(lease=30)
    assert again is not None and again.attempt == 2
    store.record_delivery(again, status_code=204, error=None, outcome="delivered")
    assert store.claim_webhook(lease=30) is None
    assert [(d.attempt, d.status_code) for d in store.deliveries(job_id)] == [(1, 500), (2, 204)]
    assert store.get(job_id).webhook_state == "delivered"  # type: ignore[union-attr]
    assert store.pending_webhooks() == 1  # the queued job's, owed once it ends
    assert store.delete(job_id) and store.deliveries(job_id) == []  # deleted with its job
    assert store.get(queued.id).callback_url == "u"  # type: ignore[union-attr]


# -- a `tubesum worker` (SAQ) sends the webhooks of the jobs it finishes -------------------------------------
@pytest.mark.skipif(not POSTGRES_URL, reason="TEST_POSTGRES_URL is not set (scripts/with-test-services sets it)")
@pytest.mark.timeout(300)
def test_a_saq_worker_posts_the_webhook_of_the_job_it_ran(
    tmp_path: Path, receiver: Receiver, http_server: LoopbackServer, speech_wav: Path
) -> None:
    from test_saq import Cluster

    (http_server.root / "talk.wav").write_bytes(speech_wav.read_bytes())
    with fresh_database("postgresql", tmp_path) as url:
        cluster = Cluster(tmp_path, url, "")
        try:
            cluster.start_worker(1)
            headers = {"Authorization": f"Bearer {cluster.token}"}
            # The API side runs no sender (worker=False): only the worker process can deliver.
            with TestClient(app=create_app(cluster.settings, store=cluster.store, worker=False)) as client:
                body = {"source": http_server.url("talk.wav"), "callback_url": receiver.url()}
                created = client.post("/v1/jobs", json=body, headers=headers)
                assert created.status_code == 202, created.text
                job_id = created.json()["id"]
                webhook = settled(client, job_id, headers)
            key_id = cluster.token.split("_")[1]
            payload = verified(cluster.store.webhook_secret(key_id) or "", receiver.requests[0])
            assert payload["id"] == job_id and payload["state"] == "succeeded", cluster.logs()
            assert webhook["state"] == "delivered"
            assert [r["job_id"] for r in cluster.log_events("webhook delivered")] == [job_id]
        finally:
            cluster.close()
