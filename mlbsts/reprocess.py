"""``mlbsts replay``: a range of the raw log through the dataflow again, into one target.

:func:`run_replay` does it in five steps:

1. :func:`plan_replay` resolves ``--from``/``--to`` into offsets per partition of the
   input topic (``connectors/kafka_range.py``), fixed for the whole run;
2. :func:`prepare_target` readies the target (:func:`target_of`): ``live`` is the worker's
   own tables, topics and bucket; ``vN`` is schema ``<prefix>_vN`` with the derived tables
   (``mlbsts/versions.py``), the derived topics with the suffix ``.<prefix>_vN`` and the
   bucket ``<bucket>-<prefix>-vN`` (made if missing, all of them idempotent);
3. a row of the target's ``replay_runs`` records the run;
4. the dataflow (``flows/replay_flow.py``: derived tiers only, windows by event time,
   no wall-clock ticks) runs in this process with ``workers`` worker threads and a Bytewax
   recovery directory of its own (never the worker's): a fresh temporary one, or the one
   given, resumed if it holds a run's state; a thread reports progress meanwhile;
5. the run is marked finished and the recovery directory removed.

A replay into ``live`` can only add what is missing: the live rows have the same feed
timestamps and revisions at least as high, so the defensive upsert keeps them (section 2).
To change rows, replay into a version, compare, and promote it (README, "Reprocessing").

:func:`drop_version` removes a version: its schema, its topics and its bucket.

Exceptions: :class:`ReplayError` (the dataflow stopped: the message says how to resume),
``versions.VersionError`` (a bad version, or no ``replay_runs`` table), and the edges' own
(``connectors.kafka_range.KafkaRangeError``, ``mlbsts.stack.errors.ProvisionError``).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import orjson
import psycopg
from confluent_kafka.admin import AdminClient

from connectors import s3
from connectors.kafka_io import admin_config, consumer_config
from connectors.kafka_range import KafkaRangeSource, RangeProgress, resolve_range
from connectors.log_range import PartitionRange, parse_bounds
from connectors.recovery_store import log_pruned, prune_unfinished
from flows.replay_flow import ReplayTarget, replay_flow
from mlbsts import topics, versions
from mlbsts.settings import Settings
from mlbsts.stack.kafka import create_topics
from mlbsts.stack.s3 import ensure_buckets

__all__ = [
    "DERIVED_TOPICS",
    "ReplayError",
    "ReplayPlan",
    "ReplayResult",
    "drop_version",
    "plan_replay",
    "prepare_target",
    "run_replay",
    "target_of",
]

#: the topics the dataflow writes (a version has its own copy of each)
DERIVED_TOPICS = (
    topics.DLQ_GAME_SNAPSHOTS,
    topics.EVENTS_PITCH,
    topics.EVENTS_PLAY,
    topics.EVENTS_RUNNER,
    topics.EVENTS_GAME,
    topics.STATS_LIVE,
    topics.STATS_WINDOWS,
)
EPOCH = timedelta(seconds=5)  # Bytewax epoch and recovery snapshot interval of a replay
PROGRESS_EVERY_S = 0.5

Progress = Callable[[RangeProgress], None]


class ReplayError(RuntimeError):
    """The dataflow of a replay stopped before the end of its range (says how to resume)."""


@dataclass(frozen=True)
class ReplayPlan:
    """What a replay reads: offsets ``[start, end)`` per partition of ``topic``."""

    topic: str
    ranges: dict[int, PartitionRange]
    games: frozenset[int] | None

    @property
    def records(self) -> int:
        return sum(r.size for r in self.ranges.values())


@dataclass(frozen=True)
class ReplayResult:
    records: int  # records read
    snapshots: int  # snapshots processed (``games`` applied)
    seconds: float
    run_id: int

    @property
    def snapshots_per_s(self) -> float:
        return self.snapshots / self.seconds if self.seconds > 0 else 0.0


def plan_replay(
    settings: Settings, start: list[str], stop: list[str], games: frozenset[int] | None = None
) -> ReplayPlan:
    """Resolve the bounds on the input topic (``flow_input_topic``) as it is now."""
    topic = settings.flow_input_topic
    ranges = resolve_range(
        consumer_config(settings), topic, parse_bounds(start), parse_bounds(stop)
    )
    return ReplayPlan(topic, ranges, games)


def target_of(settings: Settings, into: str) -> ReplayTarget:
    """Where ``into`` (``live`` or ``vN``) is (names only; nothing is made)."""
    dsn = settings.postgres_dsn.get_secret_value()
    if into == versions.LIVE:
        return ReplayTarget(into, dsn, "", settings.s3_bucket)
    schema = versions.version_schema(settings.pg_versions_prefix, into)
    bucket = f"{settings.s3_bucket}-{schema.replace('_', '-')}"
    return ReplayTarget(into, versions.dsn_in_schema(dsn, schema), f".{schema}", bucket)


def prepare_target(settings: Settings, target: ReplayTarget) -> None:
    """Make the target's schema (a version), topics and bucket where missing."""
    if target.version != versions.LIVE:
        dsn = settings.postgres_dsn.get_secret_value()
        versions.create_version(dsn, settings.pg_versions_prefix, target.version)
        names = [target.topic(t) for t in DERIVED_TOPICS]
        create_topics(settings, names, settings.kafka_topic_partitions)
    ensure_buckets(settings, [target.bucket])


