"""Turn a cron firing into a run: the cron's payload becomes a run-create body (stateless or on its thread)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from aegra.auth.authorizer import NO_AUTH, Authorizer
from aegra.auth.handlers import AuthHandlers
from aegra.auth.user import normalize_user
from aegra.crons.service import CRON_USER_KEY
from aegra.db.database import Database
from aegra.db.models import Cron as CronRow
from aegra.errors import UnprocessableError
from aegra.graphs.registry import GraphRegistry
from aegra.runs.broker import RunBroker
from aegra.runs.service import RunService
from aegra.runs.worker import WorkerPool
from aegra.schemas.runs import RunCreateStateful, RunCreateStateless

# Cron-only fields of the payload; the rest is a run-create body.
_CRON_ONLY = ("schedule", CRON_USER_KEY)


def run_body(cron: CronRow) -> RunCreateStateful | RunCreateStateless:
    """The run-create body of one firing; runs carry `cron_id` in their metadata."""
    body: dict[str, Any] = {key: value for key, value in cron.payload.items() if key not in _CRON_ONLY}
    body["assistant_id"] = str(cron.assistant_id)
    body["metadata"] = {**(body.get("metadata") or {}), "cron_id": str(cron.cron_id)}
    try:
        if cron.thread_id is not None:
            return msgspec.convert(body, type=RunCreateStateful)
        body["on_completion"] = "keep" if cron.on_run_completed == "keep" else "delete"
        return msgspec.convert(body, type=RunCreateStateless)
    except msgspec.ValidationError as exc:
        raise UnprocessableError(f"Cron {cron.cron_id} has an invalid run payload: {exc}") from exc


@dataclass
class CronRunLauncher:
    """Creates cron runs through the same service the API uses (multitask rules included)."""

    registry: GraphRegistry
    database: Database
    broker: RunBroker
    pool: WorkerPool
    auth: AuthHandlers | None = field(default=None, kw_only=True)

    def authorizer(self, cron: CronRow) -> Authorizer:
        """Cron runs act for the cron's creator, with the permissions they had when they created it."""
        if self.auth is None or not cron.user_id:
            return NO_AUTH
        stored = cron.payload.get(CRON_USER_KEY)
        user = normalize_user(stored) if isinstance(stored, dict) else normalize_user(cron.user_id)
        return Authorizer(self.auth, user)

    async def __call__(self, session: AsyncSession, cron: CronRow, now: datetime) -> None:
        service = RunService(session, self.registry, self.database, self.broker, self.pool, auth=self.authorizer(cron))
        thread_id = str(cron.thread_id) if cron.thread_id is not None else None
        await service.create(thread_id, run_body(cron))
