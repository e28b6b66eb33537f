"""The view of ``mlbsts top``: the running system on one terminal screen; pure, no I/O.

Built from what the command read (:mod:`mlbsts.commands.top`): each game's live state from
Redis (:class:`~flows.stats.live_box.LiveStats`, the contract of
``connectors/redis_state.py``) and each process's ``/metrics``
(:mod:`mlbsts.top_figures`). Shows per game its status, inning, score and data age; the
processes that answer or not; events and snapshots per second; dead letters by class; sink
latency, queues, retries and errors; consumer lag; data age per stage; the poller's
breakers. Kept apart from the scraping so that a test renders it to a recorded console.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from flows.game.envelope import parse_feed_timestamp
from flows.stats.live_box import LiveStats
from mlbsts.top_figures import (
    Pair,
    Scrape,
    gauges_by,
    label_values,
    pairs_of,
    quantiles_by,
    rates_by,
    sums_by,
)

__all__ = ["GameRow", "LiveGames", "game_row", "inning_of", "render"]

NONE = "–"


@dataclass(frozen=True)
class GameRow:
    """One game's line of the view."""

    game_pk: int
    status: str
    inning: str
    away: tuple[int, int, int]  # runs, hits, errors
    home: tuple[int, int, int]
    data_age_s: float | None  # now - the feed's metaData.timeStamp
    updated_s: float | None  # now - the game's last write to Redis (unfinished games)


@dataclass(frozen=True)
class LiveGames:
    """The games read from Redis, or why they could not be (``error``)."""

    rows: tuple[GameRow, ...] = ()
    error: str | None = None
    unreadable: int = 0  # stored states this version could not decode


def inning_of(state: LiveStats) -> str:
    """The inning the line score has reached (``F/9`` once Final); ``–`` before the first."""
    if not state.innings:
        return NONE
    last = state.innings[-1].num
    return f"F/{last}" if state.is_final else str(last)


def game_row(state: LiveStats, now: datetime, updated_at: float | None) -> GameRow:
    """``state``'s line at ``now`` (aware); ``updated_at``: its score in the live set
    (Redis time, epoch seconds), ``None`` for a game that has left it (Final)."""
    try:
        age: float | None = (now - parse_feed_timestamp(state.source_ts)).total_seconds()
    except ValueError:
        age = None
    return GameRow(
        game_pk=state.gamePk,
        status=state.detailedState or state.abstractGameState or "?",
        inning=inning_of(state),
        away=(state.away_runs, state.away_hits, state.away_errors),
        home=(state.home_runs, state.home_hits, state.home_errors),
        data_age_s=age,
        updated_s=None if updated_at is None else now.timestamp() - updated_at,
    )


# -- formatting -------------------------------------------------------------------------


def fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def fmt_rate(value: float | None) -> str:
    return NONE if value is None else f"{value:.1f}/s"


