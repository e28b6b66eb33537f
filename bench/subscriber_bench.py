"""Subscriber delivery: 15 games at 30x, from a snapshot being produced to its events read
back by a subscriber, on a fresh embedded stack and again after a long history.

``python -m bench.subscriber_bench [--history N] [--per-batch B] [--waits 50,500]`` writes
``bench/subscriber-report.md``. Each scenario gets a private stack of its own at the dev
ports + ``SUBSCRIBER_OFFSET`` (-2500; ``make bench`` uses +1000), in its own folder, deleted after.

Scenarios: for each read-back consumer setting (``fetch.wait.max.ms``), the end-to-end
load of ``bench.e2e`` on a fresh stack, then on a stack whose event topics were first given
``N`` records of history. The history is load copies of real events (the engine's events
of the corpus games, produced again and again with a header ``mlbsts-load: copy``) made
fast by a plain producer in batches of ``B`` records. Tansu stores one S3 object per
produced batch and a fetch lists every object of the partition, so its cost follows the
number of objects, not of records: the report gives both.

``--retention S`` runs the stacks with the log trimmer at ``S`` seconds
(``MLBSTS_EMBEDDED_LOG_RETENTION_S``; the history first ages past it and is trimmed) and
adds its tables to the report under their own heading. Every run keeps the report's
hand-written findings (from "What stands in the way" on).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Producer

from bench import e2e
from bench.private_stack import PORT_OFFSET, private_env, private_settings, private_stack
from connectors import s3
from connectors.kafka_follow import Start, follow
from connectors.kafka_io import producer_config
from connectors.records import TOPIC_OF_KIND, event_record
from mlbsts.paths import PROJECT_ROOT
from mlbsts.settings import Settings, get_settings
from mlbsts.stack.layout import Layout
from mlbsts.stack.log_retention import trim_every_s
from mlbsts.stack.log_trimmer import read_status, status_path
from mlbsts.stack.s3 import LOG_BUCKET
from sim.sources import load_snapshots, run_engine

log = logging.getLogger("bench.subscriber")

#: the heading of the report's findings, written by hand and kept by every run
FINDINGS = "## What stands in the way"

#: this benchmark's private stack: dev ports + 9500 (``make bench`` takes +1000)
SUBSCRIBER_OFFSET = -2500  # every port below the ephemeral range (32768)
REPORT = PROJECT_ROOT / "bench" / "subscriber-report.md"
LOAD_HEADER = ("mlbsts-load", b"copy")
#: Tansu's cluster id (its default): objects live under ``clusters/<id>/topics/...``
TANSU_CLUSTER = "tansu_cluster"
#: the probe's load runs this long before its records count (the reader's start-up)
WARM_UP_S = 10.0


@dataclass(frozen=True)
class Outcome:
    """One scenario's figures (milliseconds) and the machine's load around it."""

    label: str
    wait_ms: int
    history: int
    objects: int  # S3 objects (produced batches) on the event topics before the run
    produced: list[float]
    read_back: list[float]
    lag: list[float]  # read back minus the record's CreateTime: the subscriber's own part
    published: int
    seen: int
    load_before: str
    load_after: str


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def subscriber_stack(dev: Settings) -> AbstractContextManager[tuple[Settings, dict[str, str]]]:
    """A fresh private stack beside the dev one and ``make bench``'s, deleted on exit."""
    bench_stack = private_settings(private_env(dev, PORT_OFFSET))
    return private_stack(dev, SUBSCRIBER_OFFSET, "subscriber-stack", beside=(bench_stack,))


def real_event_records(feeds: list[Path]) -> list[tuple[str, bytes | None, bytes]]:
    """(topic, key, value) of every event the engine makes of ``feeds``, pitch by pitch."""
    out = []
    for feed in feeds:
        for event in run_engine(load_snapshots(feed, 1)):
            record = event_record(event)
            out.append((record.topic, record.key, record.value))
    return out


def preload(
    settings: Settings, records: list[tuple[str, bytes | None, bytes]], total: int, per_batch: int
) -> float:
    """Produce ``total`` load copies of ``records`` in batches of ``per_batch``; seconds."""
    producer = Producer(
        {**producer_config(settings), "linger.ms": 50, "batch.num.messages": per_batch}
    )
    began = time.monotonic()
    for n in range(total):
        topic, key, value = records[n % len(records)]
        while True:
            try:
                producer.produce(topic, value=value, key=key, headers=[LOAD_HEADER])
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(600)
    if left:
        raise RuntimeError(f"history: {left} records not acknowledged")
    return time.monotonic() - began


def event_objects(settings: Settings) -> int:
    """How many S3 objects (one per produced batch) the event topics hold."""
    client = s3.client(settings)
    count = 0
    for topic in TOPIC_OF_KIND.values():
        prefix = f"clusters/{TANSU_CLUSTER}/topics/{topic}/partitions/"
        objects = client.list_objects(LOG_BUCKET, prefix=prefix, recursive=True)
        count += sum(1 for o in objects if (o.object_name or "").endswith(".batch"))
    return count


