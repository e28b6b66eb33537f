"""``mlbsts stack up|down|status``: the embedded local stack (owned by mlbsts.stack)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from mlbsts.settings import Settings

if TYPE_CHECKING:
    from mlbsts.stack import StackStatus

app = typer.Typer(
    help="The embedded local stack: Kafka-protocol broker, S3, PostgreSQL, Redis.",
    no_args_is_help=True,
)
console = Console()
errors = Console(stderr=True)


def _fail(message: str) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _settings() -> Settings:
    from mlbsts.settings import get_settings

    try:
        return get_settings()
    except ValidationError as e:
        first = e.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        _fail(f"bad setting MLBSTS_{field.upper()}: {first['msg']}; fix it in the environment")


@app.command()
def up(
    timeout: float = typer.Option(60.0, help="seconds to wait for each server to be healthy"),
) -> None:
    """Start the servers that are not running, wait until healthy, create topics etc."""
    from mlbsts import stack

    settings = _settings()
    began = time.monotonic()

    def progress(p: stack.Progress) -> None:
        console.print(
            f"  {p.name:<9} {p.action:<8} {p.address:<16} pid {p.pid:<8} {p.seconds:6.2f}s",
            highlight=False,
        )

    try:
        result = stack.up(settings, timeout=timeout, on_progress=progress)
    except stack.StackError as e:
        _fail(str(e))
    if not result.healthy:
        _show(result)
        _fail("the stack is up but not healthy; see `mlbsts stack status` and the logs")
    console.print(
        f"stack up in {time.monotonic() - began:.2f}s (data and logs in {settings.stack_dir})",
        highlight=False,
    )


@app.command()
def down(
    purge: bool = typer.Option(False, "--purge", help="also delete data, logs and records"),
) -> None:
    """Stop exactly the processes `up` started (by PID)."""
    from mlbsts import stack

    settings = _settings()
    try:
        stopped = stack.down(settings, purge=purge)
    except stack.StackError as e:
        _fail(str(e))
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}", highlight=False)
    if purge:
        console.print(f"purged the stack's data under {settings.stack_dir}", highlight=False)


@app.command()
def status() -> None:
    """Each server: PID, address, health. Exit code 0 only when all are healthy."""
    from mlbsts import stack

    result = stack.status(_settings())
    _show(result)
    if not result.healthy:
        raise typer.Exit(1)


def _show(result: StackStatus) -> None:
    table = Table(title="mlbsts local stack")
    for column in ("component", "server", "pid", "address", "health", "rss"):
        table.add_column(column)
    for c in result.components:
        health = "[green]healthy[/]" if c.healthy else f"[red]{c.detail}[/]"
        rss = f"{c.rss_bytes / 2**20:.0f} MiB" if c.rss_bytes else "-"
        table.add_row(c.name, c.title, str(c.pid or "-"), c.address, health, rss)
    console.print(table)
