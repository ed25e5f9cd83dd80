"""Contract test of `aegra.adapters.langgraph_checkpoint` on a real database: its SQL on the checkpointer's tables
copies what the checkpointer wrote and deletes exactly one run's checkpoints, as read back by the checkpointer."""

from __future__ import annotations

import uuid
from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from aegra.adapters.langgraph_checkpoint import copy_thread_checkpoints, delete_run_checkpoints
from aegra.db.database import Database

CHECKPOINT_COLUMNS = {
    "checkpoints": {"thread_id", "checkpoint_ns", "checkpoint_id", "parent_checkpoint_id", "type", "checkpoint"},
    "checkpoint_blobs": {"thread_id", "checkpoint_ns", "channel", "version", "type", "blob"},
    "checkpoint_writes": {"thread_id", "checkpoint_ns", "checkpoint_id", "task_id", "task_path", "idx", "channel"},
}


class State(TypedDict):
    notes: list[str]


def _graph(database: Database) -> Any:
    def write(state: State) -> dict[str, Any]:
        return {"notes": [*state["notes"], "written"]}

    def ask(state: State) -> dict[str, Any]:
        answer = interrupt("continue?")
        return {"notes": [*state["notes"], answer]}

    builder = StateGraph(State)
    builder.add_node("write", write)
    builder.add_node("ask", ask)
    builder.add_edge(START, "write")
    builder.add_edge("write", "ask")
    builder.add_edge("ask", END)
    return builder.compile(checkpointer=database.checkpointer)


def _config(thread_id: str, run_id: str | None = None) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": thread_id}
    if run_id is not None:
        configurable["run_id"] = run_id
    return {"configurable": configurable}


async def _checkpoint_ids(database: Database, thread_id: str) -> list[str]:
    return [
        item.config["configurable"]["checkpoint_id"] async for item in database.checkpointer.alist(_config(thread_id))
    ]


async def test_checkpoint_tables_have_the_columns_the_adapter_names(database: Database) -> None:
    async with database.lg_pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_name = ANY(%s)",
                (list(CHECKPOINT_COLUMNS),),
            )
        ).fetchall()
    found: dict[str, set[str]] = {}
    for row in rows:  # the pool's connections return dict rows
        found.setdefault(row["table_name"], set()).add(row["column_name"])

    for table, columns in CHECKPOINT_COLUMNS.items():
        assert columns <= found.get(table, set()), f"{table} lost {columns - found.get(table, set())}"


async def test_copy_gives_the_target_thread_the_same_state_and_pending_interrupt(database: Database) -> None:
    graph = _graph(database)
    source, target = str(uuid.uuid4()), str(uuid.uuid4())
    await graph.ainvoke({"notes": []}, _config(source))

    await copy_thread_checkpoints(database.lg_pool, source, target)

    copied = await graph.aget_state(_config(target))
    original = await graph.aget_state(_config(source))
    assert await _checkpoint_ids(database, target) == await _checkpoint_ids(database, source)
    assert copied.values == original.values == {"notes": ["written"]}
    assert [item.value for item in copied.interrupts] == ["continue?"]
    assert copied.metadata is not None and copied.metadata.get("thread_id", target) == target


async def test_deleting_a_runs_checkpoints_keeps_the_other_runs(database: Database) -> None:
    graph = _graph(database)
    thread_id, first_run, second_run = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    await graph.ainvoke({"notes": []}, _config(thread_id, first_run))
    kept = await _checkpoint_ids(database, thread_id)
    await graph.ainvoke({"notes": ["again"]}, _config(thread_id, second_run))

    await delete_run_checkpoints(database.lg_pool, thread_id, second_run)

    assert await _checkpoint_ids(database, thread_id) == kept
    state = await graph.aget_state(_config(thread_id))
    assert state.values == {"notes": ["written"]}
    assert state.metadata is not None and state.metadata.get("run_id") == first_run
