"""The garbage collector is paused while a command starts a server and collects again once it serves (or fails)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from aegra import collector


@pytest.fixture(autouse=True)
def collecting() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_a_paused_block_does_not_collect_until_startup_resumes_it() -> None:
    with collector.paused():
        during_startup = gc.isenabled()
        collector.resume()
        serving = gc.isenabled()
        frozen = gc.get_freeze_count()

    assert during_startup is False
    assert serving is True
    assert frozen > 0


def test_a_command_that_fails_before_serving_collects_again() -> None:
    with pytest.raises(RuntimeError), collector.paused():
        raise RuntimeError("a graph failed to import")

    assert gc.isenabled()


def test_a_host_that_turned_the_collector_off_keeps_it_off() -> None:
    gc.disable()

    with collector.paused():
        collector.resume()

    assert gc.isenabled() is False
