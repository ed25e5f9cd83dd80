"""Strict checkpoint deserialization on a real PostgreSQL: a type no graph declares is never imported or called when
a checkpoint is read, while messages and the pydantic models, dataclasses and enums a graph's state names revive."""

from __future__ import annotations

import json
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ormsgpack
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.jsonplus import EXT_CONSTRUCTOR_POS_ARGS, JsonPlusSerializer

from aegra.config import load_config
from aegra.db.database import Database
from aegra.graphs.registry import GraphRegistry

REPO_ROOT = Path(__file__).resolve().parents[2]
CALLS: list[str] = []


@dataclass
class Tripwire:
    """Stands for any class a checkpoint could name: constructing it records the call."""

    payload: str

    def __post_init__(self) -> None:
        CALLS.append(f"Tripwire({self.payload})")


def tripwire(argument: str) -> str:
    """Stands for `os.system` and friends: a callable a forged checkpoint asks the loader to call."""
    CALLS.append(f"tripwire({argument})")
    return argument


class Forged:
    """Marks the channel value `ForgingSerializer` replaces with a forged payload."""


class ForgingSerializer(JsonPlusSerializer):
    """Writes what an attacker with access to the checkpoint tables could: a value that, read back by a permissive
    loader, calls `tripwire("rm -rf /")`."""

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        if isinstance(obj, Forged):
            call = ormsgpack.packb((__name__, "tripwire", ["rm -rf /"]))
            return "msgpack", ormsgpack.packb(ormsgpack.Ext(EXT_CONSTRUCTOR_POS_ARGS, call))
        return super().dumps_typed(obj)


async def _write_checkpoint(saver: AsyncPostgresSaver, values: dict[str, Any]) -> dict[str, Any]:
    """Store a checkpoint whose channels hold `values` (through `saver`'s serializer); return its config."""
    config: dict[str, Any] = {"configurable": {"thread_id": str(uuid.uuid4()), "checkpoint_ns": ""}}
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = values
    versions = dict.fromkeys(values, 1)
    checkpoint["channel_versions"] = versions
    saved = await saver.aput(config, checkpoint, {}, versions)  # type: ignore[arg-type]
    return dict(saved)


async def test_a_checkpointed_class_no_graph_declares_is_not_instantiated(database: Database) -> None:
    permissive = AsyncPostgresSaver(database.lg_pool, serde=JsonPlusSerializer(allowed_msgpack_modules=True))  # type: ignore[arg-type]
    config = await _write_checkpoint(permissive, {"box": Tripwire("boom"), "messages": [HumanMessage("hi")]})
    CALLS.clear()

    strict = await database.checkpointer.aget_tuple(config)  # type: ignore[arg-type]
    calls_when_strict = list(CALLS)
    control = await permissive.aget_tuple(config)  # type: ignore[arg-type]

    assert strict is not None and control is not None
    assert calls_when_strict == []
    assert strict.checkpoint["channel_values"]["box"] == {"payload": "boom"}  # its data, as a plain dict
    assert strict.checkpoint["channel_values"]["messages"] == [HumanMessage("hi")]  # messages still revive
    assert isinstance(control.checkpoint["channel_values"]["box"], Tripwire)  # the payload was real
    assert CALLS == ["Tripwire(boom)"]


async def test_a_forged_checkpoint_cannot_make_the_loader_call_a_function(database: Database) -> None:
    forger = AsyncPostgresSaver(database.lg_pool, serde=ForgingSerializer())  # type: ignore[arg-type]
    config = await _write_checkpoint(forger, {"payload": Forged()})
    CALLS.clear()

    strict = await database.checkpointer.aget_tuple(config)  # type: ignore[arg-type]
    calls_when_strict = list(CALLS)
    permissive = AsyncPostgresSaver(database.lg_pool, serde=JsonPlusSerializer(allowed_msgpack_modules=True))  # type: ignore[arg-type]
    await permissive.aget_tuple(config)  # type: ignore[arg-type]

    assert strict is not None
    assert calls_when_strict == []
    assert strict.checkpoint["channel_values"]["payload"] == ["rm -rf /"]  # the arguments, never the call
    assert CALLS == ["tripwire(rm -rf /)"]  # a permissive loader would have run it


TYPED_GRAPH = '''
import enum
import operator
from dataclasses import dataclass
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel


@dataclass
class Note:
    text: str


class Mood(enum.Enum):
    HAPPY = "happy"


class Profile(BaseModel):
    name: str


class State(TypedDict, total=False):
    notes: Annotated[list[Note], operator.add]
    mood: Mood
    profile: Profile | None
    seen: list[str]


def remember(state: State) -> dict:
    """Reads what the previous run checkpointed by attribute: only revived instances have these attributes."""
    notes = state.get("notes", [])
    seen = [note.text.upper() for note in notes]
    if "mood" in state:
        seen.append(state["mood"].value)
    if state.get("profile") is not None:
        seen.append(state["profile"].name)
    return {"notes": [Note(f"note {len(notes)}")], "mood": Mood.HAPPY, "profile": Profile(name="ada"), "seen": seen}


graph = StateGraph(State).add_node("remember", remember).add_edge(START, "remember").add_edge("remember", END).compile()
'''


@pytest.fixture(scope="module")
def typed_registry(tmp_path_factory: pytest.TempPathFactory) -> GraphRegistry:
    folder = tmp_path_factory.mktemp("typed-graph")
    (folder / "typed_graph.py").write_text(textwrap.dedent(TYPED_GRAPH))
    (folder / "aegra.json").write_text(json.dumps({"graphs": {"typed": "./typed_graph.py:graph"}}))
    return GraphRegistry.from_config(load_config(folder / "aegra.json"))


async def test_the_types_a_graph_state_declares_revive_from_its_checkpoints(
    database: Database, typed_registry: GraphRegistry
) -> None:
    config = {"configurable": {"thread_id": str(uuid.uuid4())}}

    for _ in range(2):
        async with typed_registry.get_graph("typed", checkpointer=database.checkpointer) as graph:
            values = await graph.ainvoke({}, config)
    raw = await database.checkpointer.aget_tuple(config)  # type: ignore[arg-type]

    assert values["seen"] == ["NOTE 0", "happy", "ada"]  # the second run read revived instances
    assert [type(note).__name__ for note in values["notes"]] == ["Note", "Note"]
    assert raw is not None  # without the graph's types, the same checkpoint holds only plain data
    assert raw.checkpoint["channel_values"]["notes"] == [{"text": "note 0"}, {"text": "note 1"}]
    assert raw.checkpoint["channel_values"]["mood"] == "happy"
    assert raw.checkpoint["channel_values"]["profile"] == {"name": "ada"}


async def test_messages_round_trip_through_the_example_agent(database: Database) -> None:
    registry = GraphRegistry.from_config(load_config(REPO_ROOT / "aegra.json"))
    config = {"configurable": {"thread_id": str(uuid.uuid4())}}

    async with registry.get_graph("agent", checkpointer=database.checkpointer) as graph:
        await graph.ainvoke({"messages": [HumanMessage("what is aegra?")]}, config)
        state = await graph.aget_state(config)

    assert isinstance(state.values["messages"][0], HumanMessage)
    assert isinstance(state.values["messages"][-1], AIMessage)
