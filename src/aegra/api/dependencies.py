"""Dependency providers: the request's database session and the services built on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from aegra.crons.service import CronService
from aegra.db.database import Database
from aegra.graphs.registry import GraphRegistry
from aegra.runs.service import RunService
from aegra.services.assistants import AssistantService
from aegra.services.state import ThreadStateService
from aegra.services.thread_ttl import default_thread_ttl
from aegra.services.threads import ThreadService
from aegra.store.service import StoreService


def provide_database(state: State) -> Database:
    return state.database


def provide_registry(state: State) -> GraphRegistry:
    return state.registry


async def provide_db_session(state: State) -> AsyncIterator[AsyncSession]:
    async with state.database.sessionmaker() as session:
        yield session


def provide_assistant_service(
    db_session: NamedDependency[AsyncSession], registry: NamedDependency[GraphRegistry]
) -> AssistantService:
    return AssistantService(db_session, registry)


def provide_cron_service(
    db_session: NamedDependency[AsyncSession], registry: NamedDependency[GraphRegistry]
) -> CronService:
    return CronService(db_session, registry)


def provide_store_service(database: NamedDependency[Database]) -> StoreService:
    return StoreService(database.store)


def provide_thread_service(
    state: State,
    db_session: NamedDependency[AsyncSession],
    registry: NamedDependency[GraphRegistry],
    database: NamedDependency[Database],
) -> ThreadService:
    return ThreadService(db_session, registry, database, default_ttl=default_thread_ttl(state.config))


def provide_thread_state_service(thread_service: NamedDependency[ThreadService]) -> ThreadStateService:
    return ThreadStateService(thread_service)


def provide_run_service(
    state: State,
    db_session: NamedDependency[AsyncSession],
    registry: NamedDependency[GraphRegistry],
    database: NamedDependency[Database],
) -> RunService:
    return RunService(db_session, registry, database, state.run_broker, state.run_workers)
