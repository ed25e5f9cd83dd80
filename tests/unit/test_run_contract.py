"""The run contract without a server: a run-create body becomes `RunKwargs`, stored as JSON, decoded by the worker."""

from __future__ import annotations

import uuid

import msgspec
import pytest

from aegra.db.models import Assistant as AssistantRow
from aegra.db.models import Run as RunRow
from aegra.errors import BadRequestError, UnprocessableError
from aegra.runs.contract import RunKwargs, stamp_metadata
from aegra.runs.plan import RunPlan
from aegra.runs.prepare import RunTarget, build_run_kwargs, run_metadata
from aegra.schemas.runs import RunCreateStateful, RunCreateStateless

# The keys of `runs.kwargs` in the order the API has always shown them.
STORED_KEYS = [
    "input", "command", "config", "context", "stream_mode", "interrupt_before", "interrupt_after", "webhook",
    "feedback_keys", "temporary", "subgraphs", "resumable", "checkpoint_during", "durability",
]  # fmt: skip


def _assistant(**fields: object) -> AssistantRow:
    values: dict[str, object] = {
        "assistant_id": uuid.uuid4(),
        "graph_id": "echo",
        "config": {"configurable": {"flavor": "a", "langgraph_auth_user": "forged"}, "tags": ["base"]},
        "context": {"flavor": "a"},
        "metadata_": {"owner": "ops"},
    }
    return AssistantRow(**(values | fields))


def _build(body: dict[str, object], *, stateless: bool = False, assistant: AssistantRow | None = None) -> RunKwargs:
    assistant = assistant or _assistant()
    payload = msgspec.convert({"assistant_id": "echo", **body}, RunCreateStateless if stateless else RunCreateStateful)
    target = RunTarget(run_id=uuid.uuid4(), thread_id=uuid.uuid4(), stateless=stateless)
    return build_run_kwargs(
        payload,
        assistant,
        target,
        metadata=run_metadata(payload, assistant),
        identity={"user_id": ""},
        request_id="req-1",
    )


def test_run_kwargs_encode_in_the_stored_key_order() -> None:
    stored = _build({"input": {"x": 1}}).encode()

    assert list(stored) == STORED_KEYS
    assert stored["stream_mode"] == ["values"]
    assert stored["durability"] == "async"
    assert stored["checkpoint_during"] is True


def test_run_kwargs_decode_rows_written_before_newer_keys_existed() -> None:
    old_row = {"input": None, "command": None, "config": {"configurable": {"graph_id": "echo"}}, "stream_mode": ["x"]}

    kwargs = RunKwargs.decode(old_row | {"a_key_from_the_future": 1})

    assert kwargs.resumable is False
    assert kwargs.durability == "async"
    assert kwargs.context == {}
    assert kwargs.stream_mode == ["x"]


def test_run_kwargs_decode_refuses_a_malformed_row() -> None:
    with pytest.raises(msgspec.ValidationError):
        RunKwargs.decode({"config": "not an object"})


def test_build_merges_the_body_over_the_assistant() -> None:
    kwargs = _build(
        {"config": {"configurable": {"flavor": "b"}, "tags": ["mine"]}, "metadata": {"m": 1}, "stream_mode": "updates"}
    )

    configurable = kwargs.config["configurable"]
    assert configurable["flavor"] == "b"
    assert "langgraph_auth_user" not in configurable  # only the server sets the caller's identity
    assert configurable["graph_id"] == "echo"
    assert configurable["langgraph_request_id"] == "req-1"
    assert kwargs.config["tags"] == ["mine"]
    assert kwargs.config["metadata"] == {
        "owner": "ops",
        "graph_id": "echo",
        "assistant_id": configurable["assistant_id"],
        "m": 1,
    }
    assert kwargs.context == {"flavor": "b"}
    assert kwargs.stream_mode == ["updates"]


def test_build_refuses_configurable_together_with_context() -> None:
    with pytest.raises(BadRequestError, match="Cannot specify both configurable and context"):
        _build({"config": {"configurable": {"a": 1}}, "context": {"a": 2}})


def test_build_refuses_resuming_a_stateless_run() -> None:
    with pytest.raises(BadRequestError, match="thread_id when resuming"):
        _build({"command": {"resume": "yes"}}, stateless=True)


def test_build_refuses_a_checkpoint_id_that_is_not_a_uuid() -> None:
    with pytest.raises(UnprocessableError, match="Invalid checkpoint ID"):
        _build({"checkpoint_id": "nope"})


def test_build_starts_from_the_named_checkpoint() -> None:
    checkpoint_id = str(uuid.uuid4())

    kwargs = _build({"checkpoint": {"thread_id": "ignored", "checkpoint_ns": ""}, "checkpoint_id": checkpoint_id})

    assert kwargs.config["configurable"]["checkpoint_ns"] == ""
    assert kwargs.config["configurable"]["checkpoint_id"] == checkpoint_id
    assert kwargs.config["configurable"]["thread_id"] != "ignored"


def test_stateless_runs_are_temporary_unless_kept() -> None:
    assert _build({}, stateless=True).temporary is True
    assert _build({"on_completion": "keep"}, stateless=True).temporary is False
    assert _build({}).temporary is False


def test_durability_follows_checkpoint_during_when_not_given() -> None:
    assert _build({"checkpoint_during": False}).durability == "exit"
    assert _build({"checkpoint_during": False, "durability": "sync"}).durability == "sync"


def test_stamp_metadata_changes_the_stored_json() -> None:
    stored = _build({"metadata": {"m": 1}}).encode()

    stamp_metadata(stored, {"owner": "alice"})

    assert stored["config"]["metadata"]["owner"] == "alice"
    assert stored["config"]["metadata"]["m"] == 1


def test_plan_decodes_the_stored_kwargs() -> None:
    stored = _build(
        {"input": {"x": 1}, "webhook": "https://hooks.example/x", "interrupt_before": ["n"], "stream_subgraphs": True}
    ).encode()
    row = RunRow(run_id=uuid.uuid4(), thread_id=uuid.uuid4(), kwargs=stored, attempt=1)

    plan = RunPlan.from_row(row)

    assert plan.input == {"x": 1}
    assert plan.graph_id == "echo"
    assert plan.webhook == "https://hooks.example/x"
    assert plan.subgraphs is True
    assert plan.astream_kwargs == {"durability": "async", "interrupt_before": ["n"]}
    assert plan.config["run_id"] == row.run_id
    assert plan.config["metadata"]["run_attempt"] == 1


def test_plan_of_a_command_run_resumes_with_a_command() -> None:
    stored = _build({"command": {"resume": "yes", "update": [["k", 1]]}}).encode()

    plan = RunPlan.from_row(RunRow(run_id=uuid.uuid4(), thread_id=uuid.uuid4(), kwargs=stored, attempt=2))

    assert plan.input.resume == "yes"
    assert plan.input.update == [("k", 1)]
    assert "run_id" not in plan.config  # a later attempt continues the run's trace instead of starting one
