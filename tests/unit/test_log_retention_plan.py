"""The retention trimmer's plan: what it may delete from the embedded broker's bucket.

Properties over any listing: only batch objects of derived topics, a prefix of each
partition's batches in offset order, all older than the retention, never the newest batch;
everything else is kept. Plus the trimmer's parts that need no server: its status check
and the settings it hands to its process.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlbsts import topics
from mlbsts.settings import Settings
from mlbsts.stack.errors import TrimError
from mlbsts.stack.layout import Layout
from mlbsts.stack.log_retention import (
    KEPT_TOPICS,
    StoredObject,
    batch_position,
    is_trimmed_topic,
    plan_trim,
    trim_every_s,
)
from mlbsts.stack.log_trimmer import status_path, write_status
from mlbsts.stack.trimmer import LogTrimmer, settings_env

pytestmark = pytest.mark.unit

NOW = datetime(2026, 7, 1, 20, 0, tzinfo=UTC)
TOPICS = (*topics.ALL_TOPICS, "mlb.events.pitch.mlbsts_v2", "mlb.raw.game-snapshots.demo-1", "x")


def batch_key(topic: str, partition: int, offset: int, cluster: str = "tansu_cluster") -> str:
    return (
        f"clusters/{cluster}/topics/{topic}/partitions/{partition:010}/records/{offset:020}.batch"
    )


def other_keys(topic: str, partition: int) -> list[str]:
    base = f"clusters/tansu_cluster/topics/{topic}"
    return [
        f"{base}/partitions/{partition:010}/watermark.json",
        f"{base}.json",
        "clusters/tansu_cluster/meta.json",
        f"clusters/tansu_cluster/groups/consumers/g/offsets/{topic}/partitions/0000000000.json",
    ]


@st.composite
def listings(draw: st.DrawFn) -> list[StoredObject]:
    """A bucket: for some (topic, partition), batches at growing offsets and ages, plus
    watermarks, topic and cluster metadata, consumer offsets, all of any age."""
    objects = []
    for topic in draw(st.lists(st.sampled_from(TOPICS), min_size=1, max_size=4, unique=True)):
        for partition in draw(st.lists(st.integers(0, 3), min_size=1, max_size=2, unique=True)):
            offset, age = 0, draw(st.integers(0, 20_000))
            for _ in range(draw(st.integers(0, 12))):
                offset += draw(st.integers(1, 500))
                age = max(0, age - draw(st.integers(0, 4000)))  # newer offsets, newer objects
                when = NOW - timedelta(seconds=age)
                objects.append(StoredObject(batch_key(topic, partition, offset), when, 100))
            for key in other_keys(topic, partition):
                objects.append(StoredObject(key, NOW - timedelta(days=30), 10))
    return draw(st.permutations(objects))


@given(listings(), st.floats(0, 25_000))
def test_only_old_batches_of_derived_topics_go_and_the_newest_stays(
    objects: list[StoredObject], retention_s: float
) -> None:
    plan = plan_trim(objects, NOW, retention_s)
    doomed = set(plan.doomed)
    batches: dict[tuple[str, str, int], list[tuple[int, StoredObject]]] = {}
    for obj in objects:
        position = batch_position(obj.key)
        if position is None:
            assert obj not in doomed  # metadata, a source topic, an unknown topic
            continue
        part = position[0]
        batches.setdefault((part.cluster, part.topic, part.partition), []).append(
            (position[1], obj)
        )
    for found in batches.values():
        ordered = [obj for _, obj in sorted(found, key=lambda b: b[0])]
        gone = [obj in doomed for obj in ordered]
        assert not gone[-1]  # the newest batch of a partition always stays
        assert gone == sorted(gone, reverse=True)  # a prefix: no hole in the log kept
        for obj, is_gone in zip(ordered, gone, strict=True):
            if is_gone:
                assert obj.last_modified < NOW - timedelta(seconds=retention_s)
    assert plan.kept_batches + len(plan.doomed) == sum(len(f) for f in batches.values())
    assert plan.bytes == 100 * len(plan.doomed)


@given(listings())
def test_retention_zero_deletes_nothing(objects: list[StoredObject]) -> None:
    assert plan_trim(objects, NOW, 0).doomed == ()


def test_the_source_topics_are_never_trimmed() -> None:
    assert frozenset({topics.RAW_GAME_SNAPSHOTS, topics.RAW_SCHEDULES}) == KEPT_TOPICS
    for name in topics.ALL_TOPICS:
        assert is_trimmed_topic(name) == (name not in KEPT_TOPICS), name
    assert is_trimmed_topic("mlb.stats.live.mlbsts_v3")  # a table version's copy
    assert not is_trimmed_topic("mlb.raw.game-snapshots.demo-live-1")
    assert not is_trimmed_topic("mlb.events")
    assert not is_trimmed_topic("test-1234")


def test_an_old_log_keeps_exactly_its_newest_batch_per_partition() -> None:
    old = NOW - timedelta(days=1)
    objects = [
        StoredObject(batch_key("mlb.events.play", p, o), old, 7) for p in (0, 1) for o in (0, 5, 9)
    ]
    objects.append(StoredObject(batch_key(topics.RAW_GAME_SNAPSHOTS, 0, 0), old, 7))
    plan = plan_trim(objects, NOW, 3600)
    assert [d.key for d in plan.doomed] == [
        batch_key("mlb.events.play", p, o) for p in (0, 1) for o in (0, 5)
    ]
    assert (plan.kept_batches, plan.partitions) == (2, 2)


@pytest.mark.parametrize(("retention_s", "every_s"), [(1, 5), (60, 15), (10_800, 300)])
def test_the_pass_interval_follows_the_retention(retention_s: float, every_s: float) -> None:
    assert trim_every_s(retention_s) == every_s


def test_the_trimmer_process_gets_its_settings_and_no_other(tmp_path: Path) -> None:
    settings = Settings(
        stack_dir=tmp_path, s3_endpoint="127.0.0.1:27333", embedded_log_retention_s=60
    )
    env = settings_env(settings)
    assert env["MLBSTS_S3_ENDPOINT"] == "127.0.0.1:27333"
    assert env["MLBSTS_S3_SECRET_KEY"] == settings.s3_secret_key.get_secret_value()
    assert env["MLBSTS_S3_SECURE"] == "false"
    assert env["MLBSTS_EMBEDDED_LOG_RETENTION_S"] == "60.0"
    launch = LogTrimmer().launch(settings, Layout(tmp_path))
    assert launch.ports == ()
    assert launch.argv[-2:] == ("-c", "from mlbsts.stack.log_trimmer import main; main()")
    assert "MLBSTS_POSTGRES_DSN" not in launch.env
    assert LogTrimmer().enabled(settings)
    assert not LogTrimmer().enabled(settings.model_copy(update={"embedded_log_retention_s": 0}))


def test_the_trimmer_is_healthy_while_it_passes_and_not_failing_in_a_row(tmp_path: Path) -> None:
    settings = Settings(stack_dir=tmp_path, embedded_log_retention_s=60)
    layout, trimmer = Layout(tmp_path), LogTrimmer()
    layout.run.mkdir()
    with pytest.raises(TrimError, match="no status"):
        trimmer.probe(settings, layout)
    last = {"at": time.time(), "seconds": 0.1, "deleted": 3, "bytes": 2**20, "kept": 9}
    status = {"retention_s": 60, "every_s": 15, "heartbeat": time.time(), "last": last}
    write_status(status_path(layout), status)
    trimmer.probe(settings, layout)
    trimmer.check(settings, layout)
    assert "3 deleted (1.0 MiB), 9 kept" in trimmer.describe(settings, layout)
    failed = last | {"error": "MaxRetryError: down"}
    write_status(status_path(layout), status | {"last": failed, "failed_in_a_row": 1})
    trimmer.check(settings, layout)  # one failed pass is a blip, retried soon
    write_status(status_path(layout), status | {"last": failed, "failed_in_a_row": 3})
    with pytest.raises(TrimError, match="3 passes failed in a row, last: MaxRetryError"):
        trimmer.check(settings, layout)
    write_status(status_path(layout), status | {"heartbeat": time.time() - 3600})
    with pytest.raises(TrimError, match="no pass for"):
        trimmer.check(settings, layout)
    assert json.loads(status_path(layout).read_text())["every_s"] == 15
