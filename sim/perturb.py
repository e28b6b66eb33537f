"""Delivery faults and scoring corrections for simulated snapshot sequences (pure).

Used by ``sim.simulate``. Everything is driven by one ``random.Random`` so a seed gives
the same sequence every time.

- corrections: from some snapshot on, one earlier COMPLETED play reads differently for 1-3
  snapshots (a single re-scored as an error, one RBI fewer, or a scoring runner's ``earned``
  flag flipped), then reverts to MLB's final value, as MLB scoring changes do. A re-scored
  hit also moves one hit to an error in that snapshot's line score, so each snapshot stays
  self-consistent. A corrected play is a new object: ``snapshot_play is final_play`` tells
  the untouched ones apart.
- gaps: each snapshot but the final one is dropped with the given probability.
- duplicates: each delivered snapshot (the final one included) is delivered twice in a row.
- reorder: each adjacent pair before the final snapshot is swapped with the given
  probability (no element moves more than one place; the final feed stays last). The
  consumer must keep the newest ``metaData.timeStamp`` and ignore older arrivals.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

HIT_TO_ERROR = "hit_to_error"
RBI = "rbi"
EARNED = "earned"


@dataclass(frozen=True)
class Correction:
    """Play ``play`` (index in allPlays) altered by ``kind`` in base snapshots
    ``[start, stop)`` (positions before gaps/duplicates/reordering)."""

    start: int
    stop: int
    play: int
    kind: str


@dataclass
class Perturbations:
    """What was applied to one simulated sequence."""

    corrections: list[Correction] = field(default_factory=list)
    dropped: int = 0
    duplicated: int = 0
    swapped: int = 0

    def summary(self) -> str:
        return (
            f"{len(self.corrections)} corrections, {self.dropped} dropped, "
            f"{self.duplicated} duplicated, {self.swapped} swapped"
        )


@dataclass(frozen=True)
class Delivered:
    snapshots: list[JSON]
    dropped: int
    duplicated: int
    swapped: int


def _kinds(play: JSON) -> list[str]:
    result = play.get("result", {})
    kinds: list[str] = []
    if result.get("eventType") == "single" and not result.get("rbi"):
        kinds.append(HIT_TO_ERROR)
    if int(result.get("rbi") or 0) > 0:
        kinds.append(RBI)
    if any(r.get("movement", {}).get("end") == "score" for r in play.get("runners", [])):
        kinds.append(EARNED)
    return kinds


def plan_corrections(
    rng: random.Random, plays: list[JSON], complete_counts: list[int], probability: float
) -> list[Correction]:
    """For each base snapshot, with ``probability``, pick a completed play and an alteration
    that lasts 1-3 snapshots (never reaching the final feed, which is not in the base)."""
    candidates = [(j, kind) for j, play in enumerate(plays) for kind in _kinds(play)]
    keys = [j for j, _ in candidates]
    plan: list[Correction] = []
    for i, done in enumerate(complete_counts):
        if rng.random() >= probability:
            continue
        available = bisect.bisect_left(keys, done)
        if available == 0:
            continue
        j, kind = candidates[rng.randrange(available)]
        plan.append(Correction(i, min(i + rng.randint(1, 3), len(complete_counts)), j, kind))
    return plan


def _altered_play(play: JSON, kind: str, batter_name: str) -> JSON:
    result = dict(play["result"])
    if kind == HIT_TO_ERROR:
        result.update(
            event="Field Error",
            eventType="field_error",
            description=f"{batter_name} reaches on a fielding error.",
        )
        return {**play, "result": result}
    if kind == RBI:
        result["rbi"] = int(result.get("rbi") or 0) - 1
        return {**play, "result": result}
    runners: list[JSON] = []
    flipped = False
    for runner in play["runners"]:
        if not flipped and runner.get("movement", {}).get("end") == "score":
            details = dict(runner.get("details", {}))
            details["earned"] = not details.get("earned", False)
            runners.append({**runner, "details": details})
            flipped = True
        else:
            runners.append(runner)
    return {**play, "runners": runners}


def _hit_to_error_line(line: JSON, play: JSON) -> JSON:
    inning = play["about"]["inning"]
    batting, fielding = ("away", "home") if play["about"]["isTopInning"] else ("home", "away")
    innings = []
    for entry in line["innings"]:
        if entry["num"] == inning:
            innings.append(
                {
                    **entry,
                    batting: {**entry[batting], "hits": entry[batting]["hits"] - 1},
                    fielding: {**entry[fielding], "errors": entry[fielding]["errors"] + 1},
                }
            )
        else:
            innings.append(entry)
    teams = {
        **line["teams"],
        batting: {**line["teams"][batting], "hits": line["teams"][batting]["hits"] - 1},
        fielding: {**line["teams"][fielding], "errors": line["teams"][fielding]["errors"] + 1},
    }
    return {**line, "innings": innings, "teams": teams}


def apply_corrections(
    base: list[JSON], plan: list[Correction], plays: list[JSON], log: Perturbations
) -> list[JSON]:
    """``base`` with each planned correction applied to its snapshots (new objects along the
    changed path only; ``base`` itself is not mutated)."""
    active: dict[int, list[Correction]] = {}
    for correction in plan:
        for i in range(correction.start, correction.stop):
            active.setdefault(i, []).append(correction)
    log.corrections.extend(plan)
    out = list(base)
    for i, todo in active.items():
        snap = base[i]
        live = snap["liveData"]
        block = live["plays"]
        all_plays = list(block["allPlays"])
        current = block["currentPlay"]
        line = live["linescore"]
        for correction in todo:
            original = plays[correction.play]
            batter = original["matchup"]["batter"].get("fullName", "Batter")
            changed = _altered_play(all_plays[correction.play], correction.kind, batter)
            if current is all_plays[correction.play]:
                current = changed
            all_plays[correction.play] = changed
            if correction.kind == HIT_TO_ERROR:
                line = _hit_to_error_line(line, original)
        new_block = {**block, "allPlays": all_plays, "currentPlay": current}
        out[i] = {**snap, "liveData": {**live, "plays": new_block, "linescore": line}}
    return out


def deliver(
    rng: random.Random, snapshots: list[JSON], *, duplicates: float, reorder: float, gaps: float
) -> Delivered:
    """Gaps, then duplicates, then adjacent swaps; the last element (the final feed) is never
    dropped and stays last."""
    *older, final = snapshots
    kept = [s for s in older if not (gaps > 0.0 and rng.random() < gaps)]
    dropped = len(older) - len(kept)
    doubled: list[JSON] = []
    duplicated = 0
    for snap in [*kept, final]:
        doubled.append(snap)
        if duplicates > 0.0 and rng.random() < duplicates:
            doubled.append(snap)
            duplicated += 1
    # the final feed (and its duplicate) form the tail that never moves
    tail = 2 if len(doubled) >= 2 and doubled[-2] is final else 1
    movable = doubled[:-tail]
    swapped = 0
    i = 0
    while reorder > 0.0 and i < len(movable) - 1:
        if rng.random() < reorder and movable[i] is not movable[i + 1]:
            movable[i], movable[i + 1] = movable[i + 1], movable[i]
            swapped += 1
            i += 2
        else:
            i += 1
    return Delivered([*movable, *doubled[-tail:]], dropped, duplicated, swapped)
