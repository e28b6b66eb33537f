"""``mlbsts replay`` end to end: two replays of one range agree, promotion is atomic, drop
removes everything (README, "Reprocessing").

A private raw topic of 3 partitions holds two real games polled every 3 pitches (744914,
and 718594 with duplicated, reordered and corrected deliveries, so it has stale snapshots,
revisions and retractions), and two records that are not snapshots at all. The live version
is a private migrated schema with its own bucket, and the versions get a private prefix.

The command itself (``python -m mlbsts.commands.cli replay``, 2 worker threads) replays the
whole topic into v2, then again into v3. Then:

- every table of v2 equals v3's row for row (``stored_at``/``updated_at`` left out);
- every topic of v2 (events, statistics, dead letters) holds the same records as v3's, by
  event id and content; the dead letters by their stable ``letter_id`` (``detected_at``, the
  wall clock, left out), and the archive buckets hold the same objects, byte for byte;
- a reader in its own connection, reading the readers' views in transactions while v2, live
  and v3 are promoted in turn, sees one version or another, never a mix;
- ``drop`` refuses the promoted version and removes another's schema, topics and bucket.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
import psycopg
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg import sql
from pydantic import SecretStr

from connectors import s3
from connectors.avro_serde import AvroCodec, load_schema
from connectors.envelope_serde import encode_envelope
from connectors.event_serde import decode_event_value
from connectors.kafka_io import producer_config
from connectors.kafka_read import read_topic
from connectors.records import _dead_letter_codec
from flows.game.envelope import make_envelope
from mlbsts import demo, topics, versions
from mlbsts.paths import PROJECT_ROOT
from mlbsts.reprocess import DERIVED_TOPICS, drop_version
from mlbsts.settings import Settings
from mlbsts.stack.migrations import apply_migrations
from sim.simulate import simulate
from tests.conftest import corpus_feed_paths, load_fixture_feed
from tests.integration.conftest import unique

pytestmark = [pytest.mark.e2e, pytest.mark.corpus]

EVERY = 3
COMMAND_TIMEOUT_S = 900
VOLATILE = {"stored_at", "updated_at"}
NOT_COMPARED = {"replay_runs"}  # one row per run: its own times and ids
BAD = [(b"744914", b"not an envelope"), (None, b"\x00\x01 neither")]


@dataclass
class World:
    settings: Settings
    topic: str
    live_schema: str
    live_dsn: str
    bucket: str
    prefix: str
    outputs: dict[str, str] = field(default_factory=dict)  # command output by version

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "MLBSTS_FLOW_INPUT_TOPIC": self.topic,
            "MLBSTS_POSTGRES_DSN": self.live_dsn,
            "MLBSTS_S3_BUCKET": self.bucket,
            "MLBSTS_PG_VERSIONS_PREFIX": self.prefix,
        }

    def schema(self, version: str) -> str:
        return versions.version_schema(self.prefix, version)


def _publish(settings: Settings, topic: str) -> int:
    """The two games on partitions 0 and 1, the bad records on partition 2."""
    second = [p for p in corpus_feed_paths() if p.stem == "718594"]
    if not second:
        pytest.skip("shared corpus game 718594 not found")
    games: list[tuple[dict[str, Any], dict[str, Any]]] = [
        (load_fixture_feed(), {}),
        (
            demo.load_feed(second[0]),
            {"seed": 11, "duplicates": 0.1, "reorder": 0.2, "corrections": 0.2},
        ),
    ]
    producer = Producer(producer_config(settings))
    count = 0
    for partition, (feed, faults) in enumerate(games):
        pk = int(feed["gamePk"])
        for snap in simulate(feed, EVERY, **faults):
            body = orjson.dumps(snap)
            envelope = make_envelope(
                game_pk=pk,
                body=body,
                source_url=demo.FEED_URL.format(pk=pk),
                status_code=200,
                captured_at=datetime.now(UTC),
                feed=snap,
            )
            producer.produce(topic, encode_envelope(envelope), str(pk).encode(), partition)
            producer.poll(0)
            count += 1
    for key, value in BAD:
        producer.produce(topic, value, key, 2)
    assert producer.flush(120) == 0
    return count + len(BAD)


@pytest.fixture(scope="module")
def world(stack_settings: Settings) -> Iterator[World]:
    admin = AdminClient({"bootstrap.servers": stack_settings.kafka_bootstrap_servers})
    topic = unique("test-raw-")
    for future in admin.create_topics([NewTopic(topic, num_partitions=3)]).values():
        future.result(timeout=30)
    base = stack_settings.postgres_dsn.get_secret_value()
    live_schema = unique("test_")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(live_schema)))
    live_dsn = versions.dsn_in_schema(base, live_schema)
    apply_migrations(live_dsn)
    bucket = unique("test-")
    s3.client(stack_settings).make_bucket(bucket)
    world = World(stack_settings, topic, live_schema, live_dsn, bucket, unique("t"))
    _publish(stack_settings, topic)
    yield world
    _clean(world, admin)


def _clean(world: World, admin: AdminClient) -> None:
    base = world.settings.postgres_dsn.get_secret_value()
    mine = world.settings.model_copy(
        update={
            "s3_bucket": world.bucket,
            "pg_versions_prefix": world.prefix,
            "postgres_dsn": SecretStr(world.live_dsn),
        }
    )
    versions.promote(world.live_dsn, world.prefix, versions.LIVE)
    for v in versions.list_versions(world.live_dsn, world.prefix):
        if v.name != versions.LIVE:
            drop_version(mine, v.name)
    with psycopg.connect(base, autocommit=True) as conn:
        for name in (world.live_schema, versions.readers_schema(world.prefix)):
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    client = s3.client(world.settings)
    for obj in client.list_objects(world.bucket, recursive=True):
        if obj.object_name is not None:
            client.remove_object(world.bucket, obj.object_name)
    client.remove_bucket(world.bucket)
    for future in admin.delete_topics([world.topic]).values():
        future.result(timeout=30)


def mlbsts(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlbsts.commands.cli", *args],
        cwd=PROJECT_ROOT,
        env=world.env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def _replayed(world: World, version: str) -> str:
    if version not in world.outputs:
        done = mlbsts(world, "replay", "--into", version, "-w", "2")
        assert done.returncode == 0, done.stdout + done.stderr
        world.outputs[version] = done.stdout + done.stderr
    return world.outputs[version]


# --- what a version holds -----------------------------------------------------------------


def tables(world: World, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of ``schema`` but the replay log, rows sorted, volatile columns left out."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(world.live_dsn) as conn:
        names = [
            str(r[0])
            for r in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind = 'r' AND c.relname NOT LIKE '%%yoyo%%'",
                (schema,),
            )
        ]
        for table in sorted(set(names) - NOT_COMPARED):
            cols = [
                str(r[0])
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                    (schema, table),
                )
                if r[0] not in VOLATILE
            ]
            query = sql.SQL("SELECT {} FROM {}.{}").format(
                sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in cols),
                sql.Identifier(schema),
                sql.Identifier(table),
            )
            out[table] = sorted(conn.execute(query).fetchall(), key=repr)
    return out


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def log_records(world: World, version: str) -> dict[str, Counter[tuple[bytes | None, bytes]]]:
    """The decoded records of each derived topic of ``version`` (a multiset per topic)."""
    suffix = "." + world.schema(version)
    codecs = {
        topics.STATS_LIVE: AvroCodec(load_schema("live_stats")),
        topics.STATS_WINDOWS: AvroCodec(load_schema("window_stats")),
    }
    out: dict[str, Counter[tuple[bytes | None, bytes]]] = {}
    for name in DERIVED_TOPICS:
        seen: Counter[tuple[bytes | None, bytes]] = Counter()
        for msg in read_topic(world.settings, name + suffix, timeout_s=300):
            value = msg.value() or b""
            if name == topics.DLQ_GAME_SNAPSHOTS:
                continue  # compared by letter id below
            if name in codecs:
                decoded = _canonical(codecs[name].decode(value))
            else:
                decoded = msgspec.json.encode(decode_event_value(name, value))
            seen[(msg.key(), decoded)] += 1
        out[name] = seen
    return out


def dead_letters(world: World, version: str) -> dict[str, dict[str, Any]]:
    """The dead letters of ``version`` by their stable id, ``detected_at`` left out."""
    topic = topics.DLQ_GAME_SNAPSHOTS + "." + world.schema(version)
    out: dict[str, dict[str, Any]] = {}
    for msg in read_topic(world.settings, topic, timeout_s=300):
        letter = _dead_letter_codec().decode(msg.value() or b"")
        del letter["detected_at"]
        assert letter["letter_id"] not in out, "a letter id twice"
        out[letter["letter_id"]] = letter
    return out


def archive(world: World, version: str) -> dict[str, str]:
    bucket = f"{world.bucket}-{world.schema(version).replace('_', '-')}"
    client = s3.client(world.settings)
    return {str(o.object_name): str(o.etag) for o in client.list_objects(bucket, recursive=True)}


def test_two_replays_with_two_workers_give_the_same_tables_topics_and_letters(
    world: World,
) -> None:
    out_v2, _ = _replayed(world, "v2"), _replayed(world, "v3")
    rate = re.search(r"\(([\d,]+) snapshots/s\)", out_v2)
    print(f"\nreplay into v2: {out_v2.strip().splitlines()[-1]}")  # the throughput, for the record
    assert rate is not None, out_v2

    a, b = tables(world, world.schema("v2")), tables(world, world.schema("v3"))
    assert set(a) == set(b) and len(a) == 18  # every derived table
    assert len(a["games"]) == 2 and len(a["pitch_events"]) > 400 and len(a["stats_windows"]) > 40
    for table in a:
        assert a[table] == b[table], table

    records_a, records_b = log_records(world, "v2"), log_records(world, "v3")
    assert sum(records_a[topics.EVENTS_PITCH].values()) > 400
    assert records_a[topics.STATS_WINDOWS] and records_a[topics.STATS_LIVE]
    for name in records_a:
        assert records_a[name] == records_b[name], name

    letters_a, letters_b = dead_letters(world, "v2"), dead_letters(world, "v3")
    classes = Counter(str(letter["error_class"]) for letter in letters_a.values())
    assert classes["unparsable"] == len(BAD) and classes["stale"] > 0, classes
    assert letters_a == letters_b

    objects = archive(world, "v2")
    assert objects and objects == archive(world, "v3")


def test_the_versions_compare_in_sql(world: World) -> None:
    """The README's comparison: rows of one version missing from the other, per table."""
    _replayed(world, "v2")
    _replayed(world, "v3")
    v2, v3 = world.schema("v2"), world.schema("v3")
    query = sql.SQL(
        "SELECT count(*) FROM (SELECT game_pk, event_id, revision, code, start_speed "
        "FROM {}.pitch_events EXCEPT SELECT game_pk, event_id, revision, code, start_speed "
        "FROM {}.pitch_events) AS missing"
    )
    with psycopg.connect(world.live_dsn) as conn:
        for one, other in ((v2, v3), (v3, v2)):
            row = conn.execute(query.format(sql.Identifier(one), sql.Identifier(other))).fetchone()
            assert row == (0,)


