"""``up``, ``down``, ``status``: the four servers of the local stack, in order.

``up`` starts S3 first (Tansu keeps its log there), then Tansu, PostgreSQL and Redis.
Then the helpers (:data:`HELPERS`: the log trimmer) whose servers are in the stack
and that are enabled. For each: a live process recorded by an earlier ``up`` (same PID,
same start time) is left alone once healthy; otherwise its ports are checked, its data
directory prepared, the server started detached, and ``up`` waits until a real client request
succeeds, then provisions it (buckets, topics, role/database/migrations). A failure
stops ``up`` there; the servers already up stay up (``mlbsts stack down`` stops them).
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from mlbsts.settings import Settings
from mlbsts.stack.errors import StackError, StartupError, StopError
from mlbsts.stack.kafka import KafkaServer
from mlbsts.stack.layout import Layout
from mlbsts.stack.ports import ensure_free
from mlbsts.stack.postgres import PostgresServer
from mlbsts.stack.process import ProcessRecord, is_alive, rss_bytes, spawn, terminate
from mlbsts.stack.redis import RedisServer
from mlbsts.stack.s3 import S3Server
from mlbsts.stack.server import Helper, Launch, Server
from mlbsts.stack.trimmer import LogTrimmer

logger = logging.getLogger(__name__)

SERVERS: tuple[Server, ...] = (S3Server(), KafkaServer(), PostgresServer(), RedisServer())
HELPERS: tuple[Helper, ...] = (LogTrimmer(),)
DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class ComponentStatus:
    """One server as ``stack status`` sees it."""

    name: str
    title: str
    address: str
    pid: int | None  # None: not running (or not started by the stack)
    healthy: bool
    detail: str  # why it is unhealthy, or "ok"
    rss_bytes: int | None = None


@dataclass(frozen=True)
class StackStatus:
    components: tuple[ComponentStatus, ...]

    @property
    def healthy(self) -> bool:
        return all(c.healthy for c in self.components)

    def __getitem__(self, name: str) -> ComponentStatus:
        return next(c for c in self.components if c.name == name)


@dataclass(frozen=True)
class Progress:
    """One line of ``up``: a server started, or found running, and how long it took."""

    name: str
    action: str  # "started" | "running"
    address: str
    seconds: float
    pid: int


def parts() -> tuple[Server, ...]:
    """The servers, then the helpers whose servers are all among them (start order)."""
    names = {srv.name for srv in SERVERS}
    return (*SERVERS, *(h for h in HELPERS if set(h.needs) <= names))


def _off(srv: Server, settings: Settings) -> bool:
    """A helper its settings turn off (``up`` does not start it)."""
    return any(h is srv and not h.enabled(settings) for h in HELPERS)


def server(name: str) -> Server:
    for candidate in parts():
        if candidate.name == name:
            return candidate
    raise KeyError(f"no server {name!r}; choose one of {[s.name for s in parts()]}")


@contextmanager
def _exclusive(layout: Layout) -> Iterator[None]:
    """One ``up``/``down``/``stop`` at a time per stack (two shells, a test and make)."""
    layout.pids.mkdir(parents=True, exist_ok=True)
    with (layout.pids / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def up(
    settings: Settings,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    on_progress: Callable[[Progress], None] | None = None,
) -> StackStatus:
    """Start whatever is not running, wait until healthy, provision; the final status."""
    layout = Layout(settings.stack_dir)
    launches = {s.name: s.launch(settings, layout) for s in parts()}  # settings errors first
    with _exclusive(layout):
        _up(settings, layout, launches, timeout, on_progress)
    return status(settings)


def _up(
    settings: Settings,
    layout: Layout,
    launches: dict[str, Launch],
    timeout: float,
    on_progress: Callable[[Progress], None] | None,
) -> None:
    for srv in parts():
        began = time.monotonic()
        record = ProcessRecord.load(layout.record(srv.name))
        if record is not None and is_alive(record):
            action = "running"
            _wait_healthy(srv, settings, layout, record, timeout)
        elif _off(srv, settings):
            continue
        else:
            action = "started"
            launch = launches[srv.name]
            ensure_free(srv.name, launch.ports, srv.setting)
            srv.prepare(settings, layout, launch)
            record = spawn(
                srv.name,
                launch.argv,
                log=layout.log(srv.name),
                env=launch.env,
                cwd=layout.root,
                user=launch.user,
                stop_signal=launch.stop_signal,
                stop_timeout=launch.stop_timeout,
            )
            record.save(layout.record(srv.name))
            _wait_healthy(srv, settings, layout, record, timeout)
        srv.provision(settings, layout)
        if on_progress is not None:
            on_progress(
                Progress(
                    srv.name, action, srv.address(settings), time.monotonic() - began, record.pid
                )
            )


def _wait_healthy(
    srv: Server, settings: Settings, layout: Layout, record: ProcessRecord, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            srv.probe(settings, layout)
            return
        except Exception as e:  # any client error means "not yet"
            last = e
        if not is_alive(record):
            raise StartupError(f"{srv.name}: exited while starting ({last}); see {record.log}")
        if time.monotonic() >= deadline:
            raise StartupError(
                f"{srv.name}: not healthy after {timeout:.0f}s ({last}); see {record.log}"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def stop(settings: Settings, name: str) -> bool:
    """Stop one server started by the stack; True if it was running."""
    layout = Layout(settings.stack_dir)
    srv = server(name)
    with _exclusive(layout):
        return _stop(layout, srv.name)


def _stop(layout: Layout, name: str) -> bool:
    path = layout.record(name)
    record = ProcessRecord.load(path)
    if record is None:
        return False
    was_running = is_alive(record)
    terminate(record)  # by the record alone: a changed setting cannot strand a server
    path.unlink(missing_ok=True)
    return was_running


def down(settings: Settings, *, purge: bool = False) -> list[str]:
    """Stop every server the stack started (reverse order); the names that were running.

    With ``purge``, also delete the stack's data, logs and records (the directories it
    created under ``stack_dir``; nothing else there is touched).
    """
    layout = Layout(settings.stack_dir)
    stopped, errors = [], []
    with _exclusive(layout):
        for srv in reversed(parts()):
            try:
                if _stop(layout, srv.name):
                    stopped.append(srv.name)
            except StopError as e:
                errors.append(str(e))
        if errors:
            raise StopError("; ".join(errors))
        if purge:
            for path in layout.owned():
                if path.is_symlink():  # a server's home kept elsewhere (mlbsts.stack.postgres)
                    shutil.rmtree(path.resolve(), ignore_errors=True)
                    path.unlink()
                elif path.exists():
                    shutil.rmtree(path)
    if purge and layout.root.is_dir() and not any(layout.root.iterdir()):
        layout.root.rmdir()
    return stopped


def status(settings: Settings) -> StackStatus:
    """Each part: its recorded PID if alive, and whether a real request succeeds."""
    layout = Layout(settings.stack_dir)
    return StackStatus(tuple(_status_of(srv, settings, layout) for srv in parts()))


def _status_of(srv: Server, settings: Settings, layout: Layout) -> ComponentStatus:
    try:
        address = srv.address(settings)
    except StackError as e:
        return ComponentStatus(srv.name, srv.title, "?", None, False, str(e))
    record = ProcessRecord.load(layout.record(srv.name))
    pid = record.pid if record is not None and is_alive(record) else None
    if pid is None:
        off = _off(srv, settings)  # a helper turned off is as it should be
        return ComponentStatus(srv.name, srv.title, address, None, off, "off" if off else "stopped")
    try:
        srv.check(settings, layout)
        healthy, detail = True, "ok"
    except Exception as e:  # any client error: unhealthy, say why
        healthy, detail = False, f"{type(e).__name__}: {e}".splitlines()[0]
    helper = next((h for h in HELPERS if h is srv), None)
    title = srv.title if helper is None else helper.describe(settings, layout)
    return ComponentStatus(srv.name, title, address, pid, healthy, detail, rss_bytes(pid))
