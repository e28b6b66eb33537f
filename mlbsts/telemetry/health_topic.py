"""A process's health as a record of ``mlb.system.health``, and the thread that reports it.

``health_record`` is pure: the instance, the liveness and readiness verdicts (what
``/livez`` and ``/readyz`` answer, ``mlbsts.telemetry.health``) and a few figures make one
record (schemas/system_health.avsc). ``HealthReporter`` is a daemon thread that, every
``every_s`` seconds, asks the process's probes and hands the record to ``send``, which must
not block (the ops publisher, ``connectors.ops_topics``). A probe or a send that raises is
logged and the next turn goes on: reporting never stops or slows the process.

The record's key is the instance, ``<process>@<host>:<pid>`` (the host is the pod's name
in Kubernetes), so each process's reports are in order on one partition.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlbsts.telemetry.health import InputPartition, Verdict, progress_time
from mlbsts.telemetry.progress import INPUT, POLLER

__all__ = ["HealthReporter", "Instance", "figures_of", "health_record", "process_figures"]

log = logging.getLogger(__name__)

Verdicts = Callable[[], tuple[Verdict, Verdict]]  # (liveness, readiness)
Send = Callable[[str, dict[str, Any]], object]  # (key, record)
MAX_REASON = 500  # characters of a reason or a check's error kept in a record


@dataclass(frozen=True)
class Instance:
    """One running process: its name, host, pid and start time (unix seconds)."""

    process: str
    host: str
    pid: int
    started: float

    @property
    def key(self) -> str:
        return f"{self.process}@{self.host}:{self.pid}"

    @classmethod
    def here(cls, process: str) -> Instance:
        return cls(process, socket.gethostname(), os.getpid(), time.time())


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _checks(ready: Verdict) -> dict[str, str]:
    checks = ready.detail.get("checks")
    if not isinstance(checks, Mapping):
        return {}
    return {str(k): str(v)[:MAX_REASON] for k, v in checks.items()}


def health_record(
    instance: Instance,
    version: str,
    now: float,
    live: Verdict,
    ready: Verdict,
    figures: Mapping[str, float],
) -> dict[str, Any]:
    """The ``mlb.system.health`` record of ``instance`` at ``now`` (unix seconds)."""
    return {
        "instance": instance.key,
        "process": instance.process,
        "host": instance.host,
        "pid": instance.pid,
        "version": version,
        "started_at": _at(instance.started),
        "reported_at": _at(now),
        "uptime_s": max(0.0, now - instance.started),
        "live": live.ok,
        "live_reason": live.reason[:MAX_REASON],
        "ready": ready.ok,
        "ready_reason": ready.reason[:MAX_REASON],
        "checks": _checks(ready),
        "figures": {k: float(v) for k, v in figures.items()},
    }


def process_figures(
    process: str,
    now: float,
    partitions: Sequence[InputPartition],
    last_tick: float | None,
    started: float,
) -> dict[str, float]:
    """The key figures of a process: the worker's progress age, input partitions and
    known lag; the poller's loop age (since its start before its first turn)."""
    if process == "worker":
        figures = {
            "progress_age_s": round(now - progress_time(now, partitions), 3),
            "input_partitions": float(len(partitions)),
        }
        lags = [p.lag for p in partitions if p.lag is not None]
        if lags:
            figures["lag_records"] = float(sum(lags))
        return figures
    if process == "ingest":
        since = last_tick if last_tick is not None else started
        return {"loop_age_s": round(now - since, 3)}
    return {}


def figures_of(process: str) -> dict[str, float]:
    """``process_figures`` from this process's progress (``mlbsts.telemetry.progress``)."""
    return process_figures(process, time.time(), INPUT.partitions(), POLLER.last, POLLER.started)


class HealthReporter:
    """Every ``every_s`` seconds, ``send(instance.key, health_record(...))``."""

    def __init__(
        self,
        instance: Instance,
        verdicts: Verdicts,
        send: Send,
        every_s: float,
        *,
        version: str,
        figures: Callable[[], Mapping[str, float]] | None = None,
    ) -> None:
        if every_s <= 0:
            raise ValueError(f"every_s must be positive, not {every_s}")
        self.instance = instance
        self._verdicts = verdicts
        self._send = send
        self._every_s = every_s
        self._version = version
        self._figures = figures or (lambda: figures_of(instance.process))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-topic", daemon=True)

    def start(self) -> HealthReporter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def report_once(self) -> dict[str, Any]:
        """Ask the probes, build the record, send it; the record sent."""
        live, ready = self._verdicts()
        record = health_record(
            self.instance, self._version, time.time(), live, ready, self._figures()
        )
        self._send(self.instance.key, record)
        return record

    def _run(self) -> None:
        # the first report one period after the start: the process has set its probes up
        while not self._stop.wait(self._every_s):
            try:
                self.report_once()
            except Exception:  # reporting never stops the process
                log.exception("%s: health report failed", self.instance.key)
