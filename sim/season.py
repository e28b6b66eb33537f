"""SYNTHETIC: a season in miniature (consecutive days) built from the recorded final feeds.

Every game is a REAL final feed of ``feed_live/`` replayed under a new, clearly synthetic
gamePk (``9_0DD_SS``: day DD, slot SS) on a new date (:func:`sim.reshape.rekey_and_shift`);
the plays, pitches and box scores are MLB's. What is made up: the dates and start times,
which feed plays which game, the schedule responses, and the stories below:

- **postponement**: a game of the first day listed ``Postponed`` (status object and field
  names copied from the real 2024-06-05 entry of game 746628 in the recorded
  inclement-weather schedule) with ``rescheduleDate`` on the second day, where it is game 1
  of a split doubleheader (``doubleHeader: "S"``, ``rescheduledFrom``, as in the recorded
  2024-08-26 schedule); game 2 replays the same feed (same teams) under another gamePk;
- **delayed start**: a game of the second day served ``Delayed Start: Rain`` from its
  scheduled start until first pitch, ``delay`` later (status: :data:`sim.reshape.DELAYED_START`);
- **suspension**: a game of the second day ``Suspended: Rain`` before the top of the 6th,
  resumed the next day (listed on both days, ``resumeDate`` / ``resumedFrom``), its
  remaining plays moved to the resumption (:func:`sim.reshape.resume_later`);
- **scoring change**: one game a day is served :func:`sim.scoring_change.scoring_change`
  of its final feed at 08:00 New York time the next morning.

Schedules are static per date (every game ``Scheduled`` except the postponed one); the
feeds say how each game goes. :class:`SyntheticSeason` is a :class:`sim.corpus.Corpus`
for :class:`sim.replay_server.ReplayServer`; its schedules carry ``X-Replay-Source:
synthetic-season``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson

from flows.game.envelope import FEED_TIMESTAMP_FORMAT
from ingest.policy import MLB_TZ
from sim.corpus import Corpus, GameTimeline, Schedule, preview_of
from sim.reshape import (
    DELAYED_START,
    SUSPENDED,
    first_play_of_inning,
    rekey_and_shift,
    resume_later,
    with_status,
)
from sim.scoring_change import scoring_change
from sim.simulate import simulate

__all__ = ["SeasonGame", "SyntheticSeason", "plan_season"]

JSON = dict[str, Any]
# scheduled starts (UTC) of a day's slots; past midnight UTC is still the same New York day
SLOTS = ("17:05", "17:10", "18:10", "20:05", "22:40", "23:05", "23:10", "23:40")
LATE_SLOTS = ("00:05", "01:40", "02:10")
SCHEDULED: JSON = {  # as in the recorded 2024-08-26 schedule
    "abstractGameState": "Preview",
    "codedGameState": "S",
    "detailedState": "Scheduled",
    "statusCode": "S",
    "startTimeTBD": False,
    "abstractGameCode": "P",
}
POSTPONED: JSON = {  # game 746628 on 2024-06-05, recorded inclement-weather schedule
    "abstractGameState": "Final",
    "codedGameState": "D",
    "detailedState": "Postponed",
    "statusCode": "DI",
    "startTimeTBD": False,
    "reason": "Inclement Weather",
    "abstractGameCode": "F",
}
POSTPONED_SLOT, DELAYED_SLOT, SUSPENDED_SLOT, CHANGED_SLOT = 4, 3, 5, 6
SUSPENDED_INNING = 6
CHANGE_AT = time(8, 0)  # New York, the morning after the game


@dataclass(frozen=True, slots=True)
class SeasonGame:
    """One game of the synthetic season and its story."""

    game_pk: int
    source_pk: int  # the real feed it replays
    listed: date  # the date it is played on
    start: datetime  # scheduled first pitch (UTC)
    double_header: str = "N"
    game_number: int = 1
    postponed_from: datetime | None = None  # first listed then, Postponed
    delay: timedelta | None = None  # delayed start
    resume_at: datetime | None = None  # suspended, resumed then (listed that date too)
    scoring_change: bool = False

    @property
    def story(self) -> str:
        parts = ["postponed+makeup" if self.postponed_from else ""]
        parts += [f"doubleheader g{self.game_number}" if self.double_header != "N" else ""]
        parts += ["delayed start" if self.delay else ""]
        parts += ["suspended+resumed" if self.resume_at else ""]
        parts += ["scoring change" if self.scoring_change else ""]
        return ", ".join(p for p in parts if p) or "regular"


def _at(day: date, hhmm: str, late: bool = False) -> datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return datetime.combine(day + timedelta(days=int(late)), time(h, m), UTC)


def plan_season(
    first: date, feeds: list[int], days: int = 3, delay: timedelta = timedelta(minutes=50)
) -> list[SeasonGame]:
    """The games of ``days`` consecutive days from ``first`` (11 slots a day), the real
    feeds ``feeds`` dealt round-robin; the stories of the module docstring on days 1-2."""
    games: list[SeasonGame] = []
    slots = [(s, False) for s in SLOTS] + [(s, True) for s in LATE_SLOTS]
    for d in range(days):
        day = first + timedelta(days=d)
        for n, (hhmm, late) in enumerate(slots):
            pk = 9_000_000 + (d + 1) * 100 + n
            plain = SeasonGame(
                pk, feeds[(d * len(slots) + n) % len(feeds)], day, _at(day, hhmm, late)
            )
            game = _with_story(plain, d, n, days, delay, feeds)
            if game is not None:
                games.append(game)
    return games


def _with_story(
    game: SeasonGame, d: int, n: int, days: int, delay: timedelta, feeds: list[int]
) -> SeasonGame | None:
    """``game`` with the story of its (day, slot), if any; None for a slot taken by one."""

    if n == CHANGED_SLOT:
        game = replace(game, scoring_change=True)
    if d == 0 and n == POSTPONED_SLOT and days > 1:
        makeup = _at(game.listed + timedelta(days=1), SLOTS[0])
        return replace(
            game, listed=makeup.date(), start=makeup, postponed_from=game.start,
            double_header="S", game_number=1,
        )  # fmt: skip
    if d == 1 and n == 0:
        return None  # the makeup's slot
    if d == 1 and n == POSTPONED_SLOT:
        source = feeds[POSTPONED_SLOT % len(feeds)]  # the postponed game's feed: same teams
        return replace(game, source_pk=source, double_header="S", game_number=2)
    if d == 1 and n == DELAYED_SLOT:
        return replace(game, delay=delay)
    if d == 1 and n == SUSPENDED_SLOT and days > 2:
        return replace(game, resume_at=_at(game.listed + timedelta(days=1), "20:10"))
    return game


class SyntheticSeason(Corpus):
    """The corpus the replay server serves for a synthetic season (see module doc)."""

    def __init__(self, data_dir: Path, games: list[SeasonGame], every: int = 30) -> None:
        super().__init__(data_dir, every=every)
        self.games = {g.game_pk: g for g in games}
        self.changes: dict[int, JSON] = {}  # gamePk -> the scoring change served
        missing = {g.source_pk for g in games} - set(self._feeds)
        if missing:
            raise FileNotFoundError(f"no recorded feed for {sorted(missing)} in {self.root}")

    @property
    def game_pks(self) -> list[int]:
        return sorted(self.games)

    @property
    def days(self) -> list[date]:
        return sorted({d for g in self.games.values() for d, _ in _listings(g)})

    def feeds_on(self, day: date) -> list[int]:
        return sorted(pk for pk, g in self.games.items() if any(d == day for d, _ in _listings(g)))

    def timeline(self, game_pk: int) -> GameTimeline | None:
        game = self.games.get(game_pk)
        if game is None:
            return None
        with self._lock:
            found = self._timelines.get(game_pk)
            if found is None:
                found = self._build(game)
                self._timelines[game_pk] = found
            return found

    def final_feed(self, game: SeasonGame) -> JSON:
        """The game's final feed: the real one re-keyed, moved, and its story applied."""
        real = orjson.loads(self._feeds[game.source_pk].read_bytes())
        played = game.start + (game.delay or timedelta(0))
        feed = rekey_and_shift(real, game.game_pk, played, game.listed)
        if game.delay:
            feed["gameData"]["datetime"]["dateTime"] = _iso(game.start)
        if game.resume_at is not None:
            cut = first_play_of_inning(feed, SUSPENDED_INNING)
            plays = feed["liveData"]["plays"]["allPlays"]
            began = datetime.fromisoformat(plays[cut]["about"]["startTime"].replace("Z", "+00:00"))
            feed = resume_later(feed, cut, game.resume_at - began)
        return feed

    def _build(self, game: SeasonGame) -> GameTimeline:
        feed = self.final_feed(game)
        snaps = simulate(feed, self.every)
        sources = ["derived-preview", *["simulated"] * (len(snaps) - 1), "recorded-moved"]
        snaps = [preview_of(snaps[0]), *snaps]
        if game.delay:
            snaps.insert(1, with_status(snaps[0], DELAYED_START, game.start + timedelta(minutes=2)))
            sources.insert(1, "synthetic-delay")
        if game.resume_at is not None:
            last = max(i for i, s in enumerate(snaps) if _stamp(s) < game.resume_at)
            pause = with_status(snaps[last], SUSPENDED, _stamp(snaps[last]) + timedelta(minutes=3))
            snaps.insert(last + 1, pause)
            sources.insert(last + 1, "synthetic-suspension")
        if game.scoring_change:
            ended = _stamp(feed)
            morning = datetime.combine(ended.astimezone(MLB_TZ).date(), CHANGE_AT, MLB_TZ)
            if morning <= ended:
                morning += timedelta(days=1)
            changed, _ = scoring_change(feed, morning - ended)
            self.changes[game.game_pk] = changed
            snaps.append(changed)
            sources.append("synthetic-scoring-change")
        return GameTimeline(game.game_pk, snaps, sources)

    def schedule(self, day: date) -> Schedule | None:
        listed = [
            (pk, entry)
            for pk in self.game_pks
            for d, entry in _listings(self.games[pk])
            if d == day
        ]
        if not listed:
            return None
        games = [self._entry(self.games[pk], day, extra) for pk, extra in listed]
        games.sort(key=lambda g: (str(g["gameDate"]), g["gamePk"]))
        n = len(games)
        body = {
            "totalItems": n,
            "totalGames": n,
            "dates": [{"date": day.isoformat(), "totalGames": n, "games": games}],
        }
        return Schedule(orjson.dumps(body), "synthetic-season", "sim.season")

    def _entry(self, game: SeasonGame, day: date, extra: JSON) -> JSON:
        data = self._game_data(game.source_pk)
        teams = data.get("teams", {})
        entry: JSON = {
            "gamePk": game.game_pk,
            "link": f"/api/v1.1/game/{game.game_pk}/feed/live",
            "gameType": data.get("game", {}).get("type"),
            "season": str(game.listed.year),
            "gameDate": _iso(game.start),
            "officialDate": game.listed.isoformat(),
            "status": dict(SCHEDULED),
            "teams": {s: {"team": _team(teams.get(s, {}))} for s in ("away", "home")},
            "doubleHeader": game.double_header,
            "gameNumber": game.game_number,
            "description": "SYNTHETIC schedule (sim.season), real feed "
            f"{game.source_pk}: {game.story}",
        }
        entry.update(extra)
        return entry


