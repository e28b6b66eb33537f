"""Fault suite (issue 15): each fault mid-stream ends as a run without it.

The worker runs as in production, under a supervisor that restarts it whenever it exits
non-zero (``tests/e2e/supervisor.py``), with a recovery directory. On a private stack of
its own (dev ports + 5000; the faults stop, hang and kill *its* servers), one input topic
holds real games' polling sequences. A baseline run reads it without a fault; then each
fault's run reads the same input into a schema and bucket of its own, and the fault
strikes once a quarter of the input is stored:

- PostgreSQL stopped 30 s; PostgreSQL hung 30 s (SIGSTOP); the broker SIGKILLed and
  restarted; the S3 server hung 30 s (SIGSTOP; the broker stores its log there, so it
  hangs too); Redis stopped 30 s; the worker SIGKILLed twice (at 25 % and 50 %);
- a record the database refuses, then a 20 MB record (``tests/e2e/bad_records.py``),
  each appended to the end of the input just before its run. Appending keeps the topic,
  partition and offset of every good record, which ``raw_game_snapshots`` stores, equal
  to the baseline's (a copy of the input in a second topic would not), and costs no second
  fill; so those two runs come last, and the later one reads both bad records.

Each run must end cleanly with every table row for row, every S3 object (name and etag)
and every event id equal to the baseline (repeats only as exact duplicates), the dead
letters equal to the baseline's plus one per bad record on the input (of its class,
carrying the original or an S3 object its ``original_ref`` names, the one object allowed
beyond the baseline's), and no abort: outages of 30 s are well inside the sinks' outage
budget (``sink_outage_budget_s``, 300 s by default). The worker killed twice aborts
exactly twice. ``late`` letters of the league windows and Redis's live state (an
optional cache) are reported, not compared (``tests/e2e/fault_checks.py`` says why).
The catch-up time after each fault is reported, not asserted (terminal summary;
``make faults`` writes ``bench/fault-report.md``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from mlbsts.settings import Settings
from tests.e2e import bad_records, fault_injection
from tests.e2e.fault_checks import Observed, differences, expected_letters, observe, remarks
from tests.e2e.fault_harness import (
    InputTopic,
    Run,
    append_record,
    fill_input,
    private_stack,
    supervised_run,
)
from tests.e2e.fault_report import SUITE, FaultRow, write_report
from tests.e2e.feeds import real_feeds

pytestmark = [pytest.mark.e2e, pytest.mark.corpus, pytest.mark.faults]

EVERY = 4  # pitches between two polls
OUTAGE_S = 30.0
TRIGGER = 0.25  # the fault strikes once this part of the input is stored
RUN_TIMEOUT_S = 240.0


@dataclass(frozen=True)
class Baseline:
    settings: Settings
    input_topic: InputTopic
    observed: Observed
    feed: dict[str, Any]  # the game the bad records are made of


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Baseline]:
    """The private stack, the input and the run without a fault."""
    workdir = tmp_path_factory.mktemp("faults")
    SUITE.began = time.monotonic()
    try:
        with private_stack(workdir / "stack") as settings:
            feeds = real_feeds()
            began = time.monotonic()
            input_topic = fill_input(settings, feeds, EVERY)
            filled = time.monotonic() - began
            run = supervised_run(settings, input_topic, workdir / "baseline", None, RUN_TIMEOUT_S)
            outcome = run.outcome
            assert outcome.ended_at is not None, (outcome, run.supervisor.log)
            assert not outcome.aborts, (outcome, run.supervisor.log)
            assert run.target.raw_rows() == input_topic.total
            SUITE.notes.append(
                f"input: games {sorted(input_topic.games)}, a snapshot every {EVERY} pitches: "
                f"{input_topic.total} snapshots on {input_topic.name} (published in "
                f"{filled:.0f} s); baseline run {outcome.ended_at - outcome.started_at:.1f} s "
                f"(1 worker, recovery every 1 s); outages {OUTAGE_S:.0f} s, from "
                f"{TRIGGER:.0%} of the input stored; outage budget "
                f"{settings.sink_outage_budget_s:.0f} s"
            )
            observed = observe(settings, run)
            assert all(observed.live.values()), "the baseline left no live state in Redis"
            yield Baseline(settings, input_topic, observed, feeds[0])
            down = time.monotonic()
        SUITE.notes.append(f"private stack stopped and deleted in {time.monotonic() - down:.0f} s")
    finally:
        SUITE.ended = time.monotonic()
        write_report()


Inject = Callable[[Settings, Run], float | None]


def _server(fault: Callable[[Settings, str, float], float], name: str) -> Inject:
    def inject(settings: Settings, run: Run) -> float:
        run.wait_stored(TRIGGER)
        return fault(settings, name, OUTAGE_S)

    return inject


def _broker_kill(settings: Settings, run: Run) -> float:
    run.wait_stored(TRIGGER)
    return fault_injection.kill_and_restart(settings, "kafka")


def _worker_kill_twice(settings: Settings, run: Run) -> float:
    for fraction in (TRIGGER, 2 * TRIGGER):
        run.wait_stored(fraction)
        starts = len(run.outcome.starts)
        assert run.supervisor.kill_worker(), "no worker to kill"
        deadline = time.monotonic() + 60
        while len(run.outcome.starts) == starts:  # the supervisor restarts it
            assert run.supervisor.running() and time.monotonic() < deadline, "not restarted"
            time.sleep(0.05)
    return run.outcome.starts[-1]


@dataclass(frozen=True)
class Fault:
    title: str
    inject: Inject | None = None
    aborts: int = 0
    bad_record: Callable[[dict[str, Any], int], bytes] | None = None
    error_class: str = ""


FAULTS = {
    "postgres-stopped": Fault(
        "PostgreSQL stopped 30 s", _server(fault_injection.stop_for, "postgres")
    ),
    "postgres-hung": Fault(
        "PostgreSQL hung 30 s (SIGSTOP)", _server(fault_injection.hang_for, "postgres")
    ),
    "broker-killed": Fault("broker SIGKILL and restart", _broker_kill),
    "s3-hung": Fault("S3 server hung 30 s (SIGSTOP)", _server(fault_injection.hang_for, "s3")),
    "redis-stopped": Fault("Redis stopped 30 s", _server(fault_injection.stop_for, "redis")),
    "worker-killed-twice": Fault("worker SIGKILL twice", _worker_kill_twice, aborts=2),
    # these two append to the input, so they come last
    "db-refused-record": Fault(
        "a record the database refuses",
        bad_record=bad_records.refused_record,
        error_class="db_rejected",
    ),
    "oversized-record": Fault(
        "an oversized record (20 MB)",
        bad_record=bad_records.oversized_record,
        error_class="oversized",
    ),
}


def _append_bad_record(base: Baseline, fault: Fault) -> str:
    """Append the fault's bad record to the input; what the broker did with it."""
    assert fault.bad_record is not None
    value = fault.bad_record(base.feed, EVERY)
    game_pk = int(base.feed["gamePk"])
    added = append_record(base.settings, base.input_topic, game_pk, value, fault.error_class)
    return (
        f"the broker took the {len(value) / 2**20:.1f} MiB record (partition "
        f"{added.partition}, offset {added.offset}; the topic's max.message.bytes is "
        f"{base.settings.kafka_max_message_bytes / 2**20:.0f} MiB)"
    )


