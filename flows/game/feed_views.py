"""The feed model's other views: validation, the game tables, the poller; pure.

Each view is a root Struct whose ``gameData`` / ``liveData`` name the shared objects of
``flows.game.feed_game`` and ``flows.game.feed_live`` that its reader needs (the engine's
view is in ``flows.game.feed``, which explains the scheme). A view declares no field of a
member object; only which members it reads, and whether it needs to tell one absent
(``UNSET``) or accept a null.

- :class:`FeedScan` (``flows.snapshot_decode``): the flow's one scan of a snapshot, what
  validation checks and the engine's head (:class:`flows.game.feed.FeedHead`) together,
  each play kept raw (:class:`msgspec.Raw`); :func:`validation_view` then reads each play's
  :class:`PlayCheck` from its bytes, and :meth:`FeedScan.head` gives the engine its view
  without a second scan of the feed;
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

from collections.abc import Callable, Mapping
from typing import TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from flows.game.feed import FeedHead, HeadGameData, HeadLiveData
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
    TeamRefs,
    Teams,
    Venue,
    Weather,
)
from flows.game.feed_live import AtBat, Boxscore, Count, Decisions, Linescore, Plays

__all__ = [
    "FeedScan",
    "GameTablesView",
    "PlayCheck",
    "PollerView",
    "ValidationView",
    "decode_game_tables_view",
    "decode_play_check",
    "decode_scan",
    "decode_validation_view",
    "poller_view",
    "validation_view",
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


class _ScanGameData(msgspec.Struct, frozen=True):
    status: GameStatus | UnsetType = UNSET
    datetime: OfficialDate | None = None
    teams: TeamRefs = TeamRefs()


class _ScanLiveData(msgspec.Struct, frozen=True):
    plays: Plays[msgspec.Raw, msgspec.Raw] | UnsetType = UNSET
    linescore: Linescore | None = None


class FeedScan(msgspec.Struct, frozen=True):
    """The flow's one scan of a feed: validation's fields and the engine's head, the plays
    (``allPlays`` and ``currentPlay``) kept raw. A wrong type in the head's fields that
    validation itself does not judge (``gameData.status.detailedState``, the teams' ids)
    fails the scan, so it is a ``wrong_type`` letter at validation, as the engine would
    have refused it (``flows.game.snapshot_diff.SnapshotError``, ``wrong_type`` too)."""

    gamePk: int | UnsetType = UNSET  # noqa: N815 - MLB's names
    metaData: MetaData | UnsetType = UNSET  # noqa: N815
    gameData: _ScanGameData | UnsetType = UNSET  # noqa: N815
    liveData: _ScanLiveData | UnsetType = UNSET  # noqa: N815

    def head(self) -> FeedHead:
        """The engine's view of the same feed (:func:`flows.game.feed.decode_head` without
        a scan); raises :class:`msgspec.ValidationError` without a ``gamePk``, which
        validation has refused before (``missing_field``)."""
        if isinstance(self.gamePk, UnsetType):
            raise msgspec.ValidationError("Object missing required field `gamePk`")
        game = _ScanGameData() if isinstance(self.gameData, UnsetType) else self.gameData
        live = _ScanLiveData() if isinstance(self.liveData, UnsetType) else self.liveData
        return FeedHead(
            gamePk=self.gamePk,
            metaData=MetaData() if isinstance(self.metaData, UnsetType) else self.metaData,
            gameData=HeadGameData(
                status=GameStatus() if isinstance(game.status, UnsetType) else game.status,
                teams=game.teams,
            ),
            liveData=HeadLiveData(
                plays=Plays() if isinstance(live.plays, UnsetType) else live.plays
            ),
        )


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


_SCAN = msgspec.json.Decoder(FeedScan)
_PLAY_CHECK = msgspec.json.Decoder(PlayCheck)
_GAME_TABLES = msgspec.json.Decoder(GameTablesView)
_NULL = b"null"


def decode_scan(payload_json: bytes) -> FeedScan:
    """The flow's scan of a feed; raises :class:`msgspec.MsgspecError`."""
    return _SCAN.decode(payload_json)


def decode_play_check(raw: msgspec.Raw) -> PlayCheck:
    """Validation's view of one raw play; raises :class:`msgspec.ValidationError`."""
    return _PLAY_CHECK.decode(raw)


def validation_view(
    scan: FeedScan, read_play: Callable[[msgspec.Raw], PlayCheck] = decode_play_check
) -> ValidationView:
    """Validation's view of a scanned feed, each play read by ``read_play`` (a cache of
    :func:`decode_play_check`, say). Raises :class:`msgspec.ValidationError` for a play
    that does not fit, its message locating the field from the feed's root
    (``$.liveData.plays.allPlays[5].about.atBatIndex``), as a whole decode would."""
    game: _ValidationGameData | UnsetType = UNSET
    if not isinstance(scan.gameData, UnsetType):
        game = _ValidationGameData(status=scan.gameData.status, datetime=scan.gameData.datetime)
    live: _ValidationLiveData | UnsetType = UNSET
    if not isinstance(scan.liveData, UnsetType):
        plays = _play_checks(scan.liveData.plays, read_play)
        live = _ValidationLiveData(plays=plays, linescore=scan.liveData.linescore)
    return ValidationView(gamePk=scan.gamePk, metaData=scan.metaData, gameData=game, liveData=live)


def _play_checks(
    plays: Plays[msgspec.Raw, msgspec.Raw] | UnsetType,
    read_play: Callable[[msgspec.Raw], PlayCheck],
) -> Plays[PlayCheck, PlayCheck | None] | UnsetType:
    if isinstance(plays, UnsetType):
        return plays
    checks: list[PlayCheck] | UnsetType = UNSET
    if not isinstance(plays.all_plays, UnsetType):
        checks = []
        for position, raw in enumerate(plays.all_plays):
            try:
                checks.append(read_play(raw))
            except msgspec.ValidationError as e:
                raise _located(e, f"$.liveData.plays.allPlays[{position}]") from e
    current: PlayCheck | None | UnsetType = UNSET
    if not isinstance(plays.currentPlay, UnsetType):
        raw = plays.currentPlay
        try:
            current = None if bytes(raw) == _NULL else read_play(raw)
        except msgspec.ValidationError as e:
            raise _located(e, "$.liveData.plays.currentPlay") from e
    return Plays(all_plays=checks, currentPlay=current)


def _located(error: msgspec.ValidationError, where: str) -> msgspec.ValidationError:
    """``error`` of a play's decode, its location (``$...``) made the feed's."""
    message = str(error)
    if " - at `$" in message:
        return msgspec.ValidationError(message.replace(" - at `$", f" - at `{where}", 1))
    return msgspec.ValidationError(f"{message} - at `{where}`")


def decode_validation_view(payload_json: bytes) -> ValidationView:
    """Validation's view of a feed; raises :class:`msgspec.MsgspecError`."""
    return validation_view(decode_scan(payload_json))


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
