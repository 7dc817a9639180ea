"""``WebhookSender``: POST finished jobs to their ``callback_url``, signed, retried, through the SSRF guard.

Runs as a small thread pool beside the job executor in every process that finishes jobs (``tubesum serve``
with either executor, ``tubesum worker``); it never runs on the worker's event loop or job threads. It works
from the database (:class:`~tubesum.jobs.webhook_store.SqlWebhookStore`): it polls for due webhooks every
``poll`` seconds and wakes at once when this process finishes a job (:func:`~tubesum.jobs.webhooks.wake_all`).
A delivery owed when a process stopped is sent by the next process that polls (start-up included), once
its lease ran out.

Each attempt runs the SSRF guard on the URL (a refused address is a failed delivery, never retried), connects
to the very address the guard approved (no second DNS lookup, so no rebinding; TLS still checks the name),
sends one POST without following redirects (a 3xx is a failed delivery: the guard never sees where it points),
reads no response body, and records the status code or the error class. The secret and the URL's path and
query never reach the log (a callback URL may carry a token); the host does.

Usage::

    sender = WebhookSender(store, settings, body=lambda job: JobRead.from_record(job).model_dump_json().encode())
    sender.start()
    ...
    sender.stop()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from tubesum.errors import InvalidUrlError, NetworkError, UnsafeUrlError
from tubesum.jobs.webhook_store import DELIVERED, FAILED, PENDING, WebhookTask
from tubesum.jobs.webhooks import WAKE_HOOKS, RetryPolicy, message_id, retryable, signed_headers, signing_secret
from tubesum.metrics import WEBHOOK_ATTEMPTS
from tubesum.pipeline.ssrf import VettedUrl, vet_url

if TYPE_CHECKING:
    from tubesum.config import Settings
    from tubesum.jobs.store import SqlJobStore
    from tubesum.jobs.types import JobRecord

__all__ = ["WebhookSender"]

logger = logging.getLogger(__name__)


class WebhookSender:
    """Deliver due webhooks from ``store`` with up to ``threads`` requests at once.

    **Parameters:**

    * **body** - renders a finished job as the JSON bytes to POST (the face's ``GET /v1/jobs/{id}`` view).
    * **poll** *(optional)* - seconds between looks at the database when nothing woke the sender.
    * **transport** *(optional)* - an httpx transport (tests); the default connects directly (no proxies).
    """

    def __init__(
        self,
        store: SqlJobStore,
        settings: Settings,
        *,
        body: Callable[[JobRecord], bytes],
        poll: float = 1.0,
        threads: int = 4,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.store, self.settings, self._body, self.poll = store, settings, body, poll
        self.policy = RetryPolicy.from_settings(settings)
        self._threads = threads
        self._slots = threading.BoundedSemaphore(threads)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._client = httpx.Client(
            follow_redirects=False,
            timeout=settings.webhook_timeout_seconds,
            trust_env=False,  # no proxy from the environment: the guard judged the address we connect to
            transport=transport,
            headers={"user-agent": "tubesum-webhooks"},
        )

    @property
    def lease(self) -> float:
        """Seconds a claimed delivery stays reserved for this process: longer than any one attempt."""
        return self.settings.webhook_timeout_seconds + 30.0

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="tubesum-webhook")
        self._thread = threading.Thread(target=self._loop, name="tubesum-webhooks", daemon=True)
        self._thread.start()
        WAKE_HOOKS.add(self.wake)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop claiming and finish the attempts in flight (each within ``webhook_timeout_seconds``); claimed
        attempts that never started are sent again, by any process, once their lease has run out."""
        WAKE_HOOKS.discard(self.wake)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                claimed = self._claim_while_free()
            except Exception:  # the database is down for a moment: try again at the next poll
                logger.warning("webhook sender could not read the job store", exc_info=True)
                claimed = 0
            if not claimed:
                self._wake.wait(self.poll)

    def _claim_while_free(self) -> int:
        claimed = 0
        while not self._stop.is_set() and self._slots.acquire(timeout=self.poll):
            task = self.store.claim_webhook(lease=self.lease)
            if task is None:
                self._slots.release()
                return claimed
            claimed += 1
            assert self._pool is not None
            self._pool.submit(self._attempt_and_release, task)
        return claimed

    def _attempt_and_release(self, task: WebhookTask) -> None:
        try:
            self.deliver(task)
        except Exception:
            logger.exception("webhook delivery crashed", extra={"job_id": task.job_id})
        finally:
            self._slots.release()

    def deliver(self, task: WebhookTask) -> None:
        """Make one attempt for ``task`` and record its outcome (also usable without :meth:`start`)."""
        host = urlsplit(task.url).hostname or "?"
        extra = {"job_id": task.job_id, "attempt": task.attempt, "host": host}
        job = self.store.get(task.job_id, checkpoint=False)
        if job is None:
            return
        secret = signing_secret(job.owner, store=self.store, settings=self.settings)
        if secret is None:
            self._record(task, None, "no webhook secret for this job's API key", retry=False, extra=extra)
            return
        try:
            vetted = vet_url(task.url, allow_private=self.settings.allow_private_addresses)
        except (UnsafeUrlError, InvalidUrlError) as exc:
            self._record(task, None, f"refused: {exc.message}", retry=False, extra=extra)
            return
        except NetworkError:
            self._record(task, None, "cannot resolve the host", retry=True, extra=extra)
            return
        body = self._body(job)
        headers = signed_headers(secret, msg_id=message_id(job.id), timestamp=int(time.time()), body=body)
        target, host_header, extensions = _pinned(task.url, vetted)
        if host_header is not None:
            headers["host"] = host_header
        try:
            with self._client.stream("POST", target, content=body, headers=headers, extensions=extensions) as response:
                status = response.status_code  # the body is never read: a receiver cannot make us buffer it
        except httpx.HTTPError as exc:
            self._record(task, None, type(exc).__name__, retry=True, extra=extra)
            return
        if 200 <= status < 300:
            self.store.record_delivery(task, status_code=status, error=None, outcome=DELIVERED)
            WEBHOOK_ATTEMPTS.labels(outcome="delivered").inc()
            logger.info("webhook delivered", extra={**extra, "status_code": status})
            return
        error = "redirect not followed" if 300 <= status < 400 else None
        self._record(task, status, error, retry=retryable(status), extra=extra)

    def _record(
        self, task: WebhookTask, status: int | None, error: str | None, *, retry: bool, extra: dict[str, object]
    ) -> None:
        delay = self.policy.delay_after(task.attempt) if retry else None
        if delay is None:
            self.store.record_delivery(task, status_code=status, error=error, outcome=FAILED)
            WEBHOOK_ATTEMPTS.labels(outcome="failed").inc()
            logger.warning("webhook failed for good", extra={**extra, "status_code": status, "error": error})
            return
        retry_at = datetime.now(UTC) + timedelta(seconds=delay)
        self.store.record_delivery(task, status_code=status, error=error, outcome=PENDING, retry_at=retry_at)
        WEBHOOK_ATTEMPTS.labels(outcome="retry").inc()
        logger.info("webhook attempt failed; retrying", extra={**extra, "status_code": status, "retry_in_s": delay})
        self.wake()  # a zero delay (tests) is due at once


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _pinned(url: str, vetted: VettedUrl) -> tuple[str, str | None, dict[str, Any]]:
    """Return the URL to connect to — the address the guard approved, not the name again (no DNS rebinding) —,
    the ``Host`` header that names the host, and the request extensions that keep TLS on the name (SNI and the
    certificate check). The URL is unchanged when the guard resolved nothing (``allow_private_addresses``)."""
    if not vetted.addresses:
        return url, None, {}
    address = vetted.addresses[0]
    parts = urlsplit(url)
    netloc = f"[{address}]:{vetted.port}" if ":" in address else f"{address}:{vetted.port}"
    target = urlunsplit((vetted.scheme, netloc, parts.path or "/", parts.query, ""))
    host = vetted.host if vetted.port == _DEFAULT_PORTS[vetted.scheme] else f"{vetted.host}:{vetted.port}"
    name = vetted.host[1:-1] if vetted.host.startswith("[") else vetted.host
    return target, host, ({"sni_hostname": name} if vetted.scheme == "https" else {})
