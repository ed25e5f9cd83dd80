"""Durability pieces without a server: cancel priorities, following a run that
executes in another process, and the settings that pace leases."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import pytest

from aegra.errors import ConfigError
from aegra.runs.broker import RunBroker, RunOutcome
from aegra.runs.events import StreamEvent
from aegra.runs.executor import RunHandle
from aegra.settings import Settings


@pytest.mark.parametrize(
    ("actions", "wins"),
    [
        (["handback", "interrupt"], "interrupt"),
        (["interrupt", "handback"], "interrupt"),
        (["rollback", "interrupt"], "rollback"),
        (["lost", "handback"], "handback"),
    ],
)
def test_the_strongest_stop_request_wins(actions: list[str], wins: str) -> None:
    handle = RunHandle(uuid.uuid4())

    for action in actions:
        handle.cancel(action)

    assert handle.cancel_action == wins
    assert handle.handing_back is (wins in ("handback", "lost"))


class FakeStore:
    """Stands in for `run_events`: holds what another process stored."""

    def __init__(self, events: Iterable[StreamEvent] = ()) -> None:
        self.events = list(events)

    async def read(self, run_id: uuid.UUID, *, after_seq: int, modes: object = None) -> list[StreamEvent]:
        return [event for event in self.events if event.seq > after_seq]

    def writer(self, run_id: uuid.UUID) -> None:
        return None


async def _drain(broker: RunBroker, run_id: uuid.UUID, subscription: object) -> list[int]:
    broker.finish(run_id, RunOutcome("success", b"{}"))
    seqs = []
    while (item := await subscription.next_event(1)) is not None:  # type: ignore[attr-defined]
        seqs.append(item.seq)
    return seqs


async def test_events_stored_elsewhere_reach_local_followers_once_each_in_order() -> None:
    store = FakeStore(StreamEvent(seq, "values", b"{}") for seq in range(3))
    broker = RunBroker(store)  # type: ignore[arg-type]
    run_id = uuid.uuid4()
    subscription = broker.subscribe(run_id)

    broker.stored_noticed(run_id, 2)
    await broker.catch_up(run_id)
    store.events += [StreamEvent(3, "values", b"{}"), StreamEvent(1_000_004, "metadata", b"{}")]
    broker.stored_noticed(run_id, 1_000_004)
    broker.stored_noticed(run_id, 3)  # a late, older notice fetches nothing twice
    await broker.catch_up(run_id)

    assert await _drain(broker, run_id, subscription) == [0, 1, 2, 3, 1_000_004]


async def test_a_follower_joining_from_now_skips_what_was_stored_before() -> None:
    store = FakeStore(StreamEvent(seq, "values", b"{}") for seq in range(5))
    broker = RunBroker(store)  # type: ignore[arg-type]
    run_id = uuid.uuid4()
    subscription = broker.subscribe(run_id, after_seq=4)
    store.events.append(StreamEvent(5, "values", b"{}"))

    await broker.catch_up(run_id)

    assert await _drain(broker, run_id, subscription) == [5]


def test_a_run_followed_from_elsewhere_keeps_its_events_when_it_starts_here() -> None:
    broker = RunBroker()
    followed, alone = uuid.uuid4(), uuid.uuid4()

    broker.follow_noticed(followed)
    kept = broker.start(followed, keep_events=False)
    not_kept = broker.start(alone, keep_events=False)

    assert kept.history == []
    assert not_kept.history is None


def test_a_heartbeat_as_long_as_the_lease_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="RUN_HEARTBEAT_SECONDS=30 must be shorter than RUN_LEASE_SECONDS=30"):
        Settings.from_env({"RUN_HEARTBEAT_SECONDS": "30"})


def test_durability_settings_are_read() -> None:
    settings = Settings.from_env(
        {
            "RUN_LEASE_SECONDS": "5",
            "RUN_HEARTBEAT_SECONDS": "1",
            "RUN_MAX_ATTEMPTS": "7",
            "WEBHOOK_ALLOWED_HOSTS": " Hooks.Example.com, *.corp.example ",
            "WEBHOOK_BLOCK_PRIVATE": "true",
        }
    )

    assert (settings.run_lease_seconds, settings.run_heartbeat_seconds, settings.run_max_attempts) == (5, 1, 7)
    assert settings.webhook_allowed_hosts == ("hooks.example.com", "*.corp.example")
    assert settings.webhook_block_private is True
