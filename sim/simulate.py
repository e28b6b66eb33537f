"""Simulated live snapshots from a final MLB ``feed/live`` (pure: no I/O).

``simulate(feed, every)`` replays a FINAL game feed as the sequence of responses a poller
would have seen after every ``every`` pitch-like events. "Pitch-like" is MLB's own notion:
every playEvent listed in a play's ``pitchIndex``, i.e. every event whose ``type`` is not
``"action"`` (pitches, pickoffs, step-offs, automatic balls and strikes).

A cut after the last pitch-like event of a plate appearance completes that play (with any
trailing events); the next play is not started yet, so ``currentPlay`` is the completed one
and, if it made the third out, ``inningState`` is ``Middle``/``End`` (``inningHalf`` stays
the half just finished: no real capture shows that moment). Plays without pitch-like events
complete together with the next cut. There is no pre-game snapshot.

What a simulated snapshot contains (shaped on the real live captures in the shared corpus):

- ``liveData.plays.allPlays``: the completed plays so far, then, when the cut falls inside a
  plate appearance, the current play as MLB shows an incomplete one: ``playEvents`` up to the
  cut, ``about.isComplete`` false (``isScoringPlay``/``hasOut`` false, no ``hasReview``),
  ``result`` reduced to ``{"type", "rbi": 0, "awayScore", "homeScore", "isOut": false}``,
  ``runners`` empty (movements appear when the play completes), ``count`` of the last event,
  ``matchup`` with the bases as they stood before the play (and the pitcher/batter before a
  substitution made later in the plate appearance). ``currentPlay`` is the last play.
- ``scoringPlays`` and ``playsByInning`` filtered to what has happened.
- ``liveData.linescore``: innings up to the current one. A finished half-inning carries the
  final feed's values exactly; the half in progress is recomputed from its completed plays
  (runs from runners who scored, hits from hit event types, errors from distinct error
  credits, left on base 0, ``runs`` absent while 0, as MLB shows it); totals are the sums.
  ``offense``/``defense`` are reduced to batter, runners on base, pitcher and teams.
- ``gameData.status`` Live / In Progress; attendance and duration removed; ``liveData``
  without ``decisions``.
- ``liveData.boxscore``: structure kept, but every per-player and per-team stat (game and
  season), the notes and top performers are emptied: they cannot be known mid-game, and
  nothing downstream may take them from a simulated snapshot.
- ``metaData.timeStamp``: ``YYYYMMDD_HHMMSS`` of the latest event time seen so far, forced
  strictly increasing; ``metaData.wait`` kept; ``gameEvents`` names the last event.

The last snapshot is always the final feed itself (a deep copy of the input, unchanged).

Snapshots share unchanged sub-objects (completed plays, events, the emptied box score) with
each other and with that copy: treat them as read-only (serialize, do not mutate).
Perturbations (gaps, duplicates, reordering, scoring corrections) live in
``sim.perturb``.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sim.linescore import BASES, LineScorer, half_of, matched_hits
from sim.perturb import Perturbations, apply_corrections, deliver, plan_corrections

__all__ = ["Perturbations", "is_pitch_like", "simulate", "simulate_with_log"]

JSON = dict[str, Any]

LIVE_STATUS: JSON = {
    "abstractGameState": "Live",
    "codedGameState": "I",
    "detailedState": "In Progress",
    "statusCode": "I",
    "abstractGameCode": "L",
}
KEPT_INFO_LABELS = frozenset({"Umpires", "Weather", "Wind", "First pitch", "Venue"})
TS_FORMAT = "%Y%m%d_%H%M%S"


@dataclass(frozen=True)
class Cut:
    """The state after one pitch-like event: plays ``[0, play]`` with ``play`` cut at
    ``event`` (inclusive) unless ``complete``; ``timestamp`` in ``YYYYMMDD_HHMMSS``."""

    play: int
    event: int
    complete: bool
    timestamp: str


def is_pitch_like(event: JSON) -> bool:
    """True for the events MLB lists in ``pitchIndex`` (all but ``type == "action"``)."""
    return event.get("type") != "action"


def simulate(
    feed: JSON,
    every: int,
    *,
    seed: int | None = None,
    duplicates: float = 0.0,
    reorder: float = 0.0,
    gaps: float = 0.0,
    corrections: float = 0.0,
) -> list[JSON]:
    """Snapshots a poller would have seen every ``every`` pitches; the last is the final feed."""
    snapshots, _ = simulate_with_log(
        feed,
        every,
        seed=seed,
        duplicates=duplicates,
        reorder=reorder,
        gaps=gaps,
        corrections=corrections,
    )
    return snapshots


def simulate_with_log(
    feed: JSON,
    every: int,
    *,
    seed: int | None = None,
    duplicates: float = 0.0,
    reorder: float = 0.0,
    gaps: float = 0.0,
    corrections: float = 0.0,
) -> tuple[list[JSON], Perturbations]:
    """``simulate`` plus a record of the perturbations applied.

    One ``random.Random(seed)`` drives everything, in this order: corrections, gaps,
    duplicates, reordering. The final feed is never dropped, altered or moved from last place
    (an older snapshot delivered late is exercised by the swaps before it).
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    for name, p in (
        ("duplicates", duplicates),
        ("reorder", reorder),
        ("gaps", gaps),
        ("corrections", corrections),
    ):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
    final = copy.deepcopy(feed)
    builder = _Builder(final)
    base = [builder.snapshot(cut) for cut in cuts(final["liveData"]["plays"]["allPlays"], every)]
    rng = random.Random(seed)
    log = Perturbations()
    if corrections > 0.0:
        done = [b.play_complete_count for b in builder.built]
        plan = plan_corrections(rng, builder.plays, done, corrections)
        base = apply_corrections(base, plan, builder.plays, log)
    delivered = deliver(rng, [*base, final], duplicates=duplicates, reorder=reorder, gaps=gaps)
    log.dropped = delivered.dropped
    log.duplicated = delivered.duplicated
    log.swapped = delivered.swapped
    return delivered.snapshots, log


