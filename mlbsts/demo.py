"""The main job end to end on the local stack, with a real recorded game (``mlbsts demo``).

1. ``mlbsts stack up`` (idempotent);
2. the snapshots a poller would have seen, every N pitches, from a real final feed
   (``sim.simulate``), published as envelopes to ``mlb.raw.game-snapshots``, except those
   the topic already holds (a second demo adds nothing to the log, as a poller would not);
3. the Bytewax dataflow, ``python -m bytewax.run flows.live_stats:flow``, as a real worker
   process that stops at the end of the topic;
4. what landed, read back: raw rows in PostgreSQL, objects in S3, events on the topics; the
   line score and box score folded from the event topics.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
from confluent_kafka import Producer

from connectors import s3
from connectors.envelope_serde import decode_envelope, encode_envelope
from connectors.event_serde import decode_event_value
from connectors.kafka_io import OutRecord, produce_all, producer_config
from connectors.kafka_read import KafkaReadError, Mark, mark, read_topic
from connectors.records import TOPIC_OF_KIND
from flows.game.boxscore import box_score
from flows.game.envelope import make_envelope, official_date_of
from flows.game.events import Event
from mlbsts import topics
from mlbsts.paths import PROJECT_ROOT
from mlbsts.settings import Settings
from sim.simulate import simulate

FIXTURE_FEED = PROJECT_ROOT / "tests" / "fixtures" / "744914.feed_live.json.gz"
FEED_URL = "https://statsapi.mlb.com/api/v1.1/game/{pk}/feed/live"


class DemoError(RuntimeError):
    """The demo could not finish; says which stage."""


@dataclass(frozen=True)
class DemoResult:
    game_pk: int
    snapshots_published: int
    snapshots_already_in_log: int
    raw_rows: int
    s3_objects: int
    events_by_topic: dict[str, int]
    box: dict[str, Any]
    feed: dict[str, Any]
    flow_seconds: float


Progress = Callable[[str, int, int], None]  # (stage, done, total)


def load_feed(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    feed: dict[str, Any] = orjson.loads(data)
    return feed


def default_feed(settings: Settings) -> Path:
    """The walk-off sac fly game from the shared corpus if present, else the repo fixture."""
    shared = settings.data_dir / "mlb" / "feed_live" / "747175.json"
    return shared if shared.is_file() else FIXTURE_FEED


def publish(
    settings: Settings,
    game_pk: int,
    snapshots: list[dict[str, Any]],
    progress: Progress,
    topic: str = topics.RAW_GAME_SNAPSHOTS,
    pace: Callable[[int], None] | None = None,
) -> int:
    """Publish a polling sequence of one game's snapshots; returns how many. ``pace(i)``
    runs before snapshot ``i`` (from 0) is published (the live demo waits there)."""
    producer = Producer(producer_config(settings))
    url = FEED_URL.format(pk=game_pk)
    for i, snap in enumerate(snapshots, 1):
        if pace is not None:
            pace(i - 1)
        body = orjson.dumps(snap)
        envelope = make_envelope(
            game_pk=game_pk,
            body=body,
            source_url=url,
            status_code=200,
            captured_at=datetime.now(UTC),
            feed=snap,
        )
        record = OutRecord(topic, str(game_pk).encode(), encode_envelope(envelope))
        produce_all(producer, [record])
        progress("publish snapshots", i, len(snapshots))
    return len(snapshots)


def timestamps_in_log(
    settings: Settings, game_pk: int, topic: str = topics.RAW_GAME_SNAPSHOTS
) -> set[str | None]:
    """The feed timestamps of ``game_pk``'s snapshots that ``topic`` already holds."""
    key = str(game_pk).encode()
    return {
        decode_envelope(value).feed_timestamp
        for msg in read_topic(settings, topic)
        if msg.key() == key and (value := msg.value()) is not None
    }


def _raw_rows(dsn: str, game_pk: int) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM raw_game_snapshots WHERE game_pk = %s", (game_pk,)
        ).fetchone()
    return int(row[0]) if row else 0


def run_flow(
    settings: Settings, game_pk: int, expected_rows: int, progress: Progress, timeout_s: float
) -> float:
    """Run the Bytewax worker until the end of the raw topic; returns its wall time."""
    env = {**os.environ, "MLBSTS_FLOW_STOP_AT_END": "true"}
    log_path = settings.stack_dir / "logs" / "demo-flow.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    dsn = settings.postgres_dsn.get_secret_value()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bytewax.run", "flows.live_stats:flow", "-w", "1"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            while proc.poll() is None:
                if time.monotonic() - began > timeout_s:
                    raise DemoError(
                        f"the dataflow did not finish in {timeout_s:.0f}s; see {log_path}"
                    )
                progress(
                    "dataflow: raw snapshots stored",
                    min(_raw_rows(dsn, game_pk), expected_rows),
                    expected_rows,
                )
                time.sleep(0.5)
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace")[-2000:]
        raise DemoError(f"the dataflow failed (exit {proc.returncode}); {log_path}:\n{tail}")
    progress("dataflow: raw snapshots stored", _raw_rows(dsn, game_pk), expected_rows)
    return time.monotonic() - began


def read_events(
    settings: Settings, game_pk: int, since: dict[str, Mark]
) -> tuple[list[Event], dict[str, int]]:
    """The game's events written after ``since`` (this run re-emits the whole game: its
    dataflow starts with fresh state and reads the raw topic from the beginning)."""
    key = str(game_pk).encode()
    events: list[Event] = []
    counts: dict[str, int] = {}
    for topic in TOPIC_OF_KIND.values():
        n = 0
        try:
            for msg in read_topic(settings, topic, start=since[topic]):
                if msg.key() == key and msg.value() is not None:
                    events.append(decode_event_value(topic, msg.value()))
                    n += 1
        except KafkaReadError as e:
            raise DemoError(
                f"{e}. The dataflow ran; reading its events back failed. The embedded broker "
                'reads a topic more slowly the more history it holds (README, "Fast" under '
                "Guarantees): `mlbsts stack down --purge` starts the local stack afresh"
            ) from e
        counts[topic] = n
    return events, counts


def count_archived(settings: Settings, feed: dict[str, Any], game_pk: int) -> int:
    day = official_date_of(feed)
    prefix = f"raw/date={day.isoformat() if day else ''}/game_pk={game_pk}/"
    client = s3.client(settings)
    return sum(1 for _ in client.list_objects(settings.s3_bucket, prefix=prefix, recursive=True))


def run_demo(
    settings: Settings, feed_path: Path, every: int, progress: Progress, timeout_s: float = 300
) -> DemoResult:
    feed = load_feed(feed_path)
    game_pk = int(feed["gamePk"])
    snapshots = simulate(feed, every)
    present = timestamps_in_log(settings, game_pk)
    new = [s for s in snapshots if s["metaData"]["timeStamp"] not in present]
    published = publish(settings, game_pk, new, progress)
    distinct = len({s["metaData"]["timeStamp"] for s in snapshots})
    marks = {t: mark(settings, t) for t in TOPIC_OF_KIND.values()}
    seconds = run_flow(settings, game_pk, distinct, progress, timeout_s)
    events, counts = read_events(settings, game_pk, marks)
    return DemoResult(
        game_pk=game_pk,
        snapshots_published=published,
        snapshots_already_in_log=len(snapshots) - len(new),
        raw_rows=_raw_rows(settings.postgres_dsn.get_secret_value(), game_pk),
        s3_objects=count_archived(settings, feed, game_pk),
        events_by_topic=counts,
        box=box_score(events),
        feed=feed,
        flow_seconds=seconds,
    )
