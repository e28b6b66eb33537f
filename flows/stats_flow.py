"""The live-statistics sub-flow: event batches in, statistics and late items out.

``add_live_stats(batches)`` adds its steps (ids prefixed ``stats_``) to the flow of
its input streams and returns :class:`StatsOutputs`; ``stats_records(outputs)`` turns them
into log records (Avro, ``schemas/live_stats.avsc`` and ``schemas/window_stats.avsc``):

- ``mlb.stats.live`` (key ``gamePk``): one ``LiveStatsRecord`` per changed game per
  snapshot (``kind`` ``game``) and per changed pitcher (``kind`` ``pitcher``);
- ``mlb.stats.windows`` (key: the window start, ISO 8601): one ``WindowStats`` per closed
  league-wide window;
- ``mlb.dlq.game-snapshots``: late window items as dead letters of class ``late``.

Windows: every game's pitch and play items are keyed to one key (``league``) so that one
step sees them all: the league clock (:mod:`flows.stats.window_clock`) over 5-minute
tumbling windows aligned to the Unix epoch. It works on event time only: an item is late
by its own game's event time (``wait`` behind that game's newest, default 2 min: a pitch
reaches the feed seconds after it is thrown, polling adds ~10 s, MLB moves completed
plays' times by up to ~40 s) or because its game was already Final; a window closes when
every open game's event time is past its end plus ``wait`` (live), or at the end of the
input (``bounded``, a replay). So the same input gives the same windows and the same late
items whatever the wall clock and, bounded, whatever the interleaving of partitions and
workers. The league-wide volume (~15 games x ~300 pitches a day) is small enough for one
worker to own that key. Late items are visible as dead letters, never dropped.

Delivery: per-game state and window state are exactly-once with Bytewax recovery; the
records are at-least-once (a resumed epoch repeats); consumers keep the newest
``source_ts`` per game / window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import bytewax.operators as op
import msgspec
import orjson
from bytewax.dataflow import Stream
from bytewax.operators import StatefulLogic

from connectors.avro_serde import AvroCodec
from connectors.kafka_io import OutRecord
from connectors.records import dead_letter_record
from connectors.topic_codecs import value_encoder
from flows.game.batches import EventBatch
from flows.game.dead_letters import DeadLetter, ErrorClass
from flows.game.release import DEFAULT_GRACE, DEFAULT_MAX_IDLE, Released
from flows.stats import windows as win
from flows.stats.live_box import LiveStats, live_step
from flows.stats.pitchers import EPOCH, PitcherStats, pitcher_step
from flows.stats.window_clock import (
    ClosedWindow,
    LateItem,
    LeagueClock,
    WindowRules,
    close_all,
    league_step,
)
from flows.ticking import TICK_EVERY, keyed_state
from mlbsts import topics
from mlbsts.settings import Settings

__all__ = [
    "LEAGUE_KEY",
    "StatsConfig",
    "StatsOutputs",
    "add_live_stats",
    "late_letter",
    "live_value",
    "pitcher_value",
    "stats_config",
    "stats_records",
    "window_value",
]

LEAGUE_KEY = "league"


@dataclass(frozen=True)
class StatsConfig:
    """Tuning of the sub-flow; the defaults are the production values."""

    window: timedelta = timedelta(minutes=5)
    wait: timedelta = timedelta(minutes=2)  # settings: stats_window_wait_s
    align_to: datetime = EPOCH
    grace: timedelta = DEFAULT_GRACE  # release of a game's state after Final (every step)
    tick_every: timedelta = TICK_EVERY  # how often per-game state is checked for release
    max_idle: timedelta = DEFAULT_MAX_IDLE  # release of a game without news

    #: the league clock's idle bound: an open game this far behind the league's newest
    #: event time stops holding windows open (``flows.stats.window_clock``)
    window_idle: timedelta = timedelta(minutes=30)
    #: close windows only at the end of the input (a bounded replay: deterministic)
    bounded: bool = False

    def window_rules(self) -> WindowRules:
        """The league clock's rules (``forget_after``: the diff's idle bound)."""
        return WindowRules(
            length=self.window,
            align_to=self.align_to,
            wait=self.wait,
            idle=self.window_idle,
            forget_after=self.max_idle,
            bounded=self.bounded,
        )


@dataclass(frozen=True)
class StatsOutputs:
    """The streams ``add_live_stats`` produces."""

    live: Stream[LiveStats]
    pitchers: Stream[PitcherStats]
    windows: Stream[win.WindowStats]
    late: Stream[DeadLetter]


def stats_config(settings: Settings) -> StatsConfig:
    """The production :class:`StatsConfig` (``stats_window_wait_s`` from the settings)."""
    return StatsConfig(
        wait=timedelta(seconds=settings.stats_window_wait_s),
        max_idle=timedelta(seconds=settings.game_max_idle_s),
    )


def _batch_key(batch: EventBatch | Released) -> str:
    return str(batch.game_pk)


def _league_key(_item: win.WindowItem | win.GameFinal) -> str:
    return LEAGUE_KEY


def add_live_stats(
    batches: Stream[EventBatch | Released], config: StatsConfig | None = None
) -> StatsOutputs:
    """Add the statistics steps; ``batches`` in order per game, with the diff's
    ``Released`` signals (the statistics keep a game exactly as long as the diff does)."""
    cfg = config or StatsConfig()
    keyed = op.key_on("stats_key_batches", batches, _batch_key)
    # (gamePk, EventBatch | Released)
    live = op.key_rm("stats_unkey_live", keyed_state("stats_live_box", keyed, live_step))
    # LiveStats, one per batch with events
    pitchers = op.key_rm("stats_unkey_pitchers", keyed_state("stats_pitchers", keyed, pitcher_step))
    # PitcherStats, one per changed pitcher per batch
    items = op.key_rm(
        "stats_unkey_window_items",
        keyed_state("stats_window_feed", keyed, win.window_feed_step),
    )
    # WindowItem (pitch, home run or tombstone), timed by the event; GameFinal markers
    league = op.key_on("stats_key_league", items, _league_key)
    rules = cfg.window_rules()
    clocked = op.key_rm(
        "stats_unkey_league",
        op.stateful("stats_league_clock", league, partial(LeagueClockLogic, rules)),
    )
    # ClosedWindow | LateItem
    split = op.branch("stats_split_late", clocked, _is_closed)
    windows = op.map("stats_window_result", split.trues, partial(_window_stats, rules))
    late = op.map("stats_late_letters", split.falses, partial(_late, rules))
    return StatsOutputs(live=live, pitchers=pitchers, windows=windows, late=late)


class LeagueClockLogic(StatefulLogic[Any, Any, bytes]):
    """The league key's :class:`~flows.stats.window_clock.LeagueClock` in Bytewax: each
    item goes through :func:`league_step`; at the end of the input every window closes.
    The snapshot is the state as msgpack bytes (immutable, as Bytewax requires)."""

    def __init__(self, rules: WindowRules, resume: bytes | None) -> None:
        self._rules = rules
        self._state = None if resume is None else msgspec.msgpack.decode(resume, type=LeagueClock)

    def on_item(self, value: Any) -> tuple[list[Any], bool]:
        self._state, out = league_step(self._state, value, self._rules)
        return out, StatefulLogic.RETAIN

    def on_eof(self) -> tuple[list[Any], bool]:
        self._state, out = close_all(self._state)
        return list(out), StatefulLogic.RETAIN

    def snapshot(self) -> bytes:
        return msgspec.msgpack.encode(self._state or LeagueClock())


def _is_closed(item: ClosedWindow | LateItem) -> bool:
    return isinstance(item, ClosedWindow)


def _bounds(rules: WindowRules, window_id: int) -> tuple[datetime, datetime]:
    end = rules.end_of(window_id)
    return end - rules.length, end


def _window_stats(rules: WindowRules, closed: ClosedWindow) -> win.WindowStats:
    return win.result(closed.acc, *_bounds(rules, closed.window))


def _late(rules: WindowRules, late: LateItem) -> DeadLetter:
    return late_letter(late.item, *_bounds(rules, late.window), why=late.why)


def late_letter(
    item: win.WindowItem, start: datetime, end: datetime, why: str = "the window was closed"
) -> DeadLetter:
    """A window item the league clock judged late (``why``), as a dead letter."""
    what = "tombstone of" if not item.present else "item"
    return DeadLetter(
        error_class=ErrorClass.LATE,
        reason=(
            f"{what} {item.event_id} at {item.at.isoformat()} (source_ts {item.version[0]}, "
            f"revision {item.version[1]}) is late for window [{start.isoformat()}, "
            f"{end.isoformat()}) of {topics.STATS_WINDOWS}: {why}"
        ),
        detected_at=datetime.now(UTC),
        gamePk=item.gamePk,
        original_key=str(item.gamePk).encode(),
        original_value=msgspec.json.encode(item),
    )


# --- log records --------------------------------------------------------------------------


def _live_codec() -> AvroCodec:
    """The encoder of ``mlb.stats.live`` (framing: ``connectors.topic_codecs``)."""
    return value_encoder(topics.STATS_LIVE)


def _window_codec() -> AvroCodec:
    """The encoder of ``mlb.stats.windows`` (framing: ``connectors.topic_codecs``)."""
    return value_encoder(topics.STATS_WINDOWS)


def live_value(stats: LiveStats) -> dict[str, Any]:
    """The ``LiveStatsRecord`` (kind ``game``) of a game's live state."""
    game = msgspec.structs.asdict(stats)
    del game["gamePk"], game["source_ts"], game["box"]
    game["box_json"] = orjson.dumps(stats.box).decode()
    game["innings"] = [msgspec.structs.asdict(i) for i in stats.innings]
    return {
        "kind": "game",
        "gamePk": stats.gamePk,
        "source_ts": stats.source_ts,
        "game": game,
        "pitcher": None,
    }


