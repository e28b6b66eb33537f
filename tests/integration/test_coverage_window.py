"""``mlbsts coverage DATE`` reads only DATE's window of a topic holding many days.

Fresh topics hold eight consecutive days of records, each produced with an explicit record
timestamp: the real snapshots of game 748534 (``sim.simulate`` of its recorded final feed)
stamped with their own ``metaData.timeStamp`` (evening of 2023-11-01 in New York) plus one
next-morning correction poll, and on every other day the snapshots of another real game,
747175, stamped that day (SYNTHETIC dates: real feeds, shifted days). Each day has a
schedule record at 09:00 New York: the recorded schedule of 2023-11-01, its date shifted
(SYNTHETIC) for the other days. The expected window is written out here from the rule
(start of the date minus 24 h; last correction poll of a game Final at the end of the next
day, plus 1 h), never taken from the code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from confluent_kafka import KafkaError, Message, Producer

from connectors.envelope_serde import encode_envelope
from connectors.kafka_io import producer_config
from flows.game.envelope import make_envelope, parse_feed_timestamp
from ingest.coverage import coverage
from mlbsts.settings import Settings
from sim.corpus import Corpus
from sim.simulate import simulate
from tests.integration.conftest import snapshot_and_schedule_topics

pytestmark = [pytest.mark.integration, pytest.mark.corpus]
NY = ZoneInfo("America/New_York")
GAME, OTHER = 748534, 747175
DAY = date(2023, 11, 1)
DAYS = [DAY + timedelta(days=n) for n in range(-3, 5)]
EVERY = 40
# the window of 2023-11-01 with corrections "1h,6h,next 10:00" and a 600 s grace poll
SINCE = datetime(2023, 10, 31, 0, 0, tzinfo=NY)
UNTIL = datetime(2023, 11, 3, 11, 0, tzinfo=NY)
MLBSTS = str(Path(sys.executable).parent / "mlbsts")
Stamped = tuple[str, bytes, bytes, datetime]  # topic, key, value, record time


@pytest.fixture
def topics(stack_settings: Settings) -> Iterator[tuple[str, str]]:
    with snapshot_and_schedule_topics(stack_settings, "test-coverage") as names:
        yield names


def _snapshot(topic: str, pk: int, snap: dict[str, Any], at: datetime) -> Stamped:
    envelope = make_envelope(
        game_pk=pk,
        body=orjson.dumps(snap),
        source_url=f"https://statsapi.mlb.com/api/v1.1/game/{pk}/feed/live",
        status_code=200,
        captured_at=at,
        ingested_at=at,
        feed=snap,
    )
    return topic, str(pk).encode(), encode_envelope(envelope), at


def _records(data_dir: Path, snap_topic: str, sched_topic: str) -> list[Stamped]:
    corpus = Corpus(data_dir)
    recorded = corpus.schedule(DAY)
    assert recorded is not None and recorded.source == "recorded"
    schedule = orjson.loads(recorded.body)
    feeds = {
        pk: orjson.loads((data_dir / "mlb" / "feed_live" / f"{pk}.json").read_bytes())
        for pk in (GAME, OTHER)
    }
    out: list[Stamped] = []
    for day in DAYS:
        shifted = {**schedule, "dates": [{**schedule["dates"][0], "date": day.isoformat()}]}
        at = datetime.combine(day, datetime.min.time(), NY) + timedelta(hours=9)
        out.append((sched_topic, day.isoformat().encode(), orjson.dumps(shifted), at))
        if day == DAY:
            snaps = simulate(feeds[GAME], EVERY)
            for snap in snaps:
                stamp = parse_feed_timestamp(snap["metaData"]["timeStamp"])
                out.append(_snapshot(snap_topic, GAME, snap, stamp))
            morning = datetime(2023, 11, 2, 10, 5, tzinfo=NY)  # a correction poll
            out.append(_snapshot(snap_topic, GAME, snaps[-1], morning))
        else:
            evening = datetime.combine(day, datetime.min.time(), NY) + timedelta(hours=19)
            for i, snap in enumerate(simulate(feeds[OTHER], EVERY)):
                out.append(_snapshot(snap_topic, OTHER, snap, evening + timedelta(minutes=i)))
    return out


def _produce(settings: Settings, records: list[Stamped]) -> None:
    producer = Producer(producer_config(settings))
    failures: list[KafkaError] = []

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failures.append(err)

    for topic, key, value, at in records:
        producer.produce(
            topic, value, key, timestamp=int(at.timestamp() * 1000), on_delivery=delivered
        )
        producer.poll(0)
    assert producer.flush(60) == 0
    assert failures == []


def test_coverage_of_one_day_reads_only_its_window(
    stack_settings: Settings, data_dir: Path, topics: tuple[str, str]
) -> None:
    snap_topic, sched_topic = topics
    records = _records(data_dir, snap_topic, sched_topic)
    _produce(stack_settings, records)
    inside = [r for r in records if SINCE <= r[3] < UNTIL]
    assert 0 < len(inside) < len(records) / 2  # most of the topic lies outside the window
    settings = stack_settings.model_copy(
        update={"ingest_corrections": "1h,6h,next 10:00", "ingest_final_grace_s": 600.0}
    )

    report = coverage(settings, DAY, snapshots_topic=snap_topic, schedules_topic=sched_topic)

    assert (report.since, report.until) == (SINCE, UNTIL)
    assert report.read == {
        "schedules": sum(r[0] == sched_topic for r in inside),
        "snapshots": sum(r[0] == snap_topic for r in inside),
    }
    assert report.read["schedules"] == 4  # 10-31, 11-01, 11-02 and 11-03 at 09:00
    assert report.snapshots == {
        GAME: sum(r[1] == b"748534" for r in records),  # the evening and the next morning
        OTHER: sum(r[1] == b"747175" for r in inside),  # 10-31 and 11-02 (not 11-03 19:00)
    }
    assert report.snapshots[OTHER] < sum(r[1] == b"747175" for r in records)
    assert report.scheduled == {GAME: "Final"}
    assert report.complete and report.missing == []


def test_coverage_command_honours_an_explicit_window(
    stack_settings: Settings, data_dir: Path, topics: tuple[str, str]
) -> None:
    """Up to 21:00 New York on the day the game is not Final yet: reported missing."""
    snap_topic, sched_topic = topics
    records = _records(data_dir, snap_topic, sched_topic)
    _produce(stack_settings, records)
    until = datetime(2023, 11, 1, 21, 0, tzinfo=NY)
    cmd = [MLBSTS, "coverage", DAY.isoformat(), "--snapshots-topic", snap_topic]
    cmd += ["--schedules-topic", sched_topic, "--since", "2023-11-01T04:00:00"]
    cmd += ["--until", until.isoformat()]
    done = subprocess.run(
        cmd, env=dict(os.environ), capture_output=True, text=True, timeout=90, check=False
    )
    assert done.returncode == 1, done.stderr[-2000:]
    report = orjson.loads(done.stdout)
    assert report["window"]["since"] == "2023-11-01T04:00:00+00:00"
    assert report["missing"] == [GAME] and report["scheduled"] == {str(GAME): "Final"}
    expected = sum(
        r[0] == snap_topic and datetime(2023, 11, 1, 4, tzinfo=UTC) <= r[3] < until for r in records
    )
    assert 0 < report["read"]["snapshots"] == expected
