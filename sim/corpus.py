"""What the replay server serves: the recorded corpus, indexed, and each game's timeline.

Everything served comes from ``../shared/data/mlb`` (real MLB Stats API responses):

- **schedules** (``other/schedule*/``): a recorded response whose only date is the one asked
  for (the one with most games when several are). When no recording covers a date but
  final feeds of that date exist, a schedule is *synthesized* from those feeds' own
  ``gameData`` (``Schedule.source == "synthesized-from-feeds"``): never presented as recorded.
- **feed/live** (``feed_live/<gamePk>.json``, final games): a game is replayed as
  ``sim.simulate.simulate(feed, every)`` - the snapshots a poller would have seen - in time
  order of their ``metaData.timeStamp``; the last one is the recorded final feed, unchanged.
  Before the first simulated snapshot the game is in **Preview**, a snapshot *derived* from
  the first one: ``gameData.status`` set to MLB's Pre-Game status, no plays, an empty
  linescore, ``metaData.timeStamp`` = the scheduled start (or 1 s before the first
  snapshot when that is earlier). It is the only derived response besides ``simulate``'s,
  and the synthetic **scoring change** of :func:`sim.scoring_change.scoring_change` (tests
  of the poller's correction polls): a recorded final feed whose first eligible single is
  re-scored as an error. It is served only for the games given in ``Corpus(...,
  scoring_changes={gamePk: delay})``, as one more snapshot ``delay`` after the final feed
  (``GameTimeline.sources``: ``synthetic-scoring-change``).
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonpatch
import orjson

from flows.game.envelope import FEED_TIMESTAMP_FORMAT, feed_timestamp_of, parse_feed_timestamp
from sim.scoring_change import scoring_change
from sim.simulate import simulate

__all__ = ["Corpus", "GameTimeline", "Schedule", "preview_of", "scoring_change"]

JSON = dict[str, Any]

PREVIEW_STATUS: JSON = {
    "abstractGameState": "Preview",
    "codedGameState": "P",
    "detailedState": "Pre-Game",
    "statusCode": "P",
    "startTimeTBD": False,
    "abstractGameCode": "P",
}


@dataclass(frozen=True, slots=True)
class Schedule:
    """A schedule response body and where it comes from."""

    body: bytes
    source: str  # "recorded" | "synthesized-from-feeds"
    origin: str  # recorded file (relative to the corpus) or the feeds used


def preview_of(first: JSON) -> JSON:
    """The Pre-Game snapshot derived from a game's first live snapshot (see module doc)."""
    preview = copy.deepcopy(first)
    preview["gameData"]["status"] = dict(PREVIEW_STATUS)
    live = preview.setdefault("liveData", {})
    live["plays"] = {"allPlays": [], "currentPlay": {}, "scoringPlays": [], "playsByInning": []}
    live["linescore"] = {"currentInning": 0, "innings": [], "teams": {"home": {}, "away": {}}}
    first_ts = parse_feed_timestamp(feed_timestamp_of(first) or "")
    scheduled = _parse_iso(preview["gameData"].get("datetime", {}).get("dateTime"))
    stamp = first_ts - timedelta(seconds=1)
    if scheduled is not None and scheduled < stamp:
        stamp = scheduled
    meta = preview.setdefault("metaData", {})
    meta["timeStamp"] = stamp.strftime(FEED_TIMESTAMP_FORMAT)
    meta["gameEvents"] = []
    meta["logicalEvents"] = []
    return preview


