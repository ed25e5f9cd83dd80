"""Startup cost: a process imports what it needs when it needs it (issue 18). Building the app with the default
settings must not load Redis (only with REDIS_URL), Alembic (only when there is something to migrate) or
Aegra's OpenTelemetry wiring and exporters (only with OTEL_TARGETS). Each check runs in a fresh interpreter, so
nothing another test imported counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Loaded only by the processes whose settings ask for them. (Not listed: `opentelemetry.sdk.trace`, which langsmith
# imports whenever it is installed, and Litestar's OpenTelemetry plugin, which `Litestar()` itself imports.)
ON_DEMAND = ("redis", "alembic", "opentelemetry.sdk.trace.export", "aegra.observability.tracing")
TRACING = ("opentelemetry.sdk.trace.export", "aegra.observability.tracing")
# The settings that would turn them on, unset unless a test sets them.
SWITCHES = ("REDIS_URL", "OTEL_TARGETS", "DATABASE_URL", "AEGRA_CONFIG")

BUILD_APP = """
import dataclasses, json, sys
from pathlib import Path
from aegra.app import create_app
from aegra.config import load_config
from aegra.settings import Settings

settings = dataclasses.replace(Settings.from_env(), database_url="postgresql://unused@127.0.0.1:1/unused")
create_app(settings, load_config(Path("aegra.json")))
print(json.dumps(sorted(sys.modules)))
"""

GRAPH = """
from langgraph.graph import END, START, MessagesState, StateGraph

graph = StateGraph(MessagesState).add_node("noop", lambda state: {}).add_edge(START, "noop").add_edge("noop", END)
graph = graph.compile()
"""


def _modules_after_building_the_app(project: Path, **env: str) -> set[str]:
    (project / "graph.py").write_text(GRAPH)
    (project / "aegra.json").write_text(json.dumps({"graphs": {"noop": "./graph.py:graph"}}))
    environment = {key: value for key, value in os.environ.items() if key not in SWITCHES}
    result = subprocess.run(
        [sys.executable, "-c", BUILD_APP],
        cwd=project,
        env={**environment, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def _loaded(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(package for package in packages if any(m == package or m.startswith(f"{package}.") for m in modules))


def test_the_app_with_default_settings_loads_no_on_demand_package(tmp_path: Path) -> None:
    modules = _modules_after_building_the_app(tmp_path)

    assert _loaded(modules, ON_DEMAND) == []


def test_the_app_with_tracing_configured_loads_the_exporters_and_the_instrumentation(tmp_path: Path) -> None:
    modules = _modules_after_building_the_app(tmp_path, OTEL_TARGETS="CONSOLE")

    assert _loaded(modules, TRACING) == sorted(TRACING)
