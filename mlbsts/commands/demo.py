"""``mlbsts demo``: the main job end to end on the local stack with a real recorded game."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

if TYPE_CHECKING:
    from mlbsts.demo import DemoResult
    from mlbsts.settings import Settings

console = Console()


def demo(
    feed: Path | None = typer.Option(
        None, "--feed", help="a final feed/live JSON (.json or .json.gz); default: a recorded game"
    ),
    every: int | None = typer.Option(
        None, "--every", min=1, help="poll after every N pitches (default 5; 1 with --live)"
    ),
    timeout: float = typer.Option(300.0, help="seconds the dataflow may take"),
    live: bool = typer.Option(
        False, "--live", help="replay the game in real time to the live page, until Ctrl-C"
    ),
    speed: float = typer.Option(
        10.0, "--speed", min=0.01, help="with --live: times real time (the feed's clock)"
    ),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="with --live: the API's port (MLBSTS_API_PORT)"
    ),
) -> None:
    """Publish a real game's snapshots, run the Bytewax dataflow, print what landed. With
    --live: replay it at --speed to the live page (worker and API up) until Ctrl-C."""
    from mlbsts import demo as job
    from mlbsts import stack
    from mlbsts.settings import get_settings

    settings = get_settings()
    console.print("[bold]1/2[/] local stack" if live else "[bold]1/4[/] local stack")
    try:
        stack.up(settings)
    except stack.StackError as e:
        console.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(1) from e
    path = feed or job.default_feed(settings)
    if live:
        _live(settings, path, every or 1, speed, port or settings.api_port)
        return
    every = every or 5
    console.print(f"[bold]2/4[/] game: {path}")
    result = _run_with_progress(settings, path, every, timeout)
    if result.snapshots_already_in_log:
        console.print(
            f"      {result.snapshots_already_in_log} snapshots were already in the log "
            f"(an earlier demo); published {result.snapshots_published} new"
        )
    console.print(
        f"[bold]3/4[/] landed: {result.raw_rows} raw snapshots in PostgreSQL, "
        f"{result.s3_objects} gzip objects in s3://{settings.s3_bucket}/raw/, events "
        + ", ".join(f"{t}={n}" for t, n in result.events_by_topic.items())
        + f" (dataflow {result.flow_seconds:.1f}s)"
    )
    _print_scores(result)
    console.print(
        "next: [bold].venv/bin/mlbsts top[/] watches the running system live: this game's "
        "state in Redis, and the workers', poller's and API's figures while they run"
    )


def _print_scores(result: DemoResult) -> None:
    """Step 4/4: the line score and box scores folded from the event topics."""
    from mlbsts.scoreboard import box_score_tables, line_score_table

    game = result.feed["gameData"]
    teams = {side: game["teams"][side]["name"] for side in ("home", "away")}
    people = {
        str(p["id"]): p.get("boxscoreName") or p["fullName"] for p in game["players"].values()
    }
    console.print("[bold]4/4[/] derived from the event topics only:")
    console.print(line_score_table(result.box, teams))
    for table in box_score_tables(result.box, teams, people):
        console.print(table)


def _live(settings: Settings, path: Path, every: int, speed: float, port: int) -> None:
    """``mlbsts demo --live``: until Ctrl-C or SIGTERM (exit 0, after cleaning up); a
    DemoError ends it with exit 1."""
    import signal

    from mlbsts import demo as job
    from mlbsts.demo_live import run_live

    # a KeyboardInterrupt for both, even when started with SIGINT ignored (a background job)
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.default_int_handler)

    def say(line: str) -> None:
        print(line, flush=True)  # whole lines, never wrapped: the URLs are copied

    console.print(f"[bold]2/2[/] live replay: {path.name}, every {every} pitch(es), {speed:g}x")
    try:
        run_live(settings, job.load_feed(path), every, speed, port, say)
    except KeyboardInterrupt:
        say("stopped: the API and the worker are down; the private topic and schema are removed")
    except job.DemoError as e:
        console.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(1) from e


def _run_with_progress(settings: Settings, path: Path, every: int, timeout: float) -> DemoResult:
    """``run_demo`` with one progress bar per stage; a DemoError ends the command."""
    from mlbsts import demo as job

    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        try:
            return job.run_demo(settings, path, every, progress, timeout_s=timeout)
        except job.DemoError as e:
            console.print(f"[bold red]error:[/] {e}")
            raise typer.Exit(1) from e
