"""How many runs a process executes at once: N_JOBS_PER_WORKER when set, else derived from its memory."""

from __future__ import annotations

import os

import pytest

from aegra.runs.capacity import MAX_RUNS, MIN_RUNS, memory_limit_bytes, runs_per_process
from aegra.settings import Settings

GIB = 1024**3


@pytest.mark.parametrize(
    ("memory", "expected"),
    [(GIB, 256), (4 * GIB, 1024), (64 * 1024**2, MIN_RUNS), (1024 * GIB, MAX_RUNS)],
)
def test_unset_n_jobs_per_worker_follows_memory(memory: int, expected: int) -> None:
    assert runs_per_process(Settings(), memory_bytes=memory) == expected


def test_n_jobs_per_worker_overrides_the_derived_capacity() -> None:
    assert runs_per_process(Settings.from_env({"N_JOBS_PER_WORKER": "7"}), memory_bytes=64 * GIB) == 7


def test_memory_limit_is_positive_and_at_most_the_machines() -> None:
    machine = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 0 < memory_limit_bytes() <= machine


def test_run_queue_max_is_read_and_checked() -> None:
    assert Settings.from_env({"RUN_QUEUE_MAX": "0"}).run_queue_max == 0
    assert Settings().run_queue_max == 50_000
