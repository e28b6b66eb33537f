"""When a finished game's per-game statistics state is released, pure.

The rule mirrors :func:`flows.game.snapshot_diff.flow_step` on purpose: the state of a game is
dropped once an item arrives whose time (a batch's or event's ``source_ts``, or a
:class:`~flows.game.snapshot_diff.Tick`'s ``now``) is at least ``grace`` after the first
``source_ts`` at which the game was ``Final``. Releasing *no earlier* than the snapshot
diff matters: while the diff keeps its state it emits only changed events, and a fold
that had forgotten the game would rebuild a box score from a fragment. After both have
released, the diff's next snapshot re-emits every event of the game (revision 0), so the
folds here start over from a complete set and sinks keep the newest ``source_ts``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flows.game.envelope import parse_feed_timestamp
from flows.game.events import Event, GameEvent
from flows.game.snapshot_diff import DEFAULT_GRACE

__all__ = ["DEFAULT_GRACE", "final_ts_after", "is_released", "time_of"]


def final_ts_after(final_ts: str | None, event: Event) -> str | None:
    """``final_ts`` updated by one event: the first ``source_ts`` with status Final."""
    if (
        final_ts is None
        and isinstance(event, GameEvent)
        and event.action == "status"
        and event.abstractGameState == "Final"
    ):
        return event.source_ts
    return final_ts


def time_of(source_ts: str) -> datetime:
    """A ``source_ts`` (``metaData.timeStamp``) as an aware UTC datetime."""
    return parse_feed_timestamp(source_ts)


def is_released(final_ts: str | None, now: datetime, grace: timedelta = DEFAULT_GRACE) -> bool:
    """True once the game has been Final for at least ``grace`` at ``now``."""
    return final_ts is not None and now >= time_of(final_ts) + grace
