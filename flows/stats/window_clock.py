"""When a league window closes and which items are late: event time only, pure.

The league-wide windows (:mod:`flows.stats.windows`) see the items of every game on one
key. Closing them by a wall clock, or by the newest event time of the whole league, makes
the result depend on when the worker ran and on how the partitions of the log happened to
interleave: on a replay one game's snapshots can be read far ahead of another's, and the
slower game's items would then be late on one run and counted on the next. So this clock
keeps one watermark *per game* and decides everything from those:

- **Late** (per game, so the same whatever the interleaving): an item of game G is late if
  its window ends at or before G's watermark (the newest event time of G's items so far
  minus ``wait``), or if G was Final in an earlier snapshot (its ``source_ts`` is after
  the ``final_ts`` :class:`GameFinal` announced), or if its window was already closed.
  A late item is not counted; the flow turns it into a dead letter of class ``late``.
- **Closing**, :attr:`WindowRules.bounded` false (the live worker): a window closes once
  it ends at or before the *frontier*, the oldest watermark of the games still open (seen,
  not Final, and not idle: an open game whose newest event time is more than ``idle``
  behind the league's newest stops holding the others back, and holds them again as soon
  as it moves). With no open game, every window closes. After a window closed, every
  open game's watermark is past it, so the only late items a closing decision can make are
  those of a game first seen (or back from idle) after it.
- **Closing**, ``bounded`` true (a replay of a range of the log): nothing closes before
  the end of the input; at the end (:func:`close_all`) every window closes, in order. The
  counted items are then exactly the items that are not late by their own game's rules,
  so two replays of the same range give the same windows and the same late items, in any
  interleaving and with any number of workers.

A window is identified by its number ``(start - align_to) // length``. Closed windows are
emitted in that order. Games Final for longer than ``forget_after`` of league event time
are forgotten (the live worker only; a bounded replay keeps them, it ends).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from flows.stats.pitchers import EPOCH
from flows.stats.windows import GameFinal, WindowAcc, WindowItem, agg, initialize

__all__ = [
    "ClosedWindow",
    "GameClock",
    "GameFinal",
    "LateItem",
    "LeagueClock",
    "WindowRules",
    "close_all",
    "league_step",
]


class ClosedWindow(msgspec.Struct, frozen=True):
    """Window number ``window`` closed with what it counted."""

    window: int
    acc: WindowAcc


class LateItem(msgspec.Struct, frozen=True):
    """``item`` of window number ``window`` arrived late, ``why`` (module docstring)."""

    window: int
    item: WindowItem
    why: str


class GameClock(msgspec.Struct):
    """One game as the clock sees it."""

    newest: datetime | None = None  # newest event time of its items
    final_ts: str | None = None


class LeagueClock(msgspec.Struct):
    """The state of the league key: per-game clocks, open windows, the closed bound."""

    games: dict[int, GameClock] = msgspec.field(default_factory=dict)
    windows: dict[int, WindowAcc] = msgspec.field(default_factory=dict)
    closed_below: int | None = None  # windows numbered below this are closed


@dataclass(frozen=True)
class WindowRules:
    """The windows and their clock; the defaults are the production values."""

    length: timedelta = timedelta(minutes=5)
    align_to: datetime = EPOCH
    wait: timedelta = timedelta(minutes=2)
    idle: timedelta = timedelta(minutes=30)
    forget_after: timedelta = timedelta(hours=48)
    bounded: bool = False

    def window_of(self, at: datetime) -> int:
        return (at - self.align_to) // self.length

    def end_of(self, window: int) -> datetime:
        return self.align_to + self.length * (window + 1)


Output = ClosedWindow | LateItem


def league_step(
    state: LeagueClock | None, item: WindowItem | GameFinal, rules: WindowRules
) -> tuple[LeagueClock, list[Output]]:
    """One item (or Final marker) of any game → the late item and the windows it closes."""
    state = state if state is not None else LeagueClock()
    clock = state.games.setdefault(item.gamePk, GameClock())
    out: list[Output] = []
    if isinstance(item, GameFinal):
        if clock.final_ts is None or item.final_ts < clock.final_ts:
            clock.final_ts = item.final_ts
    else:
        window = rules.window_of(item.at)
        why = _late_why(state, clock, item, window, rules)
        if why is not None:
            out.append(LateItem(window, item, why))
        else:
            agg(state.windows.setdefault(window, initialize()), item)
        if clock.newest is None or item.at > clock.newest:
            clock.newest = item.at
    if not rules.bounded:
        frontier = _frontier(state, rules)
        out.extend(_close(state, [w for w in state.windows if _ends_by(w, frontier, rules)]))
        _forget(state, rules)
    return state, out


def close_all(state: LeagueClock | None) -> tuple[LeagueClock | None, list[ClosedWindow]]:
    """The end of the input: every open window closes, in order."""
    if state is None:
        return None, []
    return state, _close(state, list(state.windows))


def _late_why(
    state: LeagueClock, clock: GameClock, item: WindowItem, window: int, rules: WindowRules
) -> str | None:
    """Why ``item`` is late, or ``None`` if it is not."""
    if clock.final_ts is not None and item.version[0] > clock.final_ts:
        return f"its game was Final at {clock.final_ts}"
    if clock.newest is not None and rules.end_of(window) <= clock.newest - rules.wait:
        return f"its game's events had reached {clock.newest.isoformat()}"
    if state.closed_below is not None and window < state.closed_below:
        return "the window was closed"
    return None


def _frontier(state: LeagueClock, rules: WindowRules) -> datetime | None:
    """The oldest watermark of the open games; ``None``: no open game, close everything."""
    times = [c.newest for c in state.games.values() if c.newest is not None]
    if not times:
        return None
    newest = max(times)
    held = [
        c.newest
        for c in state.games.values()
        if c.final_ts is None and c.newest is not None and c.newest >= newest - rules.idle
    ]
    return min(held) - rules.wait if held else None


def _ends_by(window: int, frontier: datetime | None, rules: WindowRules) -> bool:
    """Does ``window`` end at or before ``frontier`` (``None``: after every window)?"""
    return frontier is None or rules.end_of(window) <= frontier


def _close(state: LeagueClock, due: list[int]) -> list[ClosedWindow]:
    """Close the windows numbered ``due``, in order."""
    if not due:
        return []
    due.sort()
    state.closed_below = max(due[-1] + 1, state.closed_below or 0)
    return [ClosedWindow(w, state.windows.pop(w)) for w in due]


def _forget(state: LeagueClock, rules: WindowRules) -> None:
    """Drop the clocks of games Final long ago (their items are late anyway)."""
    times = [c.newest for c in state.games.values() if c.newest is not None]
    if not times:
        return
    horizon = max(times) - rules.forget_after
    gone = [
        pk
        for pk, c in state.games.items()
        if c.final_ts is not None and (c.newest is None or c.newest < horizon)
    ]
    for pk in gone:
        del state.games[pk]
