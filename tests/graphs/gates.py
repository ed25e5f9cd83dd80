"""Named gates shared by the `gated` graph and the tests driving an in-process server: a run arrives at its gate
and waits there until the test opens it, so a test can see how many runs execute at once without timing them.
Imported as the top-level module `gates` (the graphs folder is on sys.path once the server loaded its config)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class Gate:
    """Runs waiting at one gate: `arrived` counts them, `wait_for(n)` returns once n are there."""

    arrived: int = 0
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def pass_through(self) -> None:
        async with self._changed:
            self.arrived += 1
            self._changed.notify_all()
        await self.opened.wait()

    async def wait_for(self, count: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.arrived >= count)

    def open(self) -> None:
        self.opened.set()


GATES: dict[str, Gate] = {}


def gate(name: str) -> Gate:
    """The gate called `name` (made on first use)."""
    return GATES.setdefault(name, Gate())
