"""``mlbsts replay`` (a range of the raw log into the derived tiers) and
``mlbsts replay promote|drop|list`` (table versions). The work is in ``mlbsts/reprocess.py``
and ``mlbsts/versions.py``; ``mlbsts replay-server`` is another thing (``replay.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import Progress

    from connectors.kafka_range import RangeProgress

app = typer.Typer(
    help="Reprocess a range of the raw log into the derived tiers (optionally a new table "
    "version), and manage versions: promote, drop, list.",
    invoke_without_command=True,
)
console = Console(stderr=True)


def _fail(message: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _games(text: str | None) -> frozenset[int] | None:
    if not text:
        return None
    try:
        return frozenset(int(g) for g in text.split(",") if g.strip())
    except ValueError:
        _fail(f"--games {text!r}: game pks separated by commas")


_WORKERS = typer.Option(
    1, "--workers", "-w", min=1, help="Bytewax worker threads (they share a GIL: 1 is fastest)"
)


@app.callback()
def replay(
    ctx: typer.Context,
    start: list[str] = typer.Option(
        ["beginning"],
        "--from",
        help="beginning | time:ISO | offset:PARTITION:OFFSET (repeatable: only those partitions)",
    ),
    stop: list[str] = typer.Option(
        ["end"], "--to", help="end (the end now) | time:ISO | offset:PARTITION:OFFSET (repeatable)"
    ),
    games: str | None = typer.Option(None, "--games", help="only these game pks: PK,PK,..."),
    into: str = typer.Option("live", "--into", help="live, or a table version v2, v3, ..."),
    workers: int = _WORKERS,
    recovery_dir: Path | None = typer.Option(
        None, "--recovery-dir", help="this replay's recovery partitions (resumed if present)"
    ),
) -> None:
    """Run the dataflow again over a range of mlb.raw.game-snapshots, into the live tiers
    or into table version vN (schema <prefix>_vN, topics <topic>.<prefix>_vN); never the
    raw tier. See the README, "Reprocessing"."""
    if ctx.invoked_subcommand is not None:
        return
    from connectors.kafka_range import KafkaRangeError
    from connectors.log_range import BoundError
    from mlbsts import reprocess
    from mlbsts.settings import get_settings
    from mlbsts.stack.errors import StackError
    from mlbsts.versions import VersionError

    settings = get_settings()
    try:
        target = reprocess.target_of(settings, into)
        plan = reprocess.plan_replay(settings, start, stop, _games(games))
        reprocess.prepare_target(settings, target)
    except (BoundError, VersionError, KafkaRangeError, StackError) as e:
        _fail(str(e))
    parts = ", ".join(f"{p}:[{r.start},{r.end})" for p, r in plan.ranges.items())
    console.print(f"{plan.topic} {parts}: {plan.records} records into {into}", highlight=False)
    with _bar() as bar:
        task = bar.add_task("replay", total=max(plan.records, 1), rate="-")

        def show(progress: RangeProgress) -> None:
            elapsed = bar.tasks[task].elapsed or 0.0
            rate = f"{progress.emitted / elapsed:,.0f}" if elapsed > 0 else "-"
            bar.update(task, completed=progress.done, total=max(progress.total, 1), rate=rate)

        try:
            result = reprocess.run_replay(
                settings, plan, target, workers=workers, recovery_dir=recovery_dir, on_progress=show
            )
        except (VersionError, reprocess.ReplayError) as e:
            _fail(str(e))
    console.print(
        f"{result.records} records, {result.snapshots} snapshots in {result.seconds:.1f} s "
        f"({result.snapshots_per_s:,.0f} snapshots/s) into {into} (run {result.run_id})",
        highlight=False,
    )


def _bar() -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("records, {task.fields[rate]} snapshots/s"),
        TimeRemainingColumn(),
        console=console,
    )


@app.command()
def promote(version: str = typer.Argument(..., help="live, or v2, v3, ...")) -> None:
    """Switch the readers' views (schema <prefix>_current) to VERSION, in one transaction."""
    from mlbsts import versions
    from mlbsts.settings import get_settings

    settings = get_settings()
    try:
        versions.promote(
            settings.postgres_dsn.get_secret_value(), settings.pg_versions_prefix, version
        )
    except versions.VersionError as e:
        _fail(str(e))
    reader = versions.readers_schema(settings.pg_versions_prefix)
    console.print(f"{version} promoted: readers of {reader} see it now", highlight=False)


@app.command()
def drop(version: str = typer.Argument(..., help="v2, v3, ... (not the promoted one)")) -> None:
    """Remove table version VERSION: its schema, its topics and its bucket."""
    from mlbsts import reprocess, versions
    from mlbsts.settings import get_settings

    try:
        reprocess.drop_version(get_settings(), version)
    except versions.VersionError as e:
        _fail(str(e))
    console.print(f"{version} dropped", highlight=False)


@app.command("list")
def list_versions() -> None:
    """The versions (live and every vN): promoted, games held, replays."""
    from rich.table import Table

    from mlbsts import versions
    from mlbsts.settings import get_settings

    settings = get_settings()
    found = versions.list_versions(
        settings.postgres_dsn.get_secret_value(), settings.pg_versions_prefix
    )
    table = Table("version", "schema", "promoted", "games", "replays", "complete", "last finished")
    for v in found:
        last = v.last_finished.isoformat(timespec="seconds") if v.last_finished else "-"
        complete = "yes" if v.complete else ("-" if v.name == versions.LIVE else "no")
        table.add_row(
            v.name, v.schema, "*" if v.promoted else "", str(v.games), str(v.runs), complete, last
        )
    Console().print(table)