def scenario(
    dev: Settings, feeds: list[Path], wait_ms: int, history: int, per_batch: int
) -> Outcome:
    """The e2e load with a read-back consumer of ``fetch.wait.max.ms = wait_ms`` on a fresh
    stack given ``history`` records first."""
    label = f"{'history' if history else 'fresh'}, fetch.wait.max.ms={wait_ms}"
    with subscriber_stack(dev) as (private, env):
        if history:
            took = preload(private, real_event_records(feeds), history, per_batch)
            log.info("%s: %d history records in %.0f s", label, history, took)
            wait_for_trim(private)
        objects = event_objects(private)
        before = _loadavg()
        run, _, _, _ = e2e.measure(
            private,
            feeds,
            1,
            stack_env=env,
            consumer_overrides={"fetch.wait.max.ms": wait_ms},
        )
        after = _loadavg()
    return Outcome(
        label=label,
        wait_ms=wait_ms,
        history=history,
        objects=objects,
        produced=_ms(e2e._latencies(run, run.produced, 0.0)),
        read_back=_ms(e2e._latencies(run, run.to_topics, 0.0)),
        lag=[1000 * (run.to_topics[k] - run.produced[k]) for k in run.to_topics],
        published=len(run.published),
        seen=len(run.to_topics),
        load_before=before,
        load_after=after,
    )


def _produce_at(
    producer: Producer, records: list[tuple[str, bytes | None, bytes]], count: int, rate: float
) -> None:
    began = time.monotonic()
    for n in range(count):
        time.sleep(max(0.0, began + n / rate - time.monotonic()))
        topic, key, value = records[n % len(records)]
        producer.produce(topic, value=value, key=key, headers=[LOAD_HEADER])
        producer.poll(0)
    producer.flush(30)


def probe(
    settings: Settings,
    records: list[tuple[str, bytes | None, bytes]],
    wait_ms: int,
    *,
    seconds: float = 20.0,
    rate: float = 25.0,
) -> tuple[list[float], float]:
    """``mlbsts tail``'s reader (``kafka_follow.follow``, every event topic, from the end)
    with ``kafka_subscriber_fetch_wait_ms = wait_ms`` while a producer with the worker's
    settings writes ``rate`` real event records a second. No worker runs: this is the
    broker and the subscriber alone. Returns each record's delay in ms from its CreateTime
    to being read, for the records made after ``WARM_UP_S`` of the same load, and when the
    first warm-up record was read, in seconds (following from the end starts
    ``WATERMARK_MARGIN`` records back and reads them first)."""
    tuned = settings.model_copy(update={"kafka_subscriber_fetch_wait_ms": wait_ms})
    seen: list[tuple[int, float]] = []  # (CreateTime ms, read at ms)
    ready, stop = threading.Event(), threading.Event()

    def read() -> None:
        topics = list(TOPIC_OF_KIND.values())
        for rec in follow(
            tuned, topics, Start("end"), on_ready=lambda _: ready.set(), stop=stop.is_set
        ):
            seen.append((rec.timestamp_ms, time.time() * 1000))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    ready.wait(30)
    producer = Producer(producer_config(settings))
    warm_ms = time.time() * 1000
    _produce_at(producer, records, int(WARM_UP_S * rate), rate)
    firsts = [read for ts, read in seen if ts >= warm_ms]
    catch_up_s = (min(firsts) - warm_ms) / 1000 if firsts else float("nan")
    measured_ms = time.time() * 1000
    _produce_at(producer, records[int(WARM_UP_S * rate) :], int(seconds * rate), rate)
    time.sleep(5)  # the last records' delivery
    stop.set()
    reader.join(10)
    return [read - ts for ts, read in seen if ts >= measured_ms], catch_up_s


def wait_for_trim(settings: Settings) -> None:
    """With the log trimmer on: until the history is past the retention and trimmed."""
    if not (retention := settings.embedded_log_retention_s):
        return
    time.sleep(retention)
    path = status_path(Layout(settings.stack_dir))
    deadline = time.monotonic() + trim_every_s(retention) * 2 + 30
    while time.monotonic() < deadline:
        status = read_status(path) or {}
        if status.get("deleted_total", 0):
            log.info("trim: %s", status.get("last"))
            return
        time.sleep(1)
    log.warning("trim: no pass deleted anything in time")


def probes(
    dev: Settings, feeds: list[Path], history: int, per_batch: int, waits: list[int]
) -> list[str]:
    """Table rows: ``probe`` for each wait on a fresh stack given ``history`` records."""
    rows = []
    records = real_event_records(feeds)
    with subscriber_stack(dev) as (private, _):
        if history:
            preload(private, records, history, per_batch)
            wait_for_trim(private)
        for wait in waits:
            objects = event_objects(private)  # each probe adds its own records
            before = _loadavg()
            lags, catch_up_s = probe(private, records, wait)
            rows.append(
                f"| {history} | {objects} | {wait} | {catch_up_s:.1f} | {len(lags)} | "
                f"{_cell(lags)} | {before} -> {_loadavg()} |"
            )
            log.info("probe %s", rows[-1])
    return rows


