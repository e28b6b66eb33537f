"""Faults on the servers of a private embedded stack, with the stack's own code.

- *stopped*: ``mlbsts.stack.stop`` (the server's own shutdown), then ``mlbsts.stack.up``
  after the outage, which starts only what is not running;
- *hung*: SIGSTOP to every process of the server (PostgreSQL: the postmaster and its
  backends; SeaweedFS: ``weed``), SIGCONT after the outage: its sockets stay open and
  accept connections, nothing answers;
- *killed*: SIGKILL to the server, then ``mlbsts.stack.up`` at once.

Each returns ``time.monotonic()`` when the fault ended (the server answers again or was
continued): the start of the catch-up the suite reports. Only a private stack's servers
are touched (``settings.stack_dir`` names it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

from mlbsts import stack
from mlbsts.settings import Settings
from mlbsts.stack.layout import Layout
from mlbsts.stack.process import ProcessRecord, family, is_alive


def _record(settings: Settings, name: str) -> ProcessRecord:
    record = ProcessRecord.load(Layout(settings.stack_dir).record(name))
    if record is None or not is_alive(record):
        raise RuntimeError(f"{name} of the stack in {settings.stack_dir} is not running")
    return record


def _signal_all(pids: set[int], sig: signal.Signals) -> None:
    for pid in sorted(pids):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _back_up(settings: Settings) -> float:
    status = stack.up(settings)
    if not status.healthy:
        raise RuntimeError(f"the private stack did not come back healthy: {status}")
    return time.monotonic()


def stop_for(settings: Settings, name: str, seconds: float) -> float:
    """Stop server ``name`` for ``seconds``, then start it again."""
    if not stack.stop(settings, name):
        raise RuntimeError(f"{name} was not running: nothing to stop")
    time.sleep(seconds)
    return _back_up(settings)


def hang_for(settings: Settings, name: str, seconds: float) -> float:
    """SIGSTOP every process of server ``name`` for ``seconds``, then SIGCONT them."""
    record = _record(settings, name)
    stopped: set[int] = set()
    try:
        # twice: a process forked while the first SIGSTOPs went out is caught the second time
        for _ in range(2):
            members = set(family(record)) - stopped
            _signal_all(members, signal.SIGSTOP)
            stopped |= members
        time.sleep(seconds)
    finally:
        _signal_all(stopped, signal.SIGCONT)
    return time.monotonic()


def kill_and_restart(settings: Settings, name: str) -> float:
    """SIGKILL server ``name`` and start it again at once."""
    record = _record(settings, name)
    os.kill(record.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while is_alive(record) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _back_up(settings)
