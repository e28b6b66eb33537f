"""A typed model of the parts of MLB's ``feed/live`` that the event engine uses, pure.

Only the fields we read are declared; unknown fields are ignored and every field that
has come and gone across seasons has a default, so a feed from 2021 and one from 2024
decode with the same model. Decoding is two-level for speed:

- :func:`decode_head` decodes the game's head (``gamePk``, ``metaData.timeStamp``,
  ``gameData.status``, the two teams) and keeps ``liveData.plays.allPlays`` as a list
  of :class:`msgspec.Raw` byte slices, which costs about one JSON scan of the feed;
- :func:`decode_play` fully decodes one play, and the engine calls it only for plays
  whose raw bytes changed since the last snapshot (see ``flows.game.snapshot_diff``).

Errors: :class:`msgspec.ValidationError` / :class:`msgspec.DecodeError` (both
``msgspec.MsgspecError``) when a required field has the wrong type or the bytes are not
JSON; the caller turns those into dead letters.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "About",
    "Count",
    "FeedHead",
    "GameStatus",
    "Matchup",
    "Person",
    "Play",
    "PlayEventDetails",
    "PlayResult",
    "RawPlayEvent",
    "Runner",
    "decode_head",
    "decode_play",
]


class Person(msgspec.Struct, frozen=True):
    id: int


class Code(msgspec.Struct, frozen=True):
    code: str | None = None
    description: str | None = None


class Count(msgspec.Struct, frozen=True):
    balls: int = 0
    strikes: int = 0
    outs: int = 0


class GameStatus(msgspec.Struct, frozen=True):
    abstractGameState: str = ""  # noqa: N815 - MLB's names
    detailedState: str = ""  # noqa: N815
    codedGameState: str = ""  # noqa: N815


class Team(msgspec.Struct, frozen=True):
    id: int | None = None


class Teams(msgspec.Struct, frozen=True):
    home: Team = Team()
    away: Team = Team()


class GameData(msgspec.Struct, frozen=True):
    status: GameStatus = GameStatus()
    teams: Teams = Teams()


class MetaData(msgspec.Struct, frozen=True):
    timeStamp: str = ""  # noqa: N815


class Plays(msgspec.Struct, frozen=True):
    allPlays: list[msgspec.Raw] = []  # noqa: N815 - msgspec copies defaults


class LiveData(msgspec.Struct, frozen=True):
    plays: Plays = Plays()


class FeedHead(msgspec.Struct, frozen=True):
    """The game's head; plays stay raw until :func:`decode_play`."""

    gamePk: int  # noqa: N815
    metaData: MetaData = MetaData()  # noqa: N815
    gameData: GameData = GameData()  # noqa: N815
    liveData: LiveData = LiveData()  # noqa: N815


class PlayResult(msgspec.Struct, frozen=True):
    type: str | None = None
    event: str | None = None
    eventType: str | None = None  # noqa: N815
    description: str | None = None
    rbi: int = 0
    awayScore: int = 0  # noqa: N815
    homeScore: int = 0  # noqa: N815
    isOut: bool = False  # noqa: N815


class About(msgspec.Struct, frozen=True):
    atBatIndex: int  # noqa: N815
    halfInning: str = "top"  # noqa: N815
    inning: int = 0
    isComplete: bool = False  # noqa: N815
    isScoringPlay: bool = False  # noqa: N815
    hasReview: bool = False  # noqa: N815
    startTime: str | None = None  # noqa: N815
    endTime: str | None = None  # noqa: N815


class Matchup(msgspec.Struct, frozen=True):
    batter: Person | None = None
    pitcher: Person | None = None
    batSide: Code | None = None  # noqa: N815
    pitchHand: Code | None = None  # noqa: N815


class PlayEventDetails(msgspec.Struct, frozen=True):
    description: str | None = None
    code: str | None = None
    call: Code | None = None
    type: Code | None = None
    event: str | None = None
    eventType: str | None = None  # noqa: N815
    isInPlay: bool = False  # noqa: N815
    isStrike: bool = False  # noqa: N815
    isBall: bool = False  # noqa: N815
    isOut: bool = False  # noqa: N815
    hasReview: bool = False  # noqa: N815
    isScoringPlay: bool = False  # noqa: N815
    awayScore: int | None = None  # noqa: N815
    homeScore: int | None = None  # noqa: N815


class RawPlayEvent(msgspec.Struct, frozen=True):
    """One entry of a play's ``playEvents``: a pitch, pickoff, step-off, no-pitch or action."""

    index: int
    details: PlayEventDetails = PlayEventDetails()
    count: Count = Count()
    type: str = ""
    isPitch: bool = False  # noqa: N815
    playId: str | None = None  # noqa: N815
    pitchNumber: int | None = None  # noqa: N815
    pitchData: dict[str, Any] | None = None  # noqa: N815
    hitData: dict[str, Any] | None = None  # noqa: N815
    startTime: str | None = None  # noqa: N815
    endTime: str | None = None  # noqa: N815
    player: Person | None = None
    replacedPlayer: Person | None = None  # noqa: N815
    position: Code | None = None
    isSubstitution: bool = False  # noqa: N815
    battingOrder: str | None = None  # noqa: N815


class Movement(msgspec.Struct, frozen=True):
    originBase: str | None = None  # noqa: N815
    start: str | None = None
    end: str | None = None
    outBase: str | None = None  # noqa: N815
    isOut: bool | None = None  # noqa: N815
    outNumber: int | None = None  # noqa: N815


class RunnerDetails(msgspec.Struct, frozen=True):
    runner: Person
    event: str | None = None
    eventType: str | None = None  # noqa: N815
    movementReason: str | None = None  # noqa: N815
    responsiblePitcher: Person | None = None  # noqa: N815
    isScoringEvent: bool = False  # noqa: N815
    rbi: bool = False
    earned: bool = False
    teamUnearned: bool = False  # noqa: N815
    playIndex: int | None = None  # noqa: N815


class Credit(msgspec.Struct, frozen=True):
    credit: str
    player: Person | None = None


class Runner(msgspec.Struct, frozen=True):
    details: RunnerDetails
    movement: Movement = Movement()
    credits: list[Credit] = []


class ReviewDetails(msgspec.Struct, frozen=True):
    isOverturned: bool = False  # noqa: N815
    inProgress: bool = False  # noqa: N815
    reviewType: str | None = None  # noqa: N815
    challengeTeamId: int | None = None  # noqa: N815


class Play(msgspec.Struct, frozen=True):
    """One entry of ``liveData.plays.allPlays`` (a plate appearance, complete or not)."""

    about: About
    result: PlayResult = PlayResult()
    count: Count = Count()
    matchup: Matchup = Matchup()
    runners: list[Runner] = []
    playEvents: list[RawPlayEvent] = []  # noqa: N815
    reviewDetails: ReviewDetails | None = None  # noqa: N815


_HEAD_DECODER = msgspec.json.Decoder(FeedHead)
_PLAY_DECODER = msgspec.json.Decoder(Play)


def decode_head(body: bytes) -> FeedHead:
    """The feed's head with ``allPlays`` as raw byte slices (no play is decoded)."""
    return _HEAD_DECODER.decode(body)


def decode_play(raw: bytes | msgspec.Raw) -> Play:
    """One play, fully typed."""
    return _PLAY_DECODER.decode(raw)
