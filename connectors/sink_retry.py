"""The retry policy of every sink, in one place: an outage budget, not an attempt count.

A sink's write that fails with a *transient* error of a server (unreachable, timed out,
overloaded: :class:`ServerError` with ``transient``) is tried again, with exponential
backoff and jitter (about 0.5 s, doubling, at most ``MAX_WAIT_S`` apart), until
``budget_s`` (``MLBSTS_SINK_OUTAGE_BUDGET_S``) has passed since the write first failed.
Each retry logs one WARNING: the server, the write, the attempt and the next wait, and
counts in ``mlbsts_sink_retries_total`` (labelled by the sink the writing thread serves,
``mlbsts.telemetry.metrics.SINK``). Once
the budget is spent the error is raised again as ``"<server> unreachable for N s: ..."``;
it stops the worker (``connectors/background_sink.py`` logs it once, at CRITICAL) and
Bytewax recovery resumes it later. The last attempt may start just before the budget ends,
so a write gives up at most one attempt's time limit (connect or request timeout) after it.

While a write waits, the writer thread of its sink partition is blocked, that partition's
bounded queue fills and the worker blocks at the next item or at the end of the epoch, so
the flow stops pulling input (backpressure): an outage shorter than the budget costs
latency, not a restart. An error that is not transient (the server refused the request
itself: a missing table, a bucket that does not exist) is raised at once.

Exceptions::

    ServerError (RuntimeError)      a server a sink writes to failed; ``server`` names it,
    │                               ``transient`` says whether waiting may help
    ├── connectors.postgres.PostgresError     server "PostgreSQL"
    └── connectors.s3.ObjectStoreError        server "S3"
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from mlbsts.telemetry.catalogue import SINK_RETRIES
from mlbsts.telemetry.metrics import RECORDER, SINK

__all__ = ["FIRST_WAIT_S", "MAX_WAIT_S", "RetryPolicy", "ServerError", "backoff"]

log = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_WAIT_S = 0.5  # the ceiling of the first wait; it doubles at every attempt
MAX_WAIT_S = 10.0  # the longest wait between two attempts


class ServerError(RuntimeError):
    """A server a sink writes to failed. ``transient``: unreachable, timed out or
    overloaded, so the same write may succeed later (the policy retries it)."""

    server: ClassVar[str] = "server"

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def backoff(
    attempt: int, rand: float, first: float = FIRST_WAIT_S, cap: float = MAX_WAIT_S
) -> float:
    """The wait after failed attempt ``attempt`` (1, 2, …): "equal jitter", half of the
    ceiling ``min(cap, first * 2 ** (attempt - 1))`` plus ``rand`` (in [0, 1)) times the
    other half, so waits grow steadily and sinks that failed together do not retry in step."""
    ceiling = min(cap, first * 2.0 ** min(attempt - 1, 32))
    return ceiling / 2 + rand * ceiling / 2


@dataclass(frozen=True)
class RetryPolicy:
    """Retries a write on transient :class:`ServerError` for ``budget_s`` seconds.

    ``clock``, ``sleep`` and ``rand`` are injectable, so tests run without waiting.
    """

    budget_s: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] = random.random

    def call(self, write: Callable[[], T], what: str) -> T:
        """``write()``, retried as the module docstring says; ``what`` names the write
        in the log lines and in the final error."""
        first_failure: float | None = None
        attempt = 0
        while True:
            attempt += 1
            try:
                return write()
            except ServerError as e:
                if not e.transient:
                    raise
                now = self.clock()
                first_failure = now if first_failure is None else first_failure
                left = self.budget_s - (now - first_failure)
                if left <= 0:
                    raise type(e)(
                        f"{e.server} unreachable for {now - first_failure:.0f} s "
                        f"({what}, {attempt} attempts): {e}"
                    ) from e
                wait = min(backoff(attempt, self.rand()), left)
                RECORDER.add(SINK_RETRIES, sink=SINK.get())
                log.warning(
                    "%s: %s failed (attempt %d), retrying in %.1f s: %s",
                    e.server,
                    what,
                    attempt,
                    wait,
                    e,
                )
                self.sleep(wait)
