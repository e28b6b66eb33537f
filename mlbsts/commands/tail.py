"""``mlbsts tail TOPIC...``: follow project topics and print one line per record.

Decoding is ``connectors.topic_decode``, following ``connectors.kafka_follow``, the lines
``mlbsts.record_lines``; this module only wires them to the command line.

Ctrl-C (SIGINT) or SIGTERM asks the loop to stop between two records, so a line is never
cut and the count said at the end is exact; the consumer is closed and the exit code is 0.
A second Ctrl-C interrupts at once. Unreachable brokers or a missing topic exit 1 with the
reason.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Generator, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from connectors.kafka_follow import Received, Start
    from connectors.topic_decode import Decoded

FROM_HELP = "beginning | end | time:ISO-8601 (e.g. time:2024-07-12T20:00:00Z; no offset = UTC)"


def tail(
    topic_names: list[str] = typer.Argument(
        ..., metavar="TOPIC...", help="topics, or patterns of project topics: 'mlb.events.*'"
    ),
    game: int | None = typer.Option(None, "--game", help="only records keyed by this gamePk"),
    start: str = typer.Option("end", "--from", help=FROM_HELP),
    kinds: list[str] = typer.Option(
        [],
        "--kind",
        help="only these kinds (repeatable): pitch, play, runner, game, retraction, pitcher, "
        "window, snapshot, dead_letter, schedule",
    ),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per record"),
    limit: int | None = typer.Option(None, "--limit", min=1, help="stop after N records"),
    connect_timeout: float = typer.Option(
        10.0, "--connect-timeout", min=0.1, help="seconds to reach the brokers"
    ),
) -> None:
    """Print the records of TOPIC... as they arrive, decoded, until Ctrl-C."""
    from connectors.kafka_follow import StartError, parse_start
    from connectors.topic_decode import UnknownTopicPatternError, project_topics

    try:
        names, begin = project_topics(topic_names), parse_start(start)
    except (UnknownTopicPatternError, StartError) as e:
        raise typer.BadParameter(str(e)) from e
    _print_records(
        names,
        begin,
        key=None if game is None else str(game).encode(),
        kinds=frozenset(kinds),
        as_json=as_json,
        limit=limit,
        connect_timeout=connect_timeout,
    )


def _print_records(
    names: list[str],
    begin: Start,
    *,
    key: bytes | None,
    kinds: frozenset[str],
    as_json: bool,
    limit: int | None,
    connect_timeout: float,
) -> None:
    """Follow, decode, filter and print until the limit or Ctrl-C; exit 1 on broken brokers."""
    from connectors.kafka_follow import FollowError, follow
    from connectors.topic_codecs import registry_client
    from connectors.topic_decode import TopicDecoder
    from mlbsts.record_lines import json_line, readable_line
    from mlbsts.settings import get_settings

    settings = get_settings()
    registry = registry_client(settings)  # bounded by schema_registry_timeout_s
    decoder = TopicDecoder(registry.schema_by_id if registry is not None else None)
    line = json_line if as_json else readable_line
    where: str = begin.where
    if begin.since_ms is not None:
        where = datetime.fromtimestamp(begin.since_ms / 1000, UTC).isoformat()

    def ready(partitions: int) -> None:
        _note(f"following {', '.join(names)} ({partitions} partitions) from {where}; Ctrl-C stops")

    with _stop_requested() as stopping:
        records = follow(
            settings,
            names,
            begin,
            key=key,
            connect_timeout_s=connect_timeout,
            on_ready=ready,
            on_trouble=lambda message: _note(f"kafka: {message}"),
            stop=lambda: bool(stopping),
        )
        try:
            shown = _print_each(
                records, lambda r: decoder.decode(r.topic, r.value), line, kinds, limit
            )
        except FollowError as e:
            _note(f"error: {e}")
            raise typer.Exit(1) from e
    _note(f"stopped after {shown} records")


def _print_each(
    records: Generator[Received, None, None],
    decode: Callable[[Received], Decoded],
    line: Callable[[Received, Decoded], str],
    kinds: frozenset[str],
    limit: int | None,
) -> int:
    """Print the wanted records until the limit, the end of ``records`` or a second Ctrl-C;
    returns how many were printed. Closes ``records`` (the consumer)."""
    from mlbsts.record_lines import wanted

    shown = 0
    try:
        with closing(records):
            for record in records:
                decoded = decode(record)
                if wanted(decoded, kinds):
                    print(line(record, decoded), flush=True)
                    shown += 1
                    if limit is not None and shown >= limit:
                        break
    except KeyboardInterrupt:  # a second Ctrl-C: stop at once
        pass
    return shown


@contextmanager
def _stop_requested() -> Iterator[list[int]]:
    """While inside, SIGINT and SIGTERM are noted in the list instead of interrupting, and a
    second SIGINT interrupts (``KeyboardInterrupt``); the previous handlers come back after."""
    received: list[int] = []

    def note(signum: int, _frame: object) -> None:
        received.append(signum)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _note(message: str) -> None:
    """Progress and trouble go to stderr, so stdout holds only the records."""
    print(message, file=sys.stderr, flush=True)