def pitcher_value(stats: PitcherStats) -> dict[str, Any]:
    """The ``LiveStatsRecord`` (kind ``pitcher``) of a pitcher's live figures."""
    pitcher = msgspec.structs.asdict(stats)
    del pitcher["gamePk"], pitcher["source_ts"]
    return {
        "kind": "pitcher",
        "gamePk": stats.gamePk,
        "source_ts": stats.source_ts,
        "game": None,
        "pitcher": pitcher,
    }


def window_value(stats: win.WindowStats) -> dict[str, Any]:
    return msgspec.structs.asdict(stats)


def _live_record(stats: LiveStats) -> OutRecord:
    value = _live_codec().encode(live_value(stats))
    return OutRecord(topic=topics.STATS_LIVE, key=str(stats.gamePk).encode(), value=value)


def _pitcher_record(stats: PitcherStats) -> OutRecord:
    value = _live_codec().encode(pitcher_value(stats))
    return OutRecord(topic=topics.STATS_LIVE, key=str(stats.gamePk).encode(), value=value)


def _window_record(stats: win.WindowStats) -> OutRecord:
    value = _window_codec().encode(window_value(stats))
    key = stats.window_start.isoformat().encode()
    return OutRecord(topic=topics.STATS_WINDOWS, key=key, value=value)


def stats_records(outputs: StatsOutputs) -> Stream[OutRecord]:
    """Every statistics output as a log record (late items to the dead-letter topic)."""
    live = op.map("stats_live_records", outputs.live, _live_record)
    pitchers = op.map("stats_pitcher_records", outputs.pitchers, _pitcher_record)
    windows = op.map("stats_window_records", outputs.windows, _window_record)
    late = op.map("stats_late_records", outputs.late, dead_letter_record)
    return op.merge("stats_records", live, pitchers, windows, late)
