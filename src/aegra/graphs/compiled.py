"""The type of every graph Aegra serves: a compiled LangGraph graph, whatever its state, context, input and output."""

from __future__ import annotations

from typing import Any, TypeAlias

from langgraph.pregel import Pregel

CompiledGraph: TypeAlias = Pregel[Any, Any, Any, Any]
