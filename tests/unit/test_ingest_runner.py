"""The poller's runner on a fake API, a fake clock (``sleep`` advances it) and a fake
publisher: it survives failures, publishes nothing twice, follows corrections after Final and
forgets finished games. Feeds are the repository's real final feed (game 744914); where a
test needs more games, the same real feed is served under other gamePks (ids only)."""

from __future__ import annotations

import asyncio
import copy
import itertools
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.envelope_serde import decode_envelope
from connectors.kafka_io import KafkaDeliveryError, OutRecord
from flows.game.envelope import feed_timestamp_of, make_envelope
from ingest.log_state import LogState
from ingest.mlb_api import FeedResponse, MlbApiUnavailableError, ScheduleResponse
from ingest.options import IngestOptions
from ingest.policy import MLB_TZ, Cadence, Corrections, GameTrack, Phase
from ingest.runner import Ingester
from sim.corpus import scoring_change
from tests.conftest import load_fixture_feed

pytestmark = pytest.mark.unit

JSON = dict[str, Any]
FeedAt = Callable[[int, datetime], JSON]


class FakeClock:
    """Simulated time: a sleep of ``s`` (real) seconds moves it ``s * speed`` seconds."""

    speed = 600.0

    def __init__(self, start: datetime) -> None:
        self.t = start

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds * self.speed)
        await asyncio.sleep(0)


class FakeApi:
    """Schedules per date (bytes, or an exception to raise); feeds from ``feed_at``."""

    def __init__(
        self, clock: FakeClock, schedules: Callable[[date], bytes | Exception], feed_at: FeedAt
    ) -> None:
        self.clock = clock
        self.schedules = schedules
        self.feed_at = feed_at
        self.schedule_calls: list[tuple[datetime, date]] = []
        self.feed_calls: list[int] = []
        self.fail_next: dict[int, Exception] = {}

    async def schedule(self, day: date) -> ScheduleResponse:
        self.schedule_calls.append((self.clock.now(), day))
        body = self.schedules(day)
        if isinstance(body, Exception):
            raise body
        return ScheduleResponse(day, body, orjson.loads(body), False)

    async def feed_live(self, pk: int, timecode: str | None = None) -> FeedResponse:
        self.feed_calls.append(pk)
        if pk in self.fail_next:
            raise self.fail_next.pop(pk)
        feed = self.feed_at(pk, self.clock.now())
        body = orjson.dumps(feed)
        envelope = make_envelope(
            game_pk=pk,
            body=body,
            source_url=f"http://mlb.test/{pk}",
            status_code=200,
            captured_at=datetime.now(UTC),
            feed=feed,
        )
        return FeedResponse(envelope, feed)

    def feed_wait_done(self, pk: int) -> None:
        pass


class FakePublisher:
    def __init__(self, failures: int = 0) -> None:
        self.records: list[OutRecord] = []
        self.failures = failures
        self.calls = 0

    async def publish(self, records: list[OutRecord]) -> None:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise KafkaDeliveryError("1 of 1 records refused: broker transport failure")
        self.records.extend(records)


FIXTURE = load_fixture_feed()


def as_game(pk: int, feed: JSON = FIXTURE) -> JSON:
    """The real final feed under another gamePk (ids only)."""
    out = copy.deepcopy(feed)
    out["gamePk"] = pk
    out["gameData"]["game"]["pk"] = pk
    return out


def schedule_of(day: date, pks: list[int], first_pitch: datetime) -> bytes:
    """A schedule of ``day`` listing ``pks``, each entry made from the real feed's gameData."""
    data = FIXTURE["gameData"]
    games = [
        {
            "gamePk": pk,
            "gameDate": first_pitch.isoformat().replace("+00:00", "Z"),
            "officialDate": day.isoformat(),
            "status": data["status"],
            "teams": {side: {"team": data["teams"][side]["id"]} for side in ("away", "home")},
        }
        for pk in pks
    ]
    return orjson.dumps({"dates": [{"date": day.isoformat(), "games": games}]})


def ingester(
    api: FakeApi, clock: FakeClock, publisher: FakePublisher | None = None, **options: Any
) -> Ingester:
    log_state = options.pop("log_state", None)
    opts = IngestOptions("snap", "sched", use_diff_patch=False, **options)
    return Ingester(
        api,  # type: ignore[arg-type]
        publisher or FakePublisher(),
        opts,
        clock,
        clock.sleep,
        rand=random.Random(7),
        log_state=log_state,
    )


