"""Real Bytewax recovery, in-process: a snapshot of an epoch that never finished is resumed
from two executions later, unless the store is pruned first (``connectors.recovery_store``).

Each test runs one small dataflow three times on one recovery directory (an execution per
``cli_main``; an epoch per item, so epochs are deterministic):

1. keys ``a`` and ``b`` are read, to the end of the input;
2. the store is left as a worker killed mid-epoch leaves it (seen in the fault suite's
   ``worker-killed-twice``, ``connectors/resume_epoch.py``): key ``a``'s snapshot of the epoch the
   next execution resumes at, taken before that epoch finished, with ``a`` far ahead;
3. only key ``b`` is read, and the execution crashes before the end of its input (an
   execution reaching the end snapshots every key, which would hide the defect): it
   passed that epoch without touching ``a``;
4. ``a`` is read again. Its state must be the one of step 1, not the dead epoch's.

The mapper reports an item at or before its key's state as ``ahead``: what the snapshot
diff does with a snapshot it has already seen (refused as stale, its events lost).
"""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.errors import BytewaxRuntimeError
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.run import cli_main
from bytewax.testing import TestingSink

from connectors.recovery_store import Pruned, _recovery_directory, prune_unfinished

pytestmark = pytest.mark.flow

Item = tuple[str, int]  # (key, sequence number)
AHEAD = 1000  # the dead epoch's state of key "a": past every item of the input
FIRST = [("a", ("read", 0)), ("b", ("read", 1)), ("a", ("read", 2)), ("b", ("read", 3))]
SECOND = [("b", ("read", 4)), ("b", ("read", 5)), ("b", ("read", 6))]
STATEFUL_MAP_STEP = "stateful_flat_map.stateful.stateful_batch"  # inside op.stateful_map


class _CrashError(RuntimeError):
    """The simulated death of an execution."""


