"""A worker under a supervisor, as in production: restarted whenever it exits non-zero.

In production a worker is a pod of a Kubernetes StatefulSet (``restartPolicy: Always``,
its recovery volume kept across restarts). The fault suite runs the real worker
(``python -m bytewax.run flows.live_stats:flow -r DIR -s 1 -b 0``) the same way: a
:class:`WorkerSupervisor` starts it, and every time it exits non-zero (an *abort*: a
raised error, a panic, a SIGKILL) it records the exit and the last lines of that attempt's
log, waits a short back-off (doubling, capped) and starts it again with the same recovery
directory. It stops when the worker exits 0 (the input read to its end,
``MLBSTS_FLOW_STOP_AT_END=true``), after ``max_aborts`` aborts (a crash loop, where
Kubernetes would show ``CrashLoopBackOff``), or when told to.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlbsts.paths import PROJECT_ROOT

#: a log line that names a failure (the worker logs the Python error before Bytewax panics)
_CAUSE = re.compile(r"CRITICAL|Error|Exception|panicked|Traceback|Killed|refused|timeout", re.I)
_NOISE = re.compile(r"^%\d\||panicked at|^Traceback|^\s+File |^\s+\d+: |^\s+at ")


@dataclass(frozen=True)
class Abort:
    """One non-zero exit of the worker."""

    exit_code: int  # negative: killed by that signal
    at: float  # time.monotonic() of the exit
    last_lines: tuple[str, ...]

    @property
    def cause(self) -> str:
        """The last log line of the attempt that names a failure (else its last line)."""
        if self.exit_code == -signal.SIGKILL:
            return "SIGKILL"
        named = [line for line in self.last_lines if _CAUSE.search(line)]
        # the Python error the worker logged, not Bytewax's panic after it or librdkafka's
        # connection chatter; those only when nothing else names the failure
        own = [line for line in named if not _NOISE.search(line)]
        line = (own or named or list(self.last_lines) or [f"exit {self.exit_code}"])[-1]
        return _message(line)[:300]


def _message(line: str) -> str:
    """A JSON log line (the worker's log format) as ``logger: message``."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict) or "message" not in record:
        return line
    return f"{record.get('logger', '?')}: {record['message']}"


@dataclass
class Outcome:
    """What the supervisor saw, so far or in the end."""

    started_at: float
    starts: list[float] = field(default_factory=list)  # monotonic time of each start
    aborts: list[Abort] = field(default_factory=list)
    ended_at: float | None = None  # the worker exited 0
    gave_up: str | None = None  # why the supervisor stopped without a clean exit

    @property
    def finished(self) -> bool:
        return self.ended_at is not None


class WorkerSupervisor:
    """Runs ``argv`` until it exits 0, restarting it after every non-zero exit."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log: Path,
        *,
        backoff_s: float = 1.0,
        backoff_cap_s: float = 8.0,
        max_aborts: int = 6,
        tail_lines: int = 400,  # a Rust backtrace alone is ~100 lines
    ) -> None:
        self._argv = list(argv)
        self._env = dict(env)
        self.log = log
        self._backoff_s = backoff_s
        self._backoff_cap_s = backoff_cap_s
        self._max_aborts = max_aborts
        self._tail_lines = tail_lines
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self.outcome = Outcome(started_at=time.monotonic())
        self._thread = threading.Thread(target=self._run, name="worker-supervisor", daemon=True)

    def start(self) -> WorkerSupervisor:
        self.outcome = Outcome(started_at=time.monotonic())
        self._thread.start()
        return self

    def running(self) -> bool:
        """True while the supervisor has not stopped (a worker runs or is about to)."""
        return self._thread.is_alive()

    def worker_pid(self) -> int | None:
        with self._lock:
            proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def kill_worker(self) -> bool:
        """SIGKILL the running worker (the supervisor restarts it); False if none runs."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                return False
            proc.send_signal(signal.SIGKILL)
            return True

    def wait(self, timeout_s: float) -> Outcome:
        """Wait for the end; past ``timeout_s`` stop the worker and say so."""
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self.stop(f"no clean exit in {timeout_s:.0f}s")
        return self.outcome

    def stop(self, why: str = "stopped") -> None:
        """Stop restarting and kill the worker that runs (idempotent)."""
        if self.outcome.gave_up is None and not self.outcome.finished:
            self.outcome.gave_up = why
        self._stop.set()
        self.kill_worker()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            code, lines = self._attempt()
            if code == 0:
                self.outcome.ended_at = time.monotonic()
                return
            self.outcome.aborts.append(Abort(code, time.monotonic(), lines))
            if len(self.outcome.aborts) > self._max_aborts:
                self.outcome.gave_up = f"crash loop: {len(self.outcome.aborts)} aborts"
                return
            delay = self._backoff_s * 2 ** (len(self.outcome.aborts) - 1)
            self._stop.wait(min(delay, self._backoff_cap_s))

    def _attempt(self) -> tuple[int, tuple[str, ...]]:
        """Run the worker once; its exit code and the last lines it logged."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            offset = out.tell()
            out.write(f"--- supervisor: start {len(self.outcome.starts) + 1}\n".encode())
            out.flush()
            with self._lock:
                if self._stop.is_set():
                    return -signal.SIGTERM, ()
                self._proc = subprocess.Popen(
                    self._argv,
                    cwd=PROJECT_ROOT,
                    env=self._env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
                self.outcome.starts.append(time.monotonic())
            code = self._proc.wait()
        with self.log.open("rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
        return code, tuple(text.splitlines()[-self._tail_lines :])
