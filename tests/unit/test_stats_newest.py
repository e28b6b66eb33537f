"""``newest_per_key``: the item with the newest ``source_ts`` per key; the later on a tie."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.game.newest import newest_per_key

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class _Item:
    game: int
    source_ts: str
    n: int  # position in the batch


def test_newest_wins_and_a_tie_goes_to_the_later_item() -> None:
    items = [
        _Item(1, "20240701_190000", 0),
        _Item(2, "20240701_190500", 1),
        _Item(1, "20240701_191000", 2),
        _Item(1, "20240701_185000", 3),
        _Item(2, "20240701_190500", 4),
    ]
    assert newest_per_key(items, lambda i: i.game) == {1: items[2], 2: items[4]}


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 20)), max_size=40))
def test_each_key_keeps_its_maximum(raw: list[tuple[int, int]]) -> None:
    items = [_Item(game, f"{ts:04d}", n) for n, (game, ts) in enumerate(raw)]
    newest = newest_per_key(items, lambda i: i.game)
    assert set(newest) == {i.game for i in items}
    for game, kept in newest.items():
        same = [i for i in items if i.game == game]
        top = max(i.source_ts for i in same)
        assert kept == [i for i in same if i.source_ts == top][-1]
