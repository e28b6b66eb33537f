"""The fault suite's harness: a private stack, one input topic, and supervised worker runs.

- :func:`private_stack`: a fresh embedded stack beside the dev one, every port + 5000
  (``bench.private_stack`` computes the addresses and refuses a clash), in the test's
  own folder, stopped and deleted at the end. The faults stop, hang and kill *its*
  servers, never the shared dev stack's.
- :func:`fill_input`: the raw topic every run reads, filled once with the polling
  sequences of real games (``tests.e2e.feeds.publish_feeds``).
  :func:`append_record` adds one more record at the end (the bad records).
- :class:`FaultTarget`: a Postgres schema and S3 bucket of one run
  (``tests.e2e.test_recovery.Target``) whose worker environment points at the private
  stack.
- :func:`supervised_run`: the real worker under :class:`~tests.e2e.supervisor.WorkerSupervisor`
  with a recovery directory, reading the whole input into a target; ``inject`` runs
  beside it and returns when its fault ended.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from confluent_kafka import KafkaError, Message, Producer

from bench.private_stack import private_stack as bench_private_stack
from connectors.kafka_io import producer_config
from connectors.kafka_read import Mark, mark
from connectors.records import TOPIC_OF_KIND
from connectors.redis_state import game_key
from mlbsts import topics
from mlbsts.paths import PROJECT_ROOT
from mlbsts.settings import Settings, get_settings
from mlbsts.stack.kafka import create_topics
from tests.e2e.feeds import INPUT_PARTITIONS, publish_feeds
from tests.e2e.supervisor import Outcome, WorkerSupervisor
from tests.e2e.test_recovery import Target
from tests.integration.conftest import unique

PORT_OFFSET = -1000  # dev ports - 1000: every port (weed's gRPC too) below the ephemeral range
#: the worker exactly as production runs it, with Bytewax recovery (one process, one worker)
WORKER = [sys.executable, "-m", "bytewax.run", "flows.live_stats:flow", "-w", "1"]
#: the topics a run's outputs are read back from (events and dead letters)
READ_BACK = (*TOPIC_OF_KIND.values(), topics.DLQ_GAME_SNAPSHOTS)


@contextmanager
def private_stack(stack_dir: Path) -> Iterator[Settings]:
    """A fresh private stack in ``stack_dir`` (dev ports + ``PORT_OFFSET``); its settings."""
    started = bench_private_stack(get_settings(), PORT_OFFSET, stack_dir=stack_dir, timeout=120)
    with started as (settings, _env):
        yield settings


class FaultTarget(Target):
    """A run's schema and bucket; its worker talks only to the private stack."""

    def env(self, topic: str) -> dict[str, str]:
        s = self.settings
        return {
            **super().env(topic),
            "MLBSTS_STACK_DIR": str(s.stack_dir),
            "MLBSTS_KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers,
            "MLBSTS_S3_ENDPOINT": s.s3_endpoint,
            "MLBSTS_REDIS_URL": s.redis_url,
            "PYTHONUNBUFFERED": "1",  # a crash leaves its last lines in the log
        }


@dataclass(frozen=True)
class Appended:
    """A record added at the end of the input, and the dead letter it must become."""

    error_class: str
    game_pk: int
    value: bytes
    partition: int
    offset: int


@dataclass
class InputTopic:
    """The raw topic of every run: ``total`` good snapshots, then the ``appended`` ones."""

    name: str
    total: int
    games: frozenset[int]
    appended: list[Appended] = field(default_factory=list)


def fill_input(settings: Settings, feeds: list[dict[str, Any]], every: int) -> InputTopic:
    """A new raw topic holding the polling sequence of each feed (one snapshot every
    ``every`` pitches), published as the demo publishes it."""
    name = unique("faults-raw-")
    create_topics(settings, [name], INPUT_PARTITIONS)  # as production's: 8 MiB records
    total = publish_feeds(settings, name, feeds, every)
    return InputTopic(name, total, frozenset(int(f["gamePk"]) for f in feeds))


