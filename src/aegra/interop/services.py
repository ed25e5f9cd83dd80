"""The REST API's services for a request that reaches an interop route (MCP, A2A) as raw ASGI: the same
database session, graphs, run machinery and authorizer a controller would get, for the same caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Litestar
from litestar.types import Scope

from aegra.auth.authorizer import NO_AUTH, Authorizer
from aegra.auth.middleware import USER_SCOPE_KEY
from aegra.db.models import Run as RunRow
from aegra.runs.broker import RunOutcome
from aegra.runs.service import RunService
from aegra.schemas.runs import RunCreate
from aegra.services.assistants import AssistantService
from aegra.services.thread_ttl import default_thread_ttl
from aegra.services.threads import ThreadService


def scope_authorizer(scope: Scope | dict[str, Any]) -> Authorizer:
    """The caller of this request, as `AuthenticationMiddleware` left it in the scope, with the app's handlers."""
    handlers = Litestar.from_scope(scope).state.get("auth_handlers")  # type: ignore[arg-type]  # a raw ASGI scope dict
    if handlers is None:
        return NO_AUTH
    return Authorizer(handlers, scope.get("state", {}).get(USER_SCOPE_KEY))


@dataclass(frozen=True, slots=True)
class InteropServices:
    """Assistants, threads and runs for one request, on one database session."""

    assistants: AssistantService
    threads: ThreadService
    runs: RunService


@asynccontextmanager
async def request_services(scope: Scope | dict[str, Any]) -> AsyncIterator[InteropServices]:
    """Services bound to the request's caller; the session closes when the block ends."""
    state = Litestar.from_scope(scope).state  # type: ignore[arg-type]  # a raw ASGI scope dict
    auth = scope_authorizer(scope)
    async with state.database.sessionmaker() as session:
        yield InteropServices(
            assistants=AssistantService(session, state.registry, auth=auth),
            threads=ThreadService(
                session, state.registry, state.database, default_ttl=default_thread_ttl(state.config), auth=auth
            ),
            runs=RunService(session, state.registry, state.database, state.run_broker, state.run_workers, auth=auth),
        )


async def run_to_outcome(runs: RunService, thread_id: str | None, payload: RunCreate) -> tuple[RunRow, RunOutcome]:
    """Queue a run through the run machinery (stateless when `thread_id` is None) and wait for how it ends."""
    followed = await runs.create_and_follow(thread_id, payload, events=False)
    try:
        await runs.release_connection()
        return followed.row, await followed.subscription.wait_outcome(None)
    finally:
        runs.broker.unsubscribe(followed.subscription)
