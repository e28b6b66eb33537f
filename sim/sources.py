"""Turn a SOURCE on disk into the snapshot sequence the engine consumes (CLI and tests).

A SOURCE is either

- a final ``feed/live`` file (``.json`` or ``.json.gz``): by default the whole feed as one
  snapshot, or with ``every=N`` the snapshots a poller would have seen every N pitches
  (``sim.simulate``); or
- a directory of real captures named ``1.json``, ``2.json``, ... (optionally ``.gz``),
  taken in numeric order.

Reading files is the only I/O here; :func:`run_engine` is pure.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from flows.game.events import Event
from flows.game.snapshot_diff import GameState, step
from sim.simulate import simulate

__all__ = ["SourceError", "load_snapshots", "run_engine"]


class SourceError(ValueError):
    """A SOURCE that is neither a feed file nor a directory of numbered snapshots."""


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _number(path: Path) -> int | None:
    stem = path.name.split(".", 1)[0]
    return int(stem) if stem.isdigit() else None


def load_snapshots(source: Path, every: int | None = None) -> list[bytes | dict[str, Any]]:
    """The snapshots of ``source`` in polling order (see the module docstring)."""
    if source.is_dir():
        if every is not None:
            raise SourceError("--every applies to a final feed file, not to a directory")
        numbered = [(n, p) for p in source.iterdir() if (n := _number(p)) is not None]
        if not numbered:
            raise SourceError(f"no snapshots named 1.json, 2.json, ... in {source}")
        return [_read(path) for _, path in sorted(numbered)]
    if not source.is_file():
        raise SourceError(f"{source} is neither a file nor a directory")
    body = _read(source)
    if every is None:
        return [body]
    feed = orjson.loads(body)
    if not isinstance(feed, dict):
        raise SourceError(f"{source} is not a feed/live JSON object")
    return list(simulate(feed, every))


def run_engine(snapshots: Iterable[bytes | dict[str, Any]]) -> Iterator[Event]:
    """Every event the snapshot diff emits over ``snapshots``, in order."""
    state: GameState | None = None
    for snapshot in snapshots:
        state, events = step(state, snapshot)
        yield from events
