"""The measured cells and the issue-18 table: one column per target, then ratios ours / best peer, ours / limit."""

from __future__ import annotations

from dataclasses import dataclass, field

OURS = "aegra"
LIMIT = "limit"


@dataclass
class Cell:
    """One measured value, or the reason it could not be measured."""

    value: float | None = None
    na: str | None = None

    def text(self, fmt: str) -> str:
        if self.value is not None:
            return fmt.format(self.value)
        return f"n/a ({self.na})" if self.na else "—"


@dataclass(frozen=True)
class Row:
    """A table row: `keys` are the cells shown in it (joined by " · "), `higher` says which way is better."""

    label: str
    keys: tuple[str, ...]
    fmts: tuple[str, ...]
    higher: tuple[bool, ...]


ROWS: list[Row] = [
    Row("threads.create, 32 clients, req/s", ("threads_create",), ("{:.0f}",), (True,)),
    Row("runs.wait on a new thread each, 16 clients, runs/s", ("wait_thread",), ("{:.0f}",), (True,)),
    Row("runs.wait stateless, 16 clients, runs/s", ("wait_stateless",), ("{:.0f}",), (True,)),
    Row(
        "messages-tuple stream, 1,000 tokens: tokens/s · first token ms",
        ("stream_rate", "stream_ttft"),
        ("{:,.0f}", "{:.0f}"),
        (True, False),
    ),
    Row("500 background runs of the 1 s graph: wall s", ("burst_wall",), ("{:.1f}",), (False,)),
    Row(
        "store put / get / search ops/s, 16 clients",
        ("store_put", "store_get", "store_search"),
        ("{:.0f}", "{:.0f}", "{:.0f}"),
        (True, True, True),
    ),
    Row("server RSS MB after the workloads (database not counted)", ("rss",), ("{:.0f}",), (False,)),
    Row(
        "1,000 concurrent streams of 200 tokens: all done s · first byte p50 s",
        ("streams_done", "streams_first_p50"),
        ("{:.1f}", "{:.2f}"),
        (False, False),
    ),
    Row("warm startup to /ok, s", ("startup_warm",), ("{:.1f}",), (False,)),
    Row("machine load average 1 min (start → end)", ("load_start", "load_end"), ("{:.2f}", "{:.2f}"), (False, False)),
]
NO_RATIO = {"load_start", "load_end"}


@dataclass
class Results:
    """Cells by target name, then by row key; notes by target."""

    cells: dict[str, dict[str, Cell]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)

    def target(self, name: str) -> dict[str, Cell]:
        return self.cells.setdefault(name, {})

    def put(self, name: str, key: str, value: float) -> None:
        self.target(name)[key] = Cell(value=value)

    def fail(self, name: str, key: str, reason: str) -> None:
        self.target(name)[key] = Cell(na=reason)

    def value(self, name: str, key: str) -> float | None:
        return self.cells.get(name, {}).get(key, Cell()).value


def _ratio(ours: float | None, other: float | None) -> str:
    """The plain quotient ours / other (for rates > 1 is better, for times and memory < 1 is)."""
    if ours is None or other is None or other == 0:
        return "—"
    return f"{ours / other:.2f}x"


def _best_peer(results: Results, key: str, higher: bool, peers: list[str]) -> float | None:
    values = [v for v in (results.value(peer, key) for peer in peers) if v is not None]
    if not values:
        return None
    return max(values) if higher else min(values)


def render(results: Results, order: list[str]) -> str:
    """The Markdown table: the targets in `order` (ours first), the limit, and the two ratio columns."""
    names = [name for name in order if name in results.cells]
    peers = [name for name in names if name not in (OURS, LIMIT)]
    header = ["workload", *names, f"{OURS} / best peer", f"{OURS} / limit"]
    lines = [header, ["---", *(["---:"] * (len(header) - 1))]]
    for row in ROWS:
        line = [row.label]
        for name in names:
            cells = results.cells[name]
            texts = (cells.get(key, Cell()).text(fmt) for key, fmt in zip(row.keys, row.fmts, strict=True))
            line.append(" · ".join(texts))
        for reference in ("peer", "limit"):
            ratios = []
            for key, higher in zip(row.keys, row.higher, strict=True):
                if key in NO_RATIO:
                    continue
                other = _best_peer(results, key, higher, peers) if reference == "peer" else results.value(LIMIT, key)
                ratios.append(_ratio(results.value(OURS, key), other))
            line.append(" · ".join(ratios) if ratios else "")
        lines.append(line)
    out = "\n".join("| " + " | ".join(row) + " |" for row in lines)
    for name, notes in results.notes.items():
        out += f"\n- {name}: " + "; ".join(notes)
    return out
