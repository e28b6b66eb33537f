"""``mlbsts api-key create|list|revoke``: the API's keys, in PostgreSQL (``api_keys``).

``create`` prints the key once: only its salted hash is stored (``api/keys.py``).
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


def _fail(message: str) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _dsn() -> str:
    from mlbsts.settings import get_settings

    return get_settings().postgres_dsn.get_secret_value()


@app.command()
def create(
    name: str = typer.Option(..., "--name", help="who or what the key is for"),
    scopes: str = typer.Option(
        "live,history,stream", "--scopes", help="comma-separated: live, history, stream"
    ),
    rate: int = typer.Option(600, "--rate", min=1, help="requests per minute (also the burst)"),
) -> None:
    """Make a key and print it (the only time it is shown)."""
    import psycopg

    from api.key_store import create_key
    from api.keys import parse_scopes

    try:
        chosen = parse_scopes(scopes)
    except ValueError as e:
        _fail(str(e))
    try:
        made = create_key(_dsn(), name, chosen, rate)
    except psycopg.Error as e:
        _fail(f"cannot store the key in PostgreSQL: {e} (is `mlbsts init` done?)")
    errors.print(
        f"key {made.key_id} ({name}; scopes {','.join(chosen)}; {rate}/min). "
        "Keep it now: it is not stored and cannot be shown again.",
        highlight=False,
    )
    typer.echo(made.key)


@app.command("list")
def list_() -> None:
    """Every key: id, name, scopes, rate, created, revoked (never the key itself)."""
    import psycopg

    from api.key_store import list_keys

    try:
        records = list_keys(_dsn())
    except psycopg.Error as e:
        _fail(f"cannot read the keys from PostgreSQL: {e}")
    table = Table("id", "name", "scopes", "rate/min", "created", "revoked")
    for r in records:
        table.add_row(
            r.key_id,
            r.name,
            ",".join(sorted(r.scopes)),
            str(r.rate_per_min),
            f"{r.created_at:%Y-%m-%d %H:%M}" if r.created_at else "",
            f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "",
        )
    console.print(table)


@app.command()
def revoke(
    key_id: str = typer.Argument(..., help="the key's id (see `mlbsts api-key list`)"),
) -> None:
    """Revoke a key: API processes refuse it within MLBSTS_API_KEY_CACHE_S seconds."""
    import psycopg

    from api.key_store import revoke_key

    try:
        done = revoke_key(_dsn(), key_id)
    except psycopg.Error as e:
        _fail(f"cannot revoke the key in PostgreSQL: {e}")
    if not done:
        _fail(f"no active key {key_id}")
    console.print(f"key {key_id} revoked", highlight=False)
