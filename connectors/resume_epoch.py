"""Which epoch a Bytewax execution resumes from, and which snapshots it must never see. Pure.

Bytewax 0.21 keeps, in its recovery partitions (SQLite), one ``exs`` row per execution
(``ex_num``, ``worker_count``, ``resume_epoch``), one ``fronts`` row per worker of an
execution (how far that worker got: every epoch before it is finished everywhere) and the
``snaps`` of each step and key, labelled with the epoch at whose end they were taken. A new
execution resumes at the oldest frontier of the newest execution's workers, and each key
resumes from its newest snapshot of an epoch before that.

The defect this module exists for: a stateful step writes its snapshot of epoch *e* as
soon as *e* ends *at that step*, before the sinks downstream finish *e* and before the
worker's frontier passes *e*. A worker killed in between leaves snapshots of an epoch that
never finished: epoch *e* >= the next resume epoch. Bytewax never deletes them. The next
execution resumes at *e* and writes epoch *e* again, but only for the keys it touches
then; a key it does not touch keeps the dead execution's snapshot, and once the frontier
passes *e*, a third execution loads it: that key's state is then ahead of the source
offsets loaded with it (the fault suite's ``worker-killed-twice`` saw a game's diff state
loaded from the first execution's unfinished epoch 2 next to partition offsets of the second
execution's epoch 3: 7 snapshots re-read were refused as stale and 36 events were lost).

So before an execution starts, every snapshot of an epoch at or after its resume epoch is
deleted (:mod:`connectors.recovery_store`): none of them can be right, the execution
recomputes those epochs. This needs the resume epoch exactly, so every partition's rows.

:func:`resume_epoch` mirrors Bytewax's rule. When some workers of the newest execution
wrote no frontier (killed before their first epoch ended), Bytewax resumes no later than
that execution's own resume epoch; this returns the oldest frontier that *was* written,
which is never earlier than Bytewax's answer, so pruning from it never deletes a snapshot
Bytewax loads (it may leave some of a dead execution's to be pruned at a later start).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Execution", "Frontier", "resume_epoch"]


@dataclass(frozen=True)
class Execution:
    """An ``exs`` row: one start of the dataflow."""

    ex_num: int
    worker_count: int
    resume_epoch: int


@dataclass(frozen=True)
class Frontier:
    """A ``fronts`` row: how far one worker of one execution got."""

    ex_num: int
    worker_index: int
    frontier: int


def resume_epoch(executions: Iterable[Execution], frontiers: Iterable[Frontier]) -> int | None:
    """The epoch the next execution resumes at (``None``: no execution yet, a fresh start),
    from every partition's ``exs`` and ``fronts`` rows; see the module docstring."""
    newest = max(executions, key=lambda e: e.ex_num, default=None)
    if newest is None:
        return None
    got = [f.frontier for f in frontiers if f.ex_num == newest.ex_num]
    if not got:  # killed before any of its epochs ended: it resumes where that one did
        return newest.resume_epoch
    return max(newest.resume_epoch, min(got))
