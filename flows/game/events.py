"""The events the snapshot diff emits (contract: docs/architecture.md section 2), pure.

Every event is a frozen, picklable msgspec Struct, JSON-encodable with a ``kind`` tag
(``pitch``, ``play``, ``runner``, ``game``, ``retraction``) and carries:

- ``event_id``: a readable string built only from the event's identity, so it is the
  same on every replay and every polling cadence:

  ========  =====================================================  =====================
  kind      identity                                               ``event_id``
  ========  =====================================================  =====================
  pitch     (gamePk, atBatIndex, playEventIndex)                   ``pitch:PK:AB:I``
  play      (gamePk, atBatIndex)                                   ``play:PK:AB``
  runner    (gamePk, atBatIndex, playEventIndex, runnerId,         ``runner:PK:AB:I:R:S``
            startBase)                                             (``S``: 1B/2B/3B, or
                                                                   ``B`` from home)
  game      (gamePk, atBatIndex, playEventIndex) of an action      ``game:PK:AB:I``
  game      (gamePk) for the game's status                         ``game:PK:status``
  ========  =====================================================  =====================

  MLB occasionally lists one runner twice with the same start at the same play event (a
  strikeout record followed by "to 1st on a wild pitch"); the second and later get
  ``:2``, ``:3`` ... appended, in MLB's order.
- ``revision``: 0 when first emitted, +1 each time its content changes;
- ``source_ts``: ``metaData.timeStamp`` of the snapshot that produced it.

A :class:`Retraction` says an event that was emitted is gone from the feed (a
placeholder play replaced, a play event removed by MLB). A retracted id that comes back
is emitted again with the next revision. The game status is one event whose revisions
are the status changes (Preview → Live → Game Over → Final), so its final content does
not depend on which intermediate states a poller happened to see.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "Count",
    "Event",
    "GameEvent",
    "PitchEvent",
    "PlayEvent",
    "Retraction",
    "RunnerEvent",
    "decode_event",
    "encode_event",
]


class Count(msgspec.Struct, frozen=True):
    balls: int = 0
    strikes: int = 0
    outs: int = 0


class _Base(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    event_id: str
    revision: int = 0
    source_ts: str = ""
    gamePk: int  # noqa: N815 - contract name


class PitchEvent(_Base, frozen=True, kw_only=True, tag="pitch"):
    """A pitch or pitch-like event: pickoff attempt, step-off, automatic ball or strike."""

    atBatIndex: int  # noqa: N815
    playEventIndex: int  # noqa: N815
    playId: str | None = None  # noqa: N815
    type: str  # pitch, pickoff, stepoff, no_pitch
    isPitch: bool  # noqa: N815 - True only for a thrown pitch
    pitchNumber: int | None = None  # noqa: N815
    inning: int
    halfInning: str  # noqa: N815
    code: str | None = None
    description: str | None = None
    isStrike: bool = False  # noqa: N815
    isBall: bool = False  # noqa: N815
    isInPlay: bool = False  # noqa: N815
    isOut: bool = False  # noqa: N815
    countBefore: Count  # noqa: N815
    countAfter: Count  # noqa: N815
    pitcherId: int | None  # noqa: N815 - the pitcher who threw it
    batterId: int | None  # noqa: N815
    pitchType: str | None = None  # noqa: N815
    pitchData: dict[str, Any] | None = None  # noqa: N815
    hitData: dict[str, Any] | None = None  # noqa: N815
    startTime: str | None = None  # noqa: N815
    endTime: str | None = None  # noqa: N815


class PlayEvent(_Base, frozen=True, kw_only=True, tag="play"):
    """A completed plate appearance (``about.isComplete``)."""

    atBatIndex: int  # noqa: N815
    inning: int
    halfInning: str  # noqa: N815
    eventType: str | None  # noqa: N815
    event: str | None
    description: str | None
    rbi: int
    isOut: bool  # noqa: N815
    outs: int  # outs in the half-inning after the play
    awayScore: int  # noqa: N815
    homeScore: int  # noqa: N815
    batterId: int | None  # noqa: N815
    pitcherId: int | None  # noqa: N815 - the pitcher charged with the batter
    isScoringPlay: bool = False  # noqa: N815
    hasReview: bool = False  # noqa: N815
    startTime: str | None = None  # noqa: N815
    endTime: str | None = None  # noqa: N815


class RunnerEvent(_Base, frozen=True, kw_only=True, tag="runner"):
    """One runner movement (or out) within a play."""

    atBatIndex: int  # noqa: N815
    playEventIndex: int | None  # noqa: N815 - the play event that moved him
    runnerId: int  # noqa: N815
    startBase: str | None  # noqa: N815 - None: from home (the batter)
    endBase: str | None  # noqa: N815 - "score" when he scored
    outBase: str | None  # noqa: N815
    isOut: bool  # noqa: N815
    outNumber: int | None  # noqa: N815
    isScoringEvent: bool  # noqa: N815
    rbi: bool
    earned: bool
    teamUnearned: bool  # noqa: N815
    responsiblePitcherId: int | None  # noqa: N815 - charged with the run if he scores
    pitcherId: int | None  # noqa: N815 - on the mound at the moving event
    inning: int
    halfInning: str  # noqa: N815
    eventType: str | None  # noqa: N815
    event: str | None
    movementReason: str | None  # noqa: N815
    errorFielderIds: list[int] = []  # noqa: N815 - fielders charged with an error


class GameEvent(_Base, frozen=True, kw_only=True, tag="game"):
    """A game status change, or an action: substitution, mound visit, review, ..."""

    action: str  # "status", or MLB's eventType of the action
    atBatIndex: int | None = None  # noqa: N815
    playEventIndex: int | None = None  # noqa: N815
    inning: int | None = None
    halfInning: str | None = None  # noqa: N815
    description: str | None = None
    playerId: int | None = None  # noqa: N815
    replacedPlayerId: int | None = None  # noqa: N815
    position: str | None = None
    battingOrder: str | None = None  # noqa: N815
    isSubstitution: bool = False  # noqa: N815
    abstractGameState: str | None = None  # noqa: N815
    detailedState: str | None = None  # noqa: N815
    codedGameState: str | None = None  # noqa: N815
    homeTeamId: int | None = None  # noqa: N815
    awayTeamId: int | None = None  # noqa: N815
    review: dict[str, Any] | None = None


class Retraction(_Base, frozen=True, kw_only=True, tag="retraction"):
    """The event ``event_id`` (of kind ``retracted_kind``) is no longer in the feed."""

    retracted_kind: str


Event = PitchEvent | PlayEvent | RunnerEvent | GameEvent | Retraction

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Event)


def encode_event(event: Event) -> bytes:
    """One event as JSON (with its ``kind`` tag)."""
    return _ENCODER.encode(event)


def decode_event(data: bytes | str) -> Event:
    """The inverse of :func:`encode_event`."""
    event: Event = _DECODER.decode(data)
    return event
