"""`aegra init`: the starter project is complete, safe to re-run, and its graph runs without an API key."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from aegra.config import load_config
from aegra.graphs.registry import GraphRegistry
from aegra.scaffold import STARTER_FILES, write_starter_project


def test_writes_every_starter_file(tmp_path: Path) -> None:
    written = write_starter_project(tmp_path / "new-project")

    assert sorted(path.name for path in written) == sorted(STARTER_FILES)
    assert all(path.is_file() for path in written)
    assert {"aegra.json", "graph.py", ".env.example"} <= set(STARTER_FILES)


def test_refuses_to_overwrite_existing_files(tmp_path: Path) -> None:
    (tmp_path / "graph.py").write_text("# mine")

    with pytest.raises(FileExistsError, match=r"graph\.py"):
        write_starter_project(tmp_path)

    assert (tmp_path / "graph.py").read_text() == "# mine"
    assert not (tmp_path / "aegra.json").exists()


def test_overwrite_replaces_existing_files(tmp_path: Path) -> None:
    (tmp_path / "graph.py").write_text("# mine")

    write_starter_project(tmp_path, overwrite=True)

    assert (tmp_path / "graph.py").read_text() == STARTER_FILES["graph.py"]


async def test_starter_graph_loads_and_replies(tmp_path: Path) -> None:
    write_starter_project(tmp_path)
    registry = GraphRegistry.from_config(load_config(tmp_path / "aegra.json"))

    async with registry.get_graph("agent") as graph:
        result = await graph.ainvoke({"messages": [HumanMessage(content="hi")]})

    assert registry.graph_ids() == ["agent"]
    assert "You said: hi" in result["messages"][-1].content
