"""diffPatch answers applied to real snapshot pairs; anything that does not check out is
rejected (the runner then fetches the full feed)."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

import jsonpatch
import orjson
import pytest

from flows.game.envelope import feed_timestamp_of
from ingest.diff_patch import (
    PatchRejectedError,
    SeenSnapshots,
    apply_diff_patch,
    canonical_body,
    content_digest,
)
from sim.simulate import simulate

pytestmark = pytest.mark.unit


def pairs(feed: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    snaps = [orjson.loads(orjson.dumps(s)) for s in simulate(feed, 40)]
    return list(itertools.pairwise(snaps))


def test_patches_between_simulated_snapshots_rebuild_each_next_one(
    fixture_feed: dict[str, Any],
) -> None:
    checked = 0
    for before, after in pairs(fixture_feed):
        answer = [{"diff": jsonpatch.make_patch(before, after).patch}]
        kept = copy.deepcopy(before)
        result = apply_diff_patch(
            before, answer, game_pk=744914, end_timecode=feed_timestamp_of(after) or ""
        )
        assert result == after
        assert before == kept  # the base is not modified
        checked += 1
    assert checked >= 5


@pytest.mark.corpus
def test_patch_between_real_live_captures(data_dir: Path) -> None:
    """746551: top of the 9th, then Game Over (every completed play rewritten)."""
    first, second = (
        orjson.loads((data_dir / "mlb" / "snapshots" / "746551" / f"{n}.json").read_bytes())
        for n in (1, 2)
    )
    ops = jsonpatch.make_patch(first, second).patch
    half = len(ops) // 2
    answer = [{"diff": ops[:half]}, {"diff": ops[half:]}]  # several parts apply in order
    end = feed_timestamp_of(second) or ""
    assert apply_diff_patch(first, answer, game_pk=746551, end_timecode=end) == second


def test_full_feed_answer_is_taken_when_it_checks(fixture_feed: dict[str, Any]) -> None:
    end = feed_timestamp_of(fixture_feed) or ""
    assert apply_diff_patch({}, fixture_feed, game_pk=744914, end_timecode=end) is fixture_feed


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda ops: [*ops, {"op": "remove", "path": "/no/such/path"}],
        lambda ops: [*ops, {"op": "test", "path": "/gamePk", "value": 1}],
        lambda ops: [{"op": "bogus", "path": "/gamePk"}],
        lambda ops: [op for op in ops if op["path"] != "/metaData/timeStamp"],
        lambda ops: [*ops, {"op": "replace", "path": "/gamePk", "value": 1}],
        lambda ops: "not a list",
    ],
    ids=["missing-path", "failed-test", "bad-op", "stale-timestamp", "other-game", "no-ops"],
)
def test_bad_patches_are_rejected(fixture_feed: dict[str, Any], corrupt: Any) -> None:
    before, after = pairs(fixture_feed)[2]
    ops = jsonpatch.make_patch(before, after).patch
    end = feed_timestamp_of(after) or ""
    with pytest.raises(PatchRejectedError):
        apply_diff_patch(before, [{"diff": corrupt(ops)}], game_pk=744914, end_timecode=end)


@pytest.mark.parametrize("answer", [None, 3, "x", [1], [{"nodiff": []}]])
def test_malformed_answers_are_rejected(fixture_feed: dict[str, Any], answer: Any) -> None:
    with pytest.raises(PatchRejectedError):
        apply_diff_patch(fixture_feed, answer, game_pk=744914, end_timecode="x")


def test_unchanged_snapshot_is_not_new_but_changed_content_is(
    fixture_feed: dict[str, Any],
) -> None:
    seen = SeenSnapshots()
    stamp = feed_timestamp_of(fixture_feed)
    digest = content_digest(canonical_body(fixture_feed))
    assert seen.is_new(744914, stamp, digest)
    seen.add(744914, stamp, digest)
    same = orjson.loads(orjson.dumps(fixture_feed))  # equal content, other key order ok
    assert not seen.is_new(744914, stamp, content_digest(canonical_body(same)))
    same["liveData"]["plays"]["allPlays"][0]["result"]["description"] = "revised"
    assert seen.is_new(744914, stamp, content_digest(canonical_body(same)))
    seen.forget(744914)
    assert seen.is_new(744914, stamp, digest)
