"""The Litestar application factory: ``create_app(settings)``; ``tubesum serve`` runs it under uvicorn.

The embedded default is one process: this app, the SQLite job store and the in-process worker pool.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from litestar import Litestar, Request
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi import OpenAPIConfig
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from tubesum import __version__
from tubesum.api.auth import PUBLIC_PATHS, ApiKeyMiddleware, address_of, owner_of
from tubesum.api.deps import ApiServices, dependencies
from tubesum.api.docs_aliases import DOCS_PUBLIC_PATHS, DocsAliasController
from tubesum.api.errors import exception_handlers
from tubesum.api.guards import check_request
from tubesum.api.health import HealthController, readiness_of
from tubesum.api.jobs import JobController
from tubesum.api.middleware import EdgeErrorMiddleware, RequestContextMiddleware
from tubesum.api.openai_audio import AudioController
from tubesum.api.openai_models import ModelController
from tubesum.api.openapi import document_errors
from tubesum.api.ui import UI_PUBLIC_PATHS, template_config, ui_router
from tubesum.api.uploads import UploadController
from tubesum.config import Settings
from tubesum.errors import MissingExtraError
from tubesum.metrics import QueueCollector, ReadinessCollector, register_collector

if TYPE_CHECKING:
    from tubesum.jobs.store import SqlJobStore
    from tubesum.jobs.types import Executor
    from tubesum.jobs.webhook_sender import WebhookSender

__all__ = ["create_app"]

logger = logging.getLogger(__name__)
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class MetricsController(PrometheusController):
    path = "/metrics"
    openmetrics_format = False


def create_app(
    settings: Settings | None = None,
    *,
    store: SqlJobStore | None = None,
    worker: bool = True,
    executor: Executor | None = None,
) -> Litestar:
    """Build the app. ``store`` injects a job store (tests); ``worker=False`` runs the API without executing jobs;
    ``executor`` injects what runs them (tests; default: :class:`LocalExecutor`, or :class:`SaqExecutor` with
    ``TUBESUM_QUEUE=saq``). Handlers get the settings, the store and the executor by dependency injection
    (:mod:`tubesum.api.deps`).
    """
    settings = settings or Settings()
    settings.check_server()
    _init_sentry(settings)
    services = ApiServices(settings=settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        from tubesum.jobs.db import make_engine
        from tubesum.jobs.metrics import register_store_collector
        from tubesum.jobs.migrate import upgrade
        from tubesum.jobs.store import SqlJobStore

        engine = None
        job_store = store
        if job_store is None:
            upgrade(settings.sqlalchemy_url)
            engine = make_engine(settings.sqlalchemy_url)
            job_store = SqlJobStore(engine)
        services.store, services.keys = job_store, job_store.keys
        register_store_collector(job_store.count_by_state, job_store.oldest_queued_at)
        if worker:  # embedded: jobs run in this process; saq: this process enqueues, `tubesum worker`s run them
            services.executor = executor or _default_executor(job_store, settings)
        register_collector(ReadinessCollector(functools.partial(readiness_of, services)))  # tubesum_ready
        if services.executor is not None:
            register_collector(QueueCollector(services.executor.queue_stats))
            services.executor.start()
        webhooks = _webhook_sender(job_store, settings) if worker and hasattr(job_store, "claim_webhook") else None
        logger.info("tubesum api ready", extra={"version": __version__, "worker": worker})
        try:
            yield
        finally:
            if webhooks is not None:
                await anyio.to_thread.run_sync(webhooks.stop)
            if services.executor is not None:  # waits up to shutdown_grace: off the event loop
                await anyio.to_thread.run_sync(services.executor.stop)
            if engine is not None:
                engine.dispose()
            logger.info("tubesum api stopped")

    prometheus = PrometheusConfig(app_name="tubesum", prefix="tubesum_http", group_path=True, exclude=["^/metrics"])
    unlimited = ["^/healthz$", "^/readyz$", "^/metrics", "^/ui/static/"]
    middleware: list[Any] = [
        RequestContextMiddleware,
        prometheus.middleware,
        EdgeErrorMiddleware,  # 401/429 from the middleware below reach the access log and metrics as such
        *_rate_limits(settings, before_auth=True, exclude=unlimited),
        DefineMiddleware(ApiKeyMiddleware, exclude=[*PUBLIC_PATHS, *UI_PUBLIC_PATHS, *DOCS_PUBLIC_PATHS]),
        *_rate_limits(settings, before_auth=False, exclude=unlimited),
    ]
    handlers: list[Any] = [
        JobController,
        UploadController,
        HealthController,
        MetricsController,
        DocsAliasController,
        ModelController,
        AudioController,
    ]
    if settings.ui_enabled:
        handlers.append(ui_router())
    return Litestar(
        route_handlers=handlers,
        template_config=template_config() if settings.ui_enabled else None,
        lifespan=[lifespan],
        dependencies=dependencies(services),
        before_request=check_request,
        on_startup=[document_errors],
        state=State({"services": services}),  # for middleware and hooks, which DI does not reach
        middleware=middleware,
        exception_handlers=exception_handlers,
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins)) if settings.cors_origins else None,
        request_max_body_size=settings.max_body_kb * 1024,
        stores=_stores(settings),
        openapi_config=OpenAPIConfig(title="tubesum", version=__version__, path="/schema"),
        debug=False,
        logging_config=None,  # tubesum.logs configures logging (structlog); keep Litestar from replacing it
    )


def _rate_limits(settings: Settings, *, before_auth: bool, exclude: list[str]) -> list[Any]:
    """Return the rate-limit middleware for one side of authentication.

    Before it: one budget per client address, so unauthenticated and failed-auth requests are limited without
    locking anyone else out. After it: per key (or per address on public pages), writes and reads counted apart,
    so polling a job's status never uses up the budget for submitting. Counters live in the app's
    ``rate_limit`` store (in memory: per API process).
    """

    def limit(per_minute: int, name: str, identify: Any, methods: frozenset[str] | None) -> Any:
        async def applies(request: Request[Any, Any, Any]) -> bool:
            return methods is None or (request.method in methods) == (name == "write")

        return RateLimitConfig(
            rate_limit=("minute", per_minute),
            identifier_for_request=lambda connection: f"{name}:{identify(connection)}",
            check_throttle_handler=applies,
            exclude=exclude,
        ).middleware

    if not settings.rate_limit_per_minute:  # 0: every API rate limit is off (tests, benchmarks, a proxy limits)
        return []
    if before_auth:
        per_address = settings.rate_limit_per_address_per_minute
        return [limit(per_address, "address", address_of, None)] if per_address else []
    limits = [limit(settings.rate_limit_per_minute, "write", owner_of, _WRITES)]
    if settings.rate_limit_reads_per_minute:
        limits.append(limit(settings.rate_limit_reads_per_minute, "read", owner_of, _WRITES))
    return limits


def _stores(settings: Settings) -> dict[str, Any] | None:
    """Return the shared ``rate_limit`` store (Redis) when configured; None keeps Litestar's in-memory stores."""
    if not settings.rate_limit_store_url:
        return None
    try:
        from litestar.stores.redis import RedisStore
    except ImportError:
        raise MissingExtraError("Shared rate limits (TUBESUM_RATE_LIMIT_STORE_URL)", "scale", package="redis") from None
    return {"rate_limit": RedisStore.with_client(url=settings.rate_limit_store_url, namespace="tubesum-rate-limit")}


def _default_executor(store: SqlJobStore, settings: Settings) -> Executor:
    from tubesum.jobs.executor import LocalExecutor
    from tubesum.jobs.saq_executor import SaqExecutor

    return SaqExecutor(store, settings) if settings.queue == "saq" else LocalExecutor(store, settings)


def _webhook_sender(store: SqlJobStore, settings: Settings) -> WebhookSender:
    """Start this process's webhook sender: cache hits and cancels end jobs here, and so do embedded workers."""
    from tubesum.api.schemas import webhook_body
    from tubesum.jobs.webhook_sender import WebhookSender

    sender = WebhookSender(store, settings, body=webhook_body)
    sender.start()
    return sender


def _init_sentry(settings: Settings) -> None:
    if settings.sentry_dsn is None:
        return
    try:
        import sentry_sdk
    except ImportError:
        logger.warning("SENTRY_DSN is set but sentry-sdk is missing: pip install 'tubesum[sentry]'")
        return
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        send_default_pii=False,
        traces_sample_rate=0.0,
        release=f"tubesum@{__version__}",
        environment=settings.environment,
    )
