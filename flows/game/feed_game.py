"""The ``metaData`` and ``gameData`` objects of MLB's ``feed/live``, each declared once, pure.

Part of the one typed feed model (``flows.game.feed`` explains how its views share these
Structs). Every field is optional, because fields come and go by season; unknown fields are
ignored. A field that a reader must tell *absent* from a default (validation's required
fields) is declared with :data:`msgspec.UNSET` under a snake_case attribute that keeps
MLB's JSON name (``msgspec.field(name=...)``), and MLB's name is a property that gives the
engine's default instead. Where validation reads only part of an object, that part is a
base class (:class:`AbstractState`, :class:`OfficialDate`) and the whole object extends it,
so validation stays as lenient as before about the rest.

Errors: decoding raises :class:`msgspec.ValidationError` when a field has the wrong JSON
type; :attr:`MetaData.wait` accepts any JSON value (MLB has sent non-numbers there).
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "AbstractState",
    "Code",
    "FieldInfo",
    "Game",
    "GameDatetime",
    "GameInfo",
    "GameStatus",
    "MetaData",
    "NamedRef",
    "OfficialDate",
    "Person",
    "Player",
    "Team",
    "TeamRef",
    "TeamRefs",
    "Teams",
    "TimeZone",
    "Venue",
    "VenueLocation",
    "Weather",
]


class MetaData(msgspec.Struct, frozen=True):
    """``metaData``: the feed's timestamp and MLB's advice on when to poll again."""

    time_stamp: str | UnsetType = msgspec.field(default=UNSET, name="timeStamp")
    wait: object = None  # seconds; any JSON value, see wait_seconds

    @property
    def timeStamp(self) -> str:  # noqa: N802 - MLB's name
        """``YYYYMMDD_HHMMSS`` as sent, ``""`` when absent."""
        return self.time_stamp if isinstance(self.time_stamp, str) else ""

    @property
    def wait_seconds(self) -> float | None:
        """``wait`` when it is a JSON number, else None (missing, null, a string...)."""
        wait = self.wait
        return float(wait) if type(wait) is int or type(wait) is float else None


class AbstractState(msgspec.Struct, frozen=True):
    """``gameData.status.abstractGameState`` alone: all that validation reads of the status."""

    abstract_game_state: str | UnsetType = msgspec.field(default=UNSET, name="abstractGameState")

    @property
    def abstractGameState(self) -> str:  # noqa: N802 - MLB's name
        """``Preview``, ``Live`` or ``Final``; ``""`` when absent."""
        state = self.abstract_game_state
        return state if isinstance(state, str) else ""


class GameStatus(AbstractState, frozen=True):
    """``gameData.status`` (the schedule's ``status`` objects have the same fields)."""

    detailedState: str = ""  # noqa: N815 - MLB's names
    codedGameState: str = ""  # noqa: N815
    statusCode: str | None = None  # noqa: N815


class Code(msgspec.Struct, frozen=True):
    """A coded value: ``batSide``, ``pitchHand``, a ``position``, a player's ``status``."""

    code: str | None = None
    description: str | None = None
    abbreviation: str | None = None


class Person(msgspec.Struct, frozen=True):
    """A reference to a person (player, umpire, scorer): ``{"id", "fullName", "link"}``."""

    id: int
    fullName: str | None = None  # noqa: N815


class NamedRef(msgspec.Struct, frozen=True):
    """A reference to a league, division or sport: ``{"id", "name", "link"}``."""

    id: int | None = None
    name: str | None = None


class Coordinates(msgspec.Struct, frozen=True):
    latitude: float | None = None
    longitude: float | None = None


class VenueLocation(msgspec.Struct, frozen=True):
    city: str | None = None
    state: str | None = None
    country: str | None = None
    elevation: int | None = None
    defaultCoordinates: Coordinates = Coordinates()  # noqa: N815


class TimeZone(msgspec.Struct, frozen=True):
    id: str | None = None


class FieldInfo(msgspec.Struct, frozen=True):
    capacity: int | None = None
    turfType: str | None = None  # noqa: N815
    roofType: str | None = None  # noqa: N815


class Venue(msgspec.Struct, frozen=True):
    """``gameData.venue``, or a team's ``venue`` reference (id and name only)."""

    id: int | None = None
    name: str | None = None
    location: VenueLocation = VenueLocation()
    timeZone: TimeZone = TimeZone()  # noqa: N815
    fieldInfo: FieldInfo = FieldInfo()  # noqa: N815


class TeamRef(msgspec.Struct, frozen=True):
    """A team as a reference: its id, all the engine reads of ``gameData.teams``, so a
    team detail it does not use (a null venue, an odd elevation) never refuses a snapshot."""

    id: int | None = None


class Team(TeamRef, frozen=True):
    """``gameData.teams.{home,away}``, or a box score's ``team`` reference."""

    name: str | None = None
    abbreviation: str | None = None
    teamName: str | None = None  # noqa: N815
    locationName: str | None = None  # noqa: N815
    league: NamedRef = NamedRef()
    division: NamedRef = NamedRef()
    venue: Venue = Venue()


class TeamRefs(msgspec.Struct, frozen=True):
    """``gameData.teams`` read as references (the engine's view)."""

    home: TeamRef = TeamRef()
    away: TeamRef = TeamRef()


class Teams(TeamRefs, frozen=True):
    """``gameData.teams`` with each team's details (the game tables' view)."""

    home: Team = Team()
    away: Team = Team()


class Game(msgspec.Struct, frozen=True):
    """``gameData.game``."""

    season: str | None = None
    type: str | None = None
    doubleHeader: str | None = None  # noqa: N815
    gameNumber: int | None = None  # noqa: N815


class OfficialDate(msgspec.Struct, frozen=True):
    """``gameData.datetime.officialDate`` alone (``YYYY-MM-DD``): all that validation reads."""

    officialDate: str | None = None  # noqa: N815


class GameDatetime(OfficialDate, frozen=True):
    """``gameData.datetime``."""

    dateTime: str | None = None  # noqa: N815
    dayNight: str | None = None  # noqa: N815


class Weather(msgspec.Struct, frozen=True):
    """``gameData.weather``."""

    condition: str | None = None
    temp: str | None = None
    wind: str | None = None


class GameInfo(msgspec.Struct, frozen=True):
    """``gameData.gameInfo``."""

    firstPitch: str | None = None  # noqa: N815
    attendance: int | None = None
    gameDurationMinutes: int | None = None  # noqa: N815


class Player(msgspec.Struct, frozen=True):
    """One entry of ``gameData.players`` (keyed ``ID<personId>``)."""

    id: int
    fullName: str | None = None  # noqa: N815
    firstName: str | None = None  # noqa: N815
    lastName: str | None = None  # noqa: N815
    boxscoreName: str | None = None  # noqa: N815
    primaryNumber: str | None = None  # noqa: N815
    birthDate: str | None = None  # noqa: N815
    height: str | None = None
    weight: int | None = None
    batSide: Code = Code()  # noqa: N815
    pitchHand: Code = Code()  # noqa: N815
    primaryPosition: Code = Code()  # noqa: N815
    mlbDebutDate: str | None = None  # noqa: N815
    active: bool | None = None
