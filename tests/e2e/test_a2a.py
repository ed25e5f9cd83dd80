"""A2A at `/a2a/{assistant_id}` end to end with the official `a2a-sdk` client: the agent card at the well-known
paths, message/send, message/stream, tasks/get and tasks/cancel, a conversation continued through its
`contextId`, the v0.3 method names of the SDK's compat transport, and JSON-RPC errors for bad requests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from a2a.client import ClientConfig, ClientFactory, create_client
from a2a.client.card_resolver import A2ACardResolver
from a2a.client.client import Client
from a2a.types import a2a_pb2 as a2a
from a2a.utils.errors import TaskNotCancelableError, TaskNotFoundError
from langgraph_sdk.client import LangGraphClient

JSON = {"Accept": "application/json", "Content-Type": "application/json"}


def user_message(text: str | None = None, *, context_id: str | None = None, data: dict | None = None) -> a2a.Message:
    message = a2a.Message(message_id=str(uuid.uuid4()), role=a2a.ROLE_USER)
    if text is not None:
        message.parts.append(a2a.Part(text=text))
    if data is not None:
        part = a2a.Part()
        part.data.struct_value.update(data)
        message.parts.append(part)
    if context_id is not None:
        message.context_id = context_id
    return message


@asynccontextmanager
async def a2a_client(
    server_url: str, assistant: str, *, streaming: bool = False, headers: dict[str, str] | None = None
) -> AsyncIterator[Client]:
    """An A2A client for one assistant, resolved from its URL as a user would connect."""
    async with httpx.AsyncClient(timeout=60, headers=headers) as http:
        client = await create_client(
            f"{server_url}/a2a/{assistant}", client_config=ClientConfig(streaming=streaming, httpx_client=http)
        )
        async with client:
            yield client


async def send(client: Client, message: a2a.Message, **options: object) -> list[a2a.StreamResponse]:
    request = a2a.SendMessageRequest(message=message, configuration=a2a.SendMessageConfiguration(**options))
    return [event async for event in client.send_message(request)]


def answer_text(task: a2a.Task) -> str:
    return "".join(part.text for artifact in task.artifacts for part in artifact.parts)


def rpc(method: str, params: object, *, id_: int = 1) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}


async def test_the_agent_card_is_served_at_the_well_known_paths(server_url: str, http: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient() as resolver_http:
        card = await A2ACardResolver(resolver_http, f"{server_url}/a2a/echo").get_agent_card()
    root = await http.get("/.well-known/agent-card.json", params={"assistant_id": "echo"})
    agent_url = await http.get("/a2a/echo")

    assert card.name == "echo"
    assert card.capabilities.streaming
    assert {interface.protocol_version for interface in card.supported_interfaces} == {"1.0", "0.3"}
    assert card.supported_interfaces[0].url.endswith(f"/a2a/{root.json()['skills'][0]['id'].removesuffix('-main')}")
    assert root.status_code == 200
    assert root.json()["name"] == "echo"
    assert root.json()["url"] == card.supported_interfaces[0].url  # the v0.3 field, for older clients
    assert agent_url.json()["name"] == "echo"


async def test_message_send_answers_with_a_completed_task(server_url: str) -> None:
    async with a2a_client(server_url, "echo") as client:
        events = await send(client, user_message("hello agent"))

    task = events[-1].task
    assert task.status.state == a2a.TASK_STATE_COMPLETED
    assert answer_text(task) == "echo: hello agent"
    assert task.id == f"{task.context_id}:{task.id.split(':', 1)[1]}"


async def test_message_stream_sends_the_task_then_updates_then_the_final_state(server_url: str) -> None:
    async with a2a_client(server_url, "echo", streaming=True) as client:
        events = await send(client, user_message("stream please"))

    kinds = [event.WhichOneof("payload") for event in events]
    assert kinds[0] == "task"
    assert "artifact_update" in kinds
    assert kinds[-1] == "status_update"
    assert events[-1].status_update.status.state == a2a.TASK_STATE_COMPLETED
    artifact = next(event.artifact_update.artifact for event in events if event.HasField("artifact_update"))
    assert artifact.parts[0].text == "echo: stream please"
    progress = [
        event.status_update.status.message.parts[0].text
        for event in events
        if event.HasField("status_update") and event.status_update.status.message.parts
    ]
    assert progress == ["echo: stream please"]  # the agent's message as the graph produced it, before the end


async def test_the_example_agent_answers_over_a_stream(server_url: str) -> None:
    async with a2a_client(server_url, "agent", streaming=True) as client:
        events = await send(client, user_message("What is the weather in Paris?"))

    assert events[-1].status_update.status.state == a2a.TASK_STATE_COMPLETED
    artifact = next(event.artifact_update.artifact for event in events if event.HasField("artifact_update"))
    assert artifact.parts[0].text


async def test_get_task_reports_a_finished_run(server_url: str) -> None:
    async with a2a_client(server_url, "echo") as client:
        sent = (await send(client, user_message("remember me")))[-1].task
        fetched = await client.get_task(a2a.GetTaskRequest(id=sent.id))

    assert fetched.id == sent.id
    assert fetched.status.state == a2a.TASK_STATE_COMPLETED
    assert answer_text(fetched) == "echo: remember me"
    assert fetched.history[0].parts[0].text == "remember me"


async def test_a_second_message_in_the_same_context_continues_the_thread(
    server_url: str, client: LangGraphClient
) -> None:
    async with a2a_client(server_url, "echo") as a2a_sdk:
        first = (await send(a2a_sdk, user_message("first")))[-1].task
        second = (await send(a2a_sdk, user_message("second", context_id=first.context_id)))[-1].task

    state = await client.threads.get_state(first.context_id)
    assert second.context_id == first.context_id
    assert second.id != first.id
    assert [message["content"] for message in state["values"]["messages"]] == [
        "first",
        "echo: first",
        "second",
        "echo: second",
    ]


async def test_cancel_task_cancels_the_running_run(server_url: str) -> None:
    async with a2a_client(server_url, "slow") as client:
        submitted = (await send(client, user_message(data={"ticks": []}), return_immediately=True))[-1].task
        cancelled = await client.cancel_task(a2a.CancelTaskRequest(id=submitted.id))

    assert submitted.status.state in (a2a.TASK_STATE_SUBMITTED, a2a.TASK_STATE_WORKING)
    assert cancelled.status.state == a2a.TASK_STATE_CANCELED


async def test_cancelling_a_finished_task_is_not_cancelable(server_url: str) -> None:
    async with a2a_client(server_url, "echo") as client:
        task = (await send(client, user_message("done already")))[-1].task
        with pytest.raises(TaskNotCancelableError):
            await client.cancel_task(a2a.CancelTaskRequest(id=task.id))


async def test_an_interrupt_asks_for_input_and_the_answer_resumes_the_task(server_url: str) -> None:
    async with a2a_client(server_url, "hitl") as client:
        asked = (await send(client, user_message(data={"done": False})))[-1].task
        waiting = await client.get_task(a2a.GetTaskRequest(id=asked.id))
        answer = user_message("approved", context_id=asked.context_id)
        answer.task_id = asked.id
        resumed = (await send(client, answer))[-1].task

    assert asked.status.state == waiting.status.state == a2a.TASK_STATE_INPUT_REQUIRED
    assert "approve?" in str(asked.artifacts[0].parts[0].data)
    assert resumed.status.state == a2a.TASK_STATE_COMPLETED
    assert resumed.context_id == asked.context_id
    values = resumed.artifacts[0].parts[0].data.struct_value
    assert (values["answer"], values["done"]) == ("approved", True)


async def test_a_graph_error_is_a_failed_task(server_url: str) -> None:
    async with a2a_client(server_url, "boom") as client:
        task = (await send(client, user_message("explode")))[-1].task

    assert task.status.state == a2a.TASK_STATE_FAILED
    assert "boom" in task.status.message.parts[0].text


async def test_the_sdks_v0_3_compat_transport_works_too(server_url: str) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        card = await A2ACardResolver(http, f"{server_url}/a2a/echo").get_agent_card()
        legacy = [interface for interface in card.supported_interfaces if interface.protocol_version == "0.3"]
        del card.supported_interfaces[:]
        card.supported_interfaces.extend(legacy)
        async with ClientFactory(ClientConfig(streaming=False, httpx_client=http)).create(card) as client:
            task = (await send(client, user_message("old client")))[-1].task
            fetched = await client.get_task(a2a.GetTaskRequest(id=task.id))

    assert answer_text(task) == "echo: old client"
    assert fetched.status.state == a2a.TASK_STATE_COMPLETED


async def test_an_unknown_task_is_task_not_found(server_url: str) -> None:
    async with a2a_client(server_url, "echo") as client:
        with pytest.raises(TaskNotFoundError):
            await client.get_task(a2a.GetTaskRequest(id=f"{uuid.uuid4()}:{uuid.uuid4()}"))


async def test_raw_v0_3_methods_answer_in_json_rpc(http: httpx.AsyncClient) -> None:
    message = {"messageId": str(uuid.uuid4()), "role": "user", "parts": [{"kind": "text", "text": "raw"}]}

    sent = await http.post("/a2a/echo", json=rpc("message/send", {"message": message}), headers=JSON)
    missing = await http.post(
        "/a2a/echo", json=rpc("tasks/get", {"id": f"{uuid.uuid4()}:{uuid.uuid4()}"}, id_=2), headers=JSON
    )

    assert sent.status_code == 200
    assert sent.json()["result"]["status"]["state"] == "completed"
    assert missing.json()["error"]["code"] == -32001


async def test_unsupported_methods_say_so(http: httpx.AsyncClient) -> None:
    v1 = {**JSON, "A2A-Version": "1.0"}  # what the SDK sends; without it a 1.0 method name is taken as 1.0 too
    task = f"{uuid.uuid4()}:{uuid.uuid4()}"

    listing = await http.post("/a2a/echo", json=rpc("ListTasks", {}), headers=v1)
    push = await http.post(
        "/a2a/echo", json=rpc("GetTaskPushNotificationConfig", {"taskId": task, "id": "c"}), headers=v1
    )

    assert listing.json()["error"]["code"] == -32004
    assert push.json()["error"]["code"] == -32003


async def test_malformed_json_is_a_parse_error(http: httpx.AsyncClient) -> None:
    response = await http.post("/a2a/echo", content=b'{"jsonrpc": "2.0", "id": 1,', headers=JSON)

    assert response.json()["error"]["code"] == -32700


async def test_an_unknown_method_is_method_not_found(http: httpx.AsyncClient) -> None:
    response = await http.post("/a2a/echo", json=rpc("tasks/explode", {}), headers=JSON)

    assert response.json()["error"]["code"] == -32601


async def test_bad_params_are_invalid_params(http: httpx.AsyncClient) -> None:
    no_message = await http.post("/a2a/echo", json=rpc("SendMessage", {"message": "hi"}), headers=JSON)
    empty = await http.post(
        "/a2a/echo",
        json=rpc("message/send", {"message": {"messageId": "m", "role": "user", "parts": []}}),
        headers=JSON,
    )

    assert no_message.json()["error"]["code"] == -32602
    assert empty.json()["error"]["code"] == -32602


async def test_an_unknown_assistant_is_an_error_for_card_and_messages(http: httpx.AsyncClient) -> None:
    unknown = str(uuid.uuid4())
    message = {"messageId": "m1", "role": "user", "parts": [{"kind": "text", "text": "hi"}]}

    card = await http.get(f"/a2a/{unknown}/.well-known/agent-card.json")
    no_id = await http.get("/.well-known/agent-card.json")
    sent = await http.post(f"/a2a/{unknown}", json=rpc("message/send", {"message": message}), headers=JSON)

    assert card.status_code == 400
    assert card.json()["error"]["code"] == -32602
    assert no_id.status_code == 400
    assert sent.json()["error"]["code"] == -32602
    assert "not found" in sent.json()["error"]["message"]


@pytest.fixture
async def http(server_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server_url, timeout=60) as client:
        yield client
