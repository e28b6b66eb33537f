"""The typed model of MLB's ``feed/live``, pure: the engine's view, and how the views share it.

One Struct per JSON object of the feed, declared once: ``metaData`` and ``gameData``'s
objects in ``flows.game.feed_game``, ``liveData``'s in ``flows.game.feed_live``, a play and
its parts here. Only the fields some reader uses are declared; unknown fields are ignored
and every field that has come and gone across seasons has a default, so a feed from 2021
and one from 2024 decode with the same model.

Each reader has its own *view*: a root Struct whose ``gameData`` / ``liveData`` name the
shared objects it reads, and nothing else, so each decode scans past the rest of the feed
without building it and stays as strict or lenient as its reader needs. The views are
:class:`FeedHead` and :class:`Play` (the engine, here), and in ``flows.game.feed_views``
the flow's scan (validation's fields and :class:`FeedHead` in one, which the flow decodes
instead of :func:`decode_head`), the validation view, the game-tables view and the
poller's view. A field that a reader must tell absent from a default
(``metaData.timeStamp``, ``gameData.status.abstractGameState``, ``liveData.plays.allPlays``,
a play's ``about.atBatIndex``: validation requires them) is declared with ``UNSET``; MLB's
name is then a property giving the engine what it reads.

The engine decodes in two levels, for speed:

- :func:`decode_head` decodes the game's head (``gamePk``, ``metaData``,
  ``gameData.status``, the two teams) and keeps ``liveData.plays.allPlays`` as a list of
  :class:`msgspec.Raw` byte slices, which costs about one JSON scan of the feed;
- :func:`decode_play` fully decodes one play, and the engine calls it only for plays
  whose raw bytes changed since the last snapshot (see ``flows.game.snapshot_diff``).

Errors: :class:`msgspec.ValidationError` / :class:`msgspec.DecodeError` (both
``msgspec.MsgspecError``) when a required field is missing or has the wrong type, or the
bytes are not JSON; the caller turns those into dead letters.
"""

from __future__ import annotations

from typing import Any, cast

import msgspec
import xxhash
from msgspec import UnsetType

from flows.game.feed_game import Code, GameStatus, MetaData, Person, TeamRefs
from flows.game.feed_live import AtBat, Count, Plays

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
    "ReviewDetails",
    "Runner",
    "decode_head",
    "decode_play",
    "raw_digest",
]


class PlayResult(msgspec.Struct, frozen=True):
    type: str | None = None
    event: str | None = None
    eventType: str | None = None  # noqa: N815
    description: str | None = None
    rbi: int = 0
    awayScore: int = 0  # noqa: N815
    homeScore: int = 0  # noqa: N815
    isOut: bool = False  # noqa: N815


class About(AtBat, frozen=True):
    """A play's ``about``; unlike validation's :class:`AtBat`, it requires ``atBatIndex``."""

    halfInning: str = "top"  # noqa: N815 - MLB's names
    inning: int = 0
    isComplete: bool = False  # noqa: N815
    isScoringPlay: bool = False  # noqa: N815
    hasReview: bool = False  # noqa: N815
    startTime: str | None = None  # noqa: N815
    endTime: str | None = None  # noqa: N815

    def __post_init__(self) -> None:
        if isinstance(self.at_bat_index, UnsetType):
            raise ValueError("Object missing required field `atBatIndex`")

    @property
    def atBatIndex(self) -> int:  # noqa: N802
        """The play's index in ``allPlays`` (always set: ``__post_init__`` checks it)."""
        return cast(int, self.at_bat_index)


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
    count: Count[int] = Count()
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
    count: Count[int] = Count()
    matchup: Matchup = Matchup()
    runners: list[Runner] = []
    playEvents: list[RawPlayEvent] = []  # noqa: N815
    reviewDetails: ReviewDetails | None = None  # noqa: N815


class HeadGameData(msgspec.Struct, frozen=True):
    """The engine's ``gameData``: the status and the two teams' ids."""

    status: GameStatus = GameStatus()
    teams: TeamRefs = TeamRefs()


class HeadLiveData(msgspec.Struct, frozen=True):
    """The engine's ``liveData``: the plays, each kept raw."""

    plays: Plays[msgspec.Raw, msgspec.Raw] = Plays()


class FeedHead(msgspec.Struct, frozen=True):
    """The engine's view of a feed: its head; plays stay raw until :func:`decode_play`."""

    gamePk: int  # noqa: N815
    metaData: MetaData = MetaData()  # noqa: N815
    gameData: HeadGameData = HeadGameData()  # noqa: N815
    liveData: HeadLiveData = HeadLiveData()  # noqa: N815


_HEAD_DECODER = msgspec.json.Decoder(FeedHead)
_PLAY_DECODER = msgspec.json.Decoder(Play)


def decode_head(body: bytes) -> FeedHead:
    """The feed's head with ``allPlays`` as raw byte slices (no play is decoded)."""
    return _HEAD_DECODER.decode(body)


def decode_play(raw: bytes | msgspec.Raw) -> Play:
    """One play, fully typed."""
    return _PLAY_DECODER.decode(raw)


def raw_digest(data: bytes | msgspec.Raw) -> bytes:
    """16 bytes identifying raw feed JSON (a snapshot, a play): XXH3-128, ~0.04 ms for a
    late game's 800 KB where SHA-256 took ~0.5. The diff keys its state by it (a snapshot's
    and each play's bytes: ``flows.game.snapshot_diff``), validation its play cache
    (``flows.game.validate``). It only tells changed bytes from unchanged ones: a diff
    state saved with other hashes (SHA-256 or BLAKE2b, before) only makes its plays be
    decoded once more, and the events' content hashes are unchanged, so nothing is
    emitted again."""
    return xxhash.xxh3_128_digest(data)