def _listings(game: SeasonGame) -> list[tuple[date, JSON]]:
    """Each date ``game`` is listed on, with the fields of that listing (MLB's names)."""
    out: list[tuple[date, JSON]] = []
    if game.postponed_from is not None:
        day = game.postponed_from.astimezone(MLB_TZ).date()
        moved = {"rescheduleDate": _iso(game.start), "rescheduleGameDate": game.listed.isoformat()}
        out.append(
            (day, {**moved, "gameDate": _iso(game.postponed_from), "status": dict(POSTPONED)})
        )
        origin = {
            "rescheduledFrom": _iso(game.postponed_from),
            "rescheduledFromDate": day.isoformat(),
        }
        out.append((game.listed, origin))
    else:
        out.append((game.listed, {}))
    if game.resume_at is not None:
        again = game.resume_at.astimezone(MLB_TZ).date()
        out[-1][1].update(resumeDate=_iso(game.resume_at), resumeGameDate=again.isoformat())
        back = {"resumedFrom": _iso(game.start), "resumedFromDate": game.listed.isoformat()}
        out.append(
            (again, {**back, "gameDate": _iso(game.resume_at), "officialDate": again.isoformat()})
        )
    return out


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stamp(snapshot: JSON) -> datetime:
    return datetime.strptime(snapshot["metaData"]["timeStamp"][:15], FEED_TIMESTAMP_FORMAT).replace(
        tzinfo=UTC
    )


def _team(team: JSON) -> JSON:
    return {"id": team.get("id"), "name": team.get("name"), "link": team.get("link")}
