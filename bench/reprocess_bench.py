"""Reprocessing throughput: ``mlbsts replay`` over the raw log of ``GAMES`` games.

On a private stack (``bench.private_stack``, fresh data), the real games of the corpus and
load copies of them under shifted gamePks (``bench.load``, labelled as such) are published
to the raw topic, one snapshot every ``EVERY`` pitches (``sim.simulate``). Then the real
command, ``python -m mlbsts.commands.cli replay --into vN -w W``, replays the whole topic
in a subprocess, once per worker count, each run into a version of its own.

Measured for each run:

- wall seconds of the command, and the seconds of its dataflow (the command's own figure);
- CPU seconds of the replay process (``os.wait4``: every thread of it), in all and from
  the moment it printed its plan (the dataflow and what follows it: the start-up, imports
  and the planning are left out);
- snapshots per CPU-second of the replay process: "per worker core";
- CPU seconds of each server of the stack over the run (its process tree, with the
  PostgreSQL backends that ended during it), read before and after.

``python -m bench.reprocess_bench [--games N] [--every N] [--workers 1,2] [--out PATH]``
runs this section alone and writes ``bench/reprocess-report.md``; the analysis written
below the figures (from the heading ``NOTES_HEADING`` on) is kept.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
from confluent_kafka import Producer

from bench.load import copy_pk, relabelled
from bench.private_stack import private_stack
from connectors.envelope_serde import encode_envelope
from connectors.kafka_io import producer_config
from flows.game.envelope import make_envelope
from mlbsts.paths import PROJECT_ROOT
from mlbsts.settings import Settings, get_settings
from mlbsts.stack.layout import Layout
from mlbsts.stack.process import ProcessRecord
from sim.simulate import simulate

log = logging.getLogger("bench.reprocess")

GAMES = 20
EVERY = 3  # the cadence of the first measurement (674 snapshots of 7 games)
WORKERS = (1, 2)
GOAL_PER_CORE = 200.0
REPORT = Path(__file__).parent / "reprocess-report.md"
COMMAND_TIMEOUT_S = 1800.0
SERVER_LABELS = {
    "kafka": "broker (Tansu)",
    "s3": "S3 (SeaweedFS)",
    "postgres": "PostgreSQL",
    "redis": "Redis",
}
_TICK = os.sysconf("SC_CLK_TCK")
_RESULT = re.compile(rb"(\d+) records, (\d+) snapshots in ([\d.]+) s")
#: the report's hand-written analysis starts here; a new measurement keeps it
NOTES_HEADING = "## Where a replay's CPU goes"


@dataclass(frozen=True)
class Load:
    """What was published: streams, of which load copies, snapshots and their bytes."""

    games: int
    copies: int
    snapshots: int
    envelope_bytes: int
    publish_s: float


@dataclass
class Run:
    """One ``mlbsts replay`` over the whole topic."""

    workers: int
    wall_s: float = 0.0
    flow_s: float = 0.0
    records: int = 0
    snapshots: int = 0
    cpu_s: float = 0.0  # the replay process, start to exit
    flow_cpu_s: float = 0.0  # the replay process, from its plan line to exit
    servers: dict[str, float] = field(default_factory=dict)
    loadavg: tuple[str, str] = ("", "")  # /proc/loadavg before and after

    @property
    def per_s(self) -> float:
        return self.snapshots / self.flow_s if self.flow_s > 0 else 0.0

    @property
    def per_cpu_s(self) -> float:
        return self.snapshots / self.flow_cpu_s if self.flow_cpu_s > 0 else 0.0


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def publish(settings: Settings, feeds: list[Path], games: int, every: int) -> Load:
    """``games`` streams (the real games, then load copies) on the raw topic, game by game."""
    producer = Producer(producer_config(settings))
    topic = settings.flow_input_topic
    began = time.monotonic()
    snapshots = size = 0
    for n in range(games):
        feed = orjson.loads(feeds[n % len(feeds)].read_bytes())
        pk = copy_pk(int(feed["gamePk"]), n, len(feeds))
        for simulated in simulate(feed, every):
            snap = relabelled(simulated, pk) if pk != feed["gamePk"] else simulated
            envelope = make_envelope(
                game_pk=pk,
                body=orjson.dumps(snap),
                source_url="bench-reprocess",
                status_code=200,
                captured_at=datetime.now(UTC),
                feed=snap,
            )
            value = encode_envelope(envelope)
            _produce(producer, topic, str(pk).encode(), value)
            snapshots, size = snapshots + 1, size + len(value)
    if producer.flush(120) != 0:
        raise RuntimeError(f"bench: {len(producer)} raw records not acknowledged")
    copies = max(0, games - len(feeds))
    return Load(games, copies, snapshots, size, time.monotonic() - began)


def _produce(producer: Producer, topic: str, key: bytes, value: bytes) -> None:
    while True:
        try:
            producer.produce(topic, value=value, key=key)
            producer.poll(0)
            return
        except BufferError:  # the queue is full: let deliveries drain it
            producer.poll(0.1)


def _stat(pid: int) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name: state (0), ppid (1), ...,
    utime (11), stime (12), cutime (13), cstime (14) in clock ticks."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def _cpu_s(pid: int) -> float:
    """CPU seconds of ``pid`` (every thread) and of the children it has reaped."""
    return sum(int(f) for f in _stat(pid)[11:15]) / _TICK


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds of ``pid`` and its live descendants, with the children they reaped."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(int(_stat(int(entry.name))[1]), []).append(int(entry.name))
            except OSError:  # it ended meanwhile
                continue
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += _cpu_s(p)
        except OSError:  # it ended meanwhile (reaped: its time is in its parent's)
            continue
        todo += children.get(p, [])
    return total


def server_pids(settings: Settings) -> dict[str, int]:
    """The pid of each server of the stack of ``settings``, by server name."""
    layout = Layout(settings.stack_dir)
    pids = {}
    for name in SERVER_LABELS:
        record = ProcessRecord.load(layout.record(name))
        if record is not None:
            pids[name] = record.pid
    return pids


def replay(settings: Settings, env: dict[str, str], workers: int, version: str) -> Run:
    """Run ``mlbsts replay --into version -w workers`` over the whole raw topic."""
    run = Run(workers)
    pids = server_pids(settings)
    before = {name: _tree_cpu_s(pid) for name, pid in pids.items()}
    load_before = _loadavg()
    argv = [sys.executable, "-m", "mlbsts.commands.cli", "replay", "--into", version]
    argv += ["-w", str(workers)]
    began = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=PROJECT_ROOT,
        env={**os.environ, **env, "COLUMNS": "250"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out: list[bytes] = []
    plan_cpu: list[float] = []
    reader = threading.Thread(target=_read, args=(proc, out, plan_cpu), daemon=True)
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    run.wall_s = time.monotonic() - began
    reader.join(30)
    text = b"".join(out)
    found = _RESULT.search(text)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"bench: replay failed ({proc.returncode}): {text[-3000:]!r}")
    run.records, run.snapshots = int(found[1]), int(found[2])
    run.flow_s = float(found[3])
    run.cpu_s = usage.ru_utime + usage.ru_stime
    run.flow_cpu_s = run.cpu_s - (plan_cpu[0] if plan_cpu else 0.0)
    time.sleep(1.0)  # the PostgreSQL backends of its connections end and are reaped
    run.servers = {name: _tree_cpu_s(pid) - before[name] for name, pid in pids.items()}
    run.loadavg = (load_before, _loadavg())
    return run


def _read(proc: subprocess.Popen[bytes], out: list[bytes], plan_cpu: list[float]) -> None:
    """Collect the command's output; note its CPU time when it prints its plan (the
    dataflow starts right after)."""
    assert proc.stdout is not None
    for line in proc.stdout:
        out.append(line)
        if not plan_cpu and b" records into " in line:
            plan_cpu.append(_cpu_s(proc.pid))


def measure(
    settings: Settings, feeds: list[Path], games: int, every: int, workers: tuple[int, ...]
) -> tuple[Load, list[Run]]:
    """Publish the load on a private stack and replay it once per worker count."""
    with private_stack(settings) as (private, env):
        log.info("reprocess: publishing %d games, every %d pitches ...", games, every)
        load = publish(private, feeds, games, every)
        runs = []
        for n, w in enumerate(workers):
            log.info("reprocess: mlbsts replay -w %d over %d snapshots ...", w, load.snapshots)
            runs.append(replay(private, env, w, f"v{n + 2}"))
    return load, runs


def _row(run: Run) -> str:
    servers = " | ".join(f"{run.servers.get(name, 0.0):.1f}" for name in SERVER_LABELS)
    return (
        f"| {run.workers} | {run.snapshots} | {run.wall_s:.1f} | {run.flow_s:.1f} | "
        f"{run.per_s:.0f} | {run.cpu_s:.1f} / {run.flow_cpu_s:.1f} | {run.per_cpu_s:.0f} | "
        f"{servers} | {run.loadavg[0]} → {run.loadavg[1]} |"
    )


def render(load: Load, runs: list[Run], every: int) -> str:
    """The report section for ``load`` and its ``runs``."""
    real = load.games - load.copies
    heads = " | ".join(SERVER_LABELS[name] + " CPU s" for name in SERVER_LABELS)
    lines = [
        f"## Reprocessing: `mlbsts replay` over {load.games} games",
        "",
        f"{load.games} games on the raw topic of a fresh private stack ({real} real games; "
        f"{load.copies} load copies of them under shifted gamePks), one snapshot every "
        f"{every} pitches: {load.snapshots} snapshots, "
        f"{load.envelope_bytes / load.snapshots / 1024:.0f} KiB per envelope on average "
        f"(published in {load.publish_s:.1f} s). Each run is the real command "
        "(`mlbsts replay --into vN -w W`) in a subprocess over the whole topic, into a "
        "version of its own. *Dataflow s* is the command's own figure (the dataflow, "
        "without start-up and planning); snapshots/s is over it. Replay CPU is the whole "
        "process / from its plan to its exit (`os.wait4`); *per worker CPU-s* divides the "
        "snapshots by the latter: the throughput of one fully busy worker core. Server "
        "CPU is each server's process tree over the run. Load averages are "
        "`/proc/loadavg` (1/5/15 min) before and after, on a machine of "
        f"{os.cpu_count()} cores.",
        "",
        f"| workers | snapshots | command s | dataflow s | snapshots/s | replay CPU s | "
        f"snapshots per worker CPU-s | {heads} | load avg |",
        "|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(SERVER_LABELS) + "---|",
        *(_row(r) for r in runs),
        "",
    ]
    for r in runs:
        met = "met" if r.per_cpu_s >= GOAL_PER_CORE else "NOT met"
        lines.append(
            f"- Goal {GOAL_PER_CORE:.0f} snapshots/s per worker core, {r.workers} worker(s): "
            f"{met} ({r.per_cpu_s:.0f} per worker CPU-second, {r.per_s:.0f}/s wall)."
        )
    lines.append("")
    return "\n".join(lines)


def report(
    settings: Settings,
    feeds: list[Path],
    *,
    games: int = GAMES,
    every: int = EVERY,
    workers: tuple[int, ...] = WORKERS,
) -> str:
    load, runs = measure(settings, feeds, games, every, workers)
    return render(load, runs, every)


def kept_notes(path: Path) -> str:
    """The analysis of the report at ``path`` (from ``NOTES_HEADING`` on), or ""."""
    text = path.read_text() if path.exists() else ""
    at = text.find(NOTES_HEADING)
    return "\n" + text[at:] if at >= 0 else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reprocess_bench")
    parser.add_argument("--games", type=int, default=GAMES)
    parser.add_argument("--every", type=int, default=EVERY)
    parser.add_argument("--workers", default=",".join(map(str, WORKERS)))
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = get_settings()
    feeds = sorted((settings.data_dir / "mlb" / "feed_live").glob("*.json"))
    if not feeds:
        log.error("shared MLB corpus missing; set MLBSTS_DATA_DIR")
        return 2
    workers = tuple(int(w) for w in args.workers.split(","))
    section = report(settings, feeds, games=args.games, every=args.every, workers=workers)
    notes = kept_notes(args.out)
    args.out.write_text(f"# MLB-STS reprocessing benchmark\n\n{section}{notes}")
    log.info("wrote %s", args.out)
    sys.stdout.write(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
