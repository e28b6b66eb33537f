"""The one reading of an MLB game status (flows.game.status), for the flow and the poller."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.game.status import (
    CALLED_OFF,
    SETTLED,
    StatusKind,
    is_called_off,
    is_final,
    is_settled,
    kind_of,
)
from ingest.policy import Phase, phase_of
from tests.conftest import load_fixture_feed

pytestmark = pytest.mark.unit

ABSTRACT = ("Preview", "Live", "Final")
CODED = ("S", "P", "I", "M", "O", "F", "D", "C", "T", "U", "N")
DETAILED = (
    *("Scheduled", "Pre-Game", "Warmup", "In Progress", "Manager challenge", "Game Over"),
    *("Final", "Completed Early", "Delayed Start: Rain", "Delayed: Rain", "Postponed"),
    *("Cancelled", "Suspended: Rain", "Final: Tied"),
)


def _field(known: tuple[str, ...]) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.sampled_from(known), st.text(max_size=12))


statuses = st.fixed_dictionaries(
    {},
    optional={
        "abstractGameState": _field(ABSTRACT),
        "codedGameState": _field(CODED),
        "detailedState": _field(DETAILED),
    },
)


@pytest.mark.parametrize(
    ("abstract", "final"),
    [("Final", True), ("Live", False), ("Preview", False), ("final", False), ("", False)],
)
def test_is_final_reads_the_abstract_state(abstract: str, final: bool) -> None:
    assert is_final(abstract) is final


def test_is_final_of_nothing_is_false() -> None:
    assert not is_final(None)


def test_the_fixture_game_is_final_and_settled() -> None:
    status = load_fixture_feed()["gameData"]["status"]
    assert is_final(status["abstractGameState"])
    assert kind_of(status) is StatusKind.FINAL and is_settled(status)
    assert not is_called_off(status)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ({"abstractGameState": "Final", "codedGameState": "F"}, StatusKind.FINAL),
        ({"abstractGameState": "Final", "detailedState": "Game Over"}, StatusKind.FINAL),
        ({"abstractGameState": "Live", "detailedState": "In Progress"}, StatusKind.LIVE),
        ({"abstractGameState": "Preview"}, StatusKind.PREVIEW),
        ({}, StatusKind.PREVIEW),
        ({"abstractGameState": None, "detailedState": None}, StatusKind.PREVIEW),
        # MLB reports a called-off game as Final: the detail decides first
        ({"abstractGameState": "Final", "codedGameState": "D"}, StatusKind.POSTPONED),
        ({"abstractGameState": "Final", "detailedState": "Cancelled"}, StatusKind.CANCELLED),
        ({"abstractGameState": "Final", "codedGameState": "U"}, StatusKind.SUSPENDED),
        ({"abstractGameState": "Live", "codedGameState": "T"}, StatusKind.SUSPENDED),
        ({"abstractGameState": "Live", "detailedState": "Delayed: Rain"}, StatusKind.DELAYED),
    ],
)
def test_kind_of_status(status: dict[str, Any], kind: StatusKind) -> None:
    assert kind_of(status) is kind


def test_settled_is_final_or_called_off() -> None:
    assert {StatusKind.POSTPONED, StatusKind.CANCELLED} == CALLED_OFF
    assert {StatusKind.FINAL, StatusKind.POSTPONED, StatusKind.CANCELLED} == SETTLED


def test_every_kind_is_a_poller_phase() -> None:
    assert {kind.value for kind in StatusKind} <= {phase.value for phase in Phase}


@given(statuses)
def test_readings_agree(status: dict[str, Any]) -> None:
    kind = kind_of(status)
    assert phase_of(status).value == kind.value  # the poller reads statuses the same way
    assert is_called_off(status) is (kind in CALLED_OFF)
    assert is_settled(status) is (kind in SETTLED)
    if kind is StatusKind.FINAL:
        assert is_final(status.get("abstractGameState"))
    if is_final(status.get("abstractGameState")):
        # a Final game is settled unless its detail says suspended or delayed
        assert is_settled(status) or kind in (StatusKind.SUSPENDED, StatusKind.DELAYED)
