"""The worker pool of one process: up to its capacity of runs at once (`aegra.runs.capacity`), claimed in batches
as soon as PostgreSQL NOTIFYs that some are ready, leases heartbeated while they execute; it hears the other
processes' notices (cancels, endings, stored events, followers) and reaps runs whose process died (and events of
long-ended runs)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, Final

import structlog

from aegra.db.availability import DATABASE_ERRORS
from aegra.db.database import Database
from aegra.db.models import Run as RunRow
from aegra.heap import IdleTrim
from aegra.runs import elsewhere, endings, queue
from aegra.runs.broker import RunBroker
from aegra.runs.capacity import RunAdmission
from aegra.runs.executor import RunExecutor, RunHandle
from aegra.runs.fence import LeaseFence
from aegra.runs.queued import NoticeWindow, QueuedRuns, StateUpdated
from aegra.runs.reaper import SweepClock, reap_and_sweep
from aegra.schemas.status import RunStatus
from aegra.settings import Settings

logger = structlog.get_logger(__name__)

POLL_SECONDS: Final = 5.0
LISTEN_RETRY_SECONDS: Final = 1.0  # the first retry of a lost LISTEN connection; doubled per failure up to the max
LISTEN_RETRY_MAX_SECONDS: Final = 5.0
EARLY_CANCEL_TTL: Final = 60.0
# Runs claimed per statement at most: a burst is claimed in a few statements, and the other processes woken by the
# same NOTIFY claim their share meanwhile.
CLAIM_BATCH: Final = 200
# Another process's notices of queued runs wake the claim loop at most once per this window: the first at once, the
# rest of a burst in one claim at the window's end (every process hears every notice; one claim per notice each
# would cost every process a statement per run).
NOTICE_WINDOW_SECONDS: Final = 0.025


class WorkerPool:
    """Claims and executes runs; created and stopped by the app lifespan."""

    def __init__(
        self,
        *,
        database: Database,
        executor: RunExecutor,
        broker: RunBroker,
        concurrency: int,
        settings: Settings,
        claims: bool = True,
    ) -> None:
        self.database = database
        self.executor = executor
        self.broker = broker
        self.concurrency = concurrency
        self.settings = settings
        self.claims = claims  # False: an API-only process, which follows and cancels runs but executes none
        self.worker_id = executor.worker_id
        self._wake = asyncio.Event()
        self.admission = RunAdmission(
            database, queue_max=settings.run_queue_max, is_full=lambda: not claims or self.active_count >= concurrency
        )
        self.queued_runs = QueuedRuns(self.worker_id)  # thread streams watch for new runs (and state updates)
        self._delayed_runs = True  # runs queued with `after_seconds` may exist (checked at startup)
        self._handles: dict[uuid.UUID, RunHandle] = {}
        # Stop a run a heartbeat before its lease ends, but never before the next heartbeat is due.
        lease, heartbeat = settings.run_lease_seconds, settings.run_heartbeat_seconds
        self._fence = LeaseFence(lease_seconds=lease, margin_seconds=min(heartbeat, (lease - heartbeat) / 2))
        self._early_cancels: dict[uuid.UUID, tuple[str, float]] = {}
        self._sweeps = SweepClock(settings)
        self._throwaway: dict[uuid.UUID, uuid.UUID] = {}  # run id -> its thread, to delete once it ended elsewhere
        self._claim_task: asyncio.Task[None] | None = None
        self._notices = NoticeWindow(self._wake.set, window_seconds=NOTICE_WINDOW_SECONDS)
        self._loops: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self.heap = IdleTrim()  # gives freed memory back once the runs here have all ended

    @property
    def active_count(self) -> int:  # runs executing here
        return len(self._handles)

    async def start(self) -> None:
        if self.broker.relay is not None:
            self.broker.relay.start(on_notice=self._on_notify, on_event=self.broker.relayed_event)
        self._loops = [
            asyncio.create_task(self._listen_loop(), name="aegra-listen"),
            asyncio.create_task(self._heartbeat_loop(), name="aegra-heartbeat"),
        ]
        if not self.claims:
            logger.info("API only: this process executes no runs", worker_id=self.worker_id)
            return
        self._claim_task = asyncio.create_task(self._claim_loop(), name="aegra-claim")
        self._loops.append(asyncio.create_task(self._reaper_loop(), name="aegra-reaper"))
        self._loops.append(asyncio.create_task(self._fence.guard(self._stop_lost), name="aegra-fence"))
        logger.info("run workers started", worker_id=self.worker_id, concurrency=self.concurrency)

    async def stop(self) -> None:
        """Stop claiming; give runs still executing the shutdown grace to finish, then hand them back: they go
        back in the queue, and whichever process claims them next resumes them from their last checkpoint."""
        if self._claim_task is not None:
            self._claim_task.cancel()
            await asyncio.gather(self._claim_task, return_exceptions=True)
        self._notices.cancel()
        running = [handle.task for handle in self._handles.values() if handle.task is not None]
        if running and self.settings.run_shutdown_grace_seconds > 0:
            logger.info(
                "waiting for runs to finish", count=len(running), grace=self.settings.run_shutdown_grace_seconds
            )
            await asyncio.wait(running, timeout=self.settings.run_shutdown_grace_seconds)
        handles = list(self._handles.values())
        for handle in handles:
            handle.cancel("handback")
        await asyncio.gather(*(h.task for h in handles if h.task is not None), return_exceptions=True)
        handed_back = [handle.run_id for handle in handles if handle.handing_back]
        if handed_back:
            try:
                async with self.database.sessionmaker() as session:
                    await endings.requeue(session, handed_back, origin=self.worker_id)
            except DATABASE_ERRORS as exc:
                logger.error("could not hand back runs at shutdown; their leases will expire", error=str(exc))
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await self.heap.stop()
        await asyncio.gather(*self._background, return_exceptions=True)

    def wake(self, *, delayed: bool = False) -> None:
        """A run may be claimable now (queued here, or a run ended and unblocked its thread's next one);
        `delayed`: one was queued with `after_seconds`, so the idle loop must watch for its start time."""
        self._delayed_runs = self._delayed_runs or delayed
        self._wake.set()
        self.queued_runs.announce()

    def cancel_local(self, run_id: uuid.UUID, action: str) -> None:
        """Stop a run if this process executes it (or is about to: the request is kept for a minute)."""
        handle = self._handles.get(run_id)
        if handle is not None:
            handle.cancel(action)
            return
        now = time.monotonic()
        self._early_cancels = {k: v for k, v in self._early_cancels.items() if now - v[1] < EARLY_CANCEL_TTL}
        self._early_cancels[run_id] = (action, now)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run `coro` detached from the request that asked for it (e.g. cancel on client disconnect)."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def cancel(self, run_ids: list[uuid.UUID], action: str) -> list[queue.CancelledRun]:
        """Cancel runs in their own transaction (used when no request session is at hand)."""
        async with self.database.sessionmaker() as session:
            cancelled = await queue.cancel_runs(session, origin=self.worker_id, action=action, run_ids=run_ids)
        self.signal_cancelled(cancelled, action)
        return cancelled

    def signal_cancelled(self, cancelled: list[queue.CancelledRun], action: str) -> None:
        """After the cancel committed: stop the running ones here, end the streams of the pending ones."""
        for item in cancelled:
            if item.status == RunStatus.RUNNING:
                self.cancel_local(item.run_id, action)
                self._relay(queue.CHANNEL_CANCEL, f"{item.run_id}:{action}")
            else:
                self.spawn(self.settle_followers(item.run_id))
        self.wake()

    def follow(self, run_id: uuid.UUID) -> None:
        """A client here follows the events of a run this process does not execute: ask whoever does (or will)
        to keep them in `run_events` and announce them."""
        self.spawn(self._notify(queue.CHANNEL_FOLLOW, str(run_id)))
        self._relay(queue.CHANNEL_FOLLOW, str(run_id))

    def _relay(self, channel: str, body: str) -> None:
        """Also send a notice through Redis, when there is one (it often arrives first; twice changes nothing)."""
        if self.broker.relay is not None:
            self.broker.relay.notice(channel, f"{self.worker_id}|{body}")

    async def settle_followers(self, run_id: uuid.UUID) -> None:
        """A run ended outside this process (or before it started): see `elsewhere.settle_followers`."""
        await elsewhere.settle_followers(self.database, self.broker, run_id)

    async def _notify(self, channel: str, *bodies: str) -> None:
        """Send notices, all in one transaction (one pooled connection however many runs they name)."""
        try:
            async with self.database.sessionmaker() as session:
                for body in bodies:
                    await queue.notify(session, channel, origin=self.worker_id, body=body)
                await session.commit()
        except DATABASE_ERRORS as exc:
            logger.warning("could not send a notice", channel=channel, error=str(exc))

    async def _claim_loop(self) -> None:
        """Claim as many runs as there is room for, in one statement per wake-up; idle once the queue has no more."""
        while True:
            self._wake.clear()
            room = min(self.concurrency - len(self._handles), CLAIM_BATCH)
            if room <= 0:
                await self._wake.wait()  # a run ending here wakes us
                continue
            sent = time.monotonic()
            self._notices.claimed()
            try:
                async with self.database.control_sessionmaker() as session:
                    rows = await queue.claim_runs(
                        session, self.worker_id, limit=room, lease_seconds=self.settings.run_lease_seconds
                    )
            except DATABASE_ERRORS as exc:
                logger.warning("claiming runs failed; retrying when woken or after the poll", error=str(exc))
                await self._idle(POLL_SECONDS)  # the LISTEN connection wakes us once the database is back
                continue
            for row in rows:
                self._fence.claimed(row.run_id, sent=sent)
                self._launch(row)
            if len(rows) < room:
                await self._idle(await self._idle_seconds())

    async def _idle_seconds(self) -> float:
        """Sleep until woken, the next delayed run is due, or the safety poll."""
        if not self._delayed_runs:
            return POLL_SECONDS
        try:
            async with self.database.sessionmaker() as session:
                due = await queue.next_available_at(session)
        except DATABASE_ERRORS:
            return POLL_SECONDS
        if due is None:
            self._delayed_runs = False
            return POLL_SECONDS
        return max(0.0, min(POLL_SECONDS, (due - datetime.now(UTC)).total_seconds()))

    async def _idle(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _launch(self, row: RunRow) -> None:
        handle = RunHandle(row.run_id)
        early = self._early_cancels.pop(row.run_id, None)
        if early is not None:
            handle.cancel(early[0])
        handle.task = asyncio.create_task(self._execute(row, handle), name=f"run-{row.run_id}")
        self._handles[row.run_id] = handle
        self.heap.busy()

    async def _execute(self, row: RunRow, handle: RunHandle) -> None:
        try:
            await self.executor.execute(row, handle)
        finally:
            was_full = self.active_count >= self.concurrency
            self._handles.pop(row.run_id, None)
            self._fence.released(row.run_id)
            if was_full:  # room again; else the last claim found no more (a run its thread held is announced)
                self._wake.set()
            if not self._handles:
                self.heap.idle()
            self.queued_runs.announce()

    async def _heartbeat_loop(self) -> None:
        """Extend the leases of the runs executing here; stop those this process lost (it missed heartbeats long
        enough for another process to reap them); repeat follow notices for runs followed here."""
        while True:
            await asyncio.sleep(self.settings.run_heartbeat_seconds)
            if followed := [str(run_id) for run_id in self.broker.followed_remotely()]:
                self.spawn(self._notify(queue.CHANNEL_FOLLOW, *followed))  # one transaction, not one per run
                for body in followed:
                    self._relay(queue.CHANNEL_FOLLOW, body)
            if not self._handles:
                continue
            executing = set(self._handles)
            sent = time.monotonic()
            try:
                async with self.database.control_sessionmaker() as session:
                    held = await queue.extend_leases(
                        session, self.worker_id, executing, lease_seconds=self.settings.run_lease_seconds
                    )
            except DATABASE_ERRORS as exc:
                logger.warning("lease heartbeat failed", error=str(exc))
                continue
            self._fence.renewed(held, sent=sent)
            for run_id in executing - held:
                handle = self._handles.get(run_id)
                if handle is not None and handle.phase == "streaming":
                    logger.warning("lost the lease of a run; stopping it here", run_id=str(run_id))
                    handle.cancel("lost")

    def _stop_lost(self, run_id: uuid.UUID) -> bool:
        """The fence says the run's lease may run out: hand it back (True if that stopped it)."""
        handle = self._handles.get(run_id)
        if handle is None or handle.phase != "streaming" or handle.cancel_action is not None:
            return False
        handle.cancel("lost")
        return True

    async def _reaper_loop(self) -> None:
        """Re-queue runs whose process died (or end them `error`), and sweep events of long-ended runs."""
        while True:
            try:
                await self.reap()
            except DATABASE_ERRORS as exc:
                logger.warning("reaping runs failed", error=str(exc))
            await asyncio.sleep(self.settings.run_reaper_seconds)

    async def reap(self) -> None:
        """One pass of the reaper."""
        reaped = await reap_and_sweep(
            self.database, self.settings, origin=self.worker_id, outbox=self.executor.outbox, sweeps=self._sweeps
        )
        for row in reaped:
            if row.status == RunStatus.ERROR:
                logger.error("run abandoned by its process too often; ended error", run_id=str(row.run_id))
                self._run_ended_elsewhere(row.run_id)
            else:
                logger.warning("run abandoned by its process; queued again", run_id=str(row.run_id))
        if reaped:
            self.wake()

    async def _listen_loop(self) -> None:
        """Hear the other processes' notices. A lost connection (database restart, network) is retried with a
        growing delay; once it is back, catch up on whatever the missed notices would have said."""
        delay = LISTEN_RETRY_SECONDS
        lost = False
        while True:
            try:
                async with await self.database.listen_connection() as conn:
                    for channel in queue.CHANNELS:
                        await conn.execute(f"LISTEN {channel}")
                    if lost:
                        logger.info("LISTEN connection restored")
                    delay, lost = LISTEN_RETRY_SECONDS, False
                    self.wake()  # anything queued while we were not listening
                    for run_id in self.broker.followed_remotely():
                        self.broker.fetch_stored(run_id)  # events stored while we were not listening
                    async for note in conn.notifies():
                        self._on_notify(note.channel, note.payload)
            except DATABASE_ERRORS as exc:
                logger.warning("LISTEN connection lost; retrying", error=str(exc), retry_in=round(delay, 1))
                lost = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, LISTEN_RETRY_MAX_SECONDS)

    def _on_notify(self, channel: str, payload: str) -> None:
        origin, body = queue.parse_notice(payload)
        if origin == self.worker_id:
            return  # this process acted on it when it sent it
        if channel == queue.CHANNEL_QUEUED:  # a run was queued there, or became claimable
            self._delayed_runs = self._delayed_runs or body == "delayed"
            self.queued_runs.announce()
            self._notices.notice()  # claim now, or once for a whole burst of notices
            return
        if channel == queue.CHANNEL_STATE:
            update = StateUpdated.decode(body)
            if update is not None:
                self.queued_runs.state_updated(update)
            return
        raw_id, _, detail = body.partition(":")
        try:
            run_id = uuid.UUID(raw_id)
        except ValueError:
            return
        if channel == queue.CHANNEL_CANCEL:
            self.cancel_local(run_id, detail)
        elif channel == queue.CHANNEL_DONE:
            self._run_ended_elsewhere(run_id)
        elif channel == queue.CHANNEL_EVENTS:
            with contextlib.suppress(ValueError):
                self.broker.stored_noticed(run_id, int(detail))
        elif channel == queue.CHANNEL_FOLLOW:
            self.broker.follow_noticed(run_id)

    def delete_when_ended(self, run_id: uuid.UUID, thread_id: uuid.UUID) -> None:
        """A stateless run followed here executes elsewhere: its throwaway thread is deleted here, once its followers
        have its outcome (the worker would delete the run with it). Kept if this process dies first."""
        self._throwaway[run_id] = thread_id

    def _run_ended_elsewhere(self, run_id: uuid.UUID) -> None:
        thread_id = self._throwaway.pop(run_id, None)
        if thread_id is not None:
            self.spawn(elsewhere.settle_and_delete(self.database, self.broker, run_id, thread_id))
        elif self.broker.is_followed_elsewhere(run_id):
            self.spawn(self.settle_followers(run_id))
