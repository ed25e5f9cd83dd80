"""Intake before execution. One event loop both accepts requests and executes runs, so a burst of new streams
would otherwise wait for its first byte behind the runs already started. Two rules order run starts, and only
their order (what a run does, and when it is queued, are unchanged):

- while requests that create runs back up (more in flight, received and not yet answered, than the metadata pool
  has connections), claimed runs wait to start, each for at most `RUN_START_YIELD_SECONDS`;
- runs start one per event-loop pass, first claimed first: a backlog of runs released at once never lands in a
  single pass (a graph that computes without awaiting holds the loop for its whole step, and a pass holding
  hundreds of such steps would starve the lease heartbeats and every request)."""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass

from litestar.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(slots=True)
class _Waiter:
    deadline: float  # loop time
    turn: asyncio.Future[None]


class RunIntake:
    """Counts run-creating requests in flight and hands out run starts (`give_way`); one per process."""

    def __init__(self, *, max_wait_seconds: float, backlog: int) -> None:
        self.max_wait_seconds = max_wait_seconds
        self.backlog = backlog  # requests in flight from which runs wait
        self._in_flight = 0
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._turn_taken = False  # a run started in this loop pass
        self._timer: asyncio.TimerHandle | None = None

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def arrived(self) -> None:
        self._in_flight += 1

    def answered(self) -> None:
        self._in_flight -= 1
        if self._in_flight < self.backlog:
            self._release()

    async def give_way(self) -> None:
        """Return when this run may start: in its turn, and not while requests back up (within the bound)."""
        if self.max_wait_seconds <= 0:
            return
        loop = asyncio.get_running_loop()
        if not self._turn_taken and not self._waiters and not self._held():
            self._take_turn(loop)
            return
        waiter = _Waiter(loop.time() + self.max_wait_seconds, loop.create_future())
        self._waiters.append(waiter)
        self._release()
        try:
            await waiter.turn
        except asyncio.CancelledError:
            if waiter in self._waiters:  # cancelled before its turn (else the turn is passed on already)
                self._waiters.remove(waiter)
            raise

    def _held(self) -> bool:
        return self._in_flight >= self.backlog

    def _take_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        self._turn_taken = True
        loop.call_soon(self._next_turn)  # runs in the next loop pass, after this start's step

    def _next_turn(self) -> None:
        self._turn_taken = False
        self._release()

    def _release(self) -> None:
        """Start the first waiting run if it may start now; else wake up again when its wait is up."""
        while self._waiters and self._waiters[0].turn.done():
            self._waiters.popleft()  # its task was cancelled
        if self._turn_taken or not self._waiters:
            return
        loop = asyncio.get_running_loop()
        head = self._waiters[0]
        if self._held() and head.deadline > loop.time():
            if self._timer is None or self._timer.when() != head.deadline:
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = loop.call_at(head.deadline, self._timer_fired)
            return
        self._waiters.popleft()
        head.turn.set_result(None)
        self._take_turn(loop)

    def _timer_fired(self) -> None:
        self._timer = None
        self._release()


class RunIntakeMiddleware:
    """Pure ASGI middleware on the run-creating routes: a request counts from the moment it is routed until its
    response starts (a stream's first event: its run is committed by then) or it fails."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        intake: RunIntake | None = scope["app"].state.get("run_intake")
        if intake is None:
            await self.app(scope, receive, send)
            return
        intake.arrived()
        pending = True

        async def send_answered(message: Message) -> None:
            nonlocal pending
            if pending and message["type"] == "http.response.start":
                pending = False
                intake.answered()
            await send(message)

        try:
            await self.app(scope, receive, send_answered)
        finally:
            if pending:
                intake.answered()
