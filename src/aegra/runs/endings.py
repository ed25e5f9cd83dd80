"""A run's ending in the queue: its outcome recorded on it and its thread (`finish_run`), a rolled-back run's
disappearance (`roll_back_run`), and the runs a stopping process hands back (`requeue`). Each one announces it: the
followers of the run hear that it ended, and the workers that a run on its thread may be claimable now.

A worker does not claim again after every run of its own that ends (only when it was full): the `queued` notice of
an ending carries no origin, so the process that sent it hears it too and claims the thread's next run."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.types import StateSnapshot
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from aegra.db.models import utcnow
from aegra.db.queue import QueueStorage
from aegra.runs import thread_sync
from aegra.runs.queue import CHANNEL_DONE, CHANNEL_QUEUED, notice
from aegra.schemas.status import RunStatus

# The origin of the `queued` notices of endings: nobody's, so that every process acts on them, the sender included.
EVERYONE = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunEnding:
    """How a run ended (`output` and `error` on the run), and what its thread keeps of it (`thread`: see
    `thread_sync.ending_fields`); a `throwaway` thread (a stateless run's) is deleted instead."""

    run_id: uuid.UUID
    thread_id: uuid.UUID
    status: str
    output: dict[str, Any] | None
    error: dict[str, Any] | None
    thread: Mapping[str, Any]
    throwaway: bool = False


def run_ending(
    run_id: uuid.UUID,
    thread_id: uuid.UUID,
    status: str,
    snapshot: StateSnapshot | None,
    *,
    output: dict[str, Any] | None,
    error: dict[str, Any] | None,
    cancel_action: str | None,
    throwaway: bool,
) -> RunEnding:
    """How a run ended with `status` (not rolled back): a cancelled one (`interrupted`, by `cancel_action`) shows
    that on its thread instead of its error."""
    interrupted = status == RunStatus.INTERRUPTED
    thread_error = error
    if interrupted:
        thread_error = {"error": "UserInterrupt", "message": f"Run {run_id} was cancelled (action={cancel_action})"}
    return RunEnding(
        run_id=run_id,
        thread_id=thread_id,
        status=status,
        output=output,
        error=error,
        thread=thread_sync.ending_fields(snapshot, error=thread_error, interrupted=interrupted),
        throwaway=throwaway,
    )


async def finish_run(session: AsyncSession | AsyncConnection, ending: RunEnding, *, origin: str) -> bool:
    """Record how the run ended, on it and its thread, and wake whoever waits for it or for its thread: one
    statement (commit is the caller's). False, and nothing recorded, when this worker (`origin`) no longer holds
    the run."""
    params = {
        **ending.thread,
        "run_id": ending.run_id,
        "thread_id": ending.thread_id,
        "worker_id": origin,
        "status": ending.status,
        "output": ending.output,
        "error": ending.error,
        "throwaway": ending.throwaway,
        "now": utcnow(),
        "done_channel": CHANNEL_DONE,
        "done": notice(origin, str(ending.run_id)),
        "queued_channel": CHANNEL_QUEUED,
        "queued": notice(EVERYONE),
    }
    return await QueueStorage(session).finish_and_sync(params)


async def roll_back_run(
    session: AsyncSession,
    run_id: uuid.UUID,
    thread_id: uuid.UUID,
    *,
    origin: str,
    snapshot: StateSnapshot | None,
    throwaway: bool,
) -> bool:
    """A rolled-back run disappears (its throwaway thread with it), its thread keeps the state it is left with
    (commit is the caller's); False when this worker no longer holds the run."""
    storage = QueueStorage(session)
    # Thread before run, the order insert_run locks them in: a run queued on the thread as this one ends would
    # otherwise deadlock with it.
    await thread_sync.lock_thread(session, thread_id)
    if not await storage.delete_held(run_id, origin):
        return False
    await _announce_end(storage, run_id, origin=origin)
    if throwaway:
        await thread_sync.delete_thread(session, thread_id)
    else:
        await thread_sync.record_run_end(session, thread_id, snapshot, error=None)
    return True


async def _announce_end(storage: QueueStorage, run_id: uuid.UUID, *, origin: str) -> None:
    """Wake the followers of a run that ended, and the workers (its thread's next run may be claimable now)."""
    await storage.notify(CHANNEL_DONE, notice(origin, str(run_id)))
    await storage.notify(CHANNEL_QUEUED, notice(EVERYONE))


async def requeue(session: AsyncSession, run_ids: Sequence[uuid.UUID], *, origin: str) -> None:
    """Hand back runs this process stops executing (shutdown): pending again, for any process to resume from
    their last checkpoint; commits."""
    if not run_ids:
        return
    storage = QueueStorage(session)
    await storage.requeue(run_ids, origin)
    await storage.notify(CHANNEL_QUEUED, notice(origin))
    await session.commit()
