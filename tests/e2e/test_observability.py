"""Request logs, request ids, Prometheus metrics and OpenTelemetry spans on a running server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

SPANS = InMemorySpanExporter()


@pytest.fixture(scope="module")
def app_options() -> dict[str, Any]:
    return {"span_exporters": [SPANS]}


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


async def test_metrics_parse_and_count_requests_by_route(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        await http.post("/assistants/search", json={})
        before = _samples((await http.get("/metrics")).text, "aegra_http_requests_total")
        await http.post("/assistants/search", json={})
        response = await http.get("/metrics")

    after = _samples(response.text, "aegra_http_requests_total")
    key = {"method": "POST", "route": "/assistants/search", "status": "200"}
    assert response.headers["content-type"].startswith("text/plain")
    assert dict((tuple(sorted(labels.items())), value) for labels, value in after)[tuple(sorted(key.items()))] == (
        dict((tuple(sorted(labels.items())), value) for labels, value in before)[tuple(sorted(key.items()))] + 1
    )


async def test_metrics_report_runs_queue_and_pools(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        text = (await http.get("/metrics")).text

    names = {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}
    assert {"aegra_runs", "aegra_run_queue_depth", "aegra_active_runs", "aegra_db_pool_connections"} <= names
    assert {labels["status"] for labels, _ in _samples(text, "aegra_runs")} >= {"pending", "running", "success"}


async def test_request_id_is_echoed_or_generated(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        given = await http.get("/info", headers={"x-request-id": "abc-123"})
        generated = await http.get("/info")

    assert given.headers["x-request-id"] == "abc-123"
    assert len(generated.headers["x-request-id"]) == 32


async def test_http_requests_become_spans(server_url: str) -> None:
    SPANS.clear()
    async with httpx.AsyncClient(base_url=server_url) as http:
        await http.get("/assistants/agent")

    names = [span.name for span in SPANS.get_finished_spans()]
    assert any("/assistants/{assistant_id:str}" in name or "GET" in name for name in names), names


async def test_finished_run_moves_the_run_metrics(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        before = _samples((await http.get("/metrics")).text, "aegra_runs_finished_total")
        response = await http.post(
            "/runs/wait", json={"assistant_id": "echo", "input": {"messages": [{"role": "user", "content": "hi"}]}}
        )
        after_text = (await http.get("/metrics")).text

    finished_before = sum(value for labels, value in before if labels["status"] == "success")
    finished_after = sum(
        value for labels, value in _samples(after_text, "aegra_runs_finished_total") if labels["status"] == "success"
    )
    assert response.status_code == 200
    assert finished_after == finished_before + 1


async def test_run_span_carries_ids_and_nests_graph_spans(server_url: str) -> None:
    SPANS.clear()
    async with httpx.AsyncClient(base_url=server_url) as http:
        thread = (await http.post("/threads", json={})).json()
        await http.post(
            f"/threads/{thread['thread_id']}/runs/wait",
            json={"assistant_id": "echo", "input": {"messages": [{"role": "user", "content": "hi"}]}},
        )

    spans = SPANS.get_finished_spans()
    run_span = next(span for span in spans if span.name == "run echo")
    children = [span for span in spans if span.parent is not None and span.parent.span_id == run_span.context.span_id]
    assert run_span.attributes is not None
    assert run_span.attributes["aegra.thread_id"] == thread["thread_id"]
    assert "aegra.run_id" in run_span.attributes
    assert any(span.name.startswith("chain") for span in children)


async def test_unrouted_requests_are_counted(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        missing = await http.get("/no/such/route")
        text = (await http.get("/metrics")).text

    unmatched = [labels for labels, _ in _samples(text, "aegra_http_requests_total") if labels["route"] == "unmatched"]
    assert missing.status_code == 404
    assert {"method": "GET", "route": "unmatched", "status": "404"} in unmatched
