"""When to poll which game: the scheduler's per-game state machine (pure, clock passed in).

Phases and their cadence (``Cadence`` holds the numbers)::

    PREVIEW    far from first pitch (> near_window): every ``far_s``, never past the window
               near first pitch or after the scheduled start: every ``near_s``
    LIVE       the feed's own ``metaData.wait`` (never below ``live_min_s``)
    DELAYED    every ``delayed_s``        (detailedState "Delayed...", e.g. rain before/during)
    SUSPENDED  every ``suspended_s``
    FINAL      first Final seen: one more poll after ``final_grace_s``, then
    CORRECTING polls on the correction schedule (``Corrections``: default 1 h and 6 h after
               Final and the next morning at 10:00 America/New_York), for MLB's scoring
               changes; after the last one, DONE
    POSTPONED / CANCELLED   stop; a postponed game's ``rescheduleGameDate`` is followed
    UNAVAILABLE  the API has no feed for the game (404): stop
    DONE       stopped

A transition comes from a game's status (feed ``gameData.status`` or schedule ``status``),
read by :func:`flows.game.status.kind_of` (the one reading of a status, "Final" included):
``on_status`` returns the new ``GameTrack``; the runner polls when ``next_poll_at`` passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from flows.game import status as game_status

JSON = dict[str, Any]
MLB_TZ = ZoneInfo("America/New_York")


class Phase(StrEnum):
    PREVIEW = "preview"
    LIVE = "live"
    DELAYED = "delayed"
    SUSPENDED = "suspended"
    FINAL = "final"
    CORRECTING = "correcting"
    POSTPONED = "postponed"
    CANCELLED = "cancelled"
    UNAVAILABLE = "unavailable"
    DONE = "done"


TERMINAL = frozenset({Phase.POSTPONED, Phase.CANCELLED, Phase.UNAVAILABLE, Phase.DONE})
# postponed or cancelled: nothing left to poll (flows.game.status.CALLED_OFF)
CALLED_OFF = frozenset(Phase(kind.value) for kind in game_status.CALLED_OFF)


@dataclass(frozen=True, slots=True)
class Corrections:
    """When to poll a game again after Final: ``after_s`` seconds after Final was first
    seen, and the first ``next_morning`` (America/New_York) after it; ``None``: no morning."""

    after_s: tuple[float, ...] = (3600.0, 21600.0)
    next_morning: time | None = time(10, 0)

    def times(self, final_at: datetime) -> list[datetime]:
        """The correction polls of a game first seen Final at ``final_at``, in order."""
        out = {final_at + timedelta(seconds=s) for s in self.after_s}
        if self.next_morning is not None:
            local = final_at.astimezone(MLB_TZ)
            morning = datetime.combine(local.date(), self.next_morning, MLB_TZ)
            if morning <= local:
                morning = datetime.combine(
                    local.date() + timedelta(days=1), self.next_morning, MLB_TZ
                )
            out.add(morning.astimezone(final_at.tzinfo))
        return sorted(out)


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DELAY = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_MORNING = re.compile(r"next (\d{1,2}):(\d{2})")


def parse_corrections(text: str) -> Corrections:
    """``"1h,6h,next 10:00"``: delays after Final (``s``, ``m``, ``h``, ``d``) and at most one
    ``next HH:MM`` (New York time); ``""``: no correction polls. Raises ``ValueError``."""
    delays: list[float] = []
    morning: time | None = None
    for part in filter(None, (p.strip() for p in text.split(","))):
        if m := _DELAY.fullmatch(part):
            delays.append(float(m[1]) * _UNITS[m[2]])
        elif (m := _MORNING.fullmatch(part)) and morning is None:
            morning = time(int(m[1]), int(m[2]))  # raises ValueError past 23:59
        else:
            raise ValueError(f"correction schedule: cannot read {part!r}")
    return Corrections(tuple(delays), morning)


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
    schedule_retry_base_s: float = 30.0  # a date whose schedule failed: backoff base
    corrections: Corrections = field(default_factory=Corrections)


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
    """The phase a ``status`` object (feed or schedule) puts a game in: its
    :class:`~flows.game.status.StatusKind` (the phases share its values)."""
    return Phase(game_status.kind_of(status).value)


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
        phase=phase if phase in CALLED_OFF else Phase.PREVIEW,
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
        return _after_final(track, now, cadence)
    moved = replace(track, phase=phase, wait_s=wait_s if wait_s is not None else track.wait_s)
    return replace(moved, next_poll_at=now + interval(moved, now, cadence))


def _after_final(track: GameTrack, now: datetime, cadence: Cadence) -> GameTrack:
    """FINAL at first sight, one grace poll, then CORRECTING until the last correction poll."""
    if track.final_seen_at is None:
        first = now + _s(cadence.final_grace_s)
        return replace(track, phase=Phase.FINAL, final_seen_at=now, next_poll_at=first)
    final_at = track.final_seen_at
    grace = final_at + _s(cadence.final_grace_s)
    ahead = [t for t in [grace, *cadence.corrections.times(final_at)] if t > now]
    if not ahead:
        return replace(track, phase=Phase.DONE, next_poll_at=now)
    return replace(
        track, phase=Phase.FINAL if now < grace else Phase.CORRECTING, next_poll_at=min(ahead)
    )


def merge_polled(before: GameTrack, current: GameTrack, polled: GameTrack) -> GameTrack:
    """The track after a poll of ``before`` that returned ``polled``, when a schedule refresh
    made it ``current`` meanwhile: the schedule's fields (first pitch, reschedule date) are
    ``current``'s; a game the schedule called off stays so unless the feed saw it start."""
    if current == before:
        return polled
    merged = replace(polled, game_date=current.game_date, reschedule_date=current.reschedule_date)
    if current.phase in CALLED_OFF and polled.phase is Phase.PREVIEW:
        merged = replace(merged, phase=current.phase)
    return merged


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
        elif fresh.phase in CALLED_OFF and old.phase is Phase.PREVIEW:
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