NO_CORRECTIONS = Cadence(corrections=Corrections((), None))
T0 = datetime(2024, 7, 1, 16, 0, tzinfo=UTC)


@pytest.mark.corpus
def test_unfetchable_followed_date_is_tried_once_per_refresh_and_backed_off(
    data_dir: Path,
) -> None:
    """2024-06-05 (recorded) postpones 746628 to 2024-08-26, whose schedule is down; the
    games of another followed date (2024-06-06) are polled meanwhile."""
    rained = (
        data_dir / "mlb/other/schedule/mlb-gameday-bot__schedule_inclement_weather__f1616e.json"
    ).read_bytes()
    day, other, moved = date(2024, 6, 5), date(2024, 6, 6), date(2024, 8, 26)
    start = datetime(2024, 6, 5, 20, 0, tzinfo=UTC)
    clock = FakeClock(start)
    down = MlbApiUnavailableError("gave up", "http://mlb.test/schedule", "HTTP 503")
    answers = {day: rained, other: schedule_of(other, [1, 2], start)}
    api = FakeApi(clock, lambda d: answers.get(d, down), lambda pk, _: as_game(pk))
    run = ingester(
        api, clock, days=(day, other), cadence=NO_CORRECTIONS, stop_at=start + timedelta(hours=2)
    )
    stats = asyncio.run(run.run())
    assert set(api.feed_calls) == {1, 2}  # the other date's games were polled
    assert {t.phase for k, t in stats.tracks.items() if k[1] == other} == {Phase.DONE}
    assert stats.schedule_failures >= 2  # retried
    at_once = [(at, d) for at, d in api.schedule_calls]
    assert len(at_once) == len(set(at_once))  # each date at most once per refresh
    retries = [at for at, d in api.schedule_calls if d == moved]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(retries)]
    assert all(g > 0 for g in gaps)  # backed off, never in a hot loop
    assert max(gaps) > 4 * min(gaps)  # growing: exponential, up to the refresh period
    assert len(retries) < 40  # over 2 h (a hot loop would make thousands)


def test_one_games_error_never_stops_another() -> None:
    clock = FakeClock(T0)
    day = T0.date()
    api = FakeApi(clock, lambda d: schedule_of(d, [1, 2], T0), lambda pk, _: as_game(pk))
    api.fail_next[1] = RuntimeError("a body the client did not expect")
    publisher = FakePublisher()
    stats = asyncio.run(
        ingester(api, clock, publisher, days=(day,), cadence=NO_CORRECTIONS, until_final=True).run()
    )
    assert stats.poll_errors == 1
    assert {t.phase for t in stats.tracks.values()} == {Phase.DONE}
    assert sorted(r.key for r in publisher.records if r.topic == "snap") == [b"1", b"2"]


def test_publish_is_retried_until_the_broker_is_back_nothing_lost() -> None:
    clock = FakeClock(T0)
    api = FakeApi(clock, lambda d: schedule_of(d, [1], T0), lambda pk, _: as_game(pk))
    publisher = FakePublisher(failures=5)
    stats = asyncio.run(
        ingester(
            api, clock, publisher, days=(T0.date(),), cadence=NO_CORRECTIONS, until_final=True
        ).run()
    )
    assert stats.publish_retries == 5
    assert [r.topic for r in publisher.records] == ["sched", "snap"]  # each once


def test_a_restarted_poller_publishes_nothing_the_log_holds() -> None:
    clock = FakeClock(T0)
    api = FakeApi(clock, lambda d: schedule_of(d, [1, 2], T0), lambda pk, _: as_game(pk))
    first = FakePublisher()
    asyncio.run(
        ingester(
            api, clock, first, days=(T0.date(),), cadence=NO_CORRECTIONS, until_final=True
        ).run()
    )
    assert len(first.records) == 3
    held = LogState()
    for record in first.records:
        if record.topic == "sched":
            held.add_schedule(record.key, record.value)
        else:
            held.add_snapshot(decode_envelope(record.value))
    again = FakePublisher()
    restarted = ingester(
        api,
        FakeClock(T0),
        again,
        days=(T0.date(),),
        cadence=NO_CORRECTIONS,
        until_final=True,
        log_state=held,
    )
    stats = asyncio.run(restarted.run())
    assert again.records == [] and stats.published == 0 and stats.unchanged >= 2


