"""`aegra init`: the files of a runnable starter project (no API key needed)."""

from __future__ import annotations

from pathlib import Path

AEGRA_JSON = """{
  "dependencies": ["."],
  "graphs": {
    "agent": "./graph.py:graph"
  }
}
"""

GRAPH_PY = '''"""A starter graph: one node that replies with a fake chat model (no API key needed)."""

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph


def reply(state: MessagesState) -> dict:
    last = state["messages"][-1].content if state["messages"] else "nothing"
    model = GenericFakeChatModel(messages=iter([AIMessage(content=f"You said: {last}. Replace me with a real model.")]))
    return {"messages": [model.invoke(state["messages"])]}


graph = StateGraph(MessagesState).add_node("reply", reply).add_edge(START, "reply").add_edge("reply", END).compile()
'''

ENV_EXAMPLE = """# Copy to .env and edit. Every setting is described in docs/environment.md of the Aegra repository.
# Leave DATABASE_URL unset to use the embedded PostgreSQL under ./.aegra/
# DATABASE_URL=postgresql://postgres:postgres@localhost:5432/aegra
# PORT=2026
# LOG_LEVEL=INFO
# OPENAI_API_KEY=
"""

GITIGNORE = """.aegra/
.env
__pycache__/
.venv/
"""

STARTER_FILES: dict[str, str] = {
    "aegra.json": AEGRA_JSON,
    "graph.py": GRAPH_PY,
    ".env.example": ENV_EXAMPLE,
    ".gitignore": GITIGNORE,
}


def write_starter_project(directory: Path, *, overwrite: bool = False) -> list[Path]:
    """Write the starter files into `directory`; refuse to clobber existing files unless `overwrite`."""
    directory.mkdir(parents=True, exist_ok=True)
    targets = [directory / name for name in STARTER_FILES]
    if not overwrite:
        for target in targets:
            if target.exists():
                raise FileExistsError(str(target))
    for target in targets:
        target.write_text(STARTER_FILES[target.name])
    return targets