def fmt_latency(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return NONE
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def fmt_count(n: float | None) -> str:
    return NONE if n is None else f"{n:,.0f}"


# -- tables -----------------------------------------------------------------------------


def _table(title: str, *columns: str, left: int = 1) -> Table:
    """A table whose first ``left`` columns are text and the others figures."""
    table = Table(title=title, title_justify="left")
    for i, name in enumerate(columns):
        table.add_column(name, justify="left" if i < left else "right")
    return table


def _nothing(table: Table, scrapes: Sequence[Scrape]) -> Table:
    """``table``, with a line saying why it is empty when it is."""
    if not table.row_count:
        why = "no data yet" if any(s.up for s in scrapes) else "no process answers"
        table.add_row(why, *([""] * (len(table.columns) - 1)))
    return table


def processes_table(scrapes: Sequence[Scrape]) -> Table:
    table = _table("processes", "process", "endpoint", "state", "version", left=4)
    for scrape in scrapes:
        versions = sorted(label_values([scrape], "mlbsts_build_info", "version"))
        state = Text("up", style="green") if scrape.up else Text(f"DOWN {scrape.error}", "red")
        table.add_row(scrape.process, scrape.url, state, ", ".join(versions) or NONE)
    return table


def games_table(games: LiveGames) -> RenderableType:
    if games.error is not None:
        return Text(f"games: Redis is DOWN ({games.error})", style="red")
    table = _table("games", "game", "status", "inning", "away R H E", "home R H E", left=2)
    table.add_column("data age", justify="right")
    table.add_column("updated", justify="right")
    for row in games.rows:
        table.add_row(
            str(row.game_pk),
            row.status,
            row.inning,
            " ".join(map(str, row.away)),
            " ".join(map(str, row.home)),
            fmt_age(row.data_age_s),
            fmt_age(row.updated_s),
        )
    if not games.rows:
        table.add_row("no game in Redis", *([""] * 6))
    if games.unreadable:
        table.caption = f"{games.unreadable} stored states could not be read"
    return table


def flow_table(pairs: Sequence[Pair], scrapes: Sequence[Scrape], now: datetime) -> Table:
    """Throughput and state of the workers and the poller."""
    table = _table("flow", "figure", "value")
    events = rates_by(pairs, "mlbsts_events_total", "kind")
    kinds = label_values(scrapes, "mlbsts_events_total", "kind")
    table.add_row("events", fmt_rate(None if events is None else sum(events.values())))
    for kind in kinds:
        table.add_row(f"  {kind}", fmt_rate(None if events is None else events.get(kind, 0.0)))
    snapshots = rates_by(pairs, "mlbsts_snapshots_total", "outcome")
    for outcome in label_values(scrapes, "mlbsts_snapshots_total", "outcome"):
        rate = None if snapshots is None else snapshots.get(outcome, 0.0)
        table.add_row(f"snapshots {outcome}", fmt_rate(rate))
    polls = rates_by(pairs, "mlbsts_polls_total", "outcome")
    for outcome in label_values(scrapes, "mlbsts_polls_total", "outcome"):
        table.add_row(f"polls {outcome}", fmt_rate(None if polls is None else polls.get(outcome)))
    api = rates_by(pairs, "mlbsts_api_requests_total")
    if any(s.up and s.process == "api" for s in scrapes):
        table.add_row("api requests", fmt_rate(None if api is None else sum(api.values())))
    ups = [s for s in scrapes if s.up]
    games = sums_by(ups, "mlbsts_games_in_state").get("")
    table.add_row("games in state", fmt_count(games))
    table.add_row("state size", fmt_bytes(sums_by(ups, "mlbsts_state_bytes").get("")))
    for name, what in (
        ("mlbsts_worker_progress_timestamp_seconds", "worker progress"),
        ("mlbsts_poller_tick_timestamp_seconds", "poller tick"),
    ):
        stamp = gauges_by(ups, name).get("")
        table.add_row(f"{what} age", fmt_age(None if stamp is None else now.timestamp() - stamp))
    return table


def dead_letters_table(pairs: Sequence[Pair], scrapes: Sequence[Scrape]) -> Table:
    table = _table("dead letters", "class", "total", "rate")
    totals = sums_by([s for s in scrapes if s.up], "mlbsts_dead_letters_total", "error_class")
    rates = rates_by(pairs, "mlbsts_dead_letters_total", "error_class")
    for error_class, total in sorted(totals.items()):
        rate = None if rates is None else rates.get(error_class, 0.0)
        table.add_row(error_class, fmt_count(total), fmt_rate(rate))
    if not totals and any(s.up and s.process == "worker" for s in scrapes):
        table.add_row("none", "0", fmt_rate(None if rates is None else 0.0))
    return _nothing(table, scrapes)


def sinks_table(pairs: Sequence[Pair], scrapes: Sequence[Scrape]) -> Table:
    table = _table("sinks", "sink", "write p50", "write p95", "queue", "queued", "retries")
    table.add_column("errors", justify="right")
    ups = [s for s in scrapes if s.up]
    p50 = quantiles_by(pairs, "mlbsts_sink_write_seconds", 0.5, "sink")
    p95 = quantiles_by(pairs, "mlbsts_sink_write_seconds", 0.95, "sink")
    items = sums_by(ups, "mlbsts_sink_queue_items", "sink")
    queued = sums_by(ups, "mlbsts_sink_queue_bytes", "sink")
    retries = sums_by(ups, "mlbsts_sink_retries_total", "sink")
    errors = sums_by(ups, "mlbsts_sink_errors_total", "sink")
    for sink in sorted({*p95, *items, *retries, *errors}):
        table.add_row(
            sink,
            fmt_latency(p50.get(sink)),
            fmt_latency(p95.get(sink)),
            fmt_count(items.get(sink)),
            fmt_bytes(queued.get(sink)),
            fmt_count(retries.get(sink, 0.0)),
            Text(fmt_count(errors.get(sink, 0.0)), style="red" if errors.get(sink) else ""),
        )
    return _nothing(table, scrapes)


def lag_table(pairs: Sequence[Pair], scrapes: Sequence[Scrape]) -> Table:
    """Consumer lag per topic, data age per stage, open breakers."""
    table = _table("lag and freshness", "figure", "value")
    ups = [s for s in scrapes if s.up]
    for topic, records in sorted(sums_by(ups, "mlbsts_consumer_lag_records", "topic").items()):
        table.add_row(f"lag {topic}", f"{fmt_count(records)} records")
    p95 = quantiles_by(pairs, "mlbsts_data_age_seconds", 0.95, "stage")
    for stage in ("published", "events_produced", "postgres_committed"):
        if stage in p95:
            table.add_row(f"data age p95 {stage}", fmt_age(p95[stage]))
    for host, is_open in sorted(gauges_by(ups, "mlbsts_breaker_open", "host").items()):
        state = Text("OPEN", style="red") if is_open else Text("closed")
        table.add_row(f"breaker {host}", state)
    return _nothing(table, scrapes)


def render(
    games: LiveGames,
    scrapes: Sequence[Scrape],
    previous: Mapping[str, Scrape],
    now: datetime,
    title: str = "mlbsts top",
) -> Group:
    """Everything on one screen. ``previous`` holds the last scrape of each endpoint (by
    URL), for rates; ``now`` is aware."""
    pairs = pairs_of(previous, scrapes)
    return Group(
        Text(f"{title}  {now:%Y-%m-%d %H:%M:%S} UTC", style="bold"),
        Columns([processes_table(scrapes), lag_table(pairs, scrapes)]),
        games_table(games),
        Columns(
            [
                flow_table(pairs, scrapes, now),
                dead_letters_table(pairs, scrapes),
                sinks_table(pairs, scrapes),
            ]
        ),
    )
