"""The run lifecycle's statements that `QueueStorage` executes: a run's insert (with its thread's busy mark, or its new
thread, and its NOTIFY) and its ending (with its thread's cached state and the NOTIFYs), one statement each, built
once."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import JSONB

from aegra.db.models import Run

RUN_COLUMNS: Final = """run_id, thread_id, assistant_id, status, metadata, kwargs, multitask_strategy, temporary,
    reserved_for, available_at, created_at, updated_at"""
RUN_VALUES: Final = """:assistant_id, 'pending', CAST(:metadata AS jsonb), CAST(:kwargs AS jsonb), :multitask_strategy,
    :temporary, :reserved_for, :available_at, :created_at, :created_at"""
# The assistant a run was built from is still as it was read (a process may build runs from its cached copy).
ASSISTANT_CURRENT: Final = """EXISTS (
    SELECT 1 FROM assistants
    WHERE assistant_id = :assistant_id AND version = :assistant_version AND updated_at = :assistant_updated_at
)"""

# Queue a run and announce it in one statement, unless its assistant changed since it was read (no row then).
# `mark_busy`: the thread existed, so it becomes `busy` and takes the run's `stamp` (a thread this transaction
# created was inserted `busy` and stamped).
INSERT_RUN: Final = f"""
WITH queued AS (
    INSERT INTO runs ({RUN_COLUMNS})
    SELECT :run_id, :thread_id, {RUN_VALUES}
    WHERE {ASSISTANT_CURRENT}
    RETURNING run_id
), busy AS (
    UPDATE threads SET status = 'busy', metadata = threads.metadata || CAST(:stamp AS jsonb), updated_at = :created_at
    WHERE thread_id = :thread_id AND :mark_busy AND EXISTS (SELECT 1 FROM queued)
)
SELECT pg_notify(:channel, :payload) FROM queued
"""

# A stateless run: its new thread (nobody else can see it yet), the run and its announcement in one statement;
# nothing at all when the run's assistant changed since it was read.
INSERT_RUN_ON_NEW_THREAD: Final = f"""
WITH thread AS (
    INSERT INTO threads (thread_id, metadata, status, created_at, updated_at, state_updated_at)
    SELECT :thread_id, CAST(:thread_metadata AS jsonb), 'busy', :created_at, :created_at, :created_at
    WHERE {ASSISTANT_CURRENT}
    RETURNING thread_id
), queued AS (
    INSERT INTO runs ({RUN_COLUMNS})
    SELECT :run_id, thread.thread_id, {RUN_VALUES}
    FROM thread
    RETURNING run_id
)
SELECT pg_notify(:channel, :payload) FROM queued
"""

# A run queued on a thread without a look at the thread's other runs (`enqueue`, and no auth filters on the thread):
# the thread's lock (taken before the run row is inserted, the order every other writer locks them in), its busy
# mark, or (`create_thread`, when it is missing) its creation, the run and its announcement in one statement, atomic
# on its own. `found`: the thread was there or is created (not when a concurrent create won: the caller then takes
# the general path); `assistant_current`: the assistant is still as read; `queued`: the run was inserted and announced.
INSERT_RUN_ON_THREAD: Final = f"""
WITH thread AS (
    SELECT thread_id FROM threads WHERE thread_id = :thread_id FOR UPDATE
), created AS (
    INSERT INTO threads (thread_id, metadata, status, created_at, updated_at, state_updated_at)
    SELECT :thread_id, CAST(:thread_metadata AS jsonb), 'busy', :created_at, :created_at, :created_at
    WHERE :create_thread AND NOT EXISTS (SELECT 1 FROM thread) AND {ASSISTANT_CURRENT}
    ON CONFLICT (thread_id) DO NOTHING
    RETURNING thread_id
), target AS (
    SELECT thread_id FROM thread UNION ALL SELECT thread_id FROM created
), queued AS (
    INSERT INTO runs ({RUN_COLUMNS})
    SELECT :run_id, target.thread_id, {RUN_VALUES}
    FROM target
    WHERE {ASSISTANT_CURRENT}
    RETURNING run_id
), busy AS (
    UPDATE threads SET status = 'busy', metadata = threads.metadata || CAST(:stamp AS jsonb), updated_at = :created_at
    WHERE thread_id = :thread_id AND EXISTS (SELECT 1 FROM thread) AND EXISTS (SELECT 1 FROM queued)
)
SELECT EXISTS (SELECT 1 FROM target) AS found, {ASSISTANT_CURRENT} AS assistant_current,
       EXISTS (SELECT 1 FROM queued) AS queued, (SELECT pg_notify(:channel, :payload) FROM queued) AS notified
