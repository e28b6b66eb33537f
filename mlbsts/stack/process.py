"""Detached server processes: start, identify by PID, stop, and remember them on disk.

A server is started through ``/bin/sh`` in a new session: the shell starts the server in
the background, prints its PID and exits, so the server is not a child of the Python
process (it outlives the CLI, and a test process never holds a zombie or a dangling
``Popen``). A process is *ours* when its PID and its kernel start time both match the
record written at start: a reused PID is never mistaken for our server. Stopping sends
the server's stop signal, waits, then SIGKILLs it and any process it left behind (its
descendants and the rest of its session, as they were just before the stop).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from mlbsts.stack.errors import StartupError, StopError

logger = logging.getLogger(__name__)

# The shell prints the server's PID on stdout; the server's stdout goes to the shell's
# stderr, which is the log file, and its stdin is /dev/null.
_LAUNCHER = '"$@" </dev/null >&2 & echo $!'


@dataclass(frozen=True)
class ProcInfo:
    """The fields of ``/proc/PID/stat`` the stack needs."""

    pid: int
    state: str
    ppid: int
    session: int
    start_ticks: int


@dataclass(frozen=True)
class ProcessRecord:
    """What the stack remembers about a server it started (``pids/<name>.json``)."""

    name: str
    pid: int
    session: int
    start_ticks: int
    argv: tuple[str, ...]
    log: str
    started_at: float
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 15.0

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ProcessRecord | None:
        """The record at ``path``, or None when there is none (or it is unreadable)."""
        try:
            raw = json.loads(path.read_text())
            return cls(
                name=str(raw["name"]),
                pid=int(raw["pid"]),
                session=int(raw["session"]),
                start_ticks=int(raw["start_ticks"]),
                argv=tuple(str(a) for a in raw["argv"]),
                log=str(raw["log"]),
                started_at=float(raw["started_at"]),
                stop_signal=int(raw.get("stop_signal", signal.SIGTERM)),
                stop_timeout=float(raw.get("stop_timeout", 15.0)),
            )
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as e:
            logger.warning("ignoring unreadable process record %s: %s", path, e)
            return None


def parse_stat(text: str) -> ProcInfo:
    """Parse ``/proc/PID/stat``; the command name may hold spaces and parentheses."""
    head, _, rest = text.rpartition(")")
    pid = int(head.split("(", 1)[0])
    fields = rest.split()
    # after "comm)": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    # cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime
    return ProcInfo(
        pid=pid,
        state=fields[0],
        ppid=int(fields[1]),
        session=int(fields[3]),
        start_ticks=int(fields[19]),
    )


def proc_info(pid: int) -> ProcInfo | None:
    """The live process ``pid``, or None once it has exited.

    A zombie has exited only when no thread of it is left: the main thread of a
    multi-threaded server (weed) turns into a zombie while its other threads are still
    closing files, and until then its sockets still listen.
    """
    try:
        info = parse_stat(Path(f"/proc/{pid}/stat").read_text())
        if info.state in ("Z", "X"):
            threads = {task.name for task in Path(f"/proc/{pid}/task").iterdir()}
            return info if threads - {str(pid)} else None
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None
    return info


def is_alive(record: ProcessRecord) -> bool:
    """True when the process of ``record`` is still running (same PID, same start time)."""
    info = proc_info(record.pid)
    return info is not None and info.start_ticks == record.start_ticks


def _all_procs() -> list[ProcInfo]:
    procs = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = proc_info(int(entry.name))
            if info is not None:
                procs.append(info)
    return procs


def family(record: ProcessRecord) -> dict[int, int]:
    """PID -> start time of the server, its descendants and the rest of its session.

    PostgreSQL's children start sessions of their own, hence the descendants.
    """
    procs = _all_procs()
    children: dict[int, list[int]] = {}
    for info in procs:
        children.setdefault(info.ppid, []).append(info.pid)
    members = {info.pid for info in procs if info.session == record.session}
    todo = [record.pid]
    while todo:
        pid = todo.pop()
        members.add(pid)
        todo.extend(child for child in children.get(pid, []) if child not in members)
    ticks = {info.pid: info.start_ticks for info in procs}
    return {pid: ticks[pid] for pid in members if pid in ticks}


def rss_bytes(pid: int) -> int | None:
    """Resident memory of ``pid`` in bytes, or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str],
    cwd: Path,
    user: str | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
    stop_timeout: float = 15.0,
) -> ProcessRecord:
    """Start ``argv`` detached in a new session, output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as log_file:
        log_file.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {name}\n".encode())
        log_file.flush()
        try:
            launcher = subprocess.run(
                ["/bin/sh", "-c", _LAUNCHER, "mlbsts-stack", *argv],
                stdout=subprocess.PIPE,
                stderr=log_file,
                stdin=subprocess.DEVNULL,
                env=dict(env),
                cwd=cwd,
                user=user,
                group=None if user is None else _primary_group(user),
                extra_groups=None if user is None else [],
                start_new_session=True,
                check=True,
                timeout=10,
            )
        except (OSError, subprocess.SubprocessError) as e:
            raise StartupError(f"{name}: could not start {argv[0]}: {e} (log: {log})") from e
    pid = int(launcher.stdout.decode().strip())
    info = proc_info(pid)
    if info is None:
        raise StartupError(f"{name}: exited at once; see its log {log}")
    logger.info("started %s pid %d: %s", name, pid, " ".join(argv))
    return ProcessRecord(
        name=name,
        pid=pid,
        session=info.session,
        start_ticks=info.start_ticks,
        argv=tuple(argv),
        log=str(log),
        started_at=time.time(),
        stop_signal=int(stop_signal),
        stop_timeout=stop_timeout,
    )


def _primary_group(user: str) -> int:
    import pwd  # noqa: PLC0415 - POSIX only, needed only when dropping root

    return pwd.getpwnam(user).pw_gid


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pids: Sequence[int], ticks: Mapping[int, int], timeout: float) -> list[int]:
    """Wait up to ``timeout`` s; return the PIDs (with their start times) still alive."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [pid for pid in pids if _same(pid, ticks[pid])]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def _same(pid: int, start_ticks: int) -> bool:
    info = proc_info(pid)
    return info is not None and info.start_ticks == start_ticks


def terminate(record: ProcessRecord) -> None:
    """Stop the server of ``record`` and every process it left behind.

    Sends the record's stop signal and waits up to its stop timeout, then SIGKILLs what is
    left of the server and of its session; raises StopError if anything survives. A server
    that is already gone is left alone.
    """
    if not is_alive(record):
        # a gone server's session and children are not swept: once empty, their numbers
        # could be reused by unrelated processes
        return
    members = family(record)  # before the server exits and its children are re-parented
    sig, timeout = signal.Signals(record.stop_signal), record.stop_timeout
    logger.info("stopping %s pid %d with %s", record.name, record.pid, sig.name)
    _signal(record.pid, sig)
    if _wait_gone([record.pid], members, timeout):
        logger.warning("%s pid %d ignored %s; killing it", record.name, record.pid, sig.name)
        _signal(record.pid, signal.SIGKILL)
    # whatever the server left behind (workers, helpers) goes too
    leftovers = _wait_gone(list(members), members, 2.0)
    for pid in leftovers:
        logger.warning("%s left pid %d behind; killing it", record.name, pid)
        _signal(pid, signal.SIGKILL)
    survivors = _wait_gone(list(members), members, 5.0)
    if survivors:
        raise StopError(
            f"{record.name}: process(es) {survivors} survived SIGKILL; check them with "
            f"`ps -o pid,stat,cmd -p {','.join(map(str, survivors))}`"
        )
