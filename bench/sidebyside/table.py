"""The measured cells and the issue-18 table: one column per target, then ratios ours / best peer, ours / limit."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

OURS = "aegra"
LIMIT = "limit"


@dataclass
class Cell:
    """The samples of one cell (one per round), and why a round could not measure it."""

    samples: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def value(self) -> float | None:
        """The median over the rounds that measured the cell."""
        return statistics.median(self.samples) if self.samples else None

    def text(self, fmt: str) -> str:
        if self.value is not None:
            return fmt.format(self.value)
        return f"n/a ({self.failures[0]})" if self.failures else "—"


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
    Row("machine load average 1 min as this column's cells began (median)", ("load",), ("{:.2f}",), (False,)),
]
NO_RATIO = {"load"}


@dataclass
class Results:
    """Cells by target name, then by row key; notes by target; the load average seen during each row."""

    cells: dict[str, dict[str, Cell]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    loads: dict[str, list[float]] = field(default_factory=dict)

    def cell(self, name: str, key: str) -> Cell:
        return self.cells.setdefault(name, {}).setdefault(key, Cell())

    def put(self, name: str, key: str, value: float) -> None:
        self.cell(name, key).samples.append(value)

    def fail(self, name: str, key: str, reason: str) -> None:
        self.cell(name, key).failures.append(reason)

    def note(self, name: str, text: str) -> None:
        if text not in self.notes.setdefault(name, []):
            self.notes[name].append(text)

    def load(self, key: str, value: float) -> None:
        """A 1-minute load average sampled while the row of `key` was being measured."""
        self.loads.setdefault(key, []).append(value)

    def value(self, name: str, key: str) -> float | None:
        cell = self.cells.get(name, {}).get(key)
        return cell.value if cell else None


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


def _load_range(results: Results, row: Row) -> str:
    samples = [value for key in row.keys for value in results.loads.get(key, [])]
    return f"{min(samples):.1f}-{max(samples):.1f}" if samples else ""


def render(results: Results, order: list[str]) -> str:
    """The Markdown table: the targets in `order` (ours first), the limit, the two ratio columns, the load."""
    names = [name for name in order if name in results.cells]
    peers = [name for name in names if name not in (OURS, LIMIT)]
    header = ["workload", *names, f"{OURS} / best peer", f"{OURS} / limit", "load 1 min during the row"]
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
        line.append(_load_range(results, row))
        lines.append(line)
    out = "\n".join("| " + " | ".join(row) + " |" for row in lines)
    for name, notes in results.notes.items():
        out += f"\n- {name}: " + "; ".join(notes)
    for name, cells in results.cells.items():
        for key, cell in cells.items():
            if cell.samples and cell.failures:
                out += f"\n- {name} {key}: the median of {len(cell.samples)} rounds; failed in "
                out += f"{len(cell.failures)} ({cell.failures[0]})"
    return out