def test_a_poll_result_keeps_the_schedule_change_made_while_in_flight() -> None:
    clock = FakeClock(T0)
    api = FakeApi(clock, lambda d: schedule_of(d, [1], T0), lambda pk, _: as_game(pk))
    run = ingester(api, clock, days=(T0.date(),))
    key = (1, T0.date())
    before = GameTrack(1, T0.date(), T0, Phase.PREVIEW, T0)
    moved = GameTrack(1, T0.date(), T0 + timedelta(hours=2), Phase.PREVIEW, T0)
    run._tracks[key] = moved  # the schedule moved first pitch while the poll was out

    async def collect() -> None:
        task = asyncio.create_task(asyncio.sleep(0, result=before))
        await task
        run._collect({key: (before, task)})

    asyncio.run(collect())
    assert run._tracks[key].game_date == T0 + timedelta(hours=2)


def test_a_scoring_change_after_final_is_published_once() -> None:
    """SYNTHETIC correction: the real final feed, its first single re-scored as an error,
    served from 5 h after the game's final timeStamp (the +6 h correction poll sees it)."""
    clock = FakeClock(T0)
    corrected, _ = scoring_change(as_game(1), timedelta(hours=5))
    change_at = T0 + timedelta(hours=5)
    api = FakeApi(
        clock,
        lambda d: schedule_of(d, [1], T0),
        lambda pk, now: corrected if now >= change_at else as_game(1),
    )
    publisher = FakePublisher()
    stats = asyncio.run(ingester(api, clock, publisher, days=(T0.date(),), until_final=True).run())
    snaps = [r for r in publisher.records if r.topic == "snap"]
    assert len(snaps) == 2  # the final feed, then the correction; nothing unchanged again
    stamps = [decode_envelope(r.value).feed_timestamp for r in snaps]
    assert stamps == [feed_timestamp_of(FIXTURE), feed_timestamp_of(corrected)]
    assert stats.unchanged >= 3  # grace, +1 h, next morning polls saw nothing new
    assert clock.now() >= datetime(2024, 7, 2, 14, 0, tzinfo=UTC)  # polled next morning


def test_finished_games_leave_nothing_behind() -> None:
    """Rolling days: each day (New York) lists 3 new games, Final at first sight. After 4
    days, the runner holds nothing of the earlier days' games."""
    start = datetime(2024, 7, 1, 12, 0, tzinfo=MLB_TZ).astimezone(UTC)

    def pks(day: date) -> list[int]:
        n = (day - start.date()).days
        return [1000 + 3 * n + i for i in range(3)]

    def first_pitch(day: date) -> datetime:
        return datetime.combine(day, datetime.min.time(), MLB_TZ) + timedelta(hours=13)

    clock = FakeClock(start)
    api = FakeApi(
        clock, lambda d: schedule_of(d, pks(d), first_pitch(d)), lambda pk, _: as_game(pk)
    )
    run = ingester(api, clock, stop_at=start + timedelta(days=4))
    stats = asyncio.run(run.run())
    last_day = clock.now().astimezone(MLB_TZ).date()
    current = set(pks(last_day))
    assert stats.published >= 3 * 4
    assert set(run._games) <= current
    assert set(run._seen.seen) <= current
    assert {k[0] for k in run._tracks} <= current
    assert set(run._schedule_digests) <= {last_day}


class YieldingApi(FakeApi):
    """Answers after giving way to other tasks, as a real request does."""

    async def feed_live(self, pk: int, timecode: str | None = None) -> FeedResponse:
        await asyncio.sleep(0)
        return await super().feed_live(pk, timecode)


class YieldingPublisher(FakePublisher):
    async def publish(self, records: list[OutRecord]) -> None:
        await asyncio.sleep(0)
        await super().publish(records)


def test_a_game_listed_on_two_dates_is_never_polled_twice_at_once() -> None:
    """A game suspended on one date and resumed on the next is listed on both (two tracks,
    as the soak's game 9000205): its polls must not overlap, or both publish a snapshot."""
    clock = FakeClock(T0)
    day, resumed = T0.date(), T0.date() + timedelta(days=1)
    api = YieldingApi(clock, lambda d: schedule_of(d, [5], T0), lambda pk, _: as_game(pk))
    publisher = YieldingPublisher()
    run = ingester(
        api, clock, publisher, days=(day, resumed), cadence=NO_CORRECTIONS, until_final=True
    )
    asyncio.run(run.run())
    snapshots = [r for r in publisher.records if r.topic == "snap"]
    assert len(snapshots) == 1