def _check(base: Baseline, fault: Fault, run: Run, row: FaultRow) -> None:
    """Fill ``row`` from a finished run: its outcome, its problems, what else was seen."""
    outcome = run.outcome
    ended, fault_end = outcome.ended_at, run.fault_end
    row.aborts = len(outcome.aborts)
    row.causes = [abort.cause for abort in outcome.aborts]
    row.run_s = (ended or time.monotonic()) - outcome.started_at
    row.catch_up_s = None if ended is None or fault_end is None else ended - fault_end
    if run.fault_error is not None:
        row.problems.append(f"fault not injected: {run.fault_error}")
    if ended is None:
        row.problems.append(f"no clean exit ({outcome.gave_up})")
    if len(outcome.aborts) != fault.aborts:
        row.problems.append(f"{len(outcome.aborts)} aborts, want {fault.aborts}")
    if ended is not None:
        got = observe(base.settings, run)
        letters = expected_letters(base.observed, base.input_topic)
        row.problems += differences(base.settings, run, base.observed, got, letters)
        row.notes += remarks(run, base.observed, got)


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault_mid_stream_ends_as_a_run_without_it(
    baseline: Baseline, name: str, tmp_path: Path
) -> None:
    fault, settings = FAULTS[name], baseline.settings
    row = FaultRow(fault.title, False, 0, fault.aborts, 0.0, None, [], [], [])
    SUITE.rows.append(row)
    log, began = tmp_path / "worker.log", time.monotonic()
    try:
        if fault.bad_record is not None:
            row.notes.append(_append_bad_record(baseline, fault))
        inject = None if fault.inject is None else partial(fault.inject, settings)
        run = supervised_run(settings, baseline.input_topic, tmp_path, inject, RUN_TIMEOUT_S)
        log = run.supervisor.log
        _check(baseline, fault, run, row)
    except Exception as e:  # still in the report
        row.problems.append(f"{type(e).__name__}: {e}")
        raise
    finally:
        row.test_s = time.monotonic() - began
    row.passed = not row.problems
    assert row.passed, "\n".join([*row.problems, f"worker log: {log}"])
