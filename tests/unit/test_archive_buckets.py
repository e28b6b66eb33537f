"""The ``bucket_archive`` step's logic, one game at a time, on a real game's batches.

Whatever the wall clock does (quiet spells that write an open bucket early, a resume from
the recovery snapshot), the last version written of each bucket holds exactly its batches'
events, and every event is archived once.
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.avro_serde import avro_body
from connectors.event_archive import ArchiveBucket, newest_buckets
from connectors.records import EncodedBatch, encoded_batch
from flows.archive_buckets import PER_SNAPSHOT, VERSION_BUCKETS, Bucketing, BucketLogic
from flows.game.batches import EventBatch
from flows.game.release import Released
from flows.game.snapshot_diff import step
from flows.replay_flow import archive_bucketing
from sim.simulate import simulate
from tests.conftest import load_fixture_feed

pytestmark = pytest.mark.unit

LINGER = timedelta(seconds=1)
HOW = Bucketing(batches=16, linger=LINGER)
BUCKET_BATCHES = HOW.batches
T0 = datetime(2026, 11, 30, tzinfo=UTC)


def real_batches() -> list[EncodedBatch]:
    """A real game's batches, one snapshot every 3 pitches, empty ones included."""
    feed = load_fixture_feed()
    state, out = None, []
    for snap in simulate(feed, 3):
        state, events = step(state, snap)
        batch = EventBatch(int(feed["gamePk"]), T0.date(), snap["metaData"]["timeStamp"], events)
        out.append(encoded_batch(batch))
    return out


BATCHES = real_batches()


class Wall:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def chunks(batches: list[EncodedBatch]) -> list[list[EncodedBatch]]:
    """The buckets the batches should make: runs of ``BUCKET_BATCHES`` with events."""
    with_events = [b for b in batches if b.batch.events]
    return [with_events[i : i + BUCKET_BATCHES] for i in range(0, len(with_events), BUCKET_BATCHES)]


def bodies_of(batches: list[EncodedBatch]) -> list[bytes]:
    return [avro_body(r.value) for b in batches for r in b.records]


def flat(bucket: ArchiveBucket) -> list[bytes]:
    return sorted(body for _, bodies in bucket.bodies for body in bodies)


def test_a_bucket_is_written_once_full_and_the_next_batch_opens_another() -> None:
    wall, written = Wall(), []
    logic: BucketLogic | None = None
    for batch in BATCHES:
        logic = logic or BucketLogic(None, HOW, wall)
        out, discard = logic.on_item(batch)
        written += list(out)
        logic = None if discard else logic
    full = chunks(BATCHES)[:-1]
    assert len(written) == len(full) >= 2
    for bucket, chunk in zip(written, full, strict=True):
        assert bucket.batches == BUCKET_BATCHES and bucket.first_ts == chunk[0].batch.source_ts
        assert bucket.source_ts == chunk[-1].batch.source_ts
    assert logic is not None and logic.notify_at() == T0 + LINGER  # the partial last one
    out, _ = logic.on_eof()
    assert [b.batches for b in out] == [len(chunks(BATCHES)[-1])]
    assert logic.notify_at() is None and list(logic.on_eof()[0]) == []  # written: not again


def test_a_quiet_game_has_its_open_bucket_written_and_a_release_drops_it() -> None:
    wall = Wall()
    logic = BucketLogic(None, HOW, wall)
    with_events = [b for b in BATCHES if b.batch.events]
    logic.on_item(with_events[0])
    wall.now += LINGER
    [early] = logic.on_notify()[0]
    assert early.batches == 1 and logic.notify_at() is None
    assert list(logic.on_item(Released(early.game_pk))[0]) == []  # nothing new to write
    logic = BucketLogic(None, HOW, wall)
    logic.on_item(with_events[1])
    out, discard = logic.on_item(Released(early.game_pk))
    assert discard and [b.batches for b in out] == [1]


def test_a_resumed_bucket_is_written_again_after_the_linger() -> None:
    wall = Wall()
    logic = BucketLogic(None, HOW, wall)
    for batch in BATCHES[:5]:
        logic.on_item(batch)
    saved = pickle.loads(logic.snapshot())
    resumed = BucketLogic(saved, HOW, wall)
    assert resumed.notify_at() == T0 + LINGER
    assert list(resumed.on_notify()[0]) == [saved]


def test_batches_without_events_open_no_bucket() -> None:
    empty = EncodedBatch(EventBatch(1, T0.date(), "20240701_000000", ()), ())
    logic = BucketLogic(None, HOW, Wall())
    assert logic.on_item(empty) == ((), True)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.sampled_from(["item", "quiet", "resume"]), min_size=1, max_size=400),
)
def test_whatever_the_clock_does_the_last_version_of_each_bucket_is_its_batches(
    steps: list[str],
) -> None:
    wall, written, pending = Wall(), [], iter(BATCHES)
    state: bytes | None = None
    logic: BucketLogic | None = None
    for what in steps + ["item"] * len(BATCHES):
        if what == "quiet" and logic is not None:
            wall.now += LINGER
            written += list(logic.on_notify()[0])
        elif what == "resume" and logic is not None:  # a crash right after a snapshot
            state = logic.snapshot()
            logic = BucketLogic(pickle.loads(state), HOW, wall)
        elif what == "item":
            batch = next(pending, None)
            if batch is None:
                break
            logic = logic or BucketLogic(None, HOW, wall)
            out, discard = logic.on_item(batch)
            written += list(out)
            logic = None if discard else logic
    if logic is not None:
        written += list(logic.on_eof()[0])
    final = newest_buckets(written)
    expected = chunks(BATCHES)
    assert [b.first_ts for b in final] == [c[0].batch.source_ts for c in expected]
    for bucket, chunk in zip(final, expected, strict=True):
        assert flat(bucket) == sorted(bodies_of(chunk))


def test_the_worker_archives_each_snapshot_at_once_and_versions_in_buckets() -> None:
    assert (PER_SNAPSHOT.batches, VERSION_BUCKETS.batches) == (1, 16)
    assert archive_bucketing("live") is PER_SNAPSHOT  # rewrites the worker's objects
    assert archive_bucketing("v2") is VERSION_BUCKETS
    logic = BucketLogic(None, PER_SNAPSHOT, Wall())
    batch = next(b for b in BATCHES if b.batch.events)
    out, discard = logic.on_item(batch)
    [bucket] = out
    assert discard and bucket.batches == 1 and bucket.first_ts == batch.batch.source_ts
    with pytest.raises(ValueError, match="at least 1"):
        Bucketing(batches=0, linger=LINGER)