def cuts(plays: list[JSON], every: int) -> list[Cut]:
    """Cut points after pitch-like events number ``every, 2*every, ...`` strictly before the
    last one (the state after the last pitch is the final feed itself)."""
    total = sum(1 for play in plays for event in play["playEvents"] if is_pitch_like(event))
    out: list[Cut] = []
    seen = 0
    latest: datetime | None = None
    previous: datetime | None = None
    for p, play in enumerate(plays):
        events = play["playEvents"]
        last_pitch = max((i for i, e in enumerate(events) if is_pitch_like(e)), default=-1)
        for i, event in enumerate(events):
            if i == 0:
                latest = _later(latest, play["about"].get("startTime"))
            latest = _later(latest, event.get("startTime"), event.get("endTime"))
            if not is_pitch_like(event):
                continue
            seen += 1
            if seen % every or seen >= total:
                continue
            complete = i == last_pitch
            if complete:
                for rest in events[i + 1 :]:
                    latest = _later(latest, rest.get("startTime"), rest.get("endTime"))
                latest = _later(latest, play["about"].get("endTime"))
            stamp = (latest or datetime(1970, 1, 1, tzinfo=UTC)).replace(microsecond=0)
            if previous is not None and stamp <= previous:
                stamp = previous + timedelta(seconds=1)
            previous = stamp
            out.append(
                Cut(p, len(events) - 1 if complete else i, complete, stamp.strftime(TS_FORMAT))
            )
    return out


def _later(current: datetime | None, *isos: str | None) -> datetime | None:
    for iso in isos:
        if iso:
            moment = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)
            if current is None or moment > current:
                current = moment
    return current


def _empty_stats(stats: Any) -> Any:
    if isinstance(stats, dict):
        return {k: {} for k in stats}
    return stats


def _strip_boxscore(box: JSON) -> JSON:
    teams: JSON = {}
    for side, team in box.get("teams", {}).items():
        players = {
            pid: {
                **player,
                "stats": _empty_stats(player.get("stats", {})),
                "seasonStats": _empty_stats(player.get("seasonStats", {})),
            }
            for pid, player in team.get("players", {}).items()
        }
        teams[side] = {
            **team,
            "teamStats": _empty_stats(team.get("teamStats", {})),
            "players": players,
            "info": [],
            "note": [],
        }
    info = [i for i in box.get("info", []) if i.get("label") in KEPT_INFO_LABELS]
    return {**box, "teams": teams, "info": info, "pitchingNotes": [], "topPerformers": []}


@dataclass(frozen=True)
class _Built:
    play_complete_count: int  # how many leading plays are complete in this snapshot