class _Script(FixedPartitionedSource[Item, int]):
    """One partition reading ``items`` from its resume position to the end, or crashing
    when it reaches ``crash_at``."""

    def __init__(self, items: list[Item], crash_at: int | None) -> None:
        self._items, self._crash_at = items, crash_at

    def list_parts(self) -> list[str]:
        return ["script"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _Part:
        return _Part(self._items, resume_state or 0, self._crash_at)


class _Part(StatefulSourcePartition[Item, int]):
    def __init__(self, items: list[Item], at: int, crash_at: int | None) -> None:
        self._items, self._at, self._crash_at = items, at, crash_at

    def next_batch(self) -> list[Item]:
        if self._at == self._crash_at:
            raise _CrashError(f"crashed at item {self._at}")
        if self._at >= len(self._items):
            raise StopIteration
        self._at += 1
        return [self._items[self._at - 1]]

    def snapshot(self) -> int:
        return self._at


def _newest(state: int | None, seq: int) -> tuple[int, tuple[str, int]]:
    if state is not None and seq <= state:
        return state, ("ahead", seq)
    return seq, ("read", seq)


def _run(
    directory: Path, items: list[Item], crash_at: int | None = None
) -> list[tuple[str, tuple[str, int]]]:
    out: list[tuple[str, tuple[str, int]]] = []
    flow = Dataflow("prune_test")
    read = op.input("inp", flow, _Script(items, crash_at))
    seqs = op.map_value("seq", op.key_on("key", read, lambda item: item[0]), lambda i: i[1])
    op.output("out", op.stateful_map("newest", seqs, _newest), TestingSink(out))
    config = RecoveryConfig(directory)  # type: ignore[no-untyped-call]
    if crash_at is None:
        cli_main(flow, epoch_interval=timedelta(0), recovery_config=config)  # type: ignore[no-untyped-call]
    else:
        with pytest.raises(BytewaxRuntimeError) as crashed:  # Bytewax wraps the error
            cli_main(flow, epoch_interval=timedelta(0), recovery_config=config)  # type: ignore[no-untyped-call]
        assert isinstance(crashed.value.__cause__, _CrashError)
    return out


def _leave_unfinished_epoch(directory: Path, key: str, state: Any) -> int:
    """Write ``key``'s snapshot of the epoch the next execution resumes at, as a worker
    killed after its stateful step ended that epoch leaves it; that epoch."""
    (path,) = directory.glob("*.sqlite3")
    with closing(sqlite3.connect(path)) as db, db:
        (frontier,) = db.execute("SELECT max(worker_frontier) FROM fronts").fetchone()
        (step,) = db.execute(
            "SELECT DISTINCT step_id FROM snaps WHERE state_key = ? AND step_id LIKE ?",
            (key, "prune_test.newest.%"),
        ).fetchone()
        db.execute(
            "INSERT INTO snaps (step_id, state_key, snap_epoch, ser_change) VALUES (?, ?, ?, ?)",
            (step, key, frontier, pickle.dumps(state)),
        )
    return int(frontier)


def _of(key: str, out: list[tuple[str, tuple[str, int]]]) -> list[tuple[str, int]]:
    """``key``'s outputs (the crash may make ``b``'s last item be read again)."""
    return [value for k, value in out if k == key]


def _three_executions(
    tmp_path: Path, before_each: Callable[[Path], Pruned | None]
) -> tuple[list[list[tuple[str, tuple[str, int]]]], list[Pruned | None], int]:
    directory = tmp_path / "recovery"
    directory.mkdir()
    init_db_dir(directory, 1)  # type: ignore[no-untyped-call]
    script = [("a", 0), ("b", 1), ("a", 2), ("b", 3)]
    outs, pruned = [], []
    pruned.append(before_each(directory))
    outs.append(_run(directory, script))
    dead_epoch = _leave_unfinished_epoch(directory, "a", AHEAD)
    script += [("b", 4), ("b", 5), ("b", 6)]
    pruned.append(before_each(directory))
    outs.append(_run(directory, script, crash_at=len(script)))
    script += [("a", 7)]
    pruned.append(before_each(directory))
    outs.append(_run(directory, script))
    return outs, pruned, dead_epoch


def test_bytewax_resumes_from_an_unfinished_epoch_two_executions_later(tmp_path: Path) -> None:
    """The defect itself, in Bytewax 0.21.1: if this fails, Bytewax no longer resumes from
    such a snapshot and the pruning can go."""
    outs, _, _ = _three_executions(tmp_path, lambda _d: None)
    assert outs[0] == FIRST
    assert outs[1] == SECOND
    assert _of("a", outs[2]) == [("ahead", 7)]  # "a" resumed from the dead epoch's state


def test_pruned_store_resumes_every_key_from_a_finished_epoch(tmp_path: Path) -> None:
    outs, pruned, dead_epoch = _three_executions(tmp_path, prune_unfinished)
    assert outs[0] == FIRST
    assert outs[1] == SECOND
    assert _of("a", outs[2]) == [("read", 7)]
    first, second, third = pruned
    assert first is not None and first.resume_epoch is None and not first.deleted  # fresh
    assert second is not None and second.resume_epoch == dead_epoch
    assert dict(second.deleted) == {f"prune_test.newest.{STATEFUL_MAP_STEP}": 1}
    assert third is not None and third.resume_epoch is not None
    assert third.resume_epoch > dead_epoch and not third.deleted  # execution 2 finished


def test_partitions_on_other_processes_are_not_guessed(tmp_path: Path) -> None:
    """With part of the set elsewhere the resume epoch is unknown: nothing is deleted."""
    directory = tmp_path / "recovery"
    directory.mkdir()
    init_db_dir(directory, 2)  # type: ignore[no-untyped-call]
    script = [("a", 0), ("b", 1), ("a", 2)]
    _run(directory, script)
    (directory / "elsewhere").mkdir()
    moved = sorted(directory.glob("*.sqlite3"))[1]
    moved.rename(directory / "elsewhere" / moved.name)
    before = _snapshot_rows(directory)
    pruned = prune_unfinished(directory)
    assert pruned.resume_epoch is None and "of 2" in pruned.skipped
    assert _snapshot_rows(directory) == before


def _snapshot_rows(directory: Path) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for path in sorted(directory.glob("*.sqlite3")):
        with closing(sqlite3.connect(path)) as db:
            rows += db.execute("SELECT step_id, state_key, snap_epoch FROM snaps").fetchall()
    return sorted(rows)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/v/bytewax/run.py", "flows.live_stats:flow", "-r", "/d", "-s", "1", "-b", "0"], "/d"),
        (["/v/bytewax/run.py", "flows.live_stats:flow", "--recovery-directory=/d2"], "/d2"),
        (["/v/bytewax/run.py", "flows.live_stats:flow", "-w", "2"], None),
        (["/v/bin/pytest", "-r", "/d"], None),  # not a worker
        ([], None),
    ],
)
def test_recovery_directory_is_read_as_bytewax_reads_it(
    argv: list[str], expected: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BYTEWAX_RECOVERY_DIRECTORY", raising=False)
    got = _recovery_directory(argv)
    assert got == (None if expected is None else Path(expected))


def test_recovery_directory_from_bytewax_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYTEWAX_RECOVERY_DIRECTORY", "/from/env")
    assert _recovery_directory(["/v/bytewax/run.py", "m:flow"]) == Path("/from/env")
