"""The ``mlbsts`` console script (contract: docs/architecture.md section 3).

Each area keeps its commands in its own module under ``mlbsts.commands``; this module
only assembles them. Commands import their heavy dependencies lazily so that
``mlbsts --help`` stays fast.
"""

from __future__ import annotations

import logging

import typer

from mlbsts.commands import demo, game_tools, ingest, init, replay, stack

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
app.command("ingest")(ingest.ingest)
app.command("coverage")(ingest.coverage)


@app.callback()
def _main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="log progress details (INFO)"),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


if __name__ == "__main__":
    app()
