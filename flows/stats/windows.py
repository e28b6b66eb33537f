"""League-wide event-time windows: what goes in, how it is counted, what comes out. Pure.

Two parts, wired by :mod:`flows.stats_flow` around the league clock
(:mod:`flows.stats.window_clock`, which decides when a window closes):

1. :func:`window_feed_step`, a per-game stateful step over a game's event batches, turns
   pitch and play events into small :class:`WindowItem` values timed by the event itself
   (a pitch's ``startTime``, else ``endTime``; a play's ``endTime``, else ``startTime``).
   It remembers, per ``event_id``, the time and the window-relevant content last sent, so
   that:

   - a revision that changes nothing the windows count (most revisions add tracking
     fields) sends nothing;
   - a retraction, or a revision that makes an item irrelevant (no longer a thrown pitch,
     no longer a home run), sends a *tombstone* at the remembered time;
   - a revision that moves the event in time (MLB moves pitch times by up to ~40 s) sends
     a tombstone at the old time *and* the item at the new one; the tombstone's version
     is lower, so when both fall in one window the item wins whatever their order.

   At the game's first Final status it also sends a :class:`GameFinal` marker.

2. :func:`initialize` / :func:`agg` / :func:`merge` / :func:`result`, the window
   aggregator: keeps the newest version (``source_ts``, ``revision``, sequence) of each
   ``event_id`` seen in the window, so a revised pitch is counted once, with its newest
   content, and a tombstone removes it. :class:`WindowStats` counts thrown pitches, balls in
   play (pitches put in play), their mean exit velocity (``hitData.launchSpeed``, over
   those that have one) and home runs (completed plays with ``eventType`` ``home_run``).

An item the league clock judges *late* (by its own game's event time, never the wall
clock) is not counted: the flow turns it into a dead letter of class ``late``. A closed
window's figures are not re-emitted: its record is final when written.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from flows.game.batches import EventBatch
from flows.game.events import Event, PitchEvent, PlayEvent, Retraction
from flows.game.release import final_ts_after, following
from flows.stats.pitchers import event_time

__all__ = [
    "GameFinal",
    "WindowAcc",
    "WindowFeedState",
    "WindowItem",
    "WindowStats",
    "agg",
    "feed_batch",
    "feed_event",
    "initialize",
    "merge",
    "result",
    "window_feed_step",
]


class WindowItem(msgspec.Struct, frozen=True, kw_only=True):
    """One pitch or play as the windows see it; ``present`` False is a tombstone."""

    event_id: str
    gamePk: int  # noqa: N815 - contract name
    at: datetime  # event time (UTC)
    version: tuple[str, int, int]  # (source_ts, revision, 0 tombstone of a move / 1)
    present: bool = True
    is_pitch: bool = False
    in_play: bool = False
    launch_speed: float | None = None
    home_run: bool = False


class GameFinal(msgspec.Struct, frozen=True, kw_only=True):
    """Game ``gamePk`` was first Final at ``final_ts`` (sent once, after that snapshot's
    items): the league clock (:mod:`flows.stats.window_clock`) stops waiting for it, and
    the items of its later snapshots are late."""

    gamePk: int  # noqa: N815 - contract name
    final_ts: str


class WindowStats(msgspec.Struct, frozen=True, kw_only=True):
    """League-wide figures of one closed tumbling window ``[window_start, window_end)``."""

    window_start: datetime
    window_end: datetime
    source_ts: str  # newest source_ts of anything folded into the window
    games: int
    pitches: int
    balls_in_play: int
    exit_velocity_n: int
    exit_velocity_avg: float | None
    home_runs: int


class WindowAcc(msgspec.Struct):
    """Accumulator of one window: the newest version of each ``event_id`` in it."""

    items: dict[str, WindowItem] = msgspec.field(default_factory=dict)


def initialize() -> WindowAcc:
    return WindowAcc()


def agg(acc: WindowAcc, item: WindowItem) -> WindowAcc:
    old = acc.items.get(item.event_id)
    if old is None or item.version > old.version:
        acc.items[item.event_id] = item
    return acc


def merge(a: WindowAcc, b: WindowAcc) -> WindowAcc:
    for item in b.items.values():
        agg(a, item)
    return a


def result(acc: WindowAcc, start: datetime, end: datetime) -> WindowStats:
    live = [i for i in acc.items.values() if i.present]
    speeds = [i.launch_speed for i in live if i.in_play and i.launch_speed is not None]
    return WindowStats(
        window_start=start,
        window_end=end,
        source_ts=max((i.version[0] for i in acc.items.values()), default=""),
        games=len({i.gamePk for i in live}),
        pitches=sum(1 for i in live if i.is_pitch),
        balls_in_play=sum(1 for i in live if i.in_play),
        exit_velocity_n=len(speeds),
        exit_velocity_avg=round(sum(speeds) / len(speeds), 2) if speeds else None,
        home_runs=sum(1 for i in live if i.home_run),
    )


Content = tuple[bool, bool, float | None, bool]  # (is_pitch, in_play, launch_speed, home_run)


class WindowFeedState(msgspec.Struct):
    """Per-game state of :func:`window_feed_step`: last sent (time, content) per id."""

    sent: dict[str, tuple[datetime, Content]] = msgspec.field(default_factory=dict)
    final_ts: str | None = None
    #: unused since the statistics follow the diff's release; kept for older snapshots
    newest_ts: str = ""


def _content(event: Event) -> tuple[datetime | None, Content | None]:
    """(event time, content) of an event the windows count; content None: not counted."""
    if isinstance(event, PitchEvent):
        if not event.isPitch:
            return None, None
        speed = (event.hitData or {}).get("launchSpeed")
        launch = float(speed) if isinstance(speed, int | float) else None
        at = event_time(event.startTime, event.endTime)
        return at, (True, event.isInPlay, launch if event.isInPlay else None, False)
    if isinstance(event, PlayEvent) and event.eventType == "home_run":
        return event_time(event.endTime, event.startTime), (False, False, None, True)
    return None, None


def _item(event: Event, at: datetime, content: Content, seq: int) -> WindowItem:
    is_pitch, in_play, launch, home_run = content
    return WindowItem(
        event_id=event.event_id,
        gamePk=event.gamePk,
        at=at,
        version=(event.source_ts, event.revision, seq),
        is_pitch=is_pitch,
        in_play=in_play,
        launch_speed=launch,
        home_run=home_run,
    )


def _tombstone(event: Event, at: datetime) -> WindowItem:
    return WindowItem(
        event_id=event.event_id,
        gamePk=event.gamePk,
        at=at,
        version=(event.source_ts, event.revision, 0),
        present=False,
    )


def feed_event(
    state: WindowFeedState | None, item: Event
) -> tuple[WindowFeedState, list[WindowItem | GameFinal]]:
    """One event of a game → the window items it changes (see the module docstring), and
    a :class:`GameFinal` when it is the game's first Final status."""
    if state is None:
        state = WindowFeedState()
    out: list[WindowItem | GameFinal] = []
    final_before = state.final_ts
    state.final_ts = final_ts_after(state.final_ts, item)
    if final_before is None and state.final_ts is not None:
        out.append(GameFinal(gamePk=item.gamePk, final_ts=state.final_ts))
    at, content = (None, None) if isinstance(item, Retraction) else _content(item)
    previous = state.sent.get(item.event_id)
    if at is None or content is None:
        if previous is not None:
            del state.sent[item.event_id]
            out.append(_tombstone(item, previous[0]))
    elif previous != (at, content):
        if previous is not None and previous[0] != at:
            out.append(_tombstone(item, previous[0]))
        state.sent[item.event_id] = (at, content)
        out.append(_item(item, at, content, 1))
    return state, out


def feed_batch(
    state: WindowFeedState | None, batch: EventBatch
) -> tuple[WindowFeedState, list[WindowItem | GameFinal]]:
    """:func:`feed_event` over every event of one batch, in order."""
    state = state if state is not None else WindowFeedState()
    out: list[WindowItem | GameFinal] = []
    for event in batch.events:
        state, items = feed_event(state, event)
        out.extend(items)
    return state, out


window_feed_step = following(feed_batch)
"""The mapper ``(state, batch | Released)``: :func:`feed_batch`; the diff's ``Released``
signal drops the game's state (:mod:`flows.game.release`, "Ordering")."""
