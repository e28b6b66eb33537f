"""The resume epoch read from a recovery store's progress rows (``connectors.resume_epoch``).

The cases are the stores the fault suite and a real Bytewax left (figures in the module
docstring of ``connectors.resume_epoch``); the property: pruning from the answer never deletes
a snapshot Bytewax loads, and deletes every one it must not load when all workers wrote.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.resume_epoch import Execution, Frontier, resume_epoch

pytestmark = pytest.mark.unit


def test_a_fresh_store_resumes_nowhere() -> None:
    assert resume_epoch([], []) is None


def test_the_newest_executions_oldest_frontier() -> None:
    # the failed worker-killed-twice run: executions at 1, 2, 4; frontiers 2, 4, 7
    exs = [Execution(0, 1, 1), Execution(1, 1, 2), Execution(2, 1, 4)]
    fronts = [Frontier(0, 0, 2), Frontier(1, 0, 4), Frontier(2, 0, 7)]
    assert resume_epoch(exs, fronts) == 7
    assert resume_epoch(exs[:2], fronts[:2]) == 4  # where the third one resumed


def test_every_worker_counts() -> None:
    exs = [Execution(0, 2, 1)]
    assert resume_epoch(exs, [Frontier(0, 0, 4), Frontier(0, 1, 3)]) == 3


def test_an_execution_killed_before_its_first_frontier_resumes_where_it_did() -> None:
    # Bytewax 0.21.1 measured: execution 1 registered at 4, no frontier: the next at 4
    exs = [Execution(0, 1, 1), Execution(1, 1, 4)]
    assert resume_epoch(exs, [Frontier(0, 0, 4)]) == 4


def test_rows_in_any_order() -> None:
    exs = [Execution(2, 1, 5), Execution(0, 1, 1), Execution(1, 1, 3)]
    fronts = [Frontier(2, 0, 9), Frontier(0, 0, 3), Frontier(1, 0, 5)]
    assert resume_epoch(exs, fronts) == 9


@st.composite
def _stores(draw: st.DrawFn) -> tuple[list[Execution], list[Frontier], set[int]]:
    """Executions as Bytewax makes them: each resumes at the oldest frontier of the last
    (or where the last resumed, if it wrote none); the workers that wrote in the newest."""
    exs: list[Execution] = []
    fronts: list[Frontier] = []
    at = 1
    count = draw(st.integers(1, 6))
    for ex_num in range(count):
        workers = draw(st.integers(1, 4))
        exs.append(Execution(ex_num, workers, at))
        wrote = draw(st.sets(st.integers(0, workers - 1)))
        got = [Frontier(ex_num, w, at + draw(st.integers(0, 5))) for w in sorted(wrote)]
        fronts += got
        if len(wrote) == workers:
            at = min(f.frontier for f in got)
        # a worker missing: Bytewax resumes where this execution did
    return exs, fronts, {f.worker_index for f in fronts if f.ex_num == count - 1}


@given(_stores())
def test_pruning_from_it_never_deletes_what_bytewax_loads(
    store: tuple[list[Execution], list[Frontier], set[int]],
) -> None:
    exs, fronts, wrote = store
    newest = max(exs, key=lambda e: e.ex_num)
    got = resume_epoch(exs, fronts)
    assert got is not None
    own = [f.frontier for f in fronts if f.ex_num == newest.ex_num]
    bytewax = min(own) if len(wrote) == newest.worker_count else newest.resume_epoch
    assert got >= bytewax  # snapshots before got are kept: all that Bytewax loads
    if len(wrote) == newest.worker_count:
        assert got == bytewax  # and every later one is deleted
