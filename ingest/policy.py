"""When to poll which game: the scheduler's per-game state machine (pure, clock passed in).

Phases and their cadence (``Cadence`` holds the numbers)::

    PREVIEW    far from first pitch (> near_window): every ``far_s``, never past the window
               near first pitch or after the scheduled start: every ``near_s``
    LIVE       the feed's own ``metaData.wait`` (never below ``live_min_s``)
    DELAYED    every ``delayed_s``        (detailedState "Delayed...", e.g. rain before/during)
    SUSPENDED  every ``suspended_s``
    FINAL      first Final seen: one more poll after ``final_grace_s``, then DONE
    POSTPONED / CANCELLED   stop; a postponed game's ``rescheduleGameDate`` is followed
    UNAVAILABLE  the API has no feed for the game (404): stop
    DONE       stopped

A transition comes from a game's status (feed ``gameData.status`` or schedule ``status``):
``on_status`` returns the new ``GameTrack``; the runner polls when ``next_poll_at`` passes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

JSON = dict[str, Any]


class Phase(StrEnum):
    PREVIEW = "preview"
    LIVE = "live"
    DELAYED = "delayed"
    SUSPENDED = "suspended"
    FINAL = "final"
    POSTPONED = "postponed"
    CANCELLED = "cancelled"
    UNAVAILABLE = "unavailable"
    DONE = "done"


TERMINAL = frozenset({Phase.POSTPONED, Phase.CANCELLED, Phase.UNAVAILABLE, Phase.DONE})


@dataclass(frozen=True, slots=True)
class Cadence:
    """Polling intervals in seconds (of the runner's clock, which replay may speed up)."""

    far_s: float = 900.0
    near_s: float = 60.0
    near_window_s: float = 1800.0
    live_min_s: float = 2.0
    delayed_s: float = 120.0
    suspended_s: float = 900.0
    final_grace_s: float = 600.0
    schedule_refresh_s: float = 900.0


@dataclass(frozen=True, slots=True)
class GameTrack:
    """What the scheduler knows of one scheduled game (one date: a rescheduled game is a
    new track)."""

    game_pk: int
    listed_date: date  # the schedule date the game is listed under
    game_date: datetime  # scheduled first pitch (UTC)
    phase: Phase
    next_poll_at: datetime
    final_seen_at: datetime | None = None
    wait_s: float | None = None  # the feed's metaData.wait
    reschedule_date: date | None = None

    @property
    def active(self) -> bool:
        return self.phase not in TERMINAL


def phase_of(status: JSON) -> Phase:
    """The phase a ``status`` object (feed or schedule) puts a game in."""
    detailed = str(status.get("detailedState") or "")
    coded = str(status.get("codedGameState") or "")
    abstract = str(status.get("abstractGameState") or "")
    if detailed.startswith("Postponed") or coded == "D":
        return Phase.POSTPONED
    if detailed.startswith("Cancelled") or coded == "C":
        return Phase.CANCELLED
    if detailed.startswith("Suspended") or coded in ("T", "U"):
        return Phase.SUSPENDED
    if detailed.startswith("Delayed"):
        return Phase.DELAYED
    if abstract == "Final":
        return Phase.FINAL
    if abstract == "Live":
        return Phase.LIVE
    return Phase.PREVIEW


def interval(track: GameTrack, now: datetime, cadence: Cadence) -> timedelta:
    """How long until the next poll of a game in ``track.phase`` (0 for a terminal one)."""
    phase = track.phase
    if phase is Phase.PREVIEW:
        until_window = (track.game_date - now).total_seconds() - cadence.near_window_s
        if until_window > 0:
            return timedelta(seconds=max(cadence.near_s, min(cadence.far_s, until_window)))
        return timedelta(seconds=cadence.near_s)
    if phase is Phase.LIVE:
        return timedelta(seconds=max(cadence.live_min_s, track.wait_s or cadence.live_min_s))
    if phase is Phase.DELAYED:
        return timedelta(seconds=cadence.delayed_s)
    if phase is Phase.SUSPENDED:
        return timedelta(seconds=cadence.suspended_s)
    if phase is Phase.FINAL:
        return timedelta(seconds=cadence.final_grace_s)
    return timedelta(0)


def new_track(game: JSON, listed: date, now: datetime, cadence: Cadence) -> GameTrack:
    """A track for one game listed under date ``listed`` of a schedule: first poll now (its
    status in the schedule may be stale; the feed decides), unless postponed or cancelled."""
    phase = phase_of(game.get("status", {}))
    game_date = datetime.fromisoformat(str(game["gameDate"]).replace("Z", "+00:00"))
    reschedule = game.get("rescheduleGameDate") or game.get("rescheduledTo")
    start = GameTrack(
        game_pk=int(game["gamePk"]),
        listed_date=listed,
        game_date=game_date,
        phase=phase if phase in (Phase.POSTPONED, Phase.CANCELLED) else Phase.PREVIEW,
        next_poll_at=now,
        reschedule_date=date.fromisoformat(str(reschedule)[:10]) if reschedule else None,
    )
    return start


def on_status(
    track: GameTrack, status: JSON, now: datetime, cadence: Cadence, wait_s: float | None = None
) -> GameTrack:
    """The track after a poll that showed ``status`` (feed ``gameData.status``)."""
    phase = phase_of(status)
    if phase is Phase.FINAL:
        if track.final_seen_at is not None:
            if now >= track.final_seen_at + timedelta(seconds=cadence.final_grace_s):
                return replace(track, phase=Phase.DONE, next_poll_at=now)
            return replace(track, next_poll_at=track.final_seen_at + _s(cadence.final_grace_s))
        return replace(
            track,
            phase=Phase.FINAL,
            final_seen_at=now,
            next_poll_at=now + _s(cadence.final_grace_s),
        )
    moved = replace(track, phase=phase, wait_s=wait_s if wait_s is not None else track.wait_s)
    return replace(moved, next_poll_at=now + interval(moved, now, cadence))


def on_missing(track: GameTrack, now: datetime) -> GameTrack:
    """The API has no feed for this game (404): stop polling it."""
    return replace(track, phase=Phase.UNAVAILABLE, next_poll_at=now)


def on_schedule(
    tracks: dict[tuple[int, date], GameTrack],
    games: list[tuple[date, JSON]],
    now: datetime,
    cadence: Cadence,
) -> tuple[dict[tuple[int, date], GameTrack], set[date]]:
    """Merge a schedule's games (with the date each is listed under) into the tracks, keyed
    by (gamePk, listed date): a postponed game listed again on its new date is a new
    track. Returns the new tracks and the dates to
    follow (where postponed games were rescheduled). A known game keeps its track, except
    that the schedule can postpone or cancel a game that has not started, and that a
    changed start time moves its first-pitch reference."""
    out = dict(tracks)
    follow: set[date] = set()
    for listed, game in games:
        fresh = new_track(game, listed, now, cadence)
        key = (fresh.game_pk, fresh.listed_date)
        old = out.get(key)
        if old is None:
            out[key] = fresh
        elif fresh.phase in (Phase.POSTPONED, Phase.CANCELLED) and old.phase is Phase.PREVIEW:
            out[key] = replace(old, phase=fresh.phase, reschedule_date=fresh.reschedule_date)
        elif old.game_date != fresh.game_date and old.phase is Phase.PREVIEW:
            out[key] = replace(old, game_date=fresh.game_date)
        current = out[key]
        if current.phase is Phase.POSTPONED and current.reschedule_date is not None:
            follow.add(current.reschedule_date)
    return out, follow


def all_done(tracks: dict[tuple[int, date], GameTrack]) -> bool:
    return all(not t.active for t in tracks.values())


def next_due(tracks: dict[tuple[int, date], GameTrack]) -> datetime | None:
    dues = [t.next_poll_at for t in tracks.values() if t.active]
    return min(dues) if dues else None


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)
