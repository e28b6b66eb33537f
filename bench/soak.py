"""``python -m bench.soak`` (``make soak``): the poller follows a season in miniature.

The replay server plays :mod:`sim.season` (SYNTHETIC: three consecutive made-up dates, 32
games replaying the real recorded feeds, with a postponement and its makeup in a split
doubleheader, a delayed start, a game suspended and resumed the next day, and one scoring
change a day served the next morning) at ``--speed`` times real time, with periodic 429,
500, dropped and slow answers. ``mlbsts ingest`` follows the three dates as a subprocess,
as production runs it (its clock started at the replay's simulated instant,
``--clock-start``), on a private embedded stack (dev ports + :data:`PORT_OFFSET`, its own
folder: never the dev stack); its broker is killed (SIGKILL) once mid-run and restarted.
The poller's RSS is read from ``/proc`` at the end of each simulated day (11:00 New York
the next morning, after the correction polls). Then :mod:`bench.soak_report` checks the
log and writes ``bench/soak-report.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench.private_stack import private_env, private_settings, shared_ports
from bench.soak_report import SoakRun, check_and_report
from mlbsts import stack
from mlbsts.settings import Settings, get_settings
from sim.corpus import Corpus
from sim.replay_server import FaultPlan, FaultRule, ReplayClock, ReplayServer
from sim.season import SyntheticSeason, plan_season

log = logging.getLogger("bench.soak")

PORT_OFFSET = 4000  # clear of the dev stack, the bench (+1000) and the broker-kill test (+3000)
FIRST_DAY = date(2031, 6, 3)  # made up: no real game is ever confused with these
SPEED = 800.0
LEAD = timedelta(minutes=90)  # the clock starts this long before the first game
KILL_AT = timedelta(days=1, hours=1)  # after the first day's 00:00 UTC: its night games live
DOWN_S = 3.0  # real seconds the broker stays dead
FAULTS = (
    FaultRule("429", every=41, burst=1),
    FaultRule("500", every=53, burst=2),
    FaultRule("drop", every=67, burst=1),
    FaultRule("slow", every=59, burst=1),
)
POLLER_ENV = {  # the replay's knobs: rates stay in real seconds while the clock runs faster
    "MLBSTS_MLB_API_RATE_PER_S": "200",
    "MLBSTS_MLB_API_BURST": "20",
    "MLBSTS_MLB_API_TIMEOUT_S": "5",
    "MLBSTS_MLB_API_BACKOFF_BASE_S": "0.05",
    "MLBSTS_MLB_API_BACKOFF_CAP_S": "0.5",
    "MLBSTS_MLB_API_BREAKER_RESET_S": "0.5",
    "MLBSTS_INGEST_PUBLISH_BACKOFF_CAP_S": "1",
}
MLBSTS = str(Path(sys.executable).parent / "mlbsts")


@dataclass
class CountingFaults(FaultPlan):
    """A fault plan that counts what it injected, by kind."""

    injected: Counter[str] = field(default_factory=Counter)
    _tally: threading.Lock = field(default_factory=threading.Lock)

    def next_faults(self) -> set[str]:
        out = super().next_faults()
        with self._tally:
            self.injected.update(out)
        return out


@dataclass
class Watch:
    """What the soak saw while the poller ran (filled by :func:`_watch`)."""

    rss_kb: dict[str, int] = field(default_factory=dict)  # label -> VmRSS
    peak_rss_kb: int = 0
    broker_kill: dict[str, object] = field(default_factory=dict)


@contextmanager
def soak_stack(dev: Settings) -> Iterator[tuple[Settings, dict[str, str]]]:
    """A fresh private stack (dev ports + PORT_OFFSET, folder ``soak-stack``), deleted after."""
    env = private_env(dev, PORT_OFFSET)
    env["MLBSTS_STACK_DIR"] = str(dev.stack_dir / "soak-stack")
    private = private_settings(env)
    bench = private_settings(private_env(dev))
    clash = shared_ports(dev, private) | shared_ports(bench, private)
    if clash:
        raise stack.SettingsError(f"soak: the private stack would bind ports {sorted(clash)}")
    stack.down(private, purge=True)
    try:
        stack.up(private)
        yield private, env
    finally:
        stack.down(private, purge=True)


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def _kill_broker(private: Settings, watch: Watch, at: datetime) -> None:
    record = json.loads((private.stack_dir / "pids" / "kafka.json").read_text())
    pid = int(record["pid"])
    began = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    log.info("broker %d killed (SIGKILL) at simulated %s", pid, at.isoformat())
    time.sleep(DOWN_S)
    stack.up(private)  # restarts only what is dead
    watch.broker_kill = {
        "pid": pid,
        "at_simulated": at.isoformat(),
        "down_real_s": round(time.monotonic() - began, 1),
    }
    log.info("broker back after %.1fs", time.monotonic() - began)


def _watch(
    proc: subprocess.Popen[str], clock: ReplayClock, days: list[date], private: Settings
) -> Watch:
    """Sample the poller's RSS, kill the broker once, until the poller exits."""
    watch = Watch()
    marks = {f"start + 1h ({days[0]})": clock.now() + timedelta(hours=1)}
    for day in days:
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
        marks[f"end of {day} (11:00 New York next day)"] = end + timedelta(hours=15)
    kill_at = datetime.combine(days[0], datetime.min.time(), UTC) + KILL_AT
    killed = False
    while proc.poll() is None:
        now = clock.now()
        rss = _rss_kb(proc.pid)
        watch.peak_rss_kb = max(watch.peak_rss_kb, rss)
        for label, at in list(marks.items()):
            if now >= at and rss:
                watch.rss_kb[label] = rss
                log.info("poller RSS %d MB at %s", rss // 1024, label)
                del marks[label]
        if not killed and now >= kill_at:
            killed = True
            _kill_broker(private, watch, now)
        time.sleep(0.1)
    return watch


def _poller(
    url: str,
    days: list[date],
    env: dict[str, str],
    start: datetime,
    speed: float,
    runtime_s: float,
    log_path: Path,
) -> subprocess.Popen[str]:
    """``mlbsts ingest`` following ``days`` on the replay at ``url``, stderr to ``log_path``."""
    cmd = [MLBSTS, "ingest", "--base-url", url, "--speed", str(speed)]
    for day in days:
        cmd += ["--date", day.isoformat()]
    cmd += ["--clock-start", start.isoformat(), "--max-runtime", f"{runtime_s:.0f}"]
    full_env = {**os.environ, **env, **POLLER_ENV}
    err = log_path.open("w")
    return subprocess.Popen(cmd, env=full_env, stdout=subprocess.PIPE, stderr=err, text=True)


def run_soak(speed: float, report_path: Path) -> bool:
    """The whole soak; True when every check passed."""
    dev = get_settings()
    data_dir = dev.data_dir
    season = SyntheticSeason(data_dir, plan_season(FIRST_DAY, Corpus(data_dir).game_pks))
    log.info("building %d synthetic game timelines ...", len(season.game_pks))
    for pk in season.game_pks:
        season.timeline(pk)
    first = min(g.start for g in season.games.values())
    start = first - LEAD
    end = datetime.combine(season.days[-1] + timedelta(days=1), datetime.min.time(), UTC)
    end += timedelta(hours=15, minutes=30)
    runtime_s = (end - start).total_seconds() / speed
    with soak_stack(dev) as (private, env):
        clock = ReplayClock(start, speed, paused=True)
        faults = CountingFaults(rules=list(FAULTS), slow_s=0.3)
        began = datetime.now(UTC)
        with ReplayServer(season, clock, faults=faults) as server:
            log_path = dev.stack_dir / "soak-poller.log"  # .mlbsts/, not committed
            log.info("poller following %s at %.0fx for ~%.0fs", season.days, speed, runtime_s)
            proc = _poller(server.url, season.days, env, start, speed, runtime_s, log_path)
            watch = _watch(proc, clock, season.days, private)
            out = proc.stdout.read() if proc.stdout else ""
            requests = server.request_log()
        run = SoakRun(
            season=season,
            settings=private,
            env=env,
            speed=speed,
            log_since=began - timedelta(minutes=1),
            log_until=datetime.now(UTC) + timedelta(minutes=1),
            wall_s=(datetime.now(UTC) - began).total_seconds(),
            poller_rc=proc.returncode,
            poller_summary=_last_json(out),
            faults=dict(faults.injected),
            statuses=dict(Counter(r.status for r in requests)),
            requests=len(requests),
            rss_kb=watch.rss_kb,
            peak_rss_kb=watch.peak_rss_kb,
            broker_kill=watch.broker_kill,
        )
        return check_and_report(run, report_path)


def _last_json(out: str) -> dict[str, object]:
    for line in reversed(out.strip().splitlines()):
        try:
            found = json.loads(line)
        except ValueError:
            continue
        if isinstance(found, dict):
            return found
    return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--speed", type=float, default=SPEED, help="simulated s per real s")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    report = Path(__file__).parent / "soak-report.md"
    ok = run_soak(args.speed, report)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
