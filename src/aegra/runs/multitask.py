"""What a new run does to the runs already in flight on its thread (`multitask_strategy`).

- `enqueue` (default): nothing; the new run waits its turn (the queue runs a thread's runs oldest first).
- `reject`: the new run is refused with 409.
- `interrupt`: the in-flight runs are cancelled, keeping what they checkpointed; the new run starts after them.
- `rollback`: the in-flight runs are cancelled and deleted along with their checkpoints.
"""

from __future__ import annotations

from typing import Literal

MultitaskAction = Literal["reject", "interrupt", "rollback"]


def plan_multitask(strategy: str, *, has_inflight: bool) -> MultitaskAction | None:
    """The action to take before queueing a run with `strategy`; None when nothing needs doing."""
    if not has_inflight or strategy == "enqueue":
        return None
    if strategy in ("reject", "interrupt", "rollback"):
        return strategy  # type: ignore[return-value]  # narrowed by the membership test above
    raise ValueError(f"Unknown multitask strategy {strategy!r}")
