"""A run-create body merged over its assistant into the run's contract (`RunKwargs`): pure steps, each raising the
error langgraph-api answers a bad body with, in the order it checks them."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from aegra.auth.authorizer import without_reserved_keys
from aegra.db.models import Assistant as AssistantRow
from aegra.errors import BadRequestError
from aegra.runs.contract import RunKwargs
from aegra.schemas.runs import MultitaskStrategy, RunCreate, RunCreateStateful, RunCreateStateless
from aegra.services.ids import parse_uuid

CONFIGURABLE_AND_CONTEXT = (
    "Cannot specify both configurable and context. Prefer setting context alone. Context was "
    "introduced in LangGraph 0.6.0 and is the long term planned replacement for configurable."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunTarget:
    """Which run this is and where it runs: a stateless run gets a throwaway thread id."""

    run_id: uuid.UUID
    thread_id: uuid.UUID
    stateless: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class UserSettings:
    """The body's `config` without `configurable`, and its context (`context`, or else `configurable`)."""

    config: dict[str, Any]
    context: dict[str, Any]


def run_command(payload: RunCreate, *, stateless: bool) -> dict[str, Any] | None:
    """The body's `command` as JSON (None when absent or empty); resuming needs a thread."""
    command = msgspec.to_builtins(payload.command) if payload.command is not None else None
    if stateless and command and "resume" in command:
        raise BadRequestError("You must provide a thread_id when resuming.")
    return command or None


def user_settings(payload: RunCreate) -> UserSettings:
    """Split the body's `config`; `configurable` and `context` are two spellings of one thing, so not both."""
    config = copy.deepcopy(payload.config or {})
    configurable = config.pop("configurable", None) or {}
    if configurable and payload.context:
        raise BadRequestError(CONFIGURABLE_AND_CONTEXT)
    return UserSettings(config=config, context=without_reserved_keys(payload.context or configurable))


def run_metadata(payload: RunCreate, assistant: AssistantRow) -> dict[str, Any]:
    """The run's metadata: the assistant's, naming its graph and itself, under the body's."""
    return {
        **assistant.metadata_,
        "graph_id": assistant.graph_id,
        "assistant_id": str(assistant.assistant_id),
        **(payload.metadata or {}),
    }


def checkpoint_keys(payload: RunCreate) -> dict[str, Any]:
    """`checkpoint` / `checkpoint_id`: start from (fork at) a given checkpoint of the thread."""
    if not isinstance(payload, RunCreateStateful):
        return {}
    keys: dict[str, Any] = {}
    if payload.checkpoint is not None:
        keys = {
            key: value
            for key, value in msgspec.to_builtins(payload.checkpoint).items()
            if key != "thread_id" and value is not None
        }
    if payload.checkpoint_id is not None:
        keys["checkpoint_id"] = str(parse_uuid(payload.checkpoint_id, "checkpoint"))
    return keys


def run_configurable(
    payload: RunCreate,
    assistant: AssistantRow,
    target: RunTarget,
    base: Mapping[str, Any] | None,
    *,
    context: Mapping[str, Any],
    identity: Mapping[str, Any],
    request_id: str,
) -> dict[str, Any]:
    """`config.configurable`: the assistant's, the caller's context, the checkpoint to start from, then what only
    the server sets (ids, the caller's identity, the request)."""
    return {
        **without_reserved_keys(base),
        **context,
        **checkpoint_keys(payload),
        "run_id": str(target.run_id),
        "thread_id": str(target.thread_id),
        "graph_id": assistant.graph_id,
        "assistant_id": str(assistant.assistant_id),
        **identity,
        "langgraph_request_id": request_id,
        "__request_start_time_ms__": time.time_ns() // 1_000_000,
        "__after_seconds__": payload.after_seconds,
    }


def stream_modes(raw: str | Sequence[str] | None) -> list[str]:
    """The requested stream modes, once each (`values` when none)."""
    if not raw:
        return ["values"]
    modes = [raw] if isinstance(raw, str) else list(raw)
    return list(dict.fromkeys(modes))


def is_temporary(payload: RunCreate, *, stateless: bool) -> bool:
    """A stateless run's thread is thrown away with it unless `on_completion="keep"`."""
    return stateless and isinstance(payload, RunCreateStateless) and payload.on_completion == "delete"


def multitask_strategy(payload: RunCreate) -> MultitaskStrategy:
    """What to do with the thread's in-flight runs; a stateless run's thread has none."""
    return payload.multitask_strategy if isinstance(payload, RunCreateStateful) else "enqueue"


def build_run_kwargs(
    payload: RunCreate,
    assistant: AssistantRow,
    target: RunTarget,
    *,
    metadata: Mapping[str, Any],
    identity: Mapping[str, Any],
    request_id: str,
) -> RunKwargs:
    """Merge the body over the assistant into the run's kwargs: config, context, metadata, stream settings."""
    command = run_command(payload, stateless=target.stateless)
    user = user_settings(payload)
    base = copy.deepcopy(assistant.config or {})
    configurable = run_configurable(
        payload,
        assistant,
        target,
        base.pop("configurable", None),
        context=user.context,
        identity=identity,
        request_id=request_id,
    )
    config = {**base, **user.config, "configurable": configurable}
    config["metadata"] = {**(config.get("metadata") or {}), **metadata}
    return RunKwargs(
        input=payload.input,
        command=command,
        config=config,
        context={**without_reserved_keys(assistant.context), **user.context},
        stream_mode=stream_modes(payload.stream_mode),
        interrupt_before=payload.interrupt_before,
        interrupt_after=payload.interrupt_after,
        webhook=payload.webhook,
        feedback_keys=payload.feedback_keys,
        temporary=is_temporary(payload, stateless=target.stateless),
        subgraphs=payload.stream_subgraphs,
        resumable=payload.stream_resumable,
        checkpoint_during=payload.checkpoint_during if payload.checkpoint_during is not None else True,
        durability=payload.durability or ("exit" if payload.checkpoint_during is False else "async"),
    )
