"""The inspector page in a real browser against a real server: what it renders for each flow a user follows.

Graphs and assistants, threads (chat, values, history, diff), live runs (tokens, trace, cancel), interrupts,
failed runs, and bad input. Screenshots land where `tests/e2e/browser.py` says.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from langgraph_sdk.client import LangGraphClient

from tests.e2e.browser import Page, browser, page, playwright_api, screenshots

expect = playwright_api.expect
__all__ = ["browser", "page", "screenshots"]  # fixtures used by the tests below


async def _assistant_id(client: LangGraphClient, graph_id: str) -> str:
    found = await client.assistants.search(graph_id=graph_id, metadata={"created_by": "system"})
    return str(found[0]["assistant_id"])


async def _open_thread(page: Page, thread_id: str) -> None:
    await page.goto(f"/inspector/#/threads/{thread_id}")
    await expect(page.get_by_test_id("thread-id")).to_have_text(thread_id)


async def _pick(page: Page, label: str) -> None:
    """Choose the run form's assistant and wait until the form is rebuilt for it."""
    option = page.get_by_test_id("run-assistant").locator("option", has_text=label).first
    assistant_id = await option.get_attribute("value")
    await page.get_by_test_id("run-assistant").select_option(label=label)
    await expect(page.locator(f"[data-testid=run-form][data-assistant='{assistant_id}']")).to_have_count(1)


async def test_page_is_served_with_its_assets(anonymous: httpx.AsyncClient) -> None:
    redirect = await anonymous.get("/inspector")
    index = await anonymous.get("/inspector/")
    script = await anonymous.get("/inspector/inspector.js")

    assert redirect.status_code == 302
    assert redirect.headers["location"].endswith("/inspector/")
    assert "<title>Aegra inspector</title>" in index.text
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]


async def test_graph_page_draws_the_graph_and_saves_a_new_version(
    page: Page, client: LangGraphClient, screenshots: Path
) -> None:
    assistant_id = await _assistant_id(client, "agent_hitl")

    await page.goto(f"/inspector/#/graphs/{assistant_id}")
    graph = page.get_by_test_id("graph")
    await expect(graph.locator("[data-node=approve]")).to_have_count(1)
    await expect(graph.locator("[data-node=tools]")).to_have_count(1)
    await page.screenshot(path=screenshots / "graphs.png", full_page=True)
    await page.get_by_test_id("version-config").fill('{"configurable": {"mode": "careful"}}')
    await page.get_by_test_id("save-version").click()

    await expect(page.get_by_test_id("versions").locator("[data-version='2']")).to_contain_text("careful")
    await expect(page.get_by_test_id("assistant-config")).to_contain_text('"mode": "careful"')
    assert (await client.assistants.get(assistant_id))["version"] == 2


async def test_run_streams_tokens_live_then_thread_shows_chat_values_and_history(
    page: Page, client: LangGraphClient, screenshots: Path
) -> None:
    await client.assistants.create("tokens", config={"configurable": {"gated": True, "tokens": 30}}, name="gated")
    thread = await client.threads.create()
    await _open_thread(page, thread["thread_id"])
    await _pick(page, "tokens · gated")

    await page.get_by_test_id("input-message").fill("count for me")
    await page.get_by_test_id("start-run").click()
    live = page.get_by_test_id("live-chat")
    await expect(live).to_contain_text("t0")  # the model now waits for the gate: only the first token is out
    await expect(page.get_by_test_id("live-status")).to_have_text("running")
    assert "t29" not in await live.inner_text()
    await client.store.put_item(("gates",), thread["thread_id"], {"open": True})

    await expect(live).to_contain_text("t29")
    await expect(page.get_by_test_id("live-status")).to_have_text("done")
    await expect(page.get_by_test_id("trace")).to_contain_text("speak → messages")
    await expect(page.get_by_test_id("chat")).to_contain_text("count for me")
    await expect(page.get_by_test_id("values")).to_contain_text("t29")
    await page.screenshot(path=screenshots / "thread-run.png", full_page=True)
    await page.locator("[data-tab=History]").click()
    await page.get_by_test_id("timeline").locator("button").first.click()
    await expect(page.get_by_test_id("diff")).to_contain_text("messages[1] added")
    await page.screenshot(path=screenshots / "history.png", full_page=True)


async def test_cancel_stops_a_streaming_run(page: Page, client: LangGraphClient) -> None:
    thread = await client.threads.create()
    await _open_thread(page, thread["thread_id"])
    await _pick(page, "slow")

    await page.get_by_test_id("use-json").check()
    await page.get_by_test_id("input-json").fill("{}")
    await page.get_by_test_id("start-run").click()
    await expect(page.get_by_test_id("trace")).to_contain_text("tick → ticks")
    await page.get_by_test_id("cancel-run").click()

    await expect(page.get_by_test_id("live-status")).to_have_text("cancelled")
    runs = await client.runs.list(thread["thread_id"])
    assert [run["status"] for run in runs] == ["interrupted"]


