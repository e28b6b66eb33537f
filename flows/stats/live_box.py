"""The running box score of each game: a stateful step over event batches, pure.

Granularity: one :class:`LiveStats` per :class:`~flows.game.batches.EventBatch` that carries at
least one event, holding the state after all of that snapshot's events. That is exactly
the box score after the batch's last event, and it is what every consumer can observe
anyway: the events of one snapshot share one ``source_ts``, so per-event records would be
~500 full box scores with the *same* ``source_ts`` at a catch-up snapshot, which a
defensive sink (newest ``source_ts`` wins) could not even order. An empty batch (a
duplicate or unchanged snapshot) changes nothing and emits nothing.

Revisions and retractions are honoured by :mod:`flows.game.boxscore`'s fold (latest version of
each ``event_id``; a retraction removes it). The state is released after Final with the
rule of :mod:`flows.game.release`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from flows.game import boxscore
from flows.game.batches import EventBatch
from flows.game.events import GameEvent
from flows.game.release import final_ts_after, following
from flows.game.status import is_final

__all__ = ["GameBoxState", "InningLine", "LiveStats", "fold_batch", "innings_of", "live_step"]


class InningLine(msgspec.Struct, frozen=True, kw_only=True):
    """Runs, hits and errors of one inning per team; runs ``None`` while not yet shown."""

    num: int
    away_runs: int | None
    away_hits: int
    away_errors: int
    home_runs: int | None
    home_hits: int
    home_errors: int


class LiveStats(msgspec.Struct, frozen=True, kw_only=True):
    """The live state of one game after the snapshot ``source_ts``."""

    gamePk: int  # noqa: N815 - contract name
    source_ts: str
    abstractGameState: str | None  # noqa: N815 - None until a status event is seen
    detailedState: str | None  # noqa: N815
    box: dict[str, Any]  # flows.game.boxscore.result: {"gamePk", "teams", "linescore"}
    innings: tuple[InningLine, ...]
    away_runs: int
    away_hits: int
    away_errors: int
    home_runs: int
    home_hits: int
    home_errors: int
    events: int  # live (not retracted) events folded so far

    @property
    def is_final(self) -> bool:
        return is_final(self.abstractGameState)

    @property
    def linescore(self) -> dict[str, Any]:
        line: dict[str, Any] = self.box["linescore"]
        return line


class GameBoxState(msgspec.Struct):
    """Per-game state of :func:`live_step`."""

    box: boxscore.BoxScoreState
    abstract_state: str | None = None
    detailed_state: str | None = None
    final_ts: str | None = None
    #: unused since the statistics follow the diff's release; kept for older snapshots
    newest_ts: str = ""


def innings_of(linescore: dict[str, Any]) -> tuple[InningLine, ...]:
    """The typed per-inning lines of a :func:`flows.game.boxscore.result` line score."""
    return tuple(
        InningLine(
            num=inning["num"],
            away_runs=inning["away"].get("runs"),
            away_hits=inning["away"]["hits"],
            away_errors=inning["away"]["errors"],
            home_runs=inning["home"].get("runs"),
            home_hits=inning["home"]["hits"],
            home_errors=inning["home"]["errors"],
        )
        for inning in linescore["innings"]
    )


def _live_stats(state: GameBoxState, game_pk: int, source_ts: str) -> LiveStats:
    box = boxscore.result(state.box)
    box["gamePk"] = game_pk
    innings = innings_of(box["linescore"])
    return LiveStats(
        gamePk=game_pk,
        source_ts=source_ts,
        abstractGameState=state.abstract_state,
        detailedState=state.detailed_state,
        box=box,
        innings=innings,
        away_runs=sum(i.away_runs or 0 for i in innings),
        away_hits=sum(i.away_hits for i in innings),
        away_errors=sum(i.away_errors for i in innings),
        home_runs=sum(i.home_runs or 0 for i in innings),
        home_hits=sum(i.home_hits for i in innings),
        home_errors=sum(i.home_errors for i in innings),
        events=sum(1 for e in state.box.latest.values() if e.__struct_config__.tag != "retraction"),
    )


def fold_batch(
    state: GameBoxState | None, item: EventBatch
) -> tuple[GameBoxState, list[LiveStats]]:
    """Fold one batch; emit the game's :class:`LiveStats` if the batch had events."""
    if state is None:
        state = GameBoxState(box=boxscore.initialize())
    for event in item.events:
        boxscore.agg(state.box, event)
        if isinstance(event, GameEvent) and event.action == "status":
            latest = state.box.latest.get(event.event_id)
            if latest is event:  # only the newest version of the status counts
                state.abstract_state = event.abstractGameState
                state.detailed_state = event.detailedState
        state.final_ts = final_ts_after(state.final_ts, event)
    out = [_live_stats(state, item.game_pk, item.source_ts)] if item.events else []
    return state, out


live_step = following(fold_batch)
"""The mapper ``(state, batch | Released)``: :func:`fold_batch`; the diff's ``Released``
signal drops the game's state (:mod:`flows.game.release`, "Ordering")."""
