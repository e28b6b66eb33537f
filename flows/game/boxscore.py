"""A box score and line score derived only from the event stream, pure.

A fold over events in three steps, in the style of a tiny aggregator:
``initialize() -> BoxScoreState``, ``agg(state, event)`` (keeps the latest version of
each ``event_id``: newest ``source_ts``, then highest ``revision``; a
:class:`~flows.game.events.Retraction` removes it) and ``result(state) -> dict`` (contract:
docs/architecture.md section 3, field names of MLB's ``liveData.boxscore``).

Scoring rules, checked against MLB's official box score of every game in the corpus:

- a plate appearance is a completed play whose ``eventType`` is not a base-running event
  that ended the inning (caught stealing, pickoff, wild pitch, ...) and, when the play
  lists runner movements, in which the batter moved from home (an inning ended by a
  runner out at third is an ``other_out`` without a batter); at-bats exclude walks
  (intentional included), hit by pitch, sacrifices and interference;
- a player who enters the batting order by substitution has a batting line, zeros at
  first (MLB lists defensive replacements who never batted);
- the batter's result is charged to the play's pitcher; outs to the pitcher on the mound
  at the event that made them; runs to the runner's responsible pitcher (MLB names him
  for runners he put on base) or else the pitcher on the mound; earned runs likewise,
  when MLB marks the run earned;
- ``numberOfPitches`` counts thrown pitches only (no pickoffs, step-offs or automatic
  balls/strikes); ``strikes`` counts thrown pitches that are strikes or put in play;
- line score: runs and hits to the batting team of each half inning, errors to the
  fielding team (each fielder's error once per play event); as in MLB's line score,
  ``runs`` is absent while a half inning has neither scored nor ended (three outs).

``result`` is incremental and exact. An event's contribution depends only on the events of
its plate appearance, its group (``atBatIndex``: ``batted`` reads that play's runners, an
error counts once per ``(atBatIndex, playEventIndex, fielder)``; game events outside any
plate appearance form one group), and the box score is the sum of the contributions:
integer counts plus presence (a line, an inning, an inning's ``runs`` exists while some
contribution has it, so presence is reference-counted). ``agg`` marks the groups of the
replaced and of the new version dirty; ``result`` refolds only those, with the same rules,
and swaps their old contribution for the new one in the cached sum. Sums do not depend on
event order and the output has its own fixed order (people and innings sorted, fields as
declared), so the JSON equals a fold from scratch (:func:`box_score`) byte for byte.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import msgspec

from flows.game.events import Event, GameEvent, PitchEvent, PlayEvent, Retraction, RunnerEvent
from flows.game.stat_fields import BATTING_FIELDS, PITCHING_FIELDS, WALKS

__all__ = ["BATTING_FIELDS", "PITCHING_FIELDS", "BoxScoreState", "agg", "initialize", "result"]

_HITS = {"single": "", "double": "doubles", "triple": "triples", "home_run": "homeRuns"}
_STRIKEOUTS = {"strikeout", "strikeout_double_play", "strikeout_triple_play"}
_NOT_AT_BAT = {
    *WALKS,
    "hit_by_pitch",
    "sac_fly",
    "sac_bunt",
    "sac_fly_double_play",
    "sac_bunt_double_play",
    "catcher_interf",
    "fielders_interference",
}
_RUNNING_PREFIXES = (
    "caught_stealing",
    "pickoff",
    "stolen_base",
    "wild_pitch",
    "passed_ball",
    "balk",
    "other_advance",
    "defensive_indiff",
    "runner_double_play",
    "forced_balk",
)


class BoxScoreState(msgspec.Struct):
    """The latest version of every live event of one game, by ``event_id``.

    ``derived`` (:func:`result`'s cache, a function of ``latest``) is not pickled: Bytewax
    writes the state every epoch, and the pickle stays the two fields it always was (older
    snapshots load, the previous code reads new ones); the first :func:`result` after a
    resume rebuilds the cache at the cost of one fold from scratch.
    """

    game_pk: int | None = None
    latest: dict[str, Event] = {}
    derived: _Derived | None = None

    def __reduce__(self) -> tuple[type[BoxScoreState], tuple[int | None, dict[str, Event]]]:
        return BoxScoreState, (self.game_pk, self.latest)


def initialize() -> BoxScoreState:
    return BoxScoreState(latest={})


def _newer(new: Event, old: Event) -> bool:
    return (new.source_ts, new.revision) >= (old.source_ts, old.revision)


def agg(state: BoxScoreState, event: Event) -> BoxScoreState:
    """Fold one event into ``state`` (in place; returned for convenience)."""
    if state.game_pk is None:
        state.game_pk = event.gamePk
    old = state.latest.get(event.event_id)
    if old is None or _newer(event, old):
        state.latest[event.event_id] = event
        if state.derived is not None:
            state.derived.replaced(old, event)
    return state


def is_plate_appearance(event_type: str | None) -> bool:
    """Whether a completed play with this ``eventType`` is a plate appearance."""
    return event_type is not None and not event_type.startswith(_RUNNING_PREFIXES)


def _sides(half: str) -> tuple[str, str]:
    """(batting side, fielding side) of a half inning."""
    return ("away", "home") if half == "top" else ("home", "away")


Line = dict[str, int]
LiveEvent = PitchEvent | PlayEvent | RunnerEvent | GameEvent
Group = int | None  # an event's atBatIndex; None: game events outside any plate appearance
#: a line (table, side, person), an inning ("inning", num) or its runs ("runs", num, side)
_Presence = tuple[str | int, ...]


def _line(
    table: dict[str, dict[int, Line]], side: str, person: int | None, fields: tuple[str, ...]
) -> Line:
    key = -1 if person is None else person
    if key not in table[side]:
        table[side][key] = dict.fromkeys(fields, 0)
    return table[side][key]


def _ordered(line: Line) -> Line:
    """MLB's key order: runs (when shown), hits, errors."""
    return {key: line[key] for key in ("runs", "hits", "errors") if key in line}


def _empty_inning() -> dict[str, Line]:
    return {"home": {"hits": 0, "errors": 0}, "away": {"hits": 0, "errors": 0}}


@dataclass(slots=True)
class _Sheet:
    """The box score being filled: batting and pitching lines by side and person, the line
    score by inning and side, and the errors already counted."""

    batting: dict[str, dict[int, Line]] = field(default_factory=lambda: {"home": {}, "away": {}})
    pitching: dict[str, dict[int, Line]] = field(default_factory=lambda: {"home": {}, "away": {}})
    innings: defaultdict[int, dict[str, Line]] = field(
        default_factory=lambda: defaultdict(_empty_inning)
    )
    errors: set[tuple[int, int | None, int]] = field(default_factory=set)

    def bat(self, side: str, person: int | None) -> Line:
        return _line(self.batting, side, person, BATTING_FIELDS)

    def pit(self, side: str, person: int | None) -> Line:
        return _line(self.pitching, side, person, PITCHING_FIELDS)


def _fold(events: list[LiveEvent]) -> _Sheet:
    """A fresh sheet filled with ``events`` (a whole game's, or one group's)."""
    sheet = _Sheet()
    with_runners = {e.atBatIndex for e in events if isinstance(e, RunnerEvent)}
    from_home = {
        (e.atBatIndex, e.runnerId)
        for e in events
        if isinstance(e, RunnerEvent) and e.startBase is None
    }
    for event in events:
        if isinstance(event, PlayEvent):
            batted = event.atBatIndex not in with_runners or (
                (event.atBatIndex, event.batterId) in from_home
            )
            _add_play(sheet, event, batted)
        elif isinstance(event, GameEvent):
            _add_substitution(sheet, event)
        elif isinstance(event, PitchEvent):
            _add_pitch(sheet, event)
        elif isinstance(event, RunnerEvent):
            _add_runner_movement(sheet, event)
    return sheet


def _held(refs: dict[_Presence, int], key: _Presence, sign: int) -> bool:
    """Count a contribution holding ``key`` in (``sign`` 1) or out (-1); whether any do."""
    if count := refs.get(key, 0) + sign:
        refs[key] = count
    else:
        del refs[key]
    return count > 0


@dataclass(slots=True)
class _Derived:
    """:func:`result`'s cache: the live event ids of each group, the groups whose events
    changed since the last :func:`result`, each other group's contribution (``parts``), their
    sum (``total``) and how many parts hold each line, inning and inning ``runs`` key."""

    members: dict[Group, set[str]]
    dirty: set[Group]
    parts: dict[Group, _Sheet] = field(default_factory=dict)
    total: _Sheet = field(default_factory=_Sheet)
    refs: dict[_Presence, int] = field(default_factory=dict)

    @classmethod
    def of(cls, latest: dict[str, Event]) -> _Derived:
        """Every group of ``latest``, all dirty (nothing summed yet)."""
        members: dict[Group, set[str]] = {}
        for event_id, event in latest.items():
            if not isinstance(event, Retraction):
                members.setdefault(event.atBatIndex, set()).add(event_id)
        return cls(members=members, dirty=set(members))

    def replaced(self, old: Event | None, new: Event) -> None:
        """``new`` is now the latest version of its ``event_id`` (``old`` was)."""
        if old is not None and not isinstance(old, Retraction):
            self.members[old.atBatIndex].discard(old.event_id)
            self.dirty.add(old.atBatIndex)
        if not isinstance(new, Retraction):
            self.members.setdefault(new.atBatIndex, set()).add(new.event_id)
            self.dirty.add(new.atBatIndex)

    def refresh(self, latest: dict[str, Event]) -> _Sheet:
        """Refold the dirty groups and bring the sum up to date; the sum."""
        for group in self.dirty:
            old = self.parts.pop(group, None)
            if old is not None:
                self._add(old, -1)
            ids = self.members.get(group)
            if ids:
                part = _fold([e for i in ids if not isinstance(e := latest[i], Retraction)])
                self.parts[group] = part
                self._add(part, 1)
            else:
                self.members.pop(group, None)
        self.dirty.clear()
        return self.total

    def _add(self, part: _Sheet, sign: int) -> None:
        """Add one group's contribution to the sum (``sign`` 1) or take it out (-1)."""
        total, refs = self.total, self.refs
        for table, fields, lines, sums in (
            ("batting", BATTING_FIELDS, part.batting, total.batting),
            ("pitching", PITCHING_FIELDS, part.pitching, total.pitching),
        ):
            for side, people in lines.items():
                for person, line in people.items():
                    held = _line(sums, side, person, fields)
                    for name, value in line.items():
                        if value:
                            held[name] += sign * value
                    if not _held(refs, (table, side, person), sign):
                        del sums[side][person]
        for num, inning in part.innings.items():
            into_inning = total.innings[num]
            for side, line in inning.items():
                held = into_inning[side]
                held["hits"] += sign * line["hits"]
                held["errors"] += sign * line["errors"]
                if "runs" in line:
                    if _held(refs, ("runs", num, side), sign):
                        held["runs"] = held.get("runs", 0) + sign * line["runs"]
                    else:
                        del held["runs"]
            if not _held(refs, ("inning", num), sign):
                del total.innings[num]


def result(state: BoxScoreState) -> dict[str, Any]:
    """The box score JSON of the events folded so far (fresh dicts: the caller's to keep or
    change); only the groups changed since the last call are refolded."""
    if state.derived is None:
        state.derived = _Derived.of(state.latest)
    return _box_json(state.game_pk, state.derived.refresh(state.latest))


def _add_play(sheet: _Sheet, event: PlayEvent, batted: bool) -> None:
    """A completed play: the batter's result, if it is his plate appearance (``batted``:
    the play lists no runner movements, or the batter's own from home)."""
    bat_side, field_side = _sides(event.halfInning)
    inning = sheet.innings[event.inning]
    if event.outs >= 3:
        inning[bat_side].setdefault("runs", 0)
    kind = event.eventType
    if not is_plate_appearance(kind) or not batted:
        return
    batter, pitcher = sheet.bat(bat_side, event.batterId), sheet.pit(field_side, event.pitcherId)
    pitcher["battersFaced"] += 1
    batter["rbi"] += event.rbi
    if kind not in _NOT_AT_BAT:
        batter["atBats"] += 1
    if kind in _HITS:
        batter["hits"] += 1
        pitcher["hits"] += 1
        inning[bat_side]["hits"] += 1
        if _HITS[kind]:
            batter[_HITS[kind]] += 1
        if kind == "home_run":
            pitcher["homeRuns"] += 1
    elif kind in WALKS:
        batter["baseOnBalls"] += 1
        pitcher["baseOnBalls"] += 1
    elif kind in _STRIKEOUTS:
        batter["strikeOuts"] += 1
        pitcher["strikeOuts"] += 1
    elif kind == "hit_by_pitch":
        batter["hitByPitch"] += 1


def _add_substitution(sheet: _Sheet, event: GameEvent) -> None:
    """A player entering the batting order gets a batting line (zeros until he bats)."""
    if event.isSubstitution and event.battingOrder is not None and event.halfInning:
        bat_side, field_side = _sides(event.halfInning)
        side = bat_side if event.action == "offensive_substitution" else field_side
        sheet.bat(side, event.playerId)


def _add_pitch(sheet: _Sheet, event: PitchEvent) -> None:
    """A thrown pitch counts for the pitcher who threw it; a strike if called, swung at or
    put in play."""
    _, field_side = _sides(event.halfInning)
    if event.isPitch:
        pitcher = sheet.pit(field_side, event.pitcherId)
        pitcher["numberOfPitches"] += 1
        if event.isStrike or event.isInPlay:
            pitcher["strikes"] += 1


def _add_runner_movement(sheet: _Sheet, event: RunnerEvent) -> None:
    """Errors (once per fielder and play event), outs, stolen bases and runs."""
    bat_side, field_side = _sides(event.halfInning)
    inning = sheet.innings[event.inning]
    for fielder in event.errorFielderIds:
        key = (event.atBatIndex, event.playEventIndex, fielder)
        if key not in sheet.errors:
            sheet.errors.add(key)
            inning[field_side]["errors"] += 1
    if event.isOut:
        sheet.pit(field_side, event.pitcherId)["outs"] += 1
    if event.movementReason is not None and event.movementReason.startswith("r_stolen_base"):
        sheet.bat(bat_side, event.runnerId)["stolenBases"] += 1
    if event.endBase == "score":
        sheet.bat(bat_side, event.runnerId)["runs"] += 1
        charged = sheet.pit(field_side, event.responsiblePitcherId or event.pitcherId)
        charged["runs"] += 1
        if event.earned:
            charged["earnedRuns"] += 1
        inning[bat_side]["runs"] = inning[bat_side].get("runs", 0) + 1


def _people(table: dict[int, Line]) -> dict[str, Line]:
    return {str(person): dict(line) for person, line in sorted(table.items())}


def _box_json(game_pk: int | None, sheet: _Sheet) -> dict[str, Any]:
    """The contract's JSON (docs/architecture.md section 3) of a sheet, in fresh dicts."""
    innings = sheet.innings
    return {
        "gamePk": game_pk,
        "teams": {
            side: {
                "batting": _people(sheet.batting[side]),
                "pitching": _people(sheet.pitching[side]),
            }
            for side in ("home", "away")
        },
        "linescore": {
            "innings": [
                {
                    "num": num,
                    "home": _ordered(innings[num]["home"]),
                    "away": _ordered(innings[num]["away"]),
                }
                for num in sorted(innings)
            ]
        },
    }


def box_score(events: list[Event]) -> dict[str, Any]:
    """Fold a whole event stream and return the box score, from scratch: one sheet of all
    the latest versions, no cache (what :func:`result` must equal byte for byte)."""
    state = initialize()
    for event in events:
        agg(state, event)
    live = [e for e in state.latest.values() if not isinstance(e, Retraction)]
    return _box_json(state.game_pk, _fold(live))
