"""What an MLB game status says, pure: the one place that decides "this game is Final".

A status is a feed's ``gameData.status`` or a schedule game's ``status``: three strings,
``abstractGameState`` (``Preview``, ``Live`` or ``Final``), ``codedGameState`` (one letter)
and ``detailedState`` (``In Progress``, ``Game Over``, ``Delayed: Rain``, ``Postponed``...).
It is read in two ways:

- :func:`is_final`, for the dataflow: ``abstractGameState`` is ``Final``. MLB reports a
  postponed or cancelled game as ``Final`` too. The flow records the first ``source_ts``
  at which a game was Final and releases the game's state a grace period after it
  (:mod:`flows.game.release`).
- :func:`kind_of`, for the poller (:mod:`ingest.policy`) and ``mlbsts coverage``: a
  :class:`StatusKind`. Postponed, cancelled, suspended and delayed are read from
  ``detailedState`` / ``codedGameState`` first, whatever the abstract state; then
  :func:`is_final`, ``Live``, else preview. A game :func:`is_called_off` (postponed or
  cancelled) has nothing left to poll on its date; a status that :func:`is_settled` (Final
  or called off) is the last word on the game for its date.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

__all__ = [
    "CALLED_OFF",
    "FINAL",
    "SETTLED",
    "StatusKind",
    "is_called_off",
    "is_final",
    "is_settled",
    "kind_of",
]

FINAL = "Final"  # abstractGameState of a finished (or called-off) game
_LIVE = "Live"


class StatusKind(StrEnum):
    """What a status says about the game (the poller's phases use the same values)."""

    PREVIEW = "preview"
    LIVE = "live"
    DELAYED = "delayed"
    SUSPENDED = "suspended"
    FINAL = "final"
    POSTPONED = "postponed"
    CANCELLED = "cancelled"


CALLED_OFF = frozenset({StatusKind.POSTPONED, StatusKind.CANCELLED})
SETTLED = frozenset({StatusKind.FINAL, *CALLED_OFF})


def is_final(abstract_game_state: str | None) -> bool:
    """True if ``abstractGameState`` says the game is Final (called-off games included)."""
    return abstract_game_state == FINAL


def kind_of(status: Mapping[str, object]) -> StatusKind:
    """The :class:`StatusKind` of a status object (feed or schedule); missing fields are ""."""
    detailed = str(status.get("detailedState") or "")
    coded = str(status.get("codedGameState") or "")
    abstract = str(status.get("abstractGameState") or "")
    if detailed.startswith("Postponed") or coded == "D":
        return StatusKind.POSTPONED
    if detailed.startswith("Cancelled") or coded == "C":
        return StatusKind.CANCELLED
    if detailed.startswith("Suspended") or coded in ("T", "U"):
        return StatusKind.SUSPENDED
    if detailed.startswith("Delayed"):
        return StatusKind.DELAYED
    if is_final(abstract):
        return StatusKind.FINAL
    if abstract == _LIVE:
        return StatusKind.LIVE
    return StatusKind.PREVIEW


def is_called_off(status: Mapping[str, object]) -> bool:
    """Postponed or cancelled: nothing left to poll for the game on its date."""
    return kind_of(status) in CALLED_OFF


def is_settled(status: Mapping[str, object]) -> bool:
    """Final or called off: the status is the last word on the game for its date."""
    return kind_of(status) in SETTLED