def append_record(
    settings: Settings, input_topic: InputTopic, game_pk: int, value: bytes, error_class: str
) -> Appended:
    """Produce ``value`` (keyed by ``game_pk``) at the end of the input; raises if the
    broker does not take it. The producer allows records of up to 64 MiB, so whatever
    the limit is, it is the broker's."""
    config = producer_config(settings) | {"message.max.bytes": 64 * 1024 * 1024}
    producer = Producer(config)
    reports: list[tuple[KafkaError | None, Message]] = []
    producer.produce(
        input_topic.name,
        key=str(game_pk).encode(),
        value=value,
        on_delivery=lambda err, msg: reports.append((err, msg)),
    )
    assert producer.flush(120) == 0, "the record was not acknowledged in 120 s"
    err, msg = reports[0]
    if err is not None:
        raise RuntimeError(f"the broker refused the {len(value)}-byte record: {err}")
    appended = Appended(error_class, game_pk, value, msg.partition() or 0, msg.offset() or 0)
    input_topic.appended.append(appended)
    return appended


def live_state(settings: Settings, games: frozenset[int]) -> dict[int, bytes | None]:
    """Each game's live state in Redis (``mlbsts:game:{gamePk}:live``), None if absent."""
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=10)
    try:
        values = client.mget([game_key(pk) for pk in sorted(games)])
        assert isinstance(values, list)  # a sync client
        return dict(zip(sorted(games), values, strict=True))
    finally:
        client.close()


def reset_live_state(settings: Settings, games: frozenset[int]) -> None:
    """Forget the games' live state: the keys are the same for every run."""
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=10)
    try:
        client.delete(*(game_key(pk) for pk in games))
    finally:
        client.close()


def init_recovery(directory: Path) -> Path:
    """A recovery directory as Bytewax requires it (one partition: one worker process)."""
    directory.mkdir(parents=True)
    subprocess.run(
        [sys.executable, "-m", "bytewax.recovery", str(directory), "1"],
        check=True,
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
    )
    return directory


@dataclass
class Run:
    """One supervised run of the whole input into a target."""

    target: FaultTarget
    input_topic: InputTopic
    supervisor: WorkerSupervisor
    marks: dict[str, Mark]
    fault_end: float | None = None  # monotonic; None: no fault (or it never ended)
    fault_error: str | None = None  # the fault could not be injected as meant

    @property
    def outcome(self) -> Outcome:
        return self.supervisor.outcome

    def wait_stored(self, fraction: float, timeout_s: float = 120.0) -> int:
        """Wait until ``raw_game_snapshots`` holds ``fraction`` of the input; the rows then.
        Fails if the worker ends first: the fault would not be mid-stream."""
        deadline = time.monotonic() + timeout_s
        while (rows := self.target.raw_rows()) < fraction * self.input_topic.total:
            if not self.supervisor.running():
                raise AssertionError(f"the worker ended before {fraction:.0%} was stored")
            if time.monotonic() > deadline:
                raise AssertionError(f"{fraction:.0%} of the input not stored in {timeout_s}s")
            time.sleep(0.05)
        if rows >= self.input_topic.total:
            raise AssertionError("the whole input was stored: the fault would not be mid-stream")
        return rows


#: a fault: given the run (its worker started), inject, and return when the fault ended
Inject = Callable[[Run], float | None]


def supervised_run(
    settings: Settings,
    input_topic: InputTopic,
    workdir: Path,
    inject: Inject | None,
    timeout_s: float,
) -> Run:
    """Read the whole input into a new target with the worker under a supervisor (a
    recovery directory of its own), with ``inject`` run once the worker started."""
    target = FaultTarget(settings)
    marks = {t: mark(settings, t) for t in READ_BACK}  # runs are sequential on this broker
    reset_live_state(settings, input_topic.games)
    recovery = init_recovery(workdir / "recovery")
    argv = [*WORKER, "-r", str(recovery), "-s", "1", "-b", "0"]
    supervisor = WorkerSupervisor(argv, target.env(input_topic.name), workdir / "worker.log")
    run = Run(target, input_topic, supervisor, marks)
    began = time.monotonic()
    supervisor.start()
    try:
        if inject is not None:
            run.fault_end = inject(run)
        supervisor.wait(max(1.0, timeout_s - (time.monotonic() - began)))
    except Exception as e:  # e.g. the worker ended before the fault could strike
        run.fault_error = f"{type(e).__name__}: {e}"
    finally:
        supervisor.stop()
    return run