# --- promotion and drop -------------------------------------------------------------------


class Reader(threading.Thread):
    """A reader in its own connection: transactions reading the readers' views, the marker
    first (as the README says), until stopped; what it saw, by version."""

    def __init__(self, world: World) -> None:
        super().__init__(daemon=True)
        schemas = f"{versions.readers_schema(world.prefix)},{world.live_schema}"
        self.dsn = versions.dsn_in_schema(world.live_dsn, schemas)
        self.seen: dict[str, set[tuple[Any, ...]]] = {}
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn) as conn:
                while not self.stop.is_set():
                    with conn.transaction():
                        marker = conn.execute("SELECT version FROM promoted_version").fetchone()
                        figures = conn.execute(
                            "SELECT (SELECT count(*) FROM games), (SELECT count(*) FROM "
                            "pitch_events), (SELECT count(*) FROM boxscore_batting)"
                        ).fetchone()
                        windows = conn.execute("SELECT sum(pitches) FROM stats_windows").fetchone()
                    seen = (*(figures or ()), *(windows or ()))
                    self.seen.setdefault(str(marker[0]) if marker else "?", set()).add(seen)
        except BaseException as e:  # reported by the test
            self.error = e


def _promote(world: World, version: str, reader: Reader) -> None:
    done = mlbsts(world, "replay", "promote", version)
    assert done.returncode == 0, done.stdout + done.stderr
    deadline = time.monotonic() + 60
    while version not in reader.seen and reader.error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert version in reader.seen, (version, reader.error)


