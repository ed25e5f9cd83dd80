"""Token streaming throughput: a graph whose fake chat model emits N tokens as fast as it can, consumed
(1) in-process with `graph.astream(stream_mode="messages")`, and (2) through a running Aegra server with the
real SDK, `client.runs.stream(stream_mode="messages-tuple")`, stateless, on a thread, and on a thread with
`stream_resumable=True` (every event also written to `run_events`), (3) the same stateless stream read with plain
httpx, which shows what the server delivers without the SDK's SSE parsing, and (4) a v3 thread stream
(`client.threads.stream`, SSE and WebSocket: `run.start`, then one `content-block-delta` per token).

    .venv/bin/python bench/stream_tokens.py                        # starts its own server (embedded PostgreSQL)
    .venv/bin/python bench/stream_tokens.py --url http://127.0.0.1:2026 --tokens 1000 --repeat 5

Prints, as medians over `--repeat` runs: tokens/s from the request to the last token, the streaming rate once
the first token arrived, time to first token and total time. The graph is `tokens` from
tests/graphs (the server must serve tests/graphs/aegra.json when `--url` is given).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from threads_search import CONFIG, REPO_ROOT, free_port, wait_until_up  # bench/ is on sys.path when run

from aegra.graphs.registry import load_graph

HI = {"messages": [{"role": "user", "content": "hi"}]}


@dataclass(frozen=True, slots=True)
class Sample:
    tokens: int
    seconds: float
    first_token_seconds: float

    @property
    def tokens_per_second(self) -> float:
        """From the request to the last token: what a user waiting for the whole answer sees."""
        return self.tokens / self.seconds

    @property
    def streaming_tokens_per_second(self) -> float:
        """From the first token to the last: the rate tokens flow once the run has started."""
        return (self.tokens - 1) / max(self.seconds - self.first_token_seconds, 1e-9)


async def measure(chunks: AsyncIterator[str]) -> Sample:
    """Time a stream of token texts from the request to its last token."""
    started = time.perf_counter()
    first: float | None = None
    count = 0
    async for text in chunks:
        if not text:
            continue
        count += 1
        if first is None:
            first = time.perf_counter() - started
    return Sample(count, time.perf_counter() - started, first or 0.0)


async def in_process_tokens(tokens: int) -> AsyncIterator[str]:
    graph = load_graph("tokens", "./graphs.py:tokens", CONFIG.parent).graph
    assert graph is not None
    async for message, _ in graph.astream(HI, {"configurable": {"tokens": tokens}}, stream_mode="messages"):
        yield str(message.content)


async def server_tokens(
    client: LangGraphClient, tokens: int, *, stateless: bool, resumable: bool = False
) -> AsyncIterator[str]:
    thread_id = None if stateless else (await client.threads.create())["thread_id"]
    async for part in client.runs.stream(
        thread_id,
        "tokens",
        input=HI,
        stream_mode="messages-tuple",
        config={"configurable": {"tokens": tokens}},
        stream_resumable=resumable,
    ):
        if part.event == "messages":
            yield str(part.data[0]["content"])


async def thread_stream_tokens(client: LangGraphClient, tokens: int, *, transport: str) -> AsyncIterator[str]:
    """A v3 thread stream (`client.threads.stream`): `run.start`, then one `content-block-delta` per token."""
    async with client.threads.stream(assistant_id="tokens", transport=transport) as thread:  # type: ignore[arg-type]
        await thread.run.start(input=HI, config={"configurable": {"tokens": tokens}})
        async for event in thread.subscribe(["messages", "lifecycle"]):
            data = event["params"]["data"]
            if event["method"] == "lifecycle" and data.get("event") in ("completed", "failed"):
                return
            if data.get("event") == "content-block-delta":
                yield str(data["delta"].get("text", ""))


async def raw_server_tokens(url: str, tokens: int) -> AsyncIterator[str]:
    """The same stateless stream read with plain httpx: what the server delivers without the SDK's parsing."""
    body = {
        "assistant_id": "tokens",
        "input": HI,
        "stream_mode": "messages-tuple",
        "config": {"configurable": {"tokens": tokens}},
    }
    async with httpx.AsyncClient(base_url=url, timeout=60) as http, http.stream("POST", "/runs/stream", json=body) as r:
        async for line in r.aiter_lines():
            if line.startswith("data: [") and not line.startswith('data: [{"content":"",'):
                yield line


async def series(name: str, make: Callable[[], AsyncIterator[str]], repeat: int) -> None:
    await measure(make())  # warm-up: imports, connections, first-run caches
    samples = [await measure(make()) for _ in range(repeat)]
    rate = statistics.median(sample.tokens_per_second for sample in samples)
    streaming = statistics.median(sample.streaming_tokens_per_second for sample in samples)
    first_ms = statistics.median(sample.first_token_seconds for sample in samples) * 1000
    total_ms = statistics.median(sample.seconds for sample in samples) * 1000
    print(f"{name:<42} {samples[0].tokens:>6} {rate:>10.0f} {streaming:>11.0f} {first_ms:>10.1f} {total_ms:>10.1f}")


async def start_server(stack: AsyncExitStack, *, config: Path = CONFIG, workers: int = 1) -> str:
    """`aegra serve` on the test graphs (default settings) with a throwaway embedded PostgreSQL; stopped when `stack`
    closes."""
    data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="aegra-bench-"))
    port = free_port()
    env = {**os.environ, "AEGRA_DATA_DIR": data_dir, "LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    command = [sys.executable, "-m", "aegra", "serve", "--host", "127.0.0.1", "--port", str(port), "-c", str(config)]
    if workers > 1:
        command += ["--workers", str(workers)]
    process = subprocess.Popen(command, env=env, cwd=REPO_ROOT)  # noqa: ASYNC220 - started once, before timing
    stack.callback(process.wait, 30)
    stack.callback(process.terminate)
    url = f"http://127.0.0.1:{port}"
    await wait_until_up(url, process)
    return url


async def run(args: argparse.Namespace) -> None:
    async with AsyncExitStack() as stack:
        url = args.url or await start_server(stack)
        client = get_client(url=url, api_key=None)
        stack.push_async_callback(client.http.client.aclose)
        print(f"{args.tokens} tokens per run, median of {args.repeat} runs\n")
        print(f"{'path':<42} {'tokens':>6} {'tokens/s':>10} {'streaming/s':>11} {'first ms':>10} {'total ms':>10}")
        await series("in-process graph.astream(messages)", lambda: in_process_tokens(args.tokens), args.repeat)
        await series("server SSE, raw httpx (no SDK parsing)", lambda: raw_server_tokens(url, args.tokens), args.repeat)
        for name, stateless, resumable in (
            ("stateless", True, False),
            ("on a thread", False, False),
            ("resumable (thread)", False, True),  # every event also kept in run_events
        ):
            await series(
                f"server SSE messages-tuple, {name}",
                lambda stateless=stateless, resumable=resumable: server_tokens(
                    client, args.tokens, stateless=stateless, resumable=resumable
                ),
                args.repeat,
            )
        for transport in ("sse", "websocket"):
            await series(
                f"v3 thread stream ({transport})",
                lambda transport=transport: thread_stream_tokens(client, args.tokens, transport=transport),
                args.repeat,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running server that serves tests/graphs/aegra.json (default: start one)")
    parser.add_argument("--tokens", type=int, default=1000, help="tokens per run (default 1000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per path (default 5)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
