"""The run contract: what a run-create request becomes, kept in the `runs.kwargs` column (and shown as the run's
`kwargs`), and what the worker decodes once to execute the run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from aegra.schemas.runs import Durability


class RunKwargs(msgspec.Struct, kw_only=True):
    """A run's arguments. The field order is the stored JSON's key order, and every field has a default, so rows
    written before a field existed still decode."""

    input: Any = None
    command: dict[str, Any] | None = None
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    stream_mode: list[str] = msgspec.field(default_factory=lambda: ["values"])
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    webhook: str | None = None
    feedback_keys: list[str] | None = None
    temporary: bool = False  # a stateless run's throwaway thread, deleted with the run
    subgraphs: bool = False
    resumable: bool = False
    checkpoint_during: bool = True
    durability: Durability = "async"

    def encode(self) -> dict[str, Any]:
        """The JSON the run row keeps."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]  # a Struct always encodes to a dict

    @classmethod
    def decode(cls, stored: Mapping[str, Any]) -> RunKwargs:
        """A run row's `kwargs` (unknown keys are ignored)."""
        return msgspec.convert(stored, type=cls)


def stamp_metadata(stored: dict[str, Any], metadata: Mapping[str, Any]) -> None:
    """Merge `metadata` into the stored kwargs' `config.metadata`: what an auth handler stamped on the run after
    the kwargs were shown to it (it may have edited them in place, so the stored JSON is the one to change)."""
    config = stored.setdefault("config", {})
    config["metadata"] = {**(config.get("metadata") or {}), **metadata}
