"""The feed model's other views: validation, the game tables, the poller; pure.

Each view is a root Struct whose ``gameData`` / ``liveData`` name the shared objects of
``flows.game.feed_game`` and ``flows.game.feed_live`` that its reader needs (the engine's
view is in ``flows.game.feed``, which explains the scheme). A view declares no field of a
member object; only which members it reads, and whether it needs to tell one absent
(``UNSET``) or accept a null.

- :class:`ValidationView` (``flows.game.validate``): every field validation checks, with
  ``UNSET`` where a missing field is a ``missing_field`` failure;
- :class:`GameTablesView` (``connectors.pg_game_rows``), decoded by
  :func:`decode_game_tables_view`: rosters, players, venue, teams, officials, decisions;
  the plays are skipped unparsed;
- :class:`PollerView` (``ingest``), read by :func:`poller_view` from a feed the poller
  keeps as a dict (for diffPatch): ``metaData.wait`` and ``gameData.status``.

Errors: the decoders raise :class:`msgspec.MsgspecError` for bytes that are not JSON or
do not fit the view; :func:`poller_view` never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from flows.game.feed_game import (
    AbstractState,
    Game,
    GameDatetime,
    GameInfo,
    GameStatus,
    MetaData,
    OfficialDate,
    Person,
    Player,
    Teams,
    Venue,
    Weather,
)
from flows.game.feed_live import AtBat, Boxscore, Count, Decisions, Linescore, Plays

__all__ = [
    "GameTablesView",
    "PlayCheck",
    "PollerView",
    "ValidationView",
    "decode_game_tables_view",
    "decode_validation_view",
    "poller_view",
]

T = TypeVar("T")


class PlayCheck(msgspec.Struct, frozen=True):
    """Validation's view of a play: its identity and count, no other field's type."""

    about: AtBat | UnsetType = UNSET
    count: Count[int | None] | None = None


class _ValidationGameData(msgspec.Struct, frozen=True):
    status: AbstractState | UnsetType = UNSET
    datetime: OfficialDate | None = None


class _ValidationLiveData(msgspec.Struct, frozen=True):
    plays: Plays[PlayCheck, PlayCheck | None] | UnsetType = UNSET
    linescore: Linescore | None = None


class ValidationView(msgspec.Struct, frozen=True):
    """What validation reads of a feed (``flows.game.validate`` says why each part)."""

    gamePk: int | UnsetType = UNSET  # noqa: N815 - MLB's names
    metaData: MetaData | UnsetType = UNSET  # noqa: N815
    gameData: _ValidationGameData | UnsetType = UNSET  # noqa: N815
    liveData: _ValidationLiveData | UnsetType = UNSET  # noqa: N815


class _TablesGameData(msgspec.Struct, frozen=True):
    players: dict[str, Player] = {}
    game: Game = Game()
    datetime: GameDatetime = GameDatetime()
    status: GameStatus = GameStatus()
    teams: Teams = Teams()
    venue: Venue = Venue()
    weather: Weather = Weather()
    gameInfo: GameInfo = GameInfo()  # noqa: N815
    officialScorer: Person | None = None  # noqa: N815


class _TablesLiveData(msgspec.Struct, frozen=True):
    linescore: Linescore = Linescore()
    boxscore: Boxscore = Boxscore()
    decisions: Decisions | None = None
    # plays are not declared: msgspec skips them without building objects


class GameTablesView(msgspec.Struct, frozen=True):
    """The parts of a feed the game tables hold."""

    gamePk: int  # noqa: N815
    metaData: MetaData = MetaData()  # noqa: N815
    gameData: _TablesGameData = _TablesGameData()  # noqa: N815
    liveData: _TablesLiveData = _TablesLiveData()  # noqa: N815


class _PollerGameData(msgspec.Struct, frozen=True):
    status: GameStatus = GameStatus()


class PollerView(msgspec.Struct, frozen=True):
    """What the poller reads of a feed: when to poll again, and the game's status."""

    metaData: MetaData = MetaData()  # noqa: N815
    gameData: _PollerGameData = _PollerGameData()  # noqa: N815

    @property
    def status_fields(self) -> dict[str, object]:
        """``gameData.status`` as a dict of MLB's names (absent fields left out), for
        ``ingest.policy``, which reads schedule and feed statuses alike."""
        fields: dict[str, object] = msgspec.to_builtins(self.gameData.status)
        return fields


_VALIDATION = msgspec.json.Decoder(ValidationView)
_GAME_TABLES = msgspec.json.Decoder(GameTablesView)


def decode_validation_view(payload_json: bytes) -> ValidationView:
    """Validation's view of a feed; raises :class:`msgspec.MsgspecError`."""
    return _VALIDATION.decode(payload_json)


def decode_game_tables_view(payload_json: bytes) -> GameTablesView:
    """The game tables' view of a feed; raises :class:`msgspec.MsgspecError`."""
    return _GAME_TABLES.decode(payload_json)


def poller_view(feed: Mapping[str, object]) -> PollerView:
    """The poller's view of a feed dict. Never raises: a part that does not fit (say a
    ``metaData`` that is not an object) reads as absent, and the other part still counts;
    a ``wait`` that is not a number is None (:attr:`MetaData.wait_seconds`)."""
    try:
        return msgspec.convert(feed, PollerView)
    except msgspec.ValidationError:
        game = feed.get("gameData")
        status = game.get("status") if isinstance(game, Mapping) else None
        return PollerView(
            metaData=_or_default(feed.get("metaData"), MetaData),
            gameData=_PollerGameData(status=_or_default(status, GameStatus)),
        )


def _or_default(value: object, kind: type[T]) -> T:
    """``value`` converted to ``kind``, or ``kind()`` when it does not fit."""
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError:
        return kind()