async def test_opening_a_busy_thread_follows_its_run_and_cancels_it(page: Page, client: LangGraphClient) -> None:
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "slow", input={})
    await _open_thread(page, thread["thread_id"])

    await expect(page.get_by_test_id("trace")).to_contain_text("values: ticks")  # the run's own stream mode
    await page.get_by_test_id("cancel-run").click()

    await expect(page.get_by_test_id("live-status")).to_have_text("cancelled")
    assert (await client.runs.get(thread["thread_id"], run["run_id"]))["status"] == "interrupted"


async def test_interrupted_thread_shows_the_question_and_resumes_with_the_value(
    page: Page, client: LangGraphClient
) -> None:
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "hitl", input={})
    await _open_thread(page, thread["thread_id"])

    await expect(page.get_by_test_id("interrupt-value")).to_contain_text('"question": "approve?"')
    await page.get_by_test_id("resume-value").fill('"ship it"')
    await page.get_by_test_id("resume").click()

    await expect(page.get_by_test_id("live-status")).to_have_text("done")
    await expect(page.get_by_test_id("values")).to_contain_text('"answer": "ship it"')
    await expect(page.get_by_test_id("interrupt")).to_have_count(0)
    state = await client.threads.get_state(thread["thread_id"])
    assert state["values"] == {"answer": "ship it", "done": True}


async def test_example_agent_asks_before_its_tool_call_and_answers_after_approval(
    page: Page, client: LangGraphClient, screenshots: Path
) -> None:
    thread = await client.threads.create()
    await _open_thread(page, thread["thread_id"])
    await _pick(page, "agent_hitl")

    await page.get_by_test_id("input-message").fill("weather in Paris")
    await page.get_by_test_id("start-run").click()
    await expect(page.get_by_test_id("interrupt-value")).to_contain_text("Run these tool calls?")
    await expect(page.get_by_test_id("chat")).to_contain_text('search({"query":"weather in Paris"})')
    await page.screenshot(path=screenshots / "interrupt.png", full_page=True)
    await page.get_by_test_id("resume-value").fill('{"approved": true}')
    await page.get_by_test_id("resume").click()

    await expect(page.get_by_test_id("live-status")).to_have_text("done")
    await expect(page.get_by_test_id("chat")).to_contain_text(
        "Here is what I found about Top result for 'weather in Paris'"
    )
    await expect(page.get_by_test_id("trace")).to_contain_text("tools → messages")


async def test_fork_from_an_earlier_checkpoint_continues_with_edited_state(page: Page, client: LangGraphClient) -> None:
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "echo", input={"messages": [{"role": "human", "content": "first"}]})
    await _open_thread(page, thread["thread_id"])
    await page.locator("[data-tab=History]").click()
    history = await client.threads.get_history(thread["thread_id"])
    before_echo = next(state for state in history if state["next"] == ["echo"])

    await page.locator(f"[data-checkpoint='{before_echo['checkpoint']['checkpoint_id']}']").click()
    edited = {"messages": [{"type": "human", "content": "forked"}]}
    await page.get_by_test_id("checkpoint-detail").get_by_test_id("state-editor").fill(json.dumps(edited))
    await page.get_by_test_id("checkpoint-detail").get_by_test_id("update-and-continue").click()

    await expect(page.get_by_test_id("live-status")).to_have_text("done")
    await expect(page.get_by_test_id("chat")).to_contain_text("echo: forked")


async def test_failed_run_lists_its_error_and_node(page: Page, client: LangGraphClient, screenshots: Path) -> None:
    thread = await client.threads.create()
    await client.runs.wait(
        thread["thread_id"], "boom", input={"messages": [{"role": "human", "content": "x"}]}, raise_error=False
    )
    await _open_thread(page, thread["thread_id"])

    await page.locator("[data-tab=Runs]").click()

    await expect(page.get_by_test_id("runs").get_by_test_id("status")).to_have_text("error")
    await expect(page.get_by_test_id("run-error")).to_have_text("ValueError: boom (in node boom)")
    await page.screenshot(path=screenshots / "runs.png", full_page=True)


