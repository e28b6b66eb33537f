"""The line score of a simulated live snapshot (pure; used by ``sim.simulate``).

A half-inning that is over carries the final feed's own numbers (MLB's official line score
is the oracle). The half in progress is recomputed from its completed plays: runs from
runners whose movement ends at ``score``, hits from hit event types, errors from the distinct
error credits on runner movements (this reproduces every final line score in the shared
corpus), left on base 0 and ``runs`` absent while 0, as real live captures show it. A half
not yet started reads ``{"hits": 0, "errors": 0, "leftOnBase": 0}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]

HIT_EVENTS = frozenset({"single", "double", "triple", "home_run"})
BASES = (("postOnFirst", "first"), ("postOnSecond", "second"), ("postOnThird", "third"))
LINE_KEYS = ("runs", "hits", "errors", "leftOnBase")


@dataclass(frozen=True)
class HalfTotals:
    runs: int
    hits: int
    errors: int  # charged to the fielding team


def half_of(play: JSON) -> tuple[int, bool]:
    """``(inning, isTopInning)`` of a play."""
    return int(play["about"]["inning"]), bool(play["about"]["isTopInning"])


def play_totals(play: JSON) -> HalfTotals:
    """Runs, hits and errors one completed play adds to its half-inning."""
    runners = play.get("runners", [])
    runs = sum(1 for r in runners if r["movement"].get("end") == "score")
    hits = 1 if play["result"].get("eventType") in HIT_EVENTS else 0
    errors = {
        (c.get("player", {}).get("id"), c.get("credit"), r.get("details", {}).get("playIndex"))
        for r in runners
        for c in r.get("credits", [])
        if "error" in str(c.get("credit", ""))
    }
    return HalfTotals(runs, hits, len(errors))


def _team_ref(team: JSON) -> JSON:
    return {k: team[k] for k in ("id", "name", "link") if k in team}


class LineScorer:
    """Per-half cumulative totals of the final feed, computed once."""

    def __init__(self, final: JSON) -> None:
        self.final_line: JSON = final["liveData"]["linescore"]
        self.plays: list[JSON] = final["liveData"]["plays"]["allPlays"]
        self.teams = {
            side: _team_ref(final["gameData"]["teams"][side]) for side in ("away", "home")
        }
        self.final_innings = {int(i["num"]): i for i in self.final_line["innings"]}
        self.cumulative: list[HalfTotals] = []  # within its half, up to and including play j
        self.first_of_half: dict[tuple[int, bool], int] = {}
        self.last_of_half: dict[tuple[int, bool], int] = {}
        running = HalfTotals(0, 0, 0)
        for j, play in enumerate(self.plays):
            key = half_of(play)
            if key not in self.first_of_half:
                self.first_of_half[key] = j
                running = HalfTotals(0, 0, 0)
            t = play_totals(play)
            running = HalfTotals(
                running.runs + t.runs, running.hits + t.hits, running.errors + t.errors
            )
            self.cumulative.append(running)
            self.last_of_half[key] = j

    def half_over(self, current: JSON, done: int, complete: bool) -> bool:
        return complete and self.last_of_half.get(half_of(current)) == done - 1

    def _half_entry(self, inning: int, top: bool, done: int) -> tuple[JSON, int]:
        """(batting line of the half, errors of the fielding team) once ``done`` plays are
        complete."""
        key = (inning, top)
        batting, fielding = ("away", "home") if top else ("home", "away")
        last = self.last_of_half.get(key, -1)
        final_inning = self.final_innings.get(inning)
        if 0 <= last < done and final_inning is not None:  # over: MLB's own numbers
            over = {k: final_inning[batting][k] for k in LINE_KEYS if k in final_inning[batting]}
            return over, int(final_inning[fielding].get("errors", 0))
        first = self.first_of_half.get(key, done)
        totals = self.cumulative[done - 1] if first < done else HalfTotals(0, 0, 0)
        entry: JSON = {"runs": totals.runs} if totals.runs else {}
        entry.update(hits=totals.hits, errors=0, leftOnBase=0)
        return entry, totals.errors

    def build(self, current: JSON, done: int, complete: bool) -> JSON:
        """The line score once the first ``done`` plays are complete; ``current`` is the
        current play (complete or partial)."""
        inning, top = half_of(current)
        innings: list[JSON] = []
        for num in range(1, inning + 1):
            away, home_errors = self._half_entry(num, True, done)
            if num < inning or not top:
                home, away_errors = self._half_entry(num, False, done)
            else:
                home, away_errors = {"hits": 0, "errors": 0, "leftOnBase": 0}, 0
            away["errors"], home["errors"] = away_errors, home_errors
            ordinal = self.final_innings.get(num, {}).get("ordinalNum", str(num))
            innings.append({"num": num, "ordinalNum": ordinal, "home": home, "away": away})
        teams = {
            side: {k: sum(int(i[side].get(k, 0)) for i in innings) for k in LINE_KEYS}
            for side in ("home", "away")
        }
        half_over = self.half_over(current, done, complete)
        state = ("Middle" if top else "End") if half_over else ("Top" if top else "Bottom")
        batting, fielding = ("away", "home") if top else ("home", "away")
        matchup = current.get("matchup", {})
        offense: JSON = {"batter": matchup.get("batter")}
        if not half_over:
            offense.update({base: matchup[post] for post, base in BASES if post in matchup})
        offense["team"] = self.teams[batting]
        count = current.get("count", {})
        line = {
            k: v
            for k, v in self.final_line.items()
            if k not in {"innings", "teams", "offense", "defense"}
        }
        line.update(
            currentInning=inning,
            currentInningOrdinal=innings[-1]["ordinalNum"],
            inningState=state,
            inningHalf="Top" if top else "Bottom",
            isTopInning=top,
            innings=innings,
            teams=teams,
            defense={"pitcher": matchup.get("pitcher"), "team": self.teams[fielding]},
            offense=offense,
            balls=count.get("balls", 0),
            strikes=count.get("strikes", 0),
            outs=count.get("outs", 0),
        )
        return line


def matched_hits(entries: list[JSON], completed: list[JSON]) -> list[JSON]:
    """The ``playsByInning`` batted-ball entries of a half-inning that belong to its
    completed plays (matched in order by batter)."""
    kept: list[JSON] = []
    pos = 0
    for entry in entries:
        batter = entry.get("batter", {}).get("id")
        while pos < len(completed) and completed[pos]["matchup"]["batter"]["id"] != batter:
            pos += 1
        if pos >= len(completed):
            break
        kept.append(entry)
        pos += 1
    return kept