def run_replay(
    settings: Settings,
    plan: ReplayPlan,
    target: ReplayTarget,
    *,
    workers: int = 1,
    recovery_dir: Path | None = None,
    on_progress: Progress | None = None,
) -> ReplayResult:
    """Run the plan into the (prepared) target; see the module docstring."""
    from bytewax.recovery import RecoveryConfig, init_db_dir  # noqa: PLC0415 - heavy
    from bytewax.run import cli_main  # noqa: PLC0415

    run_id = _start_run(target.dsn, plan)  # VersionError without replay_runs
    progress = RangeProgress(total=plan.records)
    source = KafkaRangeSource(
        consumer_config(settings),
        plan.topic,
        plan.ranges,
        games=plan.games,
        batch_size=settings.flow_batch_size,
        progress=progress,
    )
    flow = replay_flow(settings, target, source)
    directory = recovery_dir or Path(tempfile.mkdtemp(prefix="mlbsts-replay-"))
    if not any(directory.glob("*.sqlite3")):
        directory.mkdir(parents=True, exist_ok=True)
        init_db_dir(directory, workers)  # type: ignore[no-untyped-call]
    else:  # a resume: no snapshot of an epoch the stopped run did not finish is loaded
        log_pruned(prune_unfinished(directory))
    began = time.monotonic()
    try:
        with _Reporting(progress, on_progress):
            cli_main(  # type: ignore[no-untyped-call]
                flow,
                workers_per_process=workers,
                epoch_interval=EPOCH,
                recovery_config=RecoveryConfig(directory),  # type: ignore[no-untyped-call]
            )
    except Exception as e:  # Bytewax re-raises a worker's error as it was
        raise ReplayError(
            f"replay into {target.version} stopped at {progress.done} of {progress.total} "
            f"records: {e}. Its state is in {directory}: run the same command with "
            f"--recovery-dir {directory} to resume"
        ) from e
    seconds = time.monotonic() - began
    _finish_run(target.dsn, run_id, progress.emitted)
    shutil.rmtree(directory, ignore_errors=True)
    return ReplayResult(progress.done, progress.emitted, seconds, run_id)


class _Reporting:
    """Call ``on_progress`` every ``PROGRESS_EVERY_S`` from a thread, and once at the end."""

    def __init__(self, progress: RangeProgress, on_progress: Progress | None) -> None:
        self._progress = progress
        self._on = on_progress
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="replay-progress", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(PROGRESS_EVERY_S):
            if self._on is not None:
                self._on(self._progress)

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        if self._on is not None:
            self._on(self._progress)


def _start_run(dsn: str, plan: ReplayPlan) -> int:
    ranges = {str(p): [r.start, r.end] for p, r in plan.ranges.items()}
    games = sorted(plan.games) if plan.games is not None else None
    with psycopg.connect(dsn) as conn:
        if conn.execute("SELECT to_regclass('replay_runs')").fetchone() == (None,):
            raise versions.VersionError("table replay_runs is missing: run `mlbsts init`")
        row = conn.execute(
            "INSERT INTO replay_runs (input_topic, ranges, games, records) "
            "VALUES (%s, %s::jsonb, %s, %s) RETURNING run_id",
            (plan.topic, orjson.dumps(ranges).decode(), games, plan.records),
        ).fetchone()
    if row is None:
        raise RuntimeError("replay_runs: no run id returned")
    return int(str(row[0]))


def _finish_run(dsn: str, run_id: int, snapshots: int) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "UPDATE replay_runs SET finished_at = now(), snapshots = %s WHERE run_id = %s",
            (snapshots, run_id),
        )


def drop_version(settings: Settings, version: str) -> None:
    """Drop ``vN``: its schema (refused while promoted), then its topics and its bucket."""
    target = target_of(settings, version)
    versions.drop_schema(
        settings.postgres_dsn.get_secret_value(), settings.pg_versions_prefix, version
    )
    admin = AdminClient(admin_config(settings))
    existing = set(admin.list_topics(timeout=30).topics)
    doomed = [t for t in (target.topic(n) for n in DERIVED_TOPICS) if t in existing]
    for future in admin.delete_topics(doomed, operation_timeout=30).values() if doomed else []:
        future.result(timeout=60)
    client = s3.client(settings)
    if client.bucket_exists(target.bucket):
        for obj in client.list_objects(target.bucket, recursive=True):
            if obj.object_name is not None:
                client.remove_object(target.bucket, obj.object_name)
        client.remove_bucket(target.bucket)
