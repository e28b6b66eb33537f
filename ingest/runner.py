"""The poller: a thin async runner around ``ingest.policy`` (what to poll when).

It reads the schedule of each followed date at start and every ``schedule_refresh_s``,
polls each game when its track says so (at most ``max_parallel`` at a time), and publishes
every *new* snapshot (``SeenSnapshots``: same timeStamp and same content is not published
again) to the snapshots topic, key = gamePk, in capture order per game, and each changed
schedule to the schedules topic, key = date. Delivery: ``produce_all`` waits for every
acknowledgement (idempotent producer) and a failed publish is retried with backoff until the
broker is back (``RetryingPublisher``), so a record is published once per run; a restarted
run is seeded with what the log already holds (``ingest.log_state``) and publishes nothing
twice either.

Survival: a date whose schedule cannot be fetched is tried once per refresh and retried with
backoff (``backoff_delay``); any error of one game's poll is logged, counted
(``poll_errors``) and the game polled later, never ending the run. A poll result is merged
with the schedule changes made while it was in flight (``merge_polled``). After Final a game
is polled on the correction schedule (``Cadence.corrections``); once done, its feed, its
``SeenSnapshots`` entries and (when its date is no longer followed) its track are dropped,
as are the schedule digests of dates no longer followed: memory does not grow with the
number of games seen.

A poll of a game the runner has seen before asks ``feed/live/timestamps`` and fetches the
newest timecode (or every new one, ``every_timecode``) through ``diffPatch`` applied to the
last snapshot, falling back to ``feed/live?timecode=`` when the patch does not check out.

Time: policies run on a ``ScaledClock`` (``time_scale`` simulated seconds per second), so a
replay at speed X polls X times more often; rate limits stay in real seconds.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from connectors.envelope_serde import encode_envelope
from connectors.kafka_io import OutRecord
from flows.game.envelope import SnapshotEnvelope, feed_timestamp_of, make_envelope
from flows.game.feed_views import poller_view
from ingest.diff_patch import (
    PatchRejectedError,
    SeenSnapshots,
    apply_diff_patch,
    canonical_body,
    content_digest,
)
from ingest.limits import backoff_delay
from ingest.log_state import LogState
from ingest.mlb_api import (
    CircuitOpenError,
    MlbApiClient,
    MlbApiError,
    MlbApiStatusError,
    MlbApiUnavailableError,
)
from ingest.observe import poll_span, polled, publish_span, published
from ingest.options import Clock, IngestOptions, IngestStats, ScaledClock, TrackKey
from ingest.policy import (
    MLB_TZ,
    GameTrack,
    all_done,
    merge_polled,
    next_due,
    on_missing,
    on_schedule,
    on_status,
)
from ingest.publisher import Publisher, RetryingPublisher
from mlbsts.telemetry.progress import POLLER

log = logging.getLogger(__name__)


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
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        *,
        log_state: LogState | None = None,
        rand: random.Random | None = None,
    ) -> None:
        self.api = api
        self.options = options
        self.clock: Clock = clock or ScaledClock()
        self._sleep = sleep
        self._rand = rand or random.Random()
        self.publisher = RetryingPublisher(
            publisher, cap_s=options.publish_backoff_cap_s, sleep=sleep, rand=self._rand
        )
        self.stats = IngestStats()
        self._tracks: dict[TrackKey, GameTrack] = {}
        self._games: dict[int, _GameState] = {}
        self._seen = SeenSnapshots()
        self._schedule_digests: dict[date, str] = {}
        self._schedule_retry: dict[date, tuple[int, datetime]] = {}  # failures, next try
        self._followed: set[date] = set()
        self._seeds: dict[int, tuple[str | None, str]] = {}
        if log_state is not None:
            self._seeds = dict(log_state.newest())
            self._schedule_digests.update(log_state.schedules)
        self._sem = asyncio.Semaphore(options.max_parallel)

    def _days(self) -> set[date]:
        """The dates whose schedules are followed: the options' (else today in New York,
        rolling) and those postponed games were moved to."""
        days = set(self.options.days) or {self.clock.now().astimezone(MLB_TZ).date()}
        return days | self._followed

    async def run(self) -> IngestStats:
        cadence = self.options.cadence
        started = time.monotonic()
        next_schedule = self.clock.now()
        inflight: dict[TrackKey, tuple[GameTrack, asyncio.Task[GameTrack]]] = {}
        try:
            while True:
                POLLER.beat()  # the loop turns (liveness, ``mlbsts.telemetry.progress``)
                now = self.clock.now()
                if now >= next_schedule:
                    await self._refresh_schedules(now, self._days())
                    next_schedule = now + timedelta(seconds=cadence.schedule_refresh_s)
                elif due := {d for d, (_, at) in self._schedule_retry.items() if at <= now}:
                    await self._refresh_schedules(now, due & self._days())
                self._start_polls(inflight, now)
                self._collect(inflight)
                if self._should_stop(started, inflight):
                    break
                await self._pause(inflight, next_schedule)
        finally:
            for _, task in inflight.values():
                task.cancel()
        self.stats.tracks = dict(self._tracks)
        self.stats.publish_retries = self.publisher.retries
        return self.stats

    def _start_polls(
        self, inflight: dict[TrackKey, tuple[GameTrack, asyncio.Task[GameTrack]]], now: datetime
    ) -> None:
        """Poll every due track, one poll per game at a time: a game listed on two dates
        (suspended, resumed the next day) has two tracks, and overlapping polls of it would
        both publish the same snapshot."""
        busy = {key[0] for key in inflight}
        for key, track in self._tracks.items():
            due = track.active and track.next_poll_at <= now
            if due and key not in inflight and key[0] not in busy:
                inflight[key] = (track, asyncio.create_task(self._poll_safely(track)))
                busy.add(key[0])

    def _should_stop(
        self, started: float, inflight: dict[TrackKey, tuple[GameTrack, asyncio.Task[GameTrack]]]
    ) -> bool:
        if self.options.until_final and not inflight and all_done(self._tracks):
            log.info("every followed game is over: stopping")
            return True
        stop_at = self.options.stop_at
        if stop_at is not None and self.clock.now() >= stop_at and not inflight:
            return True
        limit = self.options.max_runtime_s
        if limit is not None and time.monotonic() - started > limit:
            log.warning("stopping after %.0fs with games unfinished", limit)
            return True
        return False

    def _collect(self, inflight: dict[TrackKey, tuple[GameTrack, asyncio.Task[GameTrack]]]) -> None:
        """Take in finished polls: each result merged with what the schedule changed while
        it was in flight; a game that is done leaves memory."""
        for key, (before, task) in list(inflight.items()):
            if not task.done():
                continue
            del inflight[key]
            current = self._tracks.get(key)
            if current is None:  # forgotten meanwhile (its date is no longer followed)
                continue
            self._tracks[key] = merge_polled(before, current, task.result())
            if not self._tracks[key].active:
                self._finished(key)
        self._prune()

    def _finished(self, key: TrackKey) -> None:
        """A game that will not be polled again under ``key``: drop its feed and digests
        (unless another track of the same game, a rescheduled date, is still polled)."""
        pk = key[0]
        if any(t.active for k, t in self._tracks.items() if k[0] == pk):
            return
        self._games.pop(pk, None)
        self._seen.forget(pk)
        self.api.feed_wait_done(pk)

    def _prune(self) -> None:
        """Forget what belongs to dates no longer followed: their schedule digests and retry
        state, their finished tracks, and rescheduled dates that are past and finished."""
        today = self.clock.now().astimezone(MLB_TZ).date()
        for day in list(self._followed):
            tracks = [t for k, t in self._tracks.items() if k[1] == day]
            if day < today and day in self._schedule_digests and not any(t.active for t in tracks):
                self._followed.discard(day)
        days = self._days()
        for day in [d for d in self._schedule_digests if d not in days]:
            del self._schedule_digests[day]
        for day in [d for d in self._schedule_retry if d not in days]:
            del self._schedule_retry[day]
        for key in [k for k, t in self._tracks.items() if k[1] not in days and not t.active]:
            del self._tracks[key]

    async def _pause(
        self,
        inflight: dict[TrackKey, tuple[GameTrack, asyncio.Task[GameTrack]]],
        next_schedule: datetime,
    ) -> None:
        retries = [at for _, at in self._schedule_retry.values()]
        wakes = [next_due(self._tracks), next_schedule, *retries, self.options.stop_at]
        wake = min(d for d in wakes if d is not None)
        real = (wake - self.clock.now()).total_seconds() / self.clock.speed
        real = min(max(real, 0.002), 1.0)
        if inflight:
            tasks = [task for _, task in inflight.values()]
            await asyncio.wait(tasks, timeout=real, return_when=asyncio.FIRST_COMPLETED)
        else:
            await self._sleep(real)

    async def _refresh_schedules(self, now: datetime, days: set[date]) -> None:
        """Fetch each of ``days`` (skipping those backing off) and the dates they make the
        runner follow, each date at most once per refresh."""
        tried: set[date] = set()
        todo = sorted(days)
        while todo:
            day = todo.pop(0)
            tried.add(day)
            retry = self._schedule_retry.get(day)
            if retry is not None and retry[1] > now:
                continue
            new_days = await self._refresh_schedule(day, now)
            if new_days:
                log.info("following rescheduled games to %s", sorted(new_days))
                self._followed |= new_days
            todo = sorted(set(todo) | (new_days - tried))

    async def _refresh_schedule(self, day: date, now: datetime) -> set[date]:
        """One date's schedule: published if changed, merged into the tracks; returns the
        dates its postponed games moved to. A failure backs the date off."""
        try:
            schedule = await self.api.schedule(day)
        except MlbApiError as e:
            failures = self._schedule_retry.get(day, (0, now))[0] + 1
            delay = backoff_delay(
                failures,
                base_s=self.options.cadence.schedule_retry_base_s,
                cap_s=self.options.cadence.schedule_refresh_s,
                rand=self._rand,
            )
            self._schedule_retry[day] = (failures, now + timedelta(seconds=delay))
            self.stats.api_failures += 1
            self.stats.schedule_failures += 1
            log.warning("schedule of %s unavailable (%d in a row): %s", day, failures, e)
            return set()
        self._schedule_retry.pop(day, None)
        digest = content_digest(schedule.body)
        if self._schedule_digests.get(day) != digest:
            key = day.isoformat().encode()
            await self.publisher.publish(
                [OutRecord(self.options.schedules_topic, key, schedule.body)]
            )
            self._schedule_digests[day] = digest
            self.stats.schedules_published += 1
        self._tracks, follow = on_schedule(
            self._tracks, schedule.games(), now, self.options.cadence
        )
        self._take_seeds()
        return follow - self._days()

    def _take_seeds(self) -> None:
        """Move what the log holds of each tracked game into ``SeenSnapshots``; once every
        followed date's schedule was read, the seeds of games not followed are dropped."""
        for pk in {k[0] for k in self._tracks} & set(self._seeds):
            stamp, digest = self._seeds.pop(pk)
            self._seen.add(pk, stamp, digest)
        if self._seeds and self._days() <= set(self._schedule_digests):
            self._seeds.clear()

    async def _poll_safely(self, track: GameTrack) -> GameTrack:
        """``_poll`` in a span, counted by outcome (``ingest.observe``); any error is one
        game's: logged, counted, the game polled again later; it never ends the run."""
        with poll_span(pk := track.game_pk):
            try:
                new, outcome = await self._poll(track)
            except Exception:
                self.stats.poll_errors += 1
                log.exception("game %d: poll failed unexpectedly; polled again later", pk)
                new, outcome = self._later(track, self.options.cadence.near_s), "error"
        polled(track, outcome)
        return new

    async def _poll(self, track: GameTrack) -> tuple[GameTrack, str]:
        cadence = self.options.cadence
        pk = track.game_pk
        async with self._sem:
            self.stats.polls += 1
            try:
                published = await self._fetch(pk)
            except MlbApiStatusError as e:
                if e.status_code == 404:
                    log.warning("game %d: no feed (404), not polled again", pk)
                    return on_missing(track, self.clock.now()), "not_found"
                self.stats.api_failures += 1
                log.warning("game %d: %s", pk, e)
                return self._later(track, cadence.near_s), "http_error"
            except CircuitOpenError as e:
                self.stats.api_failures += 1
                return self._later(track, max(e.retry_in, 0.05) * self.clock.speed), "breaker_open"
            except (MlbApiUnavailableError, MlbApiError) as e:
                self.stats.api_failures += 1
                log.warning("game %d: poll failed: %s", pk, e)
                return self._later(track, cadence.live_min_s), "unavailable"
        state = self._games[pk]
        read = poller_view(state.feed)  # never raises; a non-numeric wait is None
        wait = read.metaData.wait_seconds or None
        new = on_status(track, read.status_fields, self.clock.now(), cadence, wait)
        if not new.active:
            self.api.feed_wait_done(pk)
        return new, "published" if published else "unchanged"

    def _later(self, track: GameTrack, seconds: float) -> GameTrack:
        return replace(track, next_poll_at=self.clock.now() + timedelta(seconds=seconds))

    async def _fetch(self, pk: int) -> int:  # how many snapshots it published
        state = self._games.get(pk)
        if state is None or state.timecode is None or not self.options.use_diff_patch:
            response = await self.api.feed_live(pk)
            return await self._publish(pk, response.feed, response.envelope)
        codes = await self.api.timestamps(pk)
        newer = [c for c in codes if c > state.timecode]
        published = 0
        for code in newer if self.options.every_timecode else newer[-1:]:
            published += await self._advance(pk, code)
        return published

    async def _advance(self, pk: int, code: str) -> int:
        state = self._games[pk]
        start = state.timecode or ""
        answer, captured_at, url, status = await self.api.diff_patch(pk, start, code)
        try:
            feed = apply_diff_patch(state.feed, answer, game_pk=pk, end_timecode=code)
        except PatchRejectedError as e:
            self.stats.patch_fallbacks += 1
            log.warning("game %d: diffPatch %s..%s rejected (%s): full feed", pk, start, code, e)
            response = await self.api.feed_live(pk, timecode=code)
            return await self._publish(pk, response.feed, response.envelope)
        self.stats.patches_applied += 1
        envelope = make_envelope(
            game_pk=pk,
            body=orjson.dumps(feed),
            source_url=url,
            status_code=status,
            captured_at=captured_at,
            feed=feed,
        )
        return await self._publish(pk, feed, envelope)

    async def _publish(self, pk: int, feed: dict[str, Any], envelope: SnapshotEnvelope) -> int:
        """1 if published (the record carries its span's context), else 0 (old or seen)."""
        stamp = feed_timestamp_of(feed)
        old = self._games.get(pk)
        if (
            old is not None
            and old.timecode is not None
            and stamp is not None
            and stamp < old.timecode
        ):
            log.warning("game %d: older snapshot %s after %s: ignored", pk, stamp, old.timecode)
            return 0
        digest = content_digest(canonical_body(feed))
        self._games[pk] = _GameState(feed, stamp)
        if not self._seen.is_new(pk, stamp, digest):
            self.stats.unchanged += 1
            return 0
        with publish_span(pk, stamp) as headers:
            value = encode_envelope(envelope)
            record = OutRecord(self.options.snapshots_topic, str(pk).encode(), value, headers)
            await self.publisher.publish([record])
        published(stamp)
        self._seen.add(pk, stamp, digest)
        self.stats.published += 1
        return 1
