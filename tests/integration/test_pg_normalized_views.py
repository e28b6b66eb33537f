"""The normalized tier's box score views equal MLB's official box scores (real local
stack, fresh schema per test; helpers in ``test_pg_normalized.py``)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import orjson
import pytest

from connectors import pg_normalized as pn
from connectors import pg_upsert
from flows.game.boxscore import BATTING_FIELDS
from flows.game.events import GameEvent, PlayEvent, Retraction
from tests.integration.conftest import assert_box_score_views_official, box_score_view
from tests.integration.test_pg_normalized import (
    CORPUS_GAMES,
    JSON,
    PERTURBED,
    _batches,
    _dump,
    _snapshots,
    _write,
    dsn,
)
from tests.unit.official_boxscore import official_lines

pytestmark = pytest.mark.integration
__all__ = ["dsn"]  # the fixture, shared with test_pg_normalized.py


def _assert_views_official(dsn: str, feed: JSON) -> None:
    compared = assert_box_score_views_official(dsn, feed)
    assert compared > 250  # every official field of every player (279 in the fixture)


def test_box_score_views_equal_official_fixture(dsn: str, fixture_feed: JSON) -> None:
    snapshots = _snapshots(fixture_feed)
    _write(dsn, _batches(snapshots), snapshots, per_item=True)
    _assert_views_official(dsn, fixture_feed)


def test_box_score_views_with_faults_and_scoring_corrections(dsn: str, fixture_feed: JSON) -> None:
    snapshots = _snapshots(fixture_feed, 3, **PERTURBED)
    batches = _batches(snapshots)
    assert any(e.revision > 0 for b in batches for e in b.events if not isinstance(e, GameEvent))
    events = pn.NormalizedEventsSink(dsn).build("events", 0, 1)
    try:
        events.write_batch(batches)
    finally:
        events.close()
    _assert_views_official(dsn, fixture_feed)


def test_box_score_views_exclude_retracted_rows(dsn: str, fixture_feed: JSON) -> None:
    snapshots = _snapshots(fixture_feed)
    batches = _batches(snapshots)
    _write(dsn, batches, snapshots, per_item=False)
    hit = next(
        e for b in batches for e in b.events if isinstance(e, PlayEvent) and e.eventType == "single"
    )
    side = "away" if hit.halfInning == "top" else "home"
    official = official_lines(fixture_feed, side, "batting")[str(hit.batterId)]
    later = "29990101_000000"
    gone = Retraction(
        event_id=hit.event_id, gamePk=hit.gamePk, revision=0, source_ts=later, retracted_kind="play"
    )
    with pg_upsert.connect(dsn, pn.EVENT_TABLES) as conn:
        pn.write_events(conn, [gone])
        line = box_score_view(
            dsn, "boxscore_batting", BATTING_FIELDS, side, fixture_feed["gamePk"]
        )[str(hit.batterId)]
        assert (line["hits"], line["atBats"]) == (official["hits"] - 1, official["atBats"] - 1)
        back = msgspec.structs.replace(hit, revision=1, source_ts=later)
        pn.write_events(conn, [back])
    _assert_views_official(dsn, fixture_feed)


@pytest.mark.corpus
@pytest.mark.parametrize("game", CORPUS_GAMES)
def test_box_score_views_equal_official_corpus(dsn: str, data_dir: Path, game: str) -> None:
    feed: JSON = orjson.loads((data_dir / "mlb" / "feed_live" / f"{game}.json").read_bytes())
    snapshots = _snapshots(feed)
    batches = _batches(snapshots)
    _write(dsn, batches, snapshots, per_item=False)
    _assert_views_official(dsn, feed)
    reviews = sum(1 for p in feed["liveData"]["plays"]["allPlays"] if p.get("reviewDetails"))
    assert len(_dump(dsn)["reviews"]) == reviews > 0
    assert any(isinstance(e, GameEvent) for b in batches for e in b.events)
