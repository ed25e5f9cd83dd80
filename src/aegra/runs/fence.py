"""Lease fencing: a process stops a run before the run's lease can run out. A process that cannot heartbeat (the
database is down, or out of its reach) so keeps a run only as long as its lease, and a run never executes in two
places at once: another process reaps it only once the lease expired in the database, and resumes it from its
last checkpoint."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Collection

import structlog

logger = structlog.get_logger(__name__)


class LeaseFence:
    """When each lease held here runs out at the latest, on the monotonic clock. Each deadline counts from the
    moment its claim or its last successful heartbeat was *sent*, so it is never later than the database's own."""

    def __init__(self, *, lease_seconds: float, margin_seconds: float) -> None:
        self.lease_seconds = lease_seconds
        self.margin_seconds = margin_seconds
        self._deadlines: dict[uuid.UUID, float] = {}

    def claimed(self, run_id: uuid.UUID, *, sent: float) -> None:
        self._deadlines[run_id] = sent + self.lease_seconds

    def renewed(self, run_ids: Collection[uuid.UUID], *, sent: float) -> None:
        for run_id in run_ids:
            if run_id in self._deadlines:
                self._deadlines[run_id] = sent + self.lease_seconds

    def released(self, run_id: uuid.UUID) -> None:
        self._deadlines.pop(run_id, None)

    def due(self, now: float) -> list[uuid.UUID]:
        """The runs whose lease may run out before another heartbeat could renew it."""
        return [run_id for run_id, deadline in self._deadlines.items() if now >= deadline - self.margin_seconds]

    async def guard(self, stop: Callable[[uuid.UUID], bool]) -> None:
        """Forever: `stop` each run that is due (it returns whether it stopped one); independent of the heartbeat,
        which may itself wait on an unreachable database."""
        while True:
            await asyncio.sleep(self.margin_seconds / 2)
            for run_id in self.due(time.monotonic()):
                if stop(run_id):
                    logger.warning("could not renew the lease of a run in time; stopping it here", run_id=str(run_id))