def test_promotion_switches_every_view_at_once(world: World) -> None:
    _replayed(world, "v2")
    _replayed(world, "v3")
    assert mlbsts(world, "replay", "promote", "live").returncode == 0  # the views exist
    reader = Reader(world)
    reader.start()
    try:
        for version in ("v2", "live", "v3", "live", "v2"):
            _promote(world, version, reader)
    finally:
        reader.stop.set()
        reader.join(30)
    assert reader.error is None, reader.error
    assert reader.seen["live"] == {(0, 0, 0, None)}  # the live schema of this test is empty
    versions_seen = reader.seen["v2"] | reader.seen["v3"]
    assert len(versions_seen) == 1, reader.seen  # one figure set: v2 and v3 are equal
    games, pitches, batting, window_pitches = next(iter(versions_seen))
    assert (games, pitches > 400, batting > 30, window_pitches > 400) == (2, True, True, True)


def test_drop_refuses_the_promoted_version_and_removes_another(world: World) -> None:
    _replayed(world, "v2")
    _replayed(world, "v3")
    assert mlbsts(world, "replay", "promote", "v2").returncode == 0
    refused = mlbsts(world, "replay", "drop", "v2")
    assert refused.returncode == 1 and "promoted" in refused.stderr
    dropped = mlbsts(world, "replay", "drop", "v3")
    assert dropped.returncode == 0, dropped.stderr
    listed = mlbsts(world, "replay", "list")
    assert "v2" in listed.stdout and "v3" not in listed.stdout
    with psycopg.connect(world.live_dsn) as conn:
        gone = conn.execute("SELECT to_regnamespace(%s)", (world.schema("v3"),)).fetchone()
    assert gone == (None,)
    admin = AdminClient({"bootstrap.servers": world.settings.kafka_bootstrap_servers})
    names = set(admin.list_topics(timeout=30).topics)
    assert not {t for t in names if t.endswith("." + world.schema("v3"))}
    assert {t for t in names if t.endswith("." + world.schema("v2"))}
    bucket = f"{world.bucket}-{world.schema('v3').replace('_', '-')}"
    assert not s3.client(world.settings).bucket_exists(bucket)
