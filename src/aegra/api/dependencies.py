"""Dependency providers: the request's database session and the services built on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from aegra.db.database import Database
from aegra.graphs.registry import GraphRegistry
from aegra.services.assistants import AssistantService


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
