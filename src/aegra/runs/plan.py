"""What one execution of a run needs, decoded once from the run row's kwargs (`RunKwargs`)."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Any, Final

import langgraph.version

from aegra import __version__
from aegra.db.models import Run as RunRow
from aegra.graphs.snapshots import command_from_json
from aegra.runs.contract import RunKwargs

# The keys that pin a run to a given checkpoint; a resumed attempt continues from the latest one instead.
CHECKPOINT_KEYS: Final = ("checkpoint_id", "checkpoint_ns", "checkpoint_map")


def _pairs_as_tuples(command: dict[str, Any]) -> dict[str, Any]:
    """JSON has no tuples: an `update` given as `[[key, value], ...]` is a list of channel writes."""
    update = command.get("update")
    if isinstance(update, list) and all(isinstance(pair, list) and len(pair) == 2 for pair in update):
        return {**command, "update": [tuple(pair) for pair in update]}
    return command


@dataclass(slots=True)
class RunPlan:
    """The arguments of one execution, read from the run row's kwargs."""

    run_id: uuid.UUID
    thread_id: uuid.UUID
    graph_id: str
    attempt: int
    input: Any
    config: dict[str, Any]
    context: dict[str, Any]
    requested: frozenset[str]
    subgraphs: bool
    temporary: bool
    resumable: bool
    astream_kwargs: dict[str, Any]
    webhook: str | None = None

    @classmethod
    def from_row(cls, row: RunRow) -> RunPlan:
        kwargs = RunKwargs.decode(row.kwargs)
        config = copy.deepcopy(kwargs.config)
        config["metadata"] = {
            **(config.get("metadata") or {}),
            "run_attempt": row.attempt,
            "langgraph_version": langgraph.version.__version__,
            "aegra_version": __version__,
        }
        if row.attempt == 1:
            config["run_id"] = row.run_id
        return cls(
            run_id=row.run_id,
            thread_id=row.thread_id,
            graph_id=config["configurable"]["graph_id"],
            attempt=row.attempt,
            input=command_from_json(_pairs_as_tuples(kwargs.command)) if kwargs.command else kwargs.input,
            config=config,
            context=dict(kwargs.context),
            requested=frozenset(kwargs.stream_mode or ["values"]),
            subgraphs=kwargs.subgraphs,
            temporary=kwargs.temporary,
            resumable=kwargs.resumable,
            astream_kwargs=_astream_kwargs(kwargs),
            webhook=kwargs.webhook,
        )

    def resume_from_checkpoint(self) -> None:
        """Continue from the thread's latest checkpoint (the run's own) instead of starting over from the input."""
        self.input = None
        configurable = self.config.get("configurable") or {}
        for key in CHECKPOINT_KEYS:
            configurable.pop(key, None)

    @property
    def graph_modes(self) -> list[str]:
        """Modes asked of the graph: the requested ones (`messages-tuple` is `messages`), plus `values` and
        `updates`, which the run's result is made of."""
        modes = {"values", "updates"} | (self.requested - {"events", "messages-tuple"})
        if "messages-tuple" in self.requested:
            modes.add("messages")
        return sorted(modes)


def _astream_kwargs(kwargs: RunKwargs) -> dict[str, Any]:
    """Durability and breakpoints, passed to `astream` only when they apply."""
    astream_kwargs: dict[str, Any] = {}
    if not kwargs.temporary:  # throwaway threads run without a checkpointer, where durability means nothing
        astream_kwargs["durability"] = kwargs.durability
    if kwargs.interrupt_before is not None:
        astream_kwargs["interrupt_before"] = kwargs.interrupt_before
    if kwargs.interrupt_after is not None:
        astream_kwargs["interrupt_after"] = kwargs.interrupt_after
    return astream_kwargs
