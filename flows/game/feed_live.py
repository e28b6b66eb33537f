"""The ``liveData`` objects of MLB's ``feed/live`` (except a play's own), each declared once, pure.

Part of the one typed feed model (``flows.game.feed`` explains how its views share these
Structs; a play and its parts are declared there, beside the engine that reads them).
Every field is optional, because fields come and go by season; unknown fields are ignored.
:class:`Plays` is generic in how a play is read: the engine keeps each one as raw bytes
(``Plays[msgspec.Raw, msgspec.Raw]``) and decodes only the plays that changed, validation
reads a small view of each (``flows.game.feed_views.PlayCheck``).

Errors: decoding raises :class:`msgspec.ValidationError` when a field has the wrong JSON type.
"""

from __future__ import annotations

from typing import Generic, TypeVar, cast

import msgspec
from msgspec import UNSET, UnsetType

from flows.game.feed_game import Code, Person, Team

__all__ = [
    "AtBat",
    "BoxPlayer",
    "BoxTeam",
    "BoxTeams",
    "Boxscore",
    "Count",
    "Decisions",
    "Inning",
    "Linescore",
    "LinescoreLine",
    "LinescoreTeams",
    "Official",
    "PlayerGameStatus",
    "Plays",
]

N = TypeVar("N")
P = TypeVar("P")
C = TypeVar("C")


class Count(msgspec.Struct, Generic[N], frozen=True):
    """A play's or a play event's ``count`` (after it); ``N`` is how each number is read:
    ``int`` for the engine (a null is refused), ``int | None`` for validation (a null
    passes: it checks only the numbers that are there)."""

    balls: N = cast("N", 0)
    strikes: N = cast("N", 0)
    outs: N = cast("N", 0)


class AtBat(msgspec.Struct, frozen=True):
    """The identity part of a play's ``about``, all that validation reads of it; the
    engine's :class:`flows.game.feed.About` adds the rest and requires the index."""

    at_bat_index: int | UnsetType = msgspec.field(default=UNSET, name="atBatIndex")


class Plays(msgspec.Struct, Generic[P, C], frozen=True):
    """``liveData.plays``: ``P`` is how each play of ``allPlays`` is read, ``C`` how
    ``currentPlay`` is (:class:`msgspec.Raw` takes null too, but not in a union)."""

    all_plays: list[P] | UnsetType = msgspec.field(default=UNSET, name="allPlays")
    currentPlay: C | UnsetType = UNSET  # noqa: N815 - MLB's names

    @property
    def allPlays(self) -> list[P]:  # noqa: N802
        """``allPlays``, ``[]`` when absent."""
        return self.all_plays if isinstance(self.all_plays, list) else []


class LinescoreLine(msgspec.Struct, frozen=True):
    """One side of an inning, or a side's totals, in ``liveData.linescore``. MLB omits
    ``runs`` for a half not started (or scoreless and in progress)."""

    runs: int | None = None
    hits: int | None = None
    errors: int | None = None
    leftOnBase: int | None = None  # noqa: N815


class Inning(msgspec.Struct, frozen=True):
    """One entry of ``liveData.linescore.innings``."""

    num: int | None = None
    home: LinescoreLine | None = None
    away: LinescoreLine | None = None


class LinescoreTeams(msgspec.Struct, frozen=True):
    """``liveData.linescore.teams``: each side's totals."""

    home: LinescoreLine | None = None
    away: LinescoreLine | None = None


class Linescore(msgspec.Struct, frozen=True):
    """``liveData.linescore``. A pre-game feed has one without the count."""

    currentInning: int | None = None  # noqa: N815
    inningHalf: str | None = None  # noqa: N815
    scheduledInnings: int | None = None  # noqa: N815
    balls: int | None = None
    strikes: int | None = None
    outs: int | None = None
    innings: list[Inning] = []
    teams: LinescoreTeams | None = None


class PlayerGameStatus(msgspec.Struct, frozen=True):
    """A box score player's ``gameStatus``."""

    isSubstitute: bool | None = None  # noqa: N815


class BoxPlayer(msgspec.Struct, frozen=True):
    """One entry of ``liveData.boxscore.teams.{home,away}.players`` (its stats not read)."""

    person: Person | None = None
    jerseyNumber: str | None = None  # noqa: N815
    position: Code = Code()
    battingOrder: str | None = None  # noqa: N815
    status: Code = Code()
    gameStatus: PlayerGameStatus = PlayerGameStatus()  # noqa: N815


class BoxTeam(msgspec.Struct, frozen=True):
    """``liveData.boxscore.teams.{home,away}``: the team's lists of person ids and players."""

    team: Team = Team()
    battingOrder: list[int] = []  # noqa: N815
    batters: list[int] = []
    pitchers: list[int] = []
    bench: list[int] = []
    bullpen: list[int] = []
    players: dict[str, BoxPlayer] = {}


class BoxTeams(msgspec.Struct, frozen=True):
    """``liveData.boxscore.teams``."""

    home: BoxTeam = BoxTeam()
    away: BoxTeam = BoxTeam()


class Official(msgspec.Struct, frozen=True):
    """One entry of ``liveData.boxscore.officials`` (an umpire)."""

    official: Person | None = None
    officialType: str | None = None  # noqa: N815


class Boxscore(msgspec.Struct, frozen=True):
    """``liveData.boxscore``: rosters and umpires (its statistics are not read here)."""

    teams: BoxTeams = BoxTeams()
    officials: list[Official] = []


class Decisions(msgspec.Struct, frozen=True):
    """``liveData.decisions``: the pitchers of record, once the game has them."""

    winner: Person | None = None
    loser: Person | None = None
    save: Person | None = None
