"""MCP at `/mcp`: every assistant the caller may see is a tool; calling one runs it as a stateless run.

The protocol layer is the official `mcp` SDK: its low-level `Server` answers `initialize`, `ping`, `tools/list`
and `tools/call`, and its Streamable HTTP session manager (stateless) carries them, as JSON responses or, for a
client that accepts `text/event-stream`, as SSE. Both are built on the first request, so the SDK is imported
only by a server that is asked for MCP.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import TYPE_CHECKING, Any, Final

import msgspec
import structlog
from litestar.types import Receive, Scope, Send

from aegra import __version__, serde
from aegra.api.assistants import assistant_graph
from aegra.errors import ApiError, NotFoundError
from aegra.graphs.introspection import graph_schemas
from aegra.interop.services import InteropServices, request_services, run_to_outcome
from aegra.interop.tool_schema import tool_input_schema, tool_name
from aegra.schemas.assistants import Assistant, AssistantSearch
from aegra.schemas.runs import RunCreateStateless

if TYPE_CHECKING:
    import mcp_types
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

logger = structlog.get_logger(__name__)

PAGE_SIZE: Final = 100  # tools per `tools/list` page, as langgraph-api pages them
MAX_TOOLS: Final = 1000  # assistants searched for the one a `tools/call` names
SSE_MEDIA_TYPE: Final = "text/event-stream"


@contextmanager
def refused_as_protocol_errors() -> Iterator[None]:
    """What auth or validation refuses (a 403 from a handler, a bad id) is a JSON-RPC error naming it, not an
    internal error."""
    try:
        yield
    except ApiError as exc:
        from mcp.shared.exceptions import MCPError
        from mcp_types import INVALID_PARAMS, INVALID_REQUEST

        raise MCPError(INVALID_PARAMS if exc.status_code in (404, 422) else INVALID_REQUEST, exc.detail) from exc


def _scope_of(ctx: ServerRequestContext[Any, Any]) -> Scope:
    if ctx.request is None:  # the Streamable HTTP transport always attaches the request
        raise RuntimeError("MCP request without its HTTP request")
    scope: Scope = ctx.request.scope
    return scope


async def _tool(services: InteropServices, assistant: Assistant, name: str) -> mcp_types.Tool | None:
    """The tool of one assistant; None (left out of the list) when its graph's schema cannot be built."""
    import mcp_types

    try:
        async with assistant_graph(services.assistants, services.runs.registry, str(assistant.assistant_id)) as (
            _,
            graph,
        ):
            input_schema = graph_schemas(graph)["input_schema"]
    except (ApiError, ValueError, TypeError) as exc:
        logger.warning("assistant left out of MCP tools", assistant_id=str(assistant.assistant_id), error=str(exc))
        return None
    return mcp_types.Tool(
        name=name,
        title=assistant.name,
        description=assistant.description or f"Tool based on the {assistant.name} assistant",
        input_schema=tool_input_schema(input_schema),
        annotations=mcp_types.ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
        ),
    )


async def list_tools(
    ctx: ServerRequestContext[Any, Any], params: mcp_types.PaginatedRequestParams | None
) -> mcp_types.ListToolsResult:
    """One tool per visible assistant, a page of them at a time (the cursor is the offset of the next page)."""
    import mcp_types

    cursor = params.cursor if params is not None else None
    offset = int(cursor) if cursor is not None and cursor.isdigit() else 0
    tools: list[mcp_types.Tool] = []
    async with request_services(_scope_of(ctx)) as services:
        with refused_as_protocol_errors():
            page = await services.assistants.search(AssistantSearch(limit=PAGE_SIZE, offset=offset))
        seen: set[str] = set()
        for assistant in page.items:
            name = tool_name(assistant.name)
            if not name or name in seen:
                logger.warning("assistant name already taken by an MCP tool", name=assistant.name)
                continue
            seen.add(name)
            if (tool := await _tool(services, assistant, name)) is not None:
                tools.append(tool)
    next_cursor = str(offset + PAGE_SIZE) if len(page.items) == PAGE_SIZE else None
    return mcp_types.ListToolsResult(tools=tools, next_cursor=next_cursor)


async def _assistant_for_tool(services: InteropServices, name: str) -> Assistant:
    """The one visible assistant whose tool is `name`."""
    from mcp.shared.exceptions import MCPError
    from mcp_types import INVALID_PARAMS

    with refused_as_protocol_errors():
        page = await services.assistants.search(AssistantSearch(limit=MAX_TOOLS))
    found = [assistant for assistant in page.items if name and tool_name(assistant.name) == name]
    if not found:
        raise MCPError(INVALID_PARAMS, f"Unknown tool: {name}")
    if len(found) > 1:
        raise MCPError(INVALID_PARAMS, "Multiple tools found with the same name.")
    return found[0]


