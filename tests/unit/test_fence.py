"""Lease fencing: a run is due to be stopped a margin before its lease (counted from when the claim or the last
successful heartbeat was sent) can run out; a renewal pushes that back, a run that ended is forgotten."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from aegra.runs.fence import LeaseFence

pytestmark = pytest.mark.unit


def test_a_claimed_run_is_due_a_margin_before_its_lease_runs_out() -> None:
    fence = LeaseFence(lease_seconds=30, margin_seconds=10)
    run_id = uuid.uuid4()

    fence.claimed(run_id, sent=100.0)

    assert fence.due(119.9) == []
    assert fence.due(120.0) == [run_id]


def test_a_renewal_counts_from_when_it_was_sent() -> None:
    fence = LeaseFence(lease_seconds=30, margin_seconds=10)
    run_id = uuid.uuid4()
    fence.claimed(run_id, sent=100.0)

    fence.renewed({run_id}, sent=115.0)

    assert fence.due(134.9) == []
    assert fence.due(135.0) == [run_id]


def test_a_renewal_of_a_run_no_longer_held_here_does_not_bring_it_back() -> None:
    fence = LeaseFence(lease_seconds=30, margin_seconds=10)
    run_id = uuid.uuid4()
    fence.claimed(run_id, sent=100.0)
    fence.released(run_id)

    fence.renewed({run_id}, sent=115.0)

    assert fence.due(1_000.0) == []


async def test_the_guard_stops_each_due_run() -> None:
    fence = LeaseFence(lease_seconds=0.2, margin_seconds=0.1)
    run_id = uuid.uuid4()
    stopped: asyncio.Queue[uuid.UUID] = asyncio.Queue()

    def stop(due: uuid.UUID) -> bool:
        stopped.put_nowait(due)
        fence.released(due)
        return True

    fence.claimed(run_id, sent=asyncio.get_running_loop().time())
    guard = asyncio.create_task(fence.guard(stop))
    try:
        first = await asyncio.wait_for(stopped.get(), 10)
    finally:
        guard.cancel()
        await asyncio.gather(guard, return_exceptions=True)

    assert first == run_id
    assert stopped.empty()