def _ms(values: list[float]) -> list[float]:
    return [1000 * v for v in values]


def _cell(values: list[float]) -> str:
    if not values:
        return "no sample"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"{statistics.median(values):.0f} / {p99:.0f} / {ordered[-1]:.0f}"


def report_lines(outcomes: list[Outcome], per_batch: int) -> list[str]:
    """The report's table: one row per scenario."""
    lines = [
        "| scenario | history records | event-topic objects before | snapshots seen / "
        "published | events produced p50 / p99 / max ms | read back p50 / p99 / max ms | "
        "read back - CreateTime p50 / p99 / max ms | load average before -> after |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for o in outcomes:
        lines.append(
            f"| {o.label} | {o.history} | {o.objects} | {o.seen} / {o.published} | "
            f"{_cell(o.produced)} | {_cell(o.read_back)} | {_cell(o.lag)} | "
            f"{o.load_before} -> {o.load_after} |"
        )
    lines.append("")
    lines.append(
        f"History: load copies of real events (the corpus games' events, produced again with "
        f"the header `mlbsts-load: copy`) in batches of {per_batch} records."
    )
    return lines


PROBE_HEAD = [
    "",
    "Broker and subscriber alone (`probe`): `kafka_follow.follow` on every event topic while "
    "a producer with the worker's settings writes 25 real event records a second for 20 s "
    "after a 10 s warm-up at that rate; delay from each record's CreateTime to being read. "
    "Each probe starts like `mlbsts tail --from end`, `WATERMARK_MARGIN` records back per "
    "partition, so it first reads the earlier probes' records (one S3 GET per stored batch); "
    "where that start-up outlasted the warm-up (first read `nan` or seconds), a row measures "
    "the start-up more than the fetch wait.",
    "",
    "| history records | event-topic objects at start | fetch wait ms | "
    "first read after s | records read | p50 / p99 / max ms | load average before -> after |",
    "|---:|---:|---:|---:|---:|---:|---|",
]


def write_report(args: argparse.Namespace, outcomes: list[Outcome], probe_rows: list[str]) -> None:
    """The whole report; with ``--retention``, a section added to the report there is."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    run = (
        f"Run {stamp} on {platform.machine()}, {os.cpu_count()} cores shared with other "
        f"work; {e2e.GAMES} games at {e2e.SPEED:.0f}x for {e2e.DURATION_S:.0f} s "
        "(`bench.e2e`), one worker process; each scenario on a fresh private stack."
    )
    tables = report_lines(outcomes, args.per_batch) + PROBE_HEAD + probe_rows
    previous = args.out.read_text() if args.out.exists() else ""
    at = previous.find(FINDINGS)
    findings = previous[at:] if at >= 0 else FINDINGS + "\n"
    if args.retention is None:
        title = "# Subscriber delivery: snapshot produced -> events read by a subscriber"
        args.out.write_text("\n".join([title, "", run, "", *tables, "", findings]))
        return
    trim = (
        f"Trimmer on (`MLBSTS_EMBEDDED_LOG_RETENTION_S={args.retention:.0f}`): the history was "
        "left to age past the retention and a trimmer pass deleted it before the measurement; "
        "during it, the trimmer keeps deleting batches older than the retention."
    )
    title = f"## With the log trimmer, retention {args.retention:.0f} s"
    before = (previous[:at] if at >= 0 else previous).rstrip("\n")
    section = [title, "", run, "", trim, "", *tables]
    args.out.write_text("\n".join([before, "", *section, "", findings]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.subscriber_bench")
    parser.add_argument("--history", type=int, default=100_000, help="records of history")
    parser.add_argument("--per-batch", type=int, default=500, help="records per history batch")
    parser.add_argument("--waits", default="50,500", help="fetch.wait.max.ms values, ms")
    parser.add_argument("--probe-waits", default="50,200,500")
    parser.add_argument("--probes-only", action="store_true")
    parser.add_argument("--out", type=Path, default=REPORT)
    parser.add_argument(
        "--retention",
        type=float,
        help="run with the log trimmer at this retention (s), after the history has aged "
        "past it; the tables are added to the report under their own heading",
    )
    args = parser.parse_args(argv)
    if args.retention is not None:  # the private stacks' settings read it
        os.environ["MLBSTS_EMBEDDED_LOG_RETENTION_S"] = str(args.retention)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    dev = get_settings()
    corpus = sorted((dev.data_dir / "mlb" / "feed_live").glob("*.json"))
    probe_waits = [int(w) for w in args.probe_waits.split(",")]
    probe_rows = [
        row
        for history in (0, args.history)
        for row in probes(dev, corpus, history, args.per_batch, probe_waits)
    ]
    outcomes = []
    for wait in (int(w) for w in args.waits.split(",") if not args.probes_only):
        for history in (0, args.history):
            outcomes.append(scenario(dev, corpus, wait, history, args.per_batch))
            log.info("%s", report_lines(outcomes, args.per_batch)[-3])
    write_report(args, outcomes, probe_rows)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
