"""What the API's handlers get by Litestar dependency injection: ``settings``, ``store`` and ``executor``.

``create_app`` builds one :class:`ApiServices`; the lifespan opens the job store and starts the executor into it,
and :func:`dependencies` provides them to any handler that names a parameter ``settings: SettingsDep``,
``store: StoreDep`` or ``executor: ExecutorDep`` (``Executor | None``; None: this process runs no jobs).
Middleware and request hooks, which DI does not reach, read the same object with :func:`services_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from litestar.di import NamedDependency, Provide

from tubesum.config import Settings
from tubesum.errors import StoreUnavailableError
from tubesum.jobs.types import Executor, JobStore, KeyStore

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection

__all__ = ["ApiServices", "ExecutorDep", "SettingsDep", "StoreDep", "dependencies", "services_of"]

#: Handler parameter types: ``settings: SettingsDep``, ``store: StoreDep``, ``executor: ExecutorDep``.
SettingsDep = NamedDependency[Settings]
StoreDep = NamedDependency[JobStore]
ExecutorDep = NamedDependency[Executor | None]


@dataclass(eq=False, slots=True)
class ApiServices:
    """The app's long-lived parts: set once at start (store, executor), read by every request."""

    settings: Settings
    store: JobStore | None = None
    keys: KeyStore | None = None
    executor: Executor | None = None

    def job_store(self) -> JobStore:
        """The open job store (a request before the lifespan opened it gets ``store_unavailable``)."""
        if self.store is None:
            raise StoreUnavailableError("The job store is not open yet.", hint="Retry in a moment.", retry_after=1)
        return self.store

    def key_store(self) -> KeyStore:
        if self.keys is None:
            raise StoreUnavailableError("The key store is not open yet.", hint="Retry in a moment.", retry_after=1)
        return self.keys


def dependencies(services: ApiServices) -> dict[str, Provide]:
    """The app-level dependency providers, typed: Litestar checks handlers against these return types."""

    def provide_settings() -> Settings:
        return services.settings

    def provide_store() -> JobStore:
        return services.job_store()

    def provide_executor() -> Executor | None:
        return services.executor

    return {
        "settings": Provide(provide_settings, sync_to_thread=False),
        "store": Provide(provide_store, sync_to_thread=False),
        "executor": Provide(provide_executor, sync_to_thread=False),
    }


def services_of(connection: ASGIConnection[Any, Any, Any, Any]) -> ApiServices:
    """The app's :class:`ApiServices`, for middleware and hooks (handlers get their parts injected)."""
    services: ApiServices = connection.app.state.services
    return services
