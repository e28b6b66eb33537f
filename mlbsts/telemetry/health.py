"""Health that means something: the rules of liveness and readiness, pure.

**Liveness** is progress. A Bytewax worker runs its input, its steps and its sinks on one
thread per worker, so a worker blocked anywhere (a sink waiting on a stopped server, a
hung call) stops polling its input partitions. The worker is alive unless one of its input
partitions has records to read (lag > 0) and was not polled for ``max_stall_s``: idle with
nothing to read is alive, and so is a worker whose lag is unknown (the broker cannot be
reached: a restart would not help; readiness says so). The poller is alive while its loop
turns (``max_stall_s`` between two turns, or since start before the first).

**Readiness** is reaching the servers: ready when every required check passed. A check is
a name and an error (``None``: reached).

Times are unix seconds, passed in: the rules read no clock.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "InputPartition",
    "Verdict",
    "poller_liveness",
    "progress_time",
    "readiness",
    "worker_liveness",
]


@dataclass(frozen=True)
class Verdict:
    """An answer of ``/livez`` or ``/readyz``: ok or not, why, and the figures behind it."""

    ok: bool
    reason: str
    detail: Mapping[str, object] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {"ok": self.ok, "reason": self.reason, **self.detail}


@dataclass(frozen=True)
class InputPartition:
    """What a worker process knows of one input partition it reads."""

    topic: str
    partition: int
    next_offset: int | None  # None: nothing read yet
    last_poll: float  # when the worker last polled it
    lag: int | None = None  # records on the broker not read yet; None: unknown

    @property
    def name(self) -> str:
        return f"{self.topic}[{self.partition}]"


def worker_liveness(
    now: float, partitions: Sequence[InputPartition], max_stall_s: float
) -> Verdict:
    """Dead when a partition with records to read was not polled for ``max_stall_s``."""
    stalled = [p for p in partitions if (p.lag or 0) > 0 and now - p.last_poll > max_stall_s]
    detail: dict[str, object] = {
        "partitions": {
            p.name: {"lag": p.lag, "polled_s_ago": round(now - p.last_poll, 3)} for p in partitions
        }
    }
    if stalled:
        worst = max(stalled, key=lambda p: now - p.last_poll)
        return Verdict(
            False,
            f"no progress for {now - worst.last_poll:.0f} s with {worst.lag} records to read "
            f"on {worst.name}",
            detail,
        )
    if not partitions:
        return Verdict(True, "no input partition in this process", detail)
    if any(p.lag is None and now - p.last_poll > max_stall_s for p in partitions):
        return Verdict(True, "not polled lately, but the lag is unknown (brokers?)", detail)
    if all((p.lag or 0) == 0 for p in partitions):
        return Verdict(True, "idle: nothing to read", detail)
    return Verdict(True, "making progress", detail)


def progress_time(now: float, partitions: Sequence[InputPartition]) -> float:
    """When the worker last made progress: its slowest partition's last poll, or ``now``
    with no partition (nothing to wait for)."""
    return min((p.last_poll for p in partitions), default=now)


def poller_liveness(
    now: float, last_tick: float | None, started: float, max_stall_s: float
) -> Verdict:
    """Alive while the poller's loop turned within ``max_stall_s`` (or it started so)."""
    since = last_tick if last_tick is not None else started
    idle = now - since
    detail = {"last_tick_s_ago": None if last_tick is None else round(idle, 3)}
    if idle > max_stall_s:
        what = "the poller's loop did not turn" if last_tick is not None else "no first turn"
        return Verdict(False, f"{what} for {idle:.0f} s", detail)
    return Verdict(True, "the loop turns", detail)


def readiness(results: Mapping[str, str | None], required: Collection[str]) -> Verdict:
    """Ready when every ``required`` check reached its server; others are reported only."""
    missing = sorted(set(required) - set(results))
    failed = sorted(n for n in required if results.get(n) is not None)
    detail = {"checks": {n: (e or "ok") for n, e in sorted(results.items())}}
    if missing or failed:
        names = failed + [f"{n} (not checked)" for n in missing]
        return Verdict(False, "not reached: " + ", ".join(names), detail)
    return Verdict(True, "every required server reached", detail)
