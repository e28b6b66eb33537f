"""The ``mlbsts`` console script (contract: docs/architecture.md section 3).

Each area keeps its commands in its own module under ``mlbsts.commands``; this module
only assembles them. Commands import their heavy dependencies lazily so that
``mlbsts --help`` stays fast.
"""

from __future__ import annotations

import logging

import typer

from mlbsts.commands import (
    api,
    api_key,
    demo,
    game_tools,
    ingest,
    init,
    replay,
    reprocess,
    stack,
    tail,
    top,
)

app = typer.Typer(
    name="mlbsts",
    help="MLB-STS: live MLB data as a clean, validated event stream.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(stack.app, name="stack")
app.command("init")(init.init)
app.command("demo")(demo.demo)
app.command("simulate")(game_tools.simulate)
app.command("events")(game_tools.events)
app.command("boxscore")(game_tools.boxscore)
app.command("replay-server")(replay.replay_server)
app.add_typer(reprocess.app, name="replay")
app.command("ingest")(ingest.ingest)
app.command("coverage")(ingest.coverage)
app.command("api")(api.api)
app.add_typer(api_key.app, name="api-key")
app.command("tail")(tail.tail)
app.command("top")(top.top)


@app.callback()
def _main(
    ctx: typer.Context,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="log progress details (INFO)"),
) -> None:
    """Logs of every command: JSON or text, secrets redacted (mlbsts/telemetry/logs.py)."""
    from pydantic import ValidationError

    from mlbsts.settings import get_settings
    from mlbsts.telemetry.logs import secrets_of, setup_logging

    process = ctx.invoked_subcommand or "mlbsts"
    try:
        settings = get_settings()
    except ValidationError:  # the command that reads the settings reports it
        setup_logging(process, level=logging.INFO if verbose else logging.WARNING)
        return
    level = logging.INFO if verbose else settings.log_level
    setup_logging(process, level=level, fmt=settings.log_format, secrets=secrets_of(settings))


if __name__ == "__main__":
    app()
