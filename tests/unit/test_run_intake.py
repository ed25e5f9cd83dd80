"""Intake before execution (`aegra.runs.intake`): run starts wait while run-creating requests back up (within a
bound), and are handed out one per event-loop pass, first come first served."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from litestar.datastructures import State
from litestar.types import Message, Receive, Scope, Send

from aegra.errors import ConfigError
from aegra.runs.intake import RunIntake, RunIntakeMiddleware
from aegra.settings import Settings


def _start(intake: RunIntake, started: list[int], number: int) -> asyncio.Task[None]:
    async def run() -> None:
        await intake.give_way()
        started.append(number)

    return asyncio.create_task(run())


async def _passes(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def test_a_run_starts_at_once_when_no_request_backs_up() -> None:
    intake = RunIntake(max_wait_seconds=5.0, backlog=2)
    intake.arrived()  # one request in flight: below the backlog

    await asyncio.wait_for(intake.give_way(), 0.1)

    assert intake.waiting == 0


async def test_runs_wait_while_requests_back_up_and_start_in_order_once_they_are_answered() -> None:
    intake = RunIntake(max_wait_seconds=30.0, backlog=2)
    intake.arrived()
    intake.arrived()
    started: list[int] = []
    tasks = [_start(intake, started, number) for number in range(3)]
    await _passes(5)
    assert started == []
    assert intake.waiting == 3

    intake.answered()
    await asyncio.gather(*tasks)

    assert started == [0, 1, 2]


async def test_runs_start_one_per_loop_pass() -> None:
    intake = RunIntake(max_wait_seconds=30.0, backlog=1)
    intake.arrived()
    started: list[int] = []
    tasks = [_start(intake, started, number) for number in range(4)]
    await _passes(2)

    intake.answered()
    counts = []
    for _ in range(4):
        await asyncio.sleep(0)
        counts.append(len(started))
    await asyncio.gather(*tasks)

    assert counts == sorted(counts)
    assert all(later - earlier <= 1 for earlier, later in zip([0, *counts], counts, strict=False))
    assert started == [0, 1, 2, 3]


async def test_a_run_waits_at_most_its_bound_while_requests_keep_backing_up() -> None:
    intake = RunIntake(max_wait_seconds=0.05, backlog=1)
    intake.arrived()  # never answered
    began = time.monotonic()

    await asyncio.wait_for(intake.give_way(), 2.0)

    assert 0.04 <= time.monotonic() - began < 1.0


async def test_a_cancelled_waiter_does_not_hold_up_the_next() -> None:
    intake = RunIntake(max_wait_seconds=30.0, backlog=1)
    intake.arrived()
    started: list[int] = []
    first, second = _start(intake, started, 0), _start(intake, started, 1)
    await _passes(2)

    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    intake.answered()
    await asyncio.wait_for(second, 1.0)

    assert started == [1]
    assert intake.waiting == 0


async def test_a_zero_bound_turns_the_gate_off() -> None:
    intake = RunIntake(max_wait_seconds=0.0, backlog=1)
    intake.arrived()

    await asyncio.wait_for(intake.give_way(), 0.1)


def test_the_bound_is_a_setting() -> None:
    assert Settings().run_start_yield_seconds == 2.0
    assert Settings.from_env({"RUN_START_YIELD_SECONDS": "0"}).run_start_yield_seconds == 0.0
    with pytest.raises(ConfigError, match="RUN_START_YIELD_SECONDS"):
        Settings.from_env({"RUN_START_YIELD_SECONDS": "-1"})


class _App:
    def __init__(self, intake: RunIntake | None) -> None:
        self.state = State({"run_intake": intake} if intake is not None else {})


async def _call(middleware: RunIntakeMiddleware, intake: RunIntake | None) -> None:
    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return None

    scope: Any = {"type": "http", "app": _App(intake), "path": "/runs/stream", "method": "POST"}
    await middleware(scope, receive, send)


async def test_a_request_counts_until_its_response_starts() -> None:
    intake = RunIntake(max_wait_seconds=1.0, backlog=1)
    seen: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(intake.in_flight)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        seen.append(intake.in_flight)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    await _call(RunIntakeMiddleware(app), intake)

    assert seen == [1, 0]
    assert intake.in_flight == 0


async def test_a_failed_request_stops_counting() -> None:
    intake = RunIntake(max_wait_seconds=1.0, backlog=1)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await _call(RunIntakeMiddleware(app), intake)

    assert intake.in_flight == 0


async def test_a_process_without_run_intake_passes_requests_through() -> None:
    called: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(True)

    await _call(RunIntakeMiddleware(app), None)

    assert called == [True]
