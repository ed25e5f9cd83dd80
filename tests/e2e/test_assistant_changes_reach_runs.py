"""A process builds runs from its cached copy of an assistant only while that copy is current: an update or a
delete made through another process reaches the next run created here."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import NotFoundError

from aegra.config import AegraConfig
from aegra.settings import Settings
from tests.conftest import running_server


@pytest.fixture
async def other_process(settings: Settings, aegra_config: AegraConfig) -> AsyncIterator[LangGraphClient]:
    """A second server on the module's database (another process of the same deployment)."""
    async with running_server(settings, aegra_config) as url:
        sdk = get_client(url=url, api_key=None)
        yield sdk
        await sdk.http.client.aclose()


async def test_a_run_uses_the_assistant_as_another_process_updated_it(
    client: LangGraphClient, other_process: LangGraphClient
) -> None:
    assistant = await client.assistants.create(graph_id="echo", config={"configurable": {"flavor": "v1"}})
    thread = await client.threads.create()
    before = await client.runs.create(thread["thread_id"], assistant["assistant_id"], input={"messages": []})
    await client.runs.join(thread["thread_id"], before["run_id"])

    await other_process.assistants.update(assistant["assistant_id"], config={"configurable": {"flavor": "v2"}})
    after = await client.runs.create(thread["thread_id"], assistant["assistant_id"], input={"messages": []})
    stateless = await client.runs.create(None, assistant["assistant_id"], input={"messages": []})

    assert before["kwargs"]["config"]["configurable"]["flavor"] == "v1"
    assert after["kwargs"]["config"]["configurable"]["flavor"] == "v2"
    assert stateless["kwargs"]["config"]["configurable"]["flavor"] == "v2"


async def test_a_run_of_an_assistant_another_process_deleted_is_not_created(
    client: LangGraphClient, other_process: LangGraphClient
) -> None:
    assistant = await client.assistants.create(graph_id="echo")
    await client.runs.wait(None, assistant["assistant_id"], input={"messages": []})

    await other_process.assistants.delete(assistant["assistant_id"])

    with pytest.raises(NotFoundError):
        await client.runs.create(None, assistant["assistant_id"], input={"messages": []})
    with pytest.raises(httpx.HTTPStatusError) as waited:
        await client.runs.wait(None, assistant["assistant_id"], input={"messages": []})
    assert waited.value.response.status_code == 404