def _parse_iso(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


class GameTimeline:
    """One game's snapshots in time order, with their timecodes, served as JSON bytes."""

    def __init__(self, game_pk: int, snapshots: list[JSON], sources: list[str]) -> None:
        self.game_pk = game_pk
        self._snapshots = snapshots
        self.sources = sources  # X-Replay-Source of each snapshot
        self.timecodes: list[str] = [feed_timestamp_of(s) or "" for s in snapshots]
        self.times: list[datetime] = [parse_feed_timestamp(t) for t in self.timecodes]
        self._bytes: OrderedDict[int, bytes] = OrderedDict()
        self._patches: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_final_feed(
        cls, game_pk: int, feed: JSON, every: int, change_after: timedelta | None = None
    ) -> GameTimeline:
        """Preview, ``simulate(feed, every)`` (its last one: ``feed``) and, with
        ``change_after``, the synthetic scoring change served that long after the final."""
        snapshots = simulate(feed, every)
        sources = ["derived-preview", *["simulated"] * (len(snapshots) - 1), "recorded"]
        snapshots = [preview_of(snapshots[0]), *snapshots]
        if change_after is not None:
            snapshots.append(scoring_change(feed, change_after)[0])
            sources.append("synthetic-scoring-change")
        return cls(game_pk, snapshots, sources)

    def index_at(self, when: datetime) -> int:
        """The snapshot current at ``when`` (the Preview before the first one)."""
        index = 0
        for i, moment in enumerate(self.times):
            if moment <= when:
                index = i
            else:
                break
        return index

    def index_of(self, timecode: str) -> int | None:
        try:
            return self.timecodes.index(timecode)
        except ValueError:
            return None

    def body(self, index: int) -> bytes:
        with self._lock:
            cached = self._bytes.get(index)
            if cached is None:
                cached = orjson.dumps(self._snapshots[index])
                self._bytes[index] = cached
                while len(self._bytes) > 16:
                    self._bytes.popitem(last=False)
            return cached

    def diff(self, start: int, end: int) -> bytes:
        """``[{"diff": [RFC 6902 operations]}]`` turning snapshot ``start`` into ``end``."""
        with self._lock:
            cached = self._patches.get((start, end))
        if cached is not None:
            return cached
        src = orjson.loads(self.body(start))
        dst = orjson.loads(self.body(end))
        ops = jsonpatch.make_patch(src, dst).patch
        out = orjson.dumps([{"diff": ops}])
        with self._lock:
            self._patches[(start, end)] = out
            while len(self._patches) > 64:
                self._patches.popitem(last=False)
        return out


class Corpus:
    """The recorded corpus under ``data_dir/mlb``, indexed lazily."""

    def __init__(
        self,
        data_dir: Path,
        every: int = 1,
        scoring_changes: Mapping[int, timedelta] | None = None,
    ) -> None:
        self.root = data_dir / "mlb"
        self.every = every
        self.scoring_changes = dict(scoring_changes or {})
        self._feeds = {int(p.stem): p for p in sorted((self.root / "feed_live").glob("*.json"))}
        self._timelines: dict[int, GameTimeline] = {}
        self._feed_info: dict[int, JSON] = {}
        self._lock = threading.Lock()

    @property
    def game_pks(self) -> list[int]:
        return sorted(self._feeds)

    def timeline(self, game_pk: int) -> GameTimeline | None:
        with self._lock:
            found = self._timelines.get(game_pk)
            if found is None and game_pk in self._feeds:
                feed = orjson.loads(self._feeds[game_pk].read_bytes())
                found = GameTimeline.from_final_feed(
                    game_pk, feed, self.every, self.scoring_changes.get(game_pk)
                )
                self._timelines[game_pk] = found
            return found

    def _game_data(self, game_pk: int) -> JSON:
        with self._lock:
            info = self._feed_info.get(game_pk)
            if info is None:
                feed = orjson.loads(self._feeds[game_pk].read_bytes())
                info = feed["gameData"]
                self._feed_info[game_pk] = info
            return info

    def feeds_on(self, day: date) -> list[int]:
        """Game pks of the final feeds whose official date is ``day``."""
        iso = day.isoformat()
        return [
            pk
            for pk in self.game_pks
            if self._game_data(pk).get("datetime", {}).get("officialDate") == iso
        ]

    def schedule(self, day: date) -> Schedule | None:
        recorded = self._recorded_schedule(day)
        if recorded is not None:
            return recorded
        pks = self.feeds_on(day)
        if not pks:
            return None
        return Schedule(
            body=orjson.dumps(self._synthesize(day, pks)),
            source="synthesized-from-feeds",
            origin=",".join(f"feed_live/{pk}.json" for pk in pks),
        )

    def _recorded_schedule(self, day: date) -> Schedule | None:
        best: tuple[int, Path, bytes] | None = None
        for path in sorted(self.root.glob("other/schedule*/*.json")):
            raw = path.read_bytes()
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            dates = body.get("dates") if isinstance(body, dict) else None
            if not isinstance(dates, list) or len(dates) != 1:
                continue
            if dates[0].get("date") != day.isoformat():
                continue
            games = len(dates[0].get("games", []))
            if best is None or games > best[0]:
                best = (games, path, raw)
        if best is None:
            return None
        return Schedule(body=best[2], source="recorded", origin=str(best[1].relative_to(self.root)))

    def _synthesize(self, day: date, pks: list[int]) -> JSON:
        games = []
        for pk in pks:
            data = self._game_data(pk)
            when = data.get("datetime", {})
            game = data.get("game", {})
            games.append(
                {
                    "gamePk": pk,
                    "link": f"/api/v1.1/game/{pk}/feed/live",
                    "gameType": game.get("type"),
                    "season": game.get("season"),
                    "gameDate": when.get("dateTime"),
                    "officialDate": when.get("officialDate"),
                    "status": data.get("status", {}),
                    "teams": {
                        side: {"team": _team_ref(data.get("teams", {}).get(side, {}))}
                        for side in ("away", "home")
                    },
                    "doubleHeader": game.get("doubleHeader", "N"),
                    "gameNumber": game.get("gameNumber", 1),
                }
            )
        games.sort(key=lambda g: (str(g["gameDate"]), g["gamePk"]))
        n = len(games)
        return {
            "totalItems": n,
            "totalGames": n,
            "dates": [{"date": day.isoformat(), "totalGames": n, "games": games}],
        }


def _team_ref(team: JSON) -> JSON:
    return {"id": team.get("id"), "name": team.get("name"), "link": team.get("link")}