async def test_threads_page_filters_by_status_and_metadata(page: Page, client: LangGraphClient) -> None:
    tag = {"suite": "inspector-filter"}
    failed = await client.threads.create(metadata=tag)
    await client.runs.wait(failed["thread_id"], "boom", input={"messages": []}, raise_error=False)
    idle = await client.threads.create(metadata=tag)
    await page.goto("/inspector/#/threads")

    await page.get_by_test_id("status-filter").select_option("error")
    await page.get_by_test_id("metadata-filter").fill(json.dumps(tag))
    await page.get_by_test_id("search-threads").click()

    rows = page.get_by_test_id("threads").locator("tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-thread", failed["thread_id"])
    assert await page.locator(f"[data-thread='{idle['thread_id']}']").count() == 0


async def test_threads_page_pages_through_older_threads(page: Page, client: LangGraphClient) -> None:
    tag = {"suite": "inspector-pages"}
    created = [await client.threads.create(metadata=tag) for _ in range(21)]
    await page.goto("/inspector/#/threads")
    await page.get_by_test_id("metadata-filter").fill(json.dumps(tag))
    await page.get_by_test_id("search-threads").click()
    rows = page.get_by_test_id("threads").locator("tbody tr")
    await expect(rows).to_have_count(20)
    await expect(rows.first).to_have_attribute("data-thread", created[-1]["thread_id"])  # newest first

    await page.get_by_test_id("older").click()

    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-thread", created[0]["thread_id"])


async def test_subgraphs_switch_draws_the_subgraph_nodes(page: Page, client: LangGraphClient) -> None:
    assistant_id = await _assistant_id(client, "nested")
    await page.goto(f"/inspector/#/graphs/{assistant_id}")
    graph = page.get_by_test_id("graph")
    await expect(graph.locator("[data-node=child]")).to_have_count(1)

    await page.get_by_test_id("xray").check()

    await expect(graph.locator("[data-node='child:sub_a']")).to_have_count(1)
    await expect(graph.locator("[data-node='child:sub_b']")).to_have_count(1)
    assert await graph.locator("[data-node=child]").count() == 0


async def test_create_assistant_from_the_graph_page(page: Page, client: LangGraphClient) -> None:
    assistant_id = await _assistant_id(client, "factory")
    await page.goto(f"/inspector/#/graphs/{assistant_id}")

    await page.get_by_test_id("version-config").fill('{"configurable": {"greeting": "Ahoy"}}')
    await page.get_by_test_id("new-assistant-name").fill("pirate")
    await page.get_by_test_id("create-assistant").click()

    await expect(page.get_by_test_id("assistant-detail").locator("h2")).to_have_text("factory · pirate")
    await page.get_by_test_id("pick-assistant").click()
    await expect(page.get_by_test_id("assistant-list").locator("button.selected")).to_contain_text("picked")
    found = await client.assistants.search(graph_id="factory", metadata={})
    assert any(item["name"] == "pirate" and item["config"]["configurable"]["greeting"] == "Ahoy" for item in found)


async def test_invalid_json_input_shows_a_message_and_sends_nothing(page: Page, client: LangGraphClient) -> None:
    thread = await client.threads.create()
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if "/runs" in request.url else None)
    await _open_thread(page, thread["thread_id"])

    await page.get_by_test_id("use-json").check()
    await page.get_by_test_id("input-json").fill('{"messages": [')
    await page.get_by_test_id("start-run").click()

    await expect(page.get_by_test_id("run-form-error")).to_contain_text("Invalid JSON")
    assert [url for url in sent if url.endswith("/runs/stream")] == []
    assert await client.runs.list(thread["thread_id"]) == []


async def test_invalid_metadata_filter_shows_a_message_and_searches_nothing(page: Page) -> None:
    searches: list[str] = []
    page.on("request", lambda request: searches.append(request.url) if "/threads/search" in request.url else None)
    async with page.expect_response("**/threads/search"):
        await page.goto("/inspector/#/threads")
    searches.clear()

    await page.get_by_test_id("metadata-filter").fill("{graph_id: agent}")
    await page.get_by_test_id("search-threads").click()

    await expect(page.locator(".error")).to_contain_text("Metadata filter: Invalid JSON")
    assert searches == []


async def test_message_markup_is_shown_as_text_not_run(page: Page, client: LangGraphClient) -> None:
    thread = await client.threads.create()
    hostile = '<img src=x onerror="window.__pwned = true"><b>bold</b>'
    await client.runs.wait(thread["thread_id"], "echo", input={"messages": [{"role": "human", "content": hostile}]})

    await _open_thread(page, thread["thread_id"])

    await expect(page.get_by_test_id("chat")).to_contain_text(f"echo: {hostile}")
    assert await page.get_by_test_id("chat").locator("img, b").count() == 0
    assert await page.evaluate("window.__pwned === undefined")
