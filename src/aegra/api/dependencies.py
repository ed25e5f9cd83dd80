"""Dependency providers: the request's database session and the services built on it, registered app-wide."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from aegra.auth.authorizer import NO_AUTH, Authorizer
from aegra.auth.middleware import USER_SCOPE_KEY
from aegra.crons.service import CronService
from aegra.db.database import Database
from aegra.graphs.registry import GraphRegistry
from aegra.runs.follow import RunFollower
from aegra.runs.service import RunService
from aegra.services.assistants import AssistantService
from aegra.services.state import ThreadStateService
from aegra.services.thread_ttl import default_thread_ttl
from aegra.services.threads import ThreadService
from aegra.store.service import StoreService

# How a handler asks for a service `request_dependencies` registers: `async def get(self, run_service: Runs, ...)`.
Assistants = NamedDependency[AssistantService]
Crons = NamedDependency[CronService]
Store = NamedDependency[StoreService]
Threads = NamedDependency[ThreadService]
ThreadStates = NamedDependency[ThreadStateService]
Runs = NamedDependency[RunService]
Follower = NamedDependency[RunFollower]


def provide_database(state: State) -> Database:
    database: Database = state.database
    return database


def provide_registry(state: State) -> GraphRegistry:
    registry: GraphRegistry = state.registry
    return registry


def provide_authorizer(request: Request[Any, Any, Any]) -> Authorizer:
    """The caller and the configured auth handlers (a no-op authorizer when aegra.json has no `auth`)."""
    return authorizer_of(request)


def authorizer_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Authorizer:
    """`provide_authorizer` for any connection (a WebSocket too)."""
    handlers = connection.app.state.get("auth_handlers")
    if handlers is None:
        return NO_AUTH
    return Authorizer(handlers, connection.scope.get("state", {}).get(USER_SCOPE_KEY))


# The services are built from the request alone, each opening its own session: a provider with two or more
# dependencies makes Litestar resolve them in an anyio task group on every request (6-10 % of a request's CPU).
# No handler asks for two of them (each would have its own session).
async def provide_assistant_service(request: Request[Any, Any, Any]) -> AsyncIterator[AssistantService]:
    state = request.app.state
    async with state.database.sessionmaker() as session:
        yield AssistantService(session, state.registry, auth=authorizer_of(request))


async def provide_cron_service(request: Request[Any, Any, Any]) -> AsyncIterator[CronService]:
    state = request.app.state
    async with state.database.sessionmaker() as session:
        yield CronService(session, state.registry, auth=authorizer_of(request))


def provide_store_service(request: Request[Any, Any, Any]) -> StoreService:
    database: Database = request.app.state.database
    return StoreService(database.store, auth=authorizer_of(request))


async def provide_thread_service(request: Request[Any, Any, Any]) -> AsyncIterator[ThreadService]:
    state = request.app.state
    database: Database = state.database
    async with database.sessionmaker() as session:
        ttl = default_thread_ttl(state.config)
        yield ThreadService(session, state.registry, database, default_ttl=ttl, auth=authorizer_of(request))


def provide_thread_state_service(state: State, thread_service: NamedDependency[ThreadService]) -> ThreadStateService:
    return ThreadStateService(thread_service, state.run_workers.queued_runs)


async def provide_run_service(request: Request[Any, Any, Any]) -> AsyncIterator[RunService]:
    state = request.app.state
    database: Database = state.database
    async with database.sessionmaker() as session:
        yield RunService(
            session, state.registry, database, state.run_broker, state.run_workers, auth=authorizer_of(request)
        )


def provide_run_follower(run_service: NamedDependency[RunService]) -> RunFollower:
    return RunFollower(run_service)


def request_dependencies() -> dict[str, Provide]:
    """What every handler may ask for by name: the database, the graphs, the caller's authorizer and the services
    built on them (each service with a session of its own). Litestar builds only what a handler's signature asks for."""
    sync_providers: dict[str, Callable[..., object]] = {
        "database": provide_database,
        "registry": provide_registry,
        "authorizer": provide_authorizer,
        "store_service": provide_store_service,
        "thread_state_service": provide_thread_state_service,
        "run_follower": provide_run_follower,
    }
    session_providers: dict[str, Callable[..., object]] = {
        "assistant_service": provide_assistant_service,
        "cron_service": provide_cron_service,
        "thread_service": provide_thread_service,
        "run_service": provide_run_service,
    }
    dependencies = {name: Provide(provider, sync_to_thread=False) for name, provider in sync_providers.items()}
    return dependencies | {name: Provide(provider) for name, provider in session_providers.items()}
