"""Encoded values take the memory of their bytes, not of the encoder's write buffer: runs keep them (their events,
their output) for as long as they are followed."""

from __future__ import annotations

import tracemalloc

from aegra import serde

COUNT = 200


def test_kept_encodings_take_about_their_own_size() -> None:
    # Arrange
    values = [{"run_id": f"01a23782-a6c6-7538-b658-{index:012d}", "attempt": 1} for index in range(COUNT)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]

        # Act
        kept = [serde.dumps(value) for value in values]
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    # Assert: a bytes object is its payload plus ~33 bytes of header (orjson's raw buffer is 4 KiB or more)
    payload = sum(len(item) for item in kept)
    assert grown < payload + COUNT * 100, (grown, payload)
    assert serde.loads(kept[0]) == values[0]


def test_to_jsonable_round_trips_through_json() -> None:
    # Arrange
    value = {"a": (1, 2), 3: None}

    # Act
    plain = serde.to_jsonable(value)

    # Assert
    assert plain == {"a": [1, 2], "3": None}
