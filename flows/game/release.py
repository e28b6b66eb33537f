"""When a finished game's per-game state is released, pure: one rule, one tick prologue
and the signal that makes the statistics follow the snapshot diff.

Every per-game step of the flow (the snapshot diff, the running box score, the pitchers'
figures, the window feed) keeps state keyed by gamePk. That state must go once the game
is over, or a season of finished games stays in memory (bytewax issue #577).

The rule, :func:`is_released`: a game's state is released once an item arrives whose time
is at least ``grace`` after ``final_ts``, the first ``source_ts`` (``metaData.timeStamp``)
at which the game was Final (:func:`flows.game.status.is_final`). The item's time is its
feed time or, for a :class:`Tick`, the tick's time: after Final, items usually stop, so
:mod:`flows.ticking` sends each key a ``Tick`` every few minutes, timed by the flow's own
clock (the newest feed time the process has read, not the wall clock: a replay of games
recorded years ago releases them as it did live, not all at the first tick).

The tick prologue, :func:`releasing`, turns a step ``(state | None, item) -> (state,
outputs)`` into the Bytewax mapper ``(state | None, item | Tick, grace) -> (state | None,
outputs)``: a ``Tick`` only keeps or releases the state; any other item goes to the step,
and the state is released if the rule holds at the feed time the step names for it.
``None`` as the state makes Bytewax forget the key. An item arriving after that starts
again from no state.

A game that never reaches Final (suspended and never resumed, called off without a Final
status, a feed MLB stops updating) would keep its state for ever. So a state is also
released by a ``Tick`` once the game has had no news for ``max_idle`` (:func:`is_idle`):
``newest_ts``, the newest feed time the state has taken (the prologue keeps it), is older
than the tick's time by at least ``max_idle``. A game that comes back after that starts
again from no state, like a finished game that gets a late correction.

Ordering: the statistics are released *no earlier* than the snapshot diff. While the diff
keeps its state it emits only changed events, and a fold that had forgotten the game would
rebuild a box score from a fragment. So only the diff judges: when it releases a game it
emits a :class:`Released` signal after the game's last batch, in the same stream, and the
statistics steps (:func:`following`) drop their state when the signal reaches them. The
statistics have no rule and no tick of their own, so no clock can part them from the diff.
After the release, the diff's next snapshot re-emits every event of the game (revision 0),
so the folds start over from a complete set and sinks keep the newest ``source_ts``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

import msgspec

from flows.game.envelope import parse_feed_timestamp
from flows.game.events import Event, GameEvent
from flows.game.status import is_final

__all__ = [
    "DEFAULT_GRACE",
    "DEFAULT_MAX_IDLE",
    "Finishing",
    "Released",
    "ReleasingMapper",
    "Tick",
    "Timed",
    "final_ts_after",
    "following",
    "is_idle",
    "is_released",
    "releasing",
    "source_ts_of",
    "utc_now",
]

DEFAULT_GRACE = timedelta(hours=2)
DEFAULT_MAX_IDLE = timedelta(hours=48)  # settings: game_max_idle_s


class Tick(msgspec.Struct, frozen=True):
    """A clock item for a :func:`releasing` mapper: lets a flow release finished games."""

    now: datetime


class Released(msgspec.Struct, frozen=True):
    """The diff released ``game_pk``'s state: the statistics steps release theirs."""

    game_pk: int


def utc_now() -> datetime:
    """The wall clock, for flows that build :class:`Tick` items."""
    return datetime.now(UTC)


def is_released(final_ts: str | None, now: datetime, grace: timedelta = DEFAULT_GRACE) -> bool:
    """True once the game has been Final for at least ``grace`` at ``now``."""
    return final_ts is not None and now >= parse_feed_timestamp(final_ts) + grace


def is_idle(newest_ts: str, now: datetime, max_idle: timedelta = DEFAULT_MAX_IDLE) -> bool:
    """True once the game has had no news for ``max_idle`` at ``now`` (``newest_ts`` is the
    newest feed time taken; "" for none: never idle)."""
    return bool(newest_ts) and now >= parse_feed_timestamp(newest_ts) + max_idle


def final_ts_after(final_ts: str | None, event: Event) -> str | None:
    """``final_ts`` updated by one event: the first ``source_ts`` with status Final."""
    if (
        final_ts is None
        and isinstance(event, GameEvent)
        and event.action == "status"
        and is_final(event.abstractGameState)
    ):
        return event.source_ts
    return final_ts


class Finishing(Protocol):
    """A per-game state that knows since when its game is Final (``None``: not yet) and
    the newest feed time it has taken (kept by :func:`releasing`; "" for none)."""

    @property
    def final_ts(self) -> str | None: ...

    newest_ts: str


class Timed(Protocol):
    """An item that carries its feed time (an event batch, an event)."""

    @property
    def source_ts(self) -> str: ...


S = TypeVar("S", bound=Finishing)
V = TypeVar("V")
V_contra = TypeVar("V_contra", contravariant=True)
W = TypeVar("W")


class ReleasingMapper(Protocol[S, V_contra, W]):
    """What :func:`releasing` returns: a ``stateful_flat_map`` mapper that handles ``Tick``."""

    def __call__(
        self,
        state: S | None,
        item: V_contra | Tick,
        grace: timedelta = ...,
        max_idle: timedelta = ...,
    ) -> tuple[S | None, list[W]]: ...


def source_ts_of(_state: object, item: Timed) -> str:
    """The feed time of an item that carries its own ``source_ts``."""
    return item.source_ts


def releasing(
    step: Callable[[S | None, V], tuple[S | None, list[W]]],
    feed_time: Callable[[S, V], str],
    signal: Callable[[S], W] | None = None,
) -> ReleasingMapper[S, V, W]:
    """``step`` with the tick prologue and the release rule (see the module docstring).

    ``feed_time(state, item)`` is the ``metaData.timeStamp`` at which the state is judged
    after ``step`` took ``item`` ("" for none: the state is kept). A step that returns
    ``None`` as the state (it has none to keep) is not judged. With ``signal``, releasing
    a state also emits ``signal(state)``, after the step's own outputs.
    """

    def released(state: S, out: list[W]) -> tuple[None, list[W]]:
        return None, [*out, signal(state)] if signal is not None else out

    def mapper(
        state: S | None,
        item: V | Tick,
        grace: timedelta = DEFAULT_GRACE,
        max_idle: timedelta = DEFAULT_MAX_IDLE,
    ) -> tuple[S | None, list[W]]:
        if isinstance(item, Tick):
            if state is None:
                return None, []
            if is_released(state.final_ts, item.now, grace) or is_idle(
                state.newest_ts, item.now, max_idle
            ):
                return released(state, [])
            return state, []
        state, out = step(state, item)
        if state is None:
            return None, out
        ts = feed_time(state, item)
        state.newest_ts = max(state.newest_ts, ts)
        if ts and is_released(state.final_ts, parse_feed_timestamp(ts), grace):
            return released(state, out)
        return state, out

    return mapper


T = TypeVar("T")


def following(
    step: Callable[[T | None, V], tuple[T, list[W]]],
) -> Callable[[T | None, V | Released], tuple[T | None, list[W]]]:
    """``step`` as a statistics mapper: a :class:`Released` signal drops the state (see
    "Ordering" in the module docstring); any other item goes to ``step``."""

    def mapper(state: T | None, item: V | Released) -> tuple[T | None, list[W]]:
        if isinstance(item, Released):
            return None, []
        return step(state, item)

    return mapper