"""

# How a run ended, its thread's cached state (or, `throwaway`, its deletion) and the notices to its followers
# (`done`) and, only when the thread has a run waiting, to every worker (`queued`: that run may be claimable now;
# the caller sends it with no origin, so the worker that ran this one hears it too), in one statement; nothing
# happens when this worker no longer holds the run, or its thread is gone. The thread is locked before the run row,
# the order run creation locks them in (the uncorrelated EXISTS is evaluated before the run row is touched). The
# thread stays `busy` while other runs are in flight on it (this run is still `running` in the statement's
# snapshot, hence `run_id <>`): a run queued while this statement waited for the thread's lock is not in that
# snapshot, so unless the thread is deleted, the caller locks the thread in a statement of its own first.
FINISH_RUN: Final = """
WITH thread AS (
    SELECT thread_id FROM threads WHERE thread_id = :thread_id FOR UPDATE
), ended AS (
    UPDATE runs SET status = :status, output = CAST(:output AS jsonb), error = CAST(:error AS jsonb),
                    worker_id = NULL, lease_expires_at = NULL, updated_at = :now
    WHERE run_id = :run_id AND worker_id = :worker_id AND status = 'running' AND EXISTS (SELECT 1 FROM thread)
    RETURNING run_id
), synced AS (
    UPDATE threads SET
        status = CASE WHEN EXISTS (
            SELECT 1 FROM runs AS o
            WHERE o.thread_id = :thread_id AND o.run_id <> :run_id AND o.status IN ('pending', 'running')
        ) THEN 'busy' ELSE :thread_status END,
        "values" = CASE WHEN :has_snapshot THEN CAST(:values AS jsonb) ELSE threads."values" END,
        interrupts = CASE WHEN :has_snapshot THEN CAST(:interrupts AS jsonb) ELSE threads.interrupts END,
        state_updated_at = CASE WHEN :has_snapshot THEN :now ELSE threads.state_updated_at END,
        error = CAST(:thread_error AS jsonb), updated_at = :now
    WHERE thread_id = :thread_id AND NOT :throwaway AND EXISTS (SELECT 1 FROM ended)
), gone AS (
    DELETE FROM threads WHERE thread_id = :thread_id AND :throwaway AND EXISTS (SELECT 1 FROM ended)
)
SELECT pg_notify(:done_channel, :done),
       CASE WHEN EXISTS (
           SELECT 1 FROM runs AS o WHERE o.thread_id = :thread_id AND o.run_id <> :run_id AND o.status = 'pending'
       ) THEN pg_notify(:queued_channel, :queued) END
FROM ended
"""


def _json_params(sql: str, *names: str) -> TextClause:
    """A statement built once, its JSON parameters encoded like the ORM's (Python None as JSON null)."""
    return text(sql).bindparams(*(bindparam(name, type_=JSONB) for name in names))


RUN_JSON: Final = ("metadata", "kwargs")
INSERT_RUN_STMT: Final = _json_params(INSERT_RUN, *RUN_JSON, "stamp")
INSERT_RUN_ON_NEW_THREAD_STMT: Final = _json_params(INSERT_RUN_ON_NEW_THREAD, *RUN_JSON, "thread_metadata")
INSERT_RUN_ON_THREAD_STMT: Final = _json_params(INSERT_RUN_ON_THREAD, *RUN_JSON, "thread_metadata", "stamp")
FINISH_RUN_STMT: Final = _json_params(FINISH_RUN, "output", "error", "values", "interrupts", "thread_error")


def run_values(run: Run, assistant: tuple[int, datetime]) -> dict[str, Any]:
    """The parameters INSERT_RUN and INSERT_RUN_ON_NEW_THREAD take from the new run's row, and the `version` and
    `updated_at` of the assistant it was built from."""
    return {
        "assistant_version": assistant[0],
        "assistant_updated_at": assistant[1],
        "run_id": run.run_id,
        "thread_id": run.thread_id,
        "assistant_id": run.assistant_id,
        "metadata": run.metadata_,
        "kwargs": run.kwargs,
        "multitask_strategy": run.multitask_strategy,
        "temporary": run.temporary,
        "reserved_for": run.reserved_for,
        "available_at": run.available_at,
        "created_at": run.created_at,
    }
