"""What a process pays while it has nothing to do: the worker's event loop, and how often the reaper sweeps kept
events."""

from __future__ import annotations

import dataclasses

import pytest
import uvloop

from aegra.cli.worker import event_loop
from aegra.runs import reaper
from aegra.runs.reaper import SWEEP_BATCH, SWEEP_BATCHES_PER_PASS, SweepClock
from aegra.settings import Settings


def test_the_worker_runs_on_uvloop_like_aegra_serve() -> None:
    loop = event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def _clock(ttl_seconds: float) -> SweepClock:
    return SweepClock(dataclasses.replace(Settings.from_env(), run_events_ttl_seconds=ttl_seconds))


def test_the_first_pass_sweeps_and_a_caught_up_sweep_waits_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(reaper.time, "monotonic", lambda: now[0])
    sweeps = _clock(3600)

    assert sweeps.due()
    sweeps.swept(10)
    now[0] += 59
    assert not sweeps.due()
    now[0] += 1
    assert sweeps.due()


def test_a_sweep_that_filled_every_batch_sweeps_again_next_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reaper.time, "monotonic", lambda: 1000.0)
    sweeps = _clock(3600)

    sweeps.swept(SWEEP_BATCH * SWEEP_BATCHES_PER_PASS)

    assert sweeps.due()


def test_a_short_events_ttl_sweeps_within_a_tenth_of_it(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(reaper.time, "monotonic", lambda: now[0])
    sweeps = _clock(20)

    sweeps.swept(0)
    now[0] += 2
    assert sweeps.due()