class _Builder:
    """Everything derived once from the final feed, then one snapshot per cut."""

    def __init__(self, final: JSON) -> None:
        self.final = final
        self.plays: list[JSON] = final["liveData"]["plays"]["allPlays"]
        self.built: list[_Built] = []
        game = final["gameData"]
        status = {**LIVE_STATUS, "startTimeTBD": game["status"].get("startTimeTBD", False)}
        info = {
            k: v
            for k, v in game.get("gameInfo", {}).items()
            if k not in {"attendance", "gameDurationMinutes"}
        }
        self.game_data: JSON = {**game, "status": status, "gameInfo": info}
        self.box = _strip_boxscore(final["liveData"].get("boxscore", {}))
        self.live_rest = {
            k: v
            for k, v in final["liveData"].items()
            if k not in {"plays", "linescore", "boxscore", "decisions"}
        }
        self.lines = LineScorer(final)

    def snapshot(self, cut: Cut) -> JSON:
        """The full feed as it stood at ``cut``."""
        play = self.plays[cut.play]
        done = cut.play + 1 if cut.complete else cut.play  # number of complete plays
        self.built.append(_Built(done))
        previous = self.plays[done - 1] if done else None
        current = play if cut.complete else self._partial(play, cut.event, previous)
        all_plays = [*self.plays[:done], *([] if cut.complete else [current])]
        last_event = current["playEvents"][-1] if current["playEvents"] else None
        meta = {
            **self.final["metaData"],
            "timeStamp": cut.timestamp,
            "gameEvents": [_event_name(current, last_event, cut.complete)],
            "logicalEvents": [],
        }
        plays_block = {
            "allPlays": all_plays,
            "currentPlay": current,
            "scoringPlays": [
                i for i in self.final["liveData"]["plays"].get("scoringPlays", []) if i < done
            ],
            "playsByInning": self._plays_by_inning(cut.play, done),
        }
        live = {
            **self.live_rest,
            "plays": plays_block,
            "linescore": self.lines.build(current, done, cut.complete),
            "boxscore": self.box,
        }
        return {**self.final, "metaData": meta, "gameData": self.game_data, "liveData": live}

    def _partial(self, play: JSON, upto: int, previous: JSON | None) -> JSON:
        events = play["playEvents"][: upto + 1]
        last = events[-1]
        same_half = previous is not None and half_of(previous) == half_of(play)
        score = previous["result"] if previous is not None else {}
        about = {k: v for k, v in play["about"].items() if k != "hasReview"}
        about.update(isComplete=False, isScoringPlay=False, hasOut=False, captivatingIndex=0)
        about["endTime"] = last.get("endTime", about.get("endTime"))
        matchup = {k: v for k, v in play["matchup"].items() if k not in {b for b, _ in BASES}}
        if same_half and previous is not None:
            matchup.update(
                {b: previous["matchup"][b] for b, _ in BASES if b in previous["matchup"]}
            )
        for later in play["playEvents"][upto + 1 :]:
            details = later.get("details", {})
            kind = details.get("eventType")
            if kind == "pitching_substitution" and same_half and previous is not None:
                matchup["pitcher"] = previous["matchup"]["pitcher"]
                break
            pinch_hitter = later.get("position", {}).get("code") == "11"
            if kind == "offensive_substitution" and pinch_hitter and later.get("replacedPlayer"):
                matchup["batter"] = self._person(later["replacedPlayer"])
                break
        partial = {k: v for k, v in play.items() if k not in {"reviewDetails", "playEndTime"}}
        partial.update(
            result={
                "type": play["result"].get("type", "atBat"),
                "rbi": 0,
                "awayScore": score.get("awayScore", 0),
                "homeScore": score.get("homeScore", 0),
                "isOut": False,
            },
            about=about,
            count=dict(last.get("count", play["count"])),
            matchup=matchup,
            pitchIndex=[i for i in play.get("pitchIndex", []) if i <= upto],
            actionIndex=[i for i in play.get("actionIndex", []) if i <= upto],
            runnerIndex=[],
            runners=[],
            playEvents=events,
            playEndTime=about["endTime"],
        )
        return partial

    def _person(self, ref: JSON) -> JSON:
        person = self.final["gameData"].get("players", {}).get(f"ID{ref['id']}", {})
        return {
            "id": ref["id"],
            "fullName": person.get("fullName", ""),
            "link": ref.get("link", ""),
        }

    def _plays_by_inning(self, upto: int, done: int) -> list[JSON]:
        out: list[JSON] = []
        for block in self.final["liveData"]["plays"].get("playsByInning", []):
            if block["startIndex"] > upto:
                break
            top = [i for i in block.get("top", []) if i <= upto]
            bottom = [i for i in block.get("bottom", []) if i <= upto]
            hits = {
                side: matched_hits(
                    block.get("hits", {}).get(side, []), [self.plays[i] for i in half if i < done]
                )
                for side, half in (("away", top), ("home", bottom))
            }
            out.append(
                {
                    **block,
                    "endIndex": min(block["endIndex"], upto),
                    "top": top,
                    "bottom": bottom,
                    "hits": hits,
                }
            )
        return out


def _event_name(play: JSON, event: JSON | None, complete: bool) -> str:
    if complete or event is None:
        return str(play["result"].get("eventType", "")) if complete else ""
    details = event.get("details", {})
    name = details.get("eventType") or details.get("description") or event.get("type", "")
    return "_".join(str(name).lower().replace(",", "").replace(".", "").split())
