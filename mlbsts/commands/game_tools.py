"""``mlbsts simulate|events|boxscore``: the pure snapshot engine on files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from flows.game.events import Event


def write_snapshots(snapshots: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write ``1.json, 2.json, ...`` (orjson) in delivery order; returns the paths."""
    import orjson

    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for n, snapshot in enumerate(snapshots, start=1):
        path = out_dir / f"{n}.json"
        path.write_bytes(orjson.dumps(snapshot))
        paths.append(path)
    return paths


def simulate(
    feed: Path = typer.Argument(..., exists=True, dir_okay=False, help="a FINAL feed/live JSON"),
    every: int = typer.Option(..., "--every", min=1, help="one snapshot every N pitches"),
    out: Path = typer.Option(
        ..., "--out", file_okay=False, help="directory for 1.json, 2.json, ..."
    ),
    seed: int | None = typer.Option(None, "--seed", help="seed of the perturbations"),
    duplicates: float = typer.Option(0.0, "--duplicates", min=0.0, max=1.0),
    reorder: float = typer.Option(0.0, "--reorder", min=0.0, max=1.0),
    gaps: float = typer.Option(0.0, "--gaps", min=0.0, max=1.0),
    corrections: float = typer.Option(0.0, "--corrections", min=0.0, max=1.0),
) -> None:
    """Write the snapshots a poller would have seen, every N pitches, from a final feed."""
    import orjson

    from sim.simulate import simulate_with_log

    final = orjson.loads(feed.read_bytes())
    snapshots, log = simulate_with_log(
        final,
        every,
        seed=seed,
        duplicates=duplicates,
        reorder=reorder,
        gaps=gaps,
        corrections=corrections,
    )
    write_snapshots(snapshots, out)
    game = final.get("gamePk")
    print(f"{len(snapshots)} snapshots of game {game} written to {out} ({log.summary()})")


SOURCE_ARGUMENT = typer.Argument(
    ..., exists=True, help="a final feed/live JSON, or a directory of 1.json, 2.json, ..."
)
EVERY_OPTION = typer.Option(
    None, "--every", min=1, help="simulate polling every N pitches (feed file only)"
)


def _event_stream(source: Path, every: int | None) -> Iterator[Event]:
    """The engine's events for SOURCE; a bad SOURCE is a usage error."""
    from sim.sources import SourceError, load_snapshots, run_engine

    try:
        snapshots = load_snapshots(source, every)
    except SourceError as e:
        raise typer.BadParameter(str(e), param_hint="SOURCE") from e
    return run_engine(snapshots)


def events(source: Path = SOURCE_ARGUMENT, every: int | None = EVERY_OPTION) -> None:
    """Print the event stream of SOURCE as JSON lines (the pure snapshot diff)."""
    import sys

    from flows.game.events import encode_event

    out = sys.stdout.buffer
    for event in _event_stream(source, every):
        out.write(encode_event(event) + b"\n")
    out.flush()


def boxscore(source: Path = SOURCE_ARGUMENT, every: int | None = EVERY_OPTION) -> None:
    """Print the box score derived from SOURCE's event stream as JSON."""
    import orjson

    from flows.game.boxscore import agg, initialize, result

    state = initialize()
    for event in _event_stream(source, every):
        agg(state, event)
    print(orjson.dumps(result(state), option=orjson.OPT_INDENT_2).decode())
