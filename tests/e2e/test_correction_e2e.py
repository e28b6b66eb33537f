"""End to end: a next-day scoring change reaches the log, the events and the box score.

The replay server plays game 748534 (2023 World Series game 5, a real final feed) at
3000x, then serves a SYNTHETIC scoring change made from it (``sim.scoring_change``: the
first eligible single re-scored as a fielding error, its own official box score adjusted)
10 simulated hours after the final feed, i.e. the next morning in New York. The poller
(correction schedule ``1h,11h`` of its own clock) publishes it; the dataflow then runs
over the topic into a private schema and bucket. Proof: the play's event is re-issued with
revision + 1 and the corrected ``source_ts``, and the PostgreSQL box score views and line
score equal the corrected feed's official box score (not the recorded one).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from connectors.envelope_serde import decode_envelope
from connectors.event_serde import decode_event_value
from connectors.kafka_read import Mark, mark, read_topic
from flows.game.events import PlayEvent
from mlbsts import topics as project_topics
from mlbsts.paths import PROJECT_ROOT
from mlbsts.settings import Settings
from sim.corpus import Corpus
from sim.replay_server import ReplayClock, ReplayServer, start_of_day
from sim.scoring_change import scoring_change
from tests.e2e.test_recovery import Target
from tests.integration.conftest import (
    assert_box_score_views_official,
    box_score_view,
    snapshot_and_schedule_topics,
)
from tests.unit.official_boxscore import official_lines

pytestmark = [pytest.mark.e2e, pytest.mark.corpus]
GAME = 748534
DAY = date(2023, 11, 1)
SPEED = 3000.0
CHANGE_AFTER = timedelta(hours=10)  # after the final feed's timeStamp: 09:xx New York
MLBSTS = str(Path(sys.executable).parent / "mlbsts")
JSON = dict[str, Any]


@pytest.fixture
def raw_topics(stack_settings: Settings) -> Iterator[tuple[str, str]]:
    with snapshot_and_schedule_topics(stack_settings, "test-correction") as names:
        yield names


def _ingest(server: ReplayServer, snap: str, sched: str) -> JSON:
    env = {
        **os.environ,
        "MLBSTS_MLB_API_RATE_PER_S": "200",
        "MLBSTS_MLB_API_BURST": "20",
        "MLBSTS_MLB_API_TIMEOUT_S": "5",
        "MLBSTS_INGEST_CORRECTIONS": "1h,11h",  # of the poller's clock, 3000x: 1.2 s, 13.2 s
    }
    cmd = [MLBSTS, "ingest", "--date", DAY.isoformat(), "--base-url", server.url]
    cmd += ["--until-final", "--speed", str(SPEED), "--max-runtime", "45"]
    cmd += ["--snapshots-topic", snap, "--schedules-topic", sched]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    stats: JSON = orjson.loads(done.stdout.strip().splitlines()[-1])
    return stats


def _run_flow(target: Target, topic: str, log: Path) -> None:
    argv = [sys.executable, "-m", "bytewax.run", "flows.live_stats:flow"]
    with log.open("wb") as out:
        done = subprocess.run(
            argv,
            cwd=PROJECT_ROOT,
            env=target.env(topic),
            stdout=out,
            stderr=out,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, log.read_text()[-3000:]


def _linescore(dsn: str) -> dict[tuple[int, str], tuple[int | None, int | None]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT inning, side, hits, errors FROM linescore_innings WHERE game_pk = %s",
            (GAME,),
        ).fetchall()
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def test_next_day_scoring_change_is_reissued_and_the_box_score_converges(
    stack_settings: Settings, raw_topics: tuple[str, str], data_dir: Path, tmp_path: Path
) -> None:
    recorded = orjson.loads((data_dir / "mlb" / "feed_live" / f"{GAME}.json").read_bytes())
    changed, at_bat = scoring_change(recorded, CHANGE_AFTER)
    corpus = Corpus(data_dir, every=20, scoring_changes={GAME: CHANGE_AFTER})
    clock = ReplayClock(start_of_day(corpus, DAY), SPEED, paused=True)
    with ReplayServer(corpus, clock) as server:
        stats = _ingest(server, *raw_topics)
    assert stats["games"] == {str(GAME): "done"}

    envelopes = [
        decode_envelope(m.value() or b"") for m in read_topic(stack_settings, raw_topics[0])
    ]
    stamps = [e.feed_timestamp or "" for e in envelopes]
    assert stamps == sorted(set(stamps))  # nothing published twice (the 1h poll: unchanged)
    assert orjson.loads(envelopes[-2].payload_json()) == recorded
    assert orjson.loads(envelopes[-1].payload_json()) == changed

    target = Target(stack_settings)
    try:
        since = mark(stack_settings, project_topics.EVENTS_PLAY)
        _run_flow(target, raw_topics[0], tmp_path / "flow.log")
        _check_reissued(stack_settings, since, at_bat, changed["metaData"]["timeStamp"])
        _check_box_score(target.dsn, recorded, changed, at_bat)
    finally:
        target.drop()


def _play_events(settings: Settings, since: Mark, at_bat: int) -> list[PlayEvent]:
    """The play's events written after ``since``, up to its first ``field_error`` one (the
    topic is shared: one game's events are in order on one partition, so stop there)."""
    found: list[PlayEvent] = []
    for m in read_topic(settings, project_topics.EVENTS_PLAY, start=since):
        if m.key() != str(GAME).encode():
            continue
        event = decode_event_value(project_topics.EVENTS_PLAY, m.value() or b"")
        if isinstance(event, PlayEvent) and event.atBatIndex == at_bat:
            found.append(event)
            if event.eventType == "field_error":
                break
    return found


def _check_reissued(settings: Settings, since: Mark, at_bat: int, changed_ts: str) -> None:
    plays = _play_events(settings, since, at_bat)
    singles = [p for p in plays if p.eventType == "single"]
    errors = [p for p in plays if p.eventType == "field_error"]
    assert singles and errors, plays
    assert {p.event_id for p in plays} == {singles[0].event_id}  # one identity
    assert (errors[0].revision, errors[0].source_ts) == (
        max(p.revision for p in singles) + 1,
        changed_ts,
    )
    assert max(p.source_ts for p in singles) < changed_ts


def _check_box_score(dsn: str, recorded: JSON, changed: JSON, at_bat: int) -> None:
    assert_box_score_views_official(dsn, changed)
    play = recorded["liveData"]["plays"]["allPlays"][at_bat]
    side = "away" if play["about"]["isTopInning"] else "home"
    batter = str(play["matchup"]["batter"]["id"])
    hits = official_lines(recorded, side, "batting")[batter]["hits"]
    view = box_score_view(dsn, "boxscore_batting", ("hits",), side, GAME)
    assert view[batter] == {"hits": hits - 1}
    expected = {
        (i["num"], s): (i[s].get("hits"), i[s].get("errors"))
        for i in changed["liveData"]["linescore"]["innings"]
        for s in ("home", "away")
    }
    assert _linescore(dsn) == expected
