"""The worker's Bytewax recovery partitions (SQLite files): before an execution starts,
delete the snapshots of epochs that never finished (why: :mod:`connectors.resume_epoch`).

:func:`prune_unfinished` reads every partition of a recovery directory, computes the
epoch the coming execution resumes at, and deletes every snapshot of that epoch or later,
in one transaction per partition. It must run before Bytewax opens the directory: the
worker does it when ``python -m bytewax.run`` asks it for its flow
(:func:`prune_before_run`), which is before the processes of a cluster connect, so no
execution is writing. It only prunes when the directory holds every partition of the
set: with partitions spread over processes (one volume per process, ``deploy/``) no
process sees every frontier, the resume epoch is unknown and nothing is deleted (a
warning says so; README "Recovery").

Errors: :class:`RecoveryStoreError` (a partition unreadable, locked past the timeout, or not
a Bytewax partition), naming the file.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from collections import Counter
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from connectors.resume_epoch import Execution, Frontier, resume_epoch

__all__ = [
    "Partition",
    "Pruned",
    "RecoveryStoreError",
    "log_pruned",
    "prune_before_run",
    "prune_unfinished",
    "read_partition",
]

log = logging.getLogger(__name__)

LOCK_TIMEOUT_S = 10.0  # a partition locked longer: another process is using the directory


class RecoveryStoreError(RuntimeError):
    """A recovery partition could not be read or changed."""


@dataclass(frozen=True)
class Pruned:
    """What :func:`prune_unfinished` did: ``resume_epoch`` ``None`` means nothing to resume
    (or, with ``skipped``, not known); ``deleted`` counts snapshots by step id."""

    directory: Path
    resume_epoch: int | None
    deleted: Counter[str] = field(default_factory=Counter)
    skipped: str = ""  # why nothing was pruned, when it could not be


@dataclass(frozen=True)
class Partition:
    """What one partition file records: its place in the set, Bytewax's executions and
    worker frontiers (:mod:`connectors.resume_epoch`), and how many snapshots it holds."""

    path: Path
    index: int
    count: int
    executions: list[Execution]
    frontiers: list[Frontier]
    snapshots: int


def _connect(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(path, timeout=LOCK_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as e:
        raise RecoveryStoreError(f"recovery partition {path}: {e}") from e


def read_partition(path: Path) -> Partition:
    """The progress rows of the partition file ``path`` (read-only)."""
    try:
        with closing(_connect(path)) as db:
            parts = db.execute("SELECT part_index, part_count FROM parts").fetchall()
            exs = db.execute("SELECT ex_num, worker_count, resume_epoch FROM exs").fetchall()
            fronts = db.execute(
                "SELECT ex_num, worker_index, worker_frontier FROM fronts"
            ).fetchall()
            (snapshots,) = db.execute("SELECT count(*) FROM snaps").fetchone()
    except sqlite3.Error as e:
        raise RecoveryStoreError(f"recovery partition {path} unreadable: {e}") from e
    if len(parts) != 1:
        raise RecoveryStoreError(f"recovery partition {path}: {len(parts)} rows in `parts`")
    index, count = parts[0]
    executions = [Execution(*row) for row in exs]
    return Partition(path, index, count, executions, [Frontier(*r) for r in fronts], snapshots)


def _delete_from(path: Path, epoch: int) -> Counter[str]:
    try:
        with closing(_connect(path)) as db:
            db.execute("BEGIN IMMEDIATE")
            rows = db.execute(
                "SELECT step_id, count(*) FROM snaps WHERE snap_epoch >= ? GROUP BY step_id",
                (epoch,),
            ).fetchall()
            db.execute("DELETE FROM snaps WHERE snap_epoch >= ?", (epoch,))
            db.execute("COMMIT")
    except sqlite3.Error as e:
        raise RecoveryStoreError(f"recovery partition {path}: pruning failed: {e}") from e
    return Counter({step: n for step, n in rows})


def prune_unfinished(directory: Path) -> Pruned:
    """Delete the snapshots of every epoch at or after the coming execution's resume
    epoch from the partitions in ``directory`` (see the module docstring)."""
    parts = [read_partition(path) for path in sorted(directory.glob("*.sqlite3"))]
    if not parts:  # Bytewax says what is wrong with the directory
        return Pruned(directory, None)
    if not any(p.snapshots for p in parts):
        return Pruned(directory, None)  # no snapshot here (a fresh set): nothing to prune
    counts = {p.count for p in parts}
    indexes = {p.index for p in parts}
    if len(counts) != 1 or indexes != set(range(next(iter(counts)))):
        held = ", ".join(str(i) for i in sorted(indexes))
        why = f"holds partitions {held} of {max(counts)}: the others are on other processes"
        return Pruned(directory, None, skipped=why)
    epoch = resume_epoch(
        (e for p in parts for e in p.executions), (f for p in parts for f in p.frontiers)
    )
    if epoch is None:
        return Pruned(directory, None)
    deleted: Counter[str] = Counter()
    for part in parts:
        deleted.update(_delete_from(part.path, epoch))
    return Pruned(directory, epoch, deleted)


def _recovery_directory(argv: Sequence[str]) -> Path | None:
    """The ``-r`` directory of a ``python -m bytewax.run`` command line (or its environment
    default), read by Bytewax's own parser; ``None`` for any other command."""
    if not argv or Path(argv[0]).name != "run.py" or Path(argv[0]).parent.name != "bytewax":
        return None
    from bytewax.run import _create_arg_parser  # noqa: PLC0415 - the same reading as Bytewax

    parser = _create_arg_parser()  # type: ignore[no-untyped-call]
    args, _ = parser.parse_known_args(list(argv[1:]))
    directory: Path | None = args.recovery_directory
    return directory


def prune_before_run(argv: Sequence[str] | None = None) -> Pruned | None:
    """In a worker started by ``python -m bytewax.run ... -r DIR``: prune ``DIR`` and log
    what was done. ``None`` when the process runs without recovery."""
    directory = _recovery_directory(sys.argv if argv is None else argv)
    if directory is None or not directory.is_dir():
        return None  # no recovery, or Bytewax itself says the directory is missing
    return log_pruned(prune_unfinished(directory))


def log_pruned(pruned: Pruned) -> Pruned:
    """Log what :func:`prune_unfinished` did (a warning when it could not), and return it."""
    if pruned.skipped:
        log.warning(
            "recovery: %s %s; snapshots of unfinished epochs are not pruned",
            pruned.directory,
            pruned.skipped,
        )
    elif pruned.resume_epoch is not None:
        log.info(
            "recovery: resuming at epoch %d; deleted %d snapshots of unfinished epochs %s",
            pruned.resume_epoch,
            sum(pruned.deleted.values()),
            dict(pruned.deleted),
        )
    return pruned
