"""`client.runs.*` through the real SDK: create, wait, join, get, list, delete, cancel, batch, multitask, errors."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import BadRequestError, ConflictError, NotFoundError, UnprocessableEntityError

from aegra.graphs.registry import system_assistant_id

HI = {"messages": [{"role": "user", "content": "hi"}]}


async def _thread(client: LangGraphClient) -> str:
    return (await client.threads.create())["thread_id"]


async def _started(client: LangGraphClient, thread_id: str, run_id: str) -> None:
    """Wait until a background run has produced its first event (so it is running, not pending)."""
    async for part in client.runs.join_stream(thread_id, run_id, stream_mode="values"):
        if part.event == "values":
            return


async def test_wait_returns_final_values_with_location_headers(client: LangGraphClient, server_url: str) -> None:
    thread_id = await _thread(client)

    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.post(f"/threads/{thread_id}/runs/wait", json={"assistant_id": "echo", "input": HI})

    body = response.json()
    run_path = response.headers["content-location"]
    assert response.status_code == 200
    assert [m["content"] for m in body["messages"]] == ["hi", "echo: hi"]
    assert run_path.startswith(f"/threads/{thread_id}/runs/")
    assert response.headers["location"] == f"{run_path}/join"


async def test_background_run_is_pending_then_succeeds_and_join_returns_its_values(client: LangGraphClient) -> None:
    thread_id = await _thread(client)

    run = await client.runs.create(thread_id, "echo", input=HI, metadata={"k": "v"})
    joined = await client.runs.join(thread_id, run["run_id"])
    finished = await client.runs.get(thread_id, run["run_id"])

    assert run["status"] == "pending"
    assert run["multitask_strategy"] == "enqueue"
    assert run["assistant_id"] == str(system_assistant_id("echo"))
    assert run["metadata"] == {
        "created_by": "system",
        "graph_id": "echo",
        "assistant_id": str(system_assistant_id("echo")),
        "k": "v",
    }
    assert run["kwargs"]["stream_mode"] == ["values"]
    assert run["kwargs"]["config"]["configurable"]["thread_id"] == thread_id
    assert run["created_at"].endswith("+00:00")
    assert joined["messages"][-1]["content"] == "echo: hi"
    assert finished["status"] == "success"


async def test_create_reports_the_run_in_content_location(client: LangGraphClient) -> None:
    thread_id = await _thread(client)
    created: list[Any] = []

    run = await client.runs.create(thread_id, "echo", input=HI, on_run_created=created.append)
    await client.runs.join(thread_id, run["run_id"])

    assert created[0]["run_id"] == run["run_id"]
    assert created[0]["thread_id"] == thread_id


async def test_list_is_newest_first_with_status_filter_and_paging(client: LangGraphClient) -> None:
    thread_id = await _thread(client)
    first = await client.runs.create(thread_id, "echo", input=HI)
    await client.runs.join(thread_id, first["run_id"])
    second = await client.runs.create(thread_id, "boom", input=HI)
    await client.runs.join(thread_id, second["run_id"])

    everything = await client.runs.list(thread_id)
    errored = await client.runs.list(thread_id, status="error")
    second_page = await client.runs.list(thread_id, limit=1, offset=1)
    projected = await client.runs.list(thread_id, select=["run_id", "status"])

    assert [run["run_id"] for run in everything] == [second["run_id"], first["run_id"]]
    assert [run["run_id"] for run in errored] == [second["run_id"]]
    assert [run["run_id"] for run in second_page] == [first["run_id"]]
    assert projected[0] == {"run_id": second["run_id"], "status": "error"}


async def test_delete_removes_a_finished_run(client: LangGraphClient) -> None:
    thread_id = await _thread(client)
    run = await client.runs.create(thread_id, "echo", input=HI)
    await client.runs.join(thread_id, run["run_id"])

    await client.runs.delete(thread_id, run["run_id"])

    with pytest.raises(NotFoundError):
        await client.runs.get(thread_id, run["run_id"])


async def test_delete_of_an_active_run_is_a_conflict(client: LangGraphClient) -> None:
    thread_id = await _thread(client)
    run = await client.runs.create(thread_id, "slow", input={})

    with pytest.raises(ConflictError, match="cancel it before deleting"):
        await client.runs.delete(thread_id, run["run_id"])
    await client.runs.cancel(thread_id, run["run_id"], wait=True)


async def test_graph_error_ends_the_run_in_error_and_the_server_keeps_serving(client: LangGraphClient) -> None:
    thread_id = await _thread(client)

    with pytest.raises(Exception, match="ValueError: boom"):
        await client.runs.wait(thread_id, "boom", input=HI)
    raw = await client.runs.wait(thread_id, "boom", input=HI, raise_error=False)
    runs = await client.runs.list(thread_id)
    thread = await client.threads.get(thread_id)
    after = await client.runs.wait(thread_id, "echo", input=HI)

    assert raw == {"__error__": {"error": "ValueError", "message": "boom"}}
    assert {run["status"] for run in runs} == {"error"}
    assert thread["status"] == "error"
    assert thread["error"] == {"error": "ValueError", "message": "boom"}
    assert after["messages"][-1]["content"] == "echo: hi"
    assert (await client.threads.get(thread_id))["error"] is None


async def test_runs_stamp_graph_and_assistant_on_the_thread(client: LangGraphClient) -> None:
    thread_id = await _thread(client)

    await client.runs.wait(thread_id, "echo", input=HI)
    found = await client.threads.search(metadata={"graph_id": "echo"}, limit=1000)

    assert thread_id in {thread["thread_id"] for thread in found}


async def test_if_not_exists_create_makes_the_thread(client: LangGraphClient) -> None:
    thread_id = str(uuid.uuid4())

    output = await client.runs.wait(thread_id, "echo", input=HI, if_not_exists="create")
    thread = await client.threads.get(thread_id)

    assert output["messages"][-1]["content"] == "echo: hi"
    assert thread["status"] == "idle"
    assert thread["metadata"]["graph_id"] == "echo"


async def test_runs_racing_to_create_one_thread_all_queue_on_it(client: LangGraphClient) -> None:
    thread_id = str(uuid.uuid4())

    runs = await asyncio.gather(
        *(client.runs.create(thread_id, "echo", input=HI, if_not_exists="create") for _ in range(8))
    )
    for run in runs:
        await client.runs.join(thread_id, run["run_id"])
    listed = await client.runs.list(thread_id, limit=20)
    thread = await client.threads.get(thread_id)

    assert {run["thread_id"] for run in runs} == {thread_id}
    assert sorted(run["run_id"] for run in listed) == sorted(run["run_id"] for run in runs)
    assert {run["status"] for run in listed} == {"success"}
    assert thread["status"] == "idle"
    assert thread["metadata"]["graph_id"] == "echo"


async def test_unknown_thread_is_not_found(client: LangGraphClient) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        await client.runs.create(str(uuid.uuid4()), "echo", input=HI)


async def test_unknown_assistant_is_not_found_and_unknown_graph_is_unprocessable(client: LangGraphClient) -> None:
    thread_id = await _thread(client)

    with pytest.raises(NotFoundError, match=r"Assistant .* not found"):
        await client.runs.create(thread_id, str(uuid.uuid4()), input=HI)
    with pytest.raises(UnprocessableEntityError, match="must be a UUID or a graph id"):
        await client.runs.create(thread_id, "no-such-graph", input=HI)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"input": {}}, "assistant_id"),
        ({"assistant_id": "echo", "stream_mode": "bogus"}, "stream_mode"),
        ({"assistant_id": "echo", "stream_mode": ["values", "nope"]}, "stream_mode"),
        ({"assistant_id": "echo", "command": {"resume": 1, "jump": "x"}}, "command"),
        ({"assistant_id": "echo", "command": {"goto": 3}}, "command.goto"),
        ({"assistant_id": "echo", "command": "resume"}, "command"),
        ({"assistant_id": "echo", "interrupt_before": "all"}, "interrupt_before"),
        ({"assistant_id": "echo", "multitask_strategy": "later"}, "multitask_strategy"),
        ({"assistant_id": "echo", "checkpoint_id": "nope"}, "Invalid checkpoint ID"),
        ({"assistant_id": "echo", "after_seconds": -1}, "after_seconds"),
    ],
)
async def test_invalid_bodies_are_unprocessable(server_url: str, body: dict[str, Any], detail: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        thread_id = (await http.post("/threads", json={})).json()["thread_id"]
        response = await http.post(f"/threads/{thread_id}/runs", json=body)

    assert response.status_code == 422
    assert detail in response.json()["detail"]


async def test_malformed_ids_and_json_are_unprocessable(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        bad_thread = await http.post("/threads/not-a-uuid/runs", json={"assistant_id": "echo"})
        thread_id = (await http.post("/threads", json={})).json()["thread_id"]
        bad_run = await http.get(f"/threads/{thread_id}/runs/not-a-uuid")
        bad_json = await http.post(
            f"/threads/{thread_id}/runs", content=b'{"assistant_id": ', headers={"content-type": "application/json"}
        )
        bad_limit = await http.get(f"/threads/{thread_id}/runs", params={"limit": 0})

    assert (bad_thread.status_code, bad_thread.json()["detail"]) == (422, "Invalid thread ID: must be a UUID")
    assert (bad_run.status_code, bad_run.json()["detail"]) == (422, "Invalid run ID: must be a UUID")
    assert (bad_json.status_code, bad_json.json()["detail"]) == (422, "Invalid JSON in request body")
    assert bad_limit.status_code == 422


async def test_configurable_and_context_together_are_a_bad_request(client: LangGraphClient) -> None:
    thread_id = await _thread(client)

    with pytest.raises(BadRequestError, match="Cannot specify both configurable and context"):
        await client.runs.create(thread_id, "echo", input=HI, config={"configurable": {"a": 1}}, context={"b": 2})


async def test_get_of_an_unknown_run_is_not_found(client: LangGraphClient) -> None:
    thread_id = await _thread(client)

    with pytest.raises(NotFoundError):
        await client.runs.get(thread_id, str(uuid.uuid4()))
    with pytest.raises(NotFoundError):
        await client.runs.list(str(uuid.uuid4()))
    with pytest.raises(httpx.HTTPStatusError, match="404"):  # the SDK's join raises the raw httpx error
        await client.runs.join(thread_id, str(uuid.uuid4()))


async def test_cancel_interrupts_a_running_run_and_keeps_its_checkpoints(client: LangGraphClient) -> None:
    thread_id = await _thread(client)
    run = await client.runs.create(thread_id, "slow", input={})
    await _started(client, thread_id, run["run_id"])

    await client.runs.cancel(thread_id, run["run_id"], wait=True)
    cancelled = await client.runs.get(thread_id, run["run_id"])
    thread = await client.threads.get(thread_id)
    history = await client.threads.get_history(thread_id)

    assert cancelled["status"] == "interrupted"
    assert thread["status"] == "interrupted"
    assert thread["error"]["error"] == "UserInterrupt"
    assert history, "an interrupted run keeps what it checkpointed"


async def test_cancel_without_wait_answers_202_and_the_run_ends_interrupted(
    client: LangGraphClient, server_url: str
) -> None:
    thread_id = await _thread(client)
    run = await client.runs.create(thread_id, "slow", input={})
    await _started(client, thread_id, run["run_id"])

    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.post(f"/threads/{thread_id}/runs/{run['run_id']}/cancel")
    joined = await client.runs.join(thread_id, run["run_id"])

    assert response.status_code == 202
    assert response.json()["run_id"] == run["run_id"]
    assert "ticks" in joined
    assert (await client.runs.get(thread_id, run["run_id"]))["status"] == "interrupted"


async def test_cancel_rollback_deletes_the_run_and_its_checkpoints(client: LangGraphClient) -> None:
    thread_id = await _thread(client)
    await client.runs.wait(thread_id, "echo", input=HI)
    before = await client.threads.get_state(thread_id)
    run = await client.runs.create(thread_id, "slow", input={}, multitask_strategy="enqueue")
    await _started(client, thread_id, run["run_id"])

    await client.runs.cancel(thread_id, run["run_id"], wait=True, action="rollback")
    after = await client.threads.get_state(thread_id)

    with pytest.raises(NotFoundError):
        await client.runs.get(thread_id, run["run_id"])
    assert after["checkpoint"]["checkpoint_id"] == before["checkpoint"]["checkpoint_id"]
    assert (await client.threads.get(thread_id))["status"] == "idle"


async def test_cancel_of_a_finished_run_is_not_found(client: LangGraphClient) -> None:
    thread_id = await _thread(client)
    run = await client.runs.create(thread_id, "echo", input=HI)
    await client.runs.join(thread_id, run["run_id"])

    with pytest.raises(NotFoundError, match="No matching runs to cancel"):
        await client.runs.cancel(thread_id, run["run_id"])


async def test_cancel_with_an_unknown_action_is_unprocessable(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        thread_id = (await http.post("/threads", json={})).json()["thread_id"]
        response = await http.post(f"/threads/{thread_id}/runs/{uuid.uuid4()}/cancel", params={"action": "explode"})

    assert response.status_code == 422
    assert "action" in response.json()["detail"]


async def test_cancel_many_by_ids_and_by_status(client: LangGraphClient) -> None:
    thread_id = await _thread(client)
    running = await client.runs.create(thread_id, "slow", input={})
    await _started(client, thread_id, running["run_id"])
    queued = await client.runs.create(thread_id, "echo", input=HI)

    await client.runs.cancel_many(thread_id=thread_id, run_ids=[queued["run_id"]])
    await client.runs.cancel_many(status="running")
    await client.runs.join(thread_id, running["run_id"])

    assert (await client.runs.get(thread_id, queued["run_id"]))["status"] == "interrupted"
    assert (await client.runs.get(thread_id, running["run_id"]))["status"] == "interrupted"
    with pytest.raises(NotFoundError, match="No matching runs"):
        await client.runs.cancel_many(thread_id=thread_id, run_ids=[queued["run_id"]])


async def test_cancel_many_needs_status_or_thread_and_runs(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        empty = await http.post("/runs/cancel", json={})
        both = await http.post("/runs/cancel", json={"status": "all", "thread_id": str(uuid.uuid4())})

    assert empty.status_code == 422
    assert both.status_code == 422
    assert "status" in both.json()["detail"]


async def test_multitask_reject_refuses_a_second_run_with_409(client: LangGraphClient) -> None:
    thread_id = await _thread(client)
    run = await client.runs.create(thread_id, "slow", input={})

    with pytest.raises(ConflictError, match="Thread is already running a task"):
        await client.runs.create(thread_id, "echo", input=HI, multitask_strategy="reject")
    with pytest.raises(httpx.HTTPStatusError, match="409"):
        await client.runs.wait(thread_id, "echo", input=HI, multitask_strategy="reject")
    assert (await client.threads.get(thread_id))["status"] == "busy"
    await client.runs.cancel(thread_id, run["run_id"], wait=True)


async def test_multitask_enqueue_runs_the_next_run_after_the_current_one(client: LangGraphClient) -> None:
    thread_id = await _thread(client)
    first = await client.runs.create(thread_id, "slow", input={})
    second = await client.runs.create(thread_id, "echo", input=HI, multitask_strategy="enqueue")

    assert (await client.runs.get(thread_id, second["run_id"]))["status"] == "pending"
    await client.runs.cancel(thread_id, first["run_id"])
    output = await client.runs.join(thread_id, second["run_id"])

    assert output["messages"][-1]["content"] == "echo: hi"
    assert (await client.runs.get(thread_id, second["run_id"]))["status"] == "success"
    assert (await client.threads.get(thread_id))["status"] == "idle"


async def test_multitask_interrupt_cancels_the_current_run_and_starts_the_new_one(client: LangGraphClient) -> None:
    thread_id = await _thread(client)
    first = await client.runs.create(thread_id, "slow", input={})
    await _started(client, thread_id, first["run_id"])

    output = await client.runs.wait(thread_id, "echo", input=HI, multitask_strategy="interrupt")

    assert output["messages"][-1]["content"] == "echo: hi"
    assert (await client.runs.get(thread_id, first["run_id"]))["status"] == "interrupted"


async def test_multitask_rollback_deletes_the_current_run(client: LangGraphClient) -> None:
    thread_id = await _thread(client)
    first = await client.runs.create(thread_id, "slow", input={})
    await _started(client, thread_id, first["run_id"])

    output = await client.runs.wait(thread_id, "echo", input=HI, multitask_strategy="rollback")

    assert output["messages"][-1]["content"] == "echo: hi"
    with pytest.raises(NotFoundError):
        await client.runs.get(thread_id, first["run_id"])
    assert "ticks" not in (await client.threads.get_state(thread_id))["values"]


async def test_stateless_wait_uses_a_throwaway_thread_that_is_deleted(client: LangGraphClient, server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.post("/runs/wait", json={"assistant_id": "echo", "input": HI})
        run_path = response.headers["content-location"]
        thread_id = run_path.split("/")[2]
        thread = await http.get(f"/threads/{thread_id}")

    assert response.json()["messages"][-1]["content"] == "echo: hi"
    assert response.headers["location"] == f"{run_path}/join"
    assert thread.status_code == 404


async def test_stateless_run_with_on_completion_keep_keeps_its_thread(client: LangGraphClient) -> None:
    created: list[Any] = []

    output = await client.runs.wait(None, "echo", input=HI, on_completion="keep", on_run_created=created.append)
    thread = await client.threads.get(created[0]["thread_id"])
    state = await client.threads.get_state(created[0]["thread_id"])

    assert output["messages"][-1]["content"] == "echo: hi"
    assert thread["status"] == "idle"
    assert state["values"]["messages"][-1]["content"] == "echo: hi"


async def test_stateless_background_create_and_batch(client: LangGraphClient, server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.post("/runs", json={"assistant_id": "echo", "input": HI})
    batch = await client.runs.create_batch(
        [{"assistant_id": "echo", "input": HI}, {"assistant_id": "chat", "input": HI}]
    )

    run = response.json()
    assert response.headers["content-location"] == f"/runs/{run['run_id']}"
    assert run["kwargs"]["temporary"] is True
    assert [item["status"] for item in batch] == ["pending", "pending"]
    assert len({item["thread_id"] for item in batch}) == 2


async def test_stateless_resume_is_a_bad_request(client: LangGraphClient) -> None:
    with pytest.raises(BadRequestError, match="thread_id when resuming"):
        await client.runs.create(None, "hitl", command={"resume": "yes"})


async def test_config_and_context_reach_the_graph_and_are_recorded(client: LangGraphClient) -> None:
    thread_id = await _thread(client)

    run = await client.runs.create(
        thread_id, "echo", input=HI, config={"tags": ["t1"], "recursion_limit": 7}, context={"model": "m"}
    )
    await client.runs.join(thread_id, run["run_id"])
    state = await client.threads.get_state(thread_id)

    assert run["kwargs"]["context"] == {"model": "m"}
    assert run["kwargs"]["config"]["recursion_limit"] == 7
    assert run["kwargs"]["config"]["tags"] == ["t1"]
    assert state["metadata"]["run_id"] == run["run_id"]
    assert state["metadata"]["graph_id"] == "echo"


@pytest.mark.parametrize("by", ["checkpoint_id", "checkpoint"])
async def test_run_from_an_earlier_checkpoint_forks_the_thread(client: LangGraphClient, by: str) -> None:
    thread_id = await _thread(client)
    await client.runs.wait(thread_id, "echo", input={"messages": [{"role": "user", "content": "one"}]})
    first = (await client.threads.get_state(thread_id))["checkpoint"]
    await client.runs.wait(thread_id, "echo", input={"messages": [{"role": "user", "content": "two"}]})
    start: dict[str, Any] = (
        {"checkpoint_id": first["checkpoint_id"]} if by == "checkpoint_id" else {"checkpoint": first}
    )

    forked = await client.runs.wait(
        thread_id, "echo", input={"messages": [{"role": "user", "content": "three"}]}, **start
    )

    assert [m["content"] for m in forked["messages"]] == ["one", "echo: one", "three", "echo: three"]


async def test_cancel_with_wait_answers_with_the_ended_run(server_url: str, client: LangGraphClient) -> None:
    thread_id = await _thread(client)
    run = await client.runs.create(thread_id, "slow", input={})
    await _started(client, thread_id, run["run_id"])

    async with httpx.AsyncClient(base_url=server_url) as http:
        path = f"/threads/{thread_id}/runs/{run['run_id']}"
        response = await http.post(f"{path}/cancel", params={"wait": 1, "action": "rollback"})

    assert response.status_code == 200
    assert response.json()["status"] == "interrupted"
    assert response.headers["location"] == f"{path}/join"


async def test_after_seconds_delays_the_start(client: LangGraphClient) -> None:
    thread_id = await _thread(client)

    run = await client.runs.create(thread_id, "echo", input=HI, after_seconds=1)
    pending = await client.runs.get(thread_id, run["run_id"])
    output = await client.runs.join(thread_id, run["run_id"])

    assert pending["status"] == "pending"
    assert output["messages"][-1]["content"] == "echo: hi"


async def test_a_waiting_client_that_leaves_cancels_its_run_with_on_disconnect_cancel(
    client: LangGraphClient, server_url: str
) -> None:
    thread_id = await _thread(client)
    body = {"assistant_id": "slow", "input": {}, "on_disconnect": "cancel"}

    async with (
        httpx.AsyncClient(base_url=server_url) as http,
        http.stream("POST", f"/threads/{thread_id}/runs/wait", json=body) as response,
    ):
        run_id = response.headers["content-location"].rsplit("/", 1)[1]
        await _started(client, thread_id, run_id)
    await client.runs.join(thread_id, run_id)

    assert (await client.runs.get(thread_id, run_id))["status"] == "interrupted"
