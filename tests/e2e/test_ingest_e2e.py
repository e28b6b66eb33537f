"""End to end: replay server at high speed -> ``mlbsts ingest --until-final`` -> Kafka.

The topic must hold every distinct snapshot the server replayed for the game (Preview,
each simulated snapshot, the recorded final feed) exactly once, in order, and
``mlbsts coverage`` must report the day complete - with and without injected faults.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from connectors.envelope_serde import decode_envelope
from connectors.kafka_read import read_topic
from mlbsts import stack
from mlbsts.settings import Settings, get_settings
from sim.corpus import Corpus
from sim.replay_server import FaultPlan, FaultRule, ReplayClock, ReplayServer, start_of_day
from tests.integration.conftest import snapshot_and_schedule_topics

pytestmark = [pytest.mark.e2e, pytest.mark.corpus]
GAME = 748534  # 2023 World Series game 5; the recorded schedule of 2023-11-01 lists it alone
DAY = date(2023, 11, 1)
SPEED = 600.0
MLBSTS = str(Path(sys.executable).parent / "mlbsts")


@pytest.fixture(scope="module")
def settings() -> Settings:
    s = get_settings()
    assert stack.up(s).healthy
    return s


@pytest.fixture
def topics(settings: Settings) -> Iterator[tuple[str, str]]:
    with snapshot_and_schedule_topics(settings, "test-ingest") as names:
        yield names


def run_ingest(server: ReplayServer, snap: str, sched: str) -> dict[str, object]:
    env = {
        **os.environ,
        "MLBSTS_MLB_API_RATE_PER_S": "100",
        "MLBSTS_MLB_API_BURST": "10",
        "MLBSTS_MLB_API_BACKOFF_BASE_S": "0.05",
        "MLBSTS_MLB_API_BREAKER_RESET_S": "0.5",
        "MLBSTS_MLB_API_TIMEOUT_S": "2",
        # no correction polls after Final here (they would run to the next morning)
        "MLBSTS_INGEST_CORRECTIONS": "",
    }
    cmd = [
        MLBSTS,
        "ingest",
        "--date",
        DAY.isoformat(),
        "--base-url",
        server.url,
        "--until-final",
        "--speed",
        str(SPEED),
        "--every-timecode",
        "--snapshots-topic",
        snap,
        "--schedules-topic",
        sched,
        "--max-runtime",
        "80",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=100, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    stats: dict[str, object] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return stats


def check_topic(
    settings: Settings, corpus: Corpus, data_dir: Path, since: datetime, snap: str, sched: str
) -> None:
    timeline = corpus.timeline(GAME)
    assert timeline is not None
    envelopes = [decode_envelope(m.value() or b"") for m in read_topic(settings, snap)]
    assert {e.gamePk for e in envelopes} == {GAME}
    stamps = [e.feed_timestamp for e in envelopes]
    assert stamps == timeline.timecodes  # every distinct snapshot, once, in order
    final = orjson.loads(envelopes[-1].payload_json())
    recorded = orjson.loads((data_dir / "mlb" / "feed_live" / f"{GAME}.json").read_bytes())
    assert final == recorded
    assert all(e.captured_at <= e.ingested_at for e in envelopes)
    coverage = subprocess.run(
        [
            MLBSTS,
            "coverage",
            DAY.isoformat(),
            "--snapshots-topic",
            snap,
            "--schedules-topic",
            sched,
            # the replay's records are stamped with the time it ran, not with 2023-11-01
            "--since",
            since.isoformat(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert coverage.returncode == 0, coverage.stdout + coverage.stderr[-2000:]
    report = orjson.loads(coverage.stdout)
    assert report["complete"] and report["missing"] == []
    assert report["read"]["snapshots"] == len(envelopes)


@pytest.mark.parametrize("faulty", [False, True], ids=["clean", "faults"])
def test_replayed_game_lands_in_the_topic_exactly_once(
    settings: Settings, topics: tuple[str, str], data_dir: Path, faulty: bool
) -> None:
    corpus = Corpus(data_dir, every=5)
    rules = (
        [FaultRule("429", 17, 2), FaultRule("500", 23, 2), FaultRule("drop", 29, 1)]
        if faulty
        else []
    )
    faults = FaultPlan(rules=rules, retry_after_s=1)
    clock = ReplayClock(start_of_day(corpus, DAY), SPEED, paused=True)
    since = datetime.now(UTC) - timedelta(minutes=1)
    with ReplayServer(corpus, clock, faults=faults) as server:
        stats = run_ingest(server, *topics)
        log = server.request_log()
    assert stats["games"] == {str(GAME): "done"}
    statuses = [r.status for r in log]
    if faulty:
        assert statuses.count(429) >= 2 and statuses.count(500) >= 2 and statuses.count(0) >= 1
    assert stats["patch_fallbacks"] == 0
    check_topic(settings, corpus, data_dir, since, *topics)
