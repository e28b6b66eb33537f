"""The poller: a thin async runner around ``ingest.policy`` (what to poll when).

It reads the schedule of each followed date at start and every ``schedule_refresh_s``,
polls each game when its track says so (at most ``max_parallel`` at a time), and publishes
every *new* snapshot (``SeenSnapshots``: same timeStamp and same content is not published
again) to the snapshots topic, key = gamePk, in capture order per game, and each changed
schedule to the schedules topic, key = date. Delivery: ``produce_all`` waits for every
acknowledgement (idempotent producer), so a record is published once per run; a restarted
run publishes a game's current snapshot again (consumers dedupe by timeStamp).

A poll of a game the runner has seen before asks ``feed/live/timestamps`` and fetches the
newest timecode (or every new one, ``every_timecode``) through ``diffPatch`` applied to the
last snapshot, falling back to ``feed/live?timecode=`` when the patch does not check out.

Time: policies run on a ``ScaledClock`` (``time_scale`` simulated seconds per second), so a
replay at speed X polls X times more often; rate limits stay in real seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import orjson

from connectors.envelope_serde import encode_envelope
from connectors.kafka_io import OutRecord
from flows.game.envelope import SnapshotEnvelope, feed_timestamp_of, make_envelope
from ingest.diff_patch import (
    PatchRejectedError,
    SeenSnapshots,
    apply_diff_patch,
    canonical_body,
    content_digest,
)
from ingest.mlb_api import (
    CircuitOpenError,
    MlbApiClient,
    MlbApiError,
    MlbApiStatusError,
    MlbApiUnavailableError,
)
from ingest.policy import (
    Cadence,
    GameTrack,
    all_done,
    next_due,
    on_missing,
    on_schedule,
    on_status,
)

log = logging.getLogger(__name__)

TrackKey = tuple[int, date]
MLB_TZ = ZoneInfo("America/New_York")


class Publisher(Protocol):
    async def publish(self, records: list[OutRecord]) -> None: ...


class ScaledClock:
    """UTC now, advancing ``speed`` times faster than the wall clock from construction."""

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = speed
        self._t0 = datetime.now(UTC)
        self._m0 = time.monotonic()

    def now(self) -> datetime:
        return self._t0 + timedelta(seconds=(time.monotonic() - self._m0) * self.speed)


@dataclass(frozen=True, slots=True)
class IngestOptions:
    snapshots_topic: str
    schedules_topic: str
    days: tuple[date, ...] = ()  # empty: today (America/New_York), rolling
    until_final: bool = False
    cadence: Cadence = field(default_factory=Cadence)
    max_parallel: int = 8
    use_diff_patch: bool = True
    every_timecode: bool = False
    max_runtime_s: float | None = None


@dataclass
class IngestStats:
    polls: int = 0
    published: int = 0
    unchanged: int = 0
    patches_applied: int = 0
    patch_fallbacks: int = 0
    api_failures: int = 0
    schedules_published: int = 0
    tracks: dict[TrackKey, GameTrack] = field(default_factory=dict)


@dataclass
class _GameState:
    feed: dict[str, Any]
    timecode: str | None


class Ingester:
    def __init__(
        self,
        api: MlbApiClient,
        publisher: Publisher,
        options: IngestOptions,
        clock: ScaledClock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.api = api
        self.publisher = publisher
        self.options = options
        self.clock = clock or ScaledClock()
        self._sleep = sleep
        self.stats = IngestStats()
        self._tracks: dict[TrackKey, GameTrack] = {}
        self._games: dict[int, _GameState] = {}
        self._seen = SeenSnapshots()
        self._schedule_digests: dict[date, str] = {}
        self._followed: set[date] = set()
        self._sem = asyncio.Semaphore(options.max_parallel)

    def _days(self) -> set[date]:
        days = set(self.options.days) or {datetime.now(MLB_TZ).date()}
        return days | self._followed

    async def run(self) -> IngestStats:
        cadence = self.options.cadence
        started = time.monotonic()
        next_schedule = self.clock.now()
        inflight: dict[TrackKey, asyncio.Task[GameTrack]] = {}
        try:
            while True:
                now = self.clock.now()
                if now >= next_schedule:
                    await self._refresh_schedules(now)
                    next_schedule = now + timedelta(seconds=cadence.schedule_refresh_s)
                for key, track in self._tracks.items():
                    if track.active and key not in inflight and track.next_poll_at <= now:
                        inflight[key] = asyncio.create_task(self._poll(track))
                for key, task in list(inflight.items()):
                    if task.done():
                        del inflight[key]
                        self._tracks[key] = task.result()
                if self.options.until_final and not inflight and all_done(self._tracks):
                    log.info("every followed game is over: stopping")
                    break
                limit = self.options.max_runtime_s
                if limit is not None and time.monotonic() - started > limit:
                    log.warning("stopping after %.0fs with games unfinished", limit)
                    break
                await self._pause(inflight, next_schedule)
        finally:
            for task in inflight.values():
                task.cancel()
        self.stats.tracks = dict(self._tracks)
        return self.stats

    async def _pause(
        self, inflight: dict[TrackKey, asyncio.Task[GameTrack]], next_schedule: datetime
    ) -> None:
        wake = min(d for d in (next_due(self._tracks), next_schedule) if d is not None)
        real = (wake - self.clock.now()).total_seconds() / self.clock.speed
        real = min(max(real, 0.002), 1.0)
        if inflight:
            await asyncio.wait(inflight.values(), timeout=real, return_when=asyncio.FIRST_COMPLETED)
        else:
            await self._sleep(real)

    async def _refresh_schedules(self, now: datetime) -> None:
        for day in sorted(self._days()):
            try:
                schedule = await self.api.schedule(day)
            except MlbApiError as e:
                self.stats.api_failures += 1
                log.warning("schedule of %s unavailable: %s", day, e)
                continue
            digest = content_digest(schedule.body)
            if self._schedule_digests.get(day) != digest:
                await self.publisher.publish(
                    [
                        OutRecord(
                            self.options.schedules_topic, day.isoformat().encode(), schedule.body
                        )
                    ]
                )
                self._schedule_digests[day] = digest
                self.stats.schedules_published += 1
            self._tracks, follow = on_schedule(
                self._tracks, schedule.games(), now, self.options.cadence
            )
            new_days = follow - self._days()
            if new_days:
                log.info("following rescheduled games to %s", sorted(new_days))
                self._followed |= new_days
        if self._followed - set(self._schedule_digests):
            await self._refresh_schedules(now)  # the dates just followed

    async def _poll(self, track: GameTrack) -> GameTrack:
        cadence = self.options.cadence
        pk = track.game_pk
        async with self._sem:
            self.stats.polls += 1
            try:
                await self._fetch(pk)
            except MlbApiStatusError as e:
                if e.status_code == 404:
                    log.warning("game %d: no feed (404), not polled again", pk)
                    return on_missing(track, self.clock.now())
                self.stats.api_failures += 1
                log.warning("game %d: %s", pk, e)
                return self._later(track, cadence.near_s)
            except CircuitOpenError as e:
                self.stats.api_failures += 1
                return self._later(track, max(e.retry_in, 0.05) * self.clock.speed)
            except (MlbApiUnavailableError, MlbApiError) as e:
                self.stats.api_failures += 1
                log.warning("game %d: poll failed: %s", pk, e)
                return self._later(track, cadence.live_min_s)
        state = self._games[pk]
        wait = state.feed.get("metaData", {}).get("wait")
        status = state.feed.get("gameData", {}).get("status", {})
        new = on_status(track, status, self.clock.now(), cadence, float(wait) if wait else None)
        if not new.active:
            self.api.feed_wait_done(pk)
        return new

    def _later(self, track: GameTrack, seconds: float) -> GameTrack:
        return replace(track, next_poll_at=self.clock.now() + timedelta(seconds=seconds))

    async def _fetch(self, pk: int) -> None:
        state = self._games.get(pk)
        if state is None or state.timecode is None or not self.options.use_diff_patch:
            response = await self.api.feed_live(pk)
            await self._publish(pk, response.feed, response.envelope)
            return
        codes = await self.api.timestamps(pk)
        newer = [c for c in codes if c > state.timecode]
        for code in newer if self.options.every_timecode else newer[-1:]:
            await self._advance(pk, code)

    async def _advance(self, pk: int, code: str) -> None:
        state = self._games[pk]
        start = state.timecode or ""
        answer, captured_at, url, status = await self.api.diff_patch(pk, start, code)
        try:
            feed = apply_diff_patch(state.feed, answer, game_pk=pk, end_timecode=code)
        except PatchRejectedError as e:
            self.stats.patch_fallbacks += 1
            log.warning("game %d: diffPatch %s..%s rejected (%s): full feed", pk, start, code, e)
            response = await self.api.feed_live(pk, timecode=code)
            await self._publish(pk, response.feed, response.envelope)
            return
        self.stats.patches_applied += 1
        envelope = make_envelope(
            game_pk=pk,
            body=orjson.dumps(feed),
            source_url=url,
            status_code=status,
            captured_at=captured_at,
            feed=feed,
        )
        await self._publish(pk, feed, envelope)

    async def _publish(self, pk: int, feed: dict[str, Any], envelope: SnapshotEnvelope) -> None:
        stamp = feed_timestamp_of(feed)
        old = self._games.get(pk)
        if (
            old is not None
            and old.timecode is not None
            and stamp is not None
            and stamp < old.timecode
        ):
            log.warning("game %d: older snapshot %s after %s: ignored", pk, stamp, old.timecode)
            return
        digest = content_digest(canonical_body(feed))
        self._games[pk] = _GameState(feed, stamp)
        if not self._seen.is_new(pk, stamp, digest):
            self.stats.unchanged += 1
            return
        record = OutRecord(
            self.options.snapshots_topic, str(pk).encode(), encode_envelope(envelope)
        )
        await self.publisher.publish([record])
        self._seen.add(pk, stamp, digest)
        self.stats.published += 1
