"""Per-snapshot cost of the snapshot diff engine against a plain ``orjson.loads``.

For each game, the snapshots a poller sees after every pitch (``sim.simulate``, every=1)
go through ``step`` in order. For each snapshot, ``step`` is timed on a copy of the state
left by the previous snapshot (best of ``REPEATS``), and ``orjson.loads`` of the same bytes
likewise. Ratios are reported early (first 10% of snapshots), in the middle and late (last
10%): the goal is at most 1.5x the parse and flat as the game grows.
"""

from __future__ import annotations

import pickle
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from flows.game.snapshot_diff import GameState, step
from sim.simulate import simulate

REPEATS = 3


@dataclass(frozen=True)
class Phase:
    name: str
    snapshots: int
    feed_kb: float
    parse_ms: float
    engine_ms: float

    @property
    def ratio(self) -> float:
        return self.engine_ms / self.parse_ms


def _best(fn: object, repeats: int = REPEATS) -> float:
    assert callable(fn)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter_ns()
        fn()
        best = min(best, time.perf_counter_ns() - t)
    return best / 1e6


def measure_game(feed_path: Path) -> tuple[list[Phase], int]:
    """Phases of one game and the pickled size of its state at the end, in bytes."""
    feed = orjson.loads(feed_path.read_bytes())
    bodies = [orjson.dumps(s) for s in simulate(feed, 1)]
    state: GameState | None = None
    parse: list[float] = []
    engine: list[float] = []
    for body in bodies:
        parse.append(_best(lambda b=body: orjson.loads(b)))
        frozen = pickle.dumps(state)
        times = []
        for _ in range(REPEATS):
            copy = pickle.loads(frozen)  # noqa: S301 - our own state
            t = time.perf_counter_ns()
            step(copy, body)
            times.append(time.perf_counter_ns() - t)
        engine.append(min(times) / 1e6)
        state, _ = step(state, body)
    n = len(bodies)
    tenth = max(1, n // 10)
    spans = {
        "early": range(0, tenth),
        "middle": range(n // 2 - tenth // 2, n // 2 - tenth // 2 + tenth),
        "late": range(n - 1 - tenth, n - 1),  # the last snapshot (Final) is reported apart
    }
    phases = [
        Phase(
            name,
            len(span),
            statistics.median(len(bodies[i]) for i in span) / 1024,
            statistics.median(parse[i] for i in span),
            statistics.median(engine[i] for i in span),
        )
        for name, span in spans.items()
    ]
    return phases, len(pickle.dumps(state))


def report(feeds: list[Path]) -> str:
    lines = [
        "## Snapshot diff engine vs `orjson.loads` (per snapshot, every pitch)",
        "",
        "Median per phase of the best of 3 timings per snapshot. Goal: ratio <= 1.5, flat.",
        "",
        "| game | phase | snapshots | feed KB | orjson.loads ms | engine step ms | ratio |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    sizes = []
    for path in feeds:
        phases, state_bytes = measure_game(path)
        sizes.append(f"{path.stem}: {state_bytes / 1024:.1f} KB")
        for p in phases:
            lines.append(
                f"| {path.stem} | {p.name} | {p.snapshots} | {p.feed_kb:.0f} | "
                f"{p.parse_ms:.2f} | {p.engine_ms:.2f} | {p.ratio:.2f} |"
            )
    lines += ["", "Engine state at the end of the game (pickled): " + ", ".join(sizes), ""]
    return "\n".join(lines)