def _text_result(text: str, *, is_error: bool = False) -> mcp_types.CallToolResult:
    import mcp_types

    return mcp_types.CallToolResult(content=[mcp_types.TextContent(text=text)], is_error=is_error)


def _outcome_text(body: bytes) -> tuple[str, bool]:
    """The run's answer as tool text, and whether it failed (`{"__error__": ...}`)."""
    value = msgspec.json.decode(body) if body.strip() else {}
    if isinstance(value, dict) and "__error__" in value:
        error = value["__error__"] if isinstance(value["__error__"], dict) else {"message": str(value["__error__"])}
        name, message = error.get("error"), error.get("message")
        return (f"{name}: {message}" if name and message else str(message or name or "Run failed")), True
    return serde.dumps(value).decode(), False


async def call_tool(
    ctx: ServerRequestContext[Any, Any], params: mcp_types.CallToolRequestParams
) -> mcp_types.CallToolResult:
    """Run the tool's assistant as a stateless run with the arguments as input; a failed run is an error result."""
    raw_params = ctx.params or {}
    context = raw_params.get("context")
    async with request_services(_scope_of(ctx)) as services:
        assistant = await _assistant_for_tool(services, params.name)
        payload = RunCreateStateless(
            assistant_id=str(assistant.assistant_id),
            input=params.arguments or {},
            context=context if isinstance(context, dict) else None,
        )
        try:
            _, outcome = await run_to_outcome(services.runs, None, payload)
        except NotFoundError as exc:
            from mcp.shared.exceptions import MCPError
            from mcp_types import INVALID_PARAMS

            raise MCPError(INVALID_PARAMS, f"Unknown tool: {params.name} ({exc.detail})") from exc
        except ApiError as exc:
            return _text_result(exc.detail, is_error=True)
    text, failed = _outcome_text(outcome.body)
    return _text_result(text, is_error=failed)


def build_server() -> Server[Any]:
    """The MCP server: tools only, no resources or prompts."""
    from mcp.server.lowlevel import Server

    return Server("Aegra", version=__version__, on_list_tools=list_tools, on_call_tool=call_tool)


async def _method_not_allowed(send: Send) -> None:
    body = b'{"detail":"Method Not Allowed: this stateless MCP server answers POST only"}'
    headers = [(b"content-type", b"application/json"), (b"allow", b"POST")]
    await send({"type": "http.response.start", "status": 405, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class McpEndpoint:
    """The ASGI app at `/mcp`. The SDK's session managers (one for JSON responses, one for SSE) start on the
    first request, in a task of their own that lives until `close()` (the app's shutdown)."""

    def __init__(self, *, max_body_bytes: int) -> None:
        self.max_body_bytes = max_body_bytes
        self._managers: tuple[StreamableHTTPSessionManager, StreamableHTTPSessionManager] | None = None
        self._ready = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") == "GET":  # stateless: no server-initiated stream to hold open (langgraph-api: 405)
            await _method_not_allowed(send)
            return
        json_manager, sse_manager = await self._started()
        accept = dict(scope.get("headers") or ()).get(b"accept", b"").decode("latin-1").lower()
        manager = sse_manager if SSE_MEDIA_TYPE in accept else json_manager
        await manager.handle_request(scope, receive, send)  # type: ignore[arg-type]  # Litestar's vs Starlette's ASGI types

    async def _started(self) -> tuple[StreamableHTTPSessionManager, StreamableHTTPSessionManager]:
        async with self._ready:
            if self._managers is None:
                await asyncio.to_thread(importlib.import_module, "mcp.server.lowlevel")  # off the event loop
                from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

                server = build_server()
                managers = tuple(
                    StreamableHTTPSessionManager(
                        server, json_response=json, stateless=True, max_request_body_size=self.max_body_bytes
                    )
                    for json in (True, False)
                )
                started = asyncio.Event()
                task = asyncio.create_task(self._serve(managers, started), name="mcp-session-managers")
                waiting = asyncio.ensure_future(started.wait())
                await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                if task.done():  # the managers failed to start: say why
                    task.result()
                    raise RuntimeError("The MCP session managers stopped as they started")
                self._task = task
                self._managers = (managers[0], managers[1])
            return self._managers

    async def _serve(self, managers: tuple[StreamableHTTPSessionManager, ...], started: asyncio.Event) -> None:
        async with AsyncExitStack() as stack:
            for manager in managers:
                await stack.enter_async_context(manager.run())
            started.set()
            await self._stop.wait()

    async def close(self) -> None:
        """Stop the session managers (in-flight MCP requests are cancelled)."""
        self._stop.set()
        if self._task is not None:
            await self._task
