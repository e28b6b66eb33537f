"""The live page in a real browser, on the real local stack: headless Chromium (Debian's
``chromium``, driven through its ``chromium-driver`` by Selenium) opens the game page of
a real game (744914) served by ``mlbsts api``, while the real dataflow commits the rest of
the game into a private schema. Without a reload, the page must come to show MLB's
official line score, one strike-zone mark per pitch with a location and the last
pitcher's velocity trend, all counted here from the feed. The page session (the key
traded for a cookie, ``api/page_session.py``) is checked over plain HTTP too.

Screenshots: ``.mlbsts/artifacts/live-page/`` (printed).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from api.key_store import create_key, revoke_key
from api.keys import KeyRecord
from api.page_session import SESSION_COOKIE, SESSION_S, issue
from bench.api_stage import api_env, api_process, fill_game, private_schema
from mlbsts.paths import PROJECT_ROOT
from mlbsts.settings import Settings
from sim.simulate import simulate
from tests.conftest import FIXTURE_GAME_PK

pytestmark = pytest.mark.integration

JSON = dict[str, Any]
EVERY = 5
FIRST = 30  # snapshots committed before the page opens: the 6th inning, 1-0
WAIT_S = 180
ARTIFACTS = PROJECT_ROOT / ".mlbsts" / "artifacts" / "live-page"
GAME_PAGE = f"/live/game/{FIXTURE_GAME_PK}"

# What the page shows, read in one go: the score totals of the line score, the marks of
# the strike zone and of the velocity trend, the plays, the status line.
READ_PAGE = """
const cell = (side, what) => document.querySelector(
  `#linescore tr[data-side=${side}] td[data-total=${what}]`);
const totals = (side) => ["runs", "hits", "errors"].map((w) => {
  const c = cell(side, w); return c ? Number(c.textContent) : null; });
return {
  away: totals("away"), home: totals("home"),
  bug: [document.getElementById("score-away").textContent,
        document.getElementById("score-home").textContent],
  marks: document.querySelectorAll("svg#zone circle.pitch").length,
  trend: document.querySelectorAll("svg#velocity circle.velo-point").length,
  plays: document.querySelectorAll("#pbp li.play").length,
  status: document.getElementById("status").textContent,
};
"""


@dataclass(frozen=True)
class Stage:
    url: str
    key: str
    dsn: str
    log_path: Path


def _pitches(feed: JSON) -> list[JSON]:
    return [
        event
        for play in feed["liveData"]["plays"]["allPlays"]
        for event in play["playEvents"]
        if event.get("isPitch")
    ]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def expected_page(feed: JSON) -> JSON:
    """What the page must show for ``feed`` (a snapshot), from the feed alone."""
    teams = feed["liveData"]["linescore"]["teams"]
    located = [
        p
        for p in _pitches(feed)
        if all(
            _is_number(p.get("pitchData", {}).get("coordinates", {}).get(c)) for c in ("pX", "pZ")
        )
    ]
    plays = feed["liveData"]["plays"]["allPlays"]
    last_pitcher = plays[-1]["matchup"]["pitcher"]["id"]
    trend = [
        p
        for play in plays
        if play["matchup"]["pitcher"]["id"] == last_pitcher
        for p in play["playEvents"]
        if p.get("isPitch") and _is_number(p.get("pitchData", {}).get("startSpeed"))
    ]
    return {side: [teams[side].get(k, 0) for k in ("runs", "hits", "errors")] for side in teams} | {
        "bug": [str(teams["away"].get("runs", 0)), str(teams["home"].get("runs", 0))],
        "marks": len(located),
        "trend": len(trend),
        "plays": sum(1 for p in plays if p["about"]["isComplete"]),
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.fail(
            "the live page's tests drive Debian's Chromium (packages chromium and "
            "chromium-driver); `make test` installs them when they are missing"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu"):
        options.add_argument(argument)
    options.add_argument("--disable-dev-shm-usage")
    options.add_argument("--window-size=1400,2400")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(options=options, service=Service(driver))
    try:
        yield chrome
    finally:
        chrome.quit()


@pytest.fixture(scope="module")
def stage(
    stack_settings: Settings, fixture_feed: JSON, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stage]:
    """The first part of the game committed by the dataflow, and the API on it."""
    with private_schema(stack_settings) as dsn:
        fill_game(dsn, fixture_feed, EVERY, slice(0, FIRST))
        key = create_key(dsn, "page", ("history", "stream"), 100_000).key
        env = api_env(
            stack_settings, dsn, MLBSTS_API_STREAM_POLL_S="0.2", MLBSTS_API_KEY_CACHE_S="0"
        )
        log_path = tmp_path_factory.mktemp("live-page") / "api.log"
        with api_process(env, log_path) as api:
            yield Stage(api.url, key, dsn, log_path)


def _wait_for_page(browser: WebDriver, want: JSON) -> JSON:
    """Until the page shows ``want`` (the fields it names); the last reading on timeout."""
    seen: JSON = {}

    def shows(driver: WebDriver) -> bool:
        nonlocal seen
        seen = driver.execute_script(READ_PAGE)
        return all(seen[k] == v for k, v in want.items())

    try:
        WebDriverWait(browser, WAIT_S, poll_frequency=0.25).until(shows)
    except TimeoutException:
        pytest.fail(f"the page shows {seen}, not {want} after {WAIT_S} s")
    return seen


def _screenshot(browser: WebDriver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    browser.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def _errors_in_console(browser: WebDriver) -> list[str]:
    return [e["message"] for e in browser.get_log("browser") if "Uncaught" in e["message"]]


def test_the_game_page_follows_the_stream_to_the_official_line_score(
    stage: Stage, browser: WebDriver, fixture_feed: JSON, stack_settings: Settings
) -> None:
    partial = expected_page(simulate(fixture_feed, EVERY)[FIRST - 1])
    assert partial["bug"] == ["1", "0"] and partial["marks"] > 0
    browser.get(f"{stage.url}{GAME_PAGE}#key={stage.key}")
    _wait_for_page(browser, partial)
    assert browser.current_url == stage.url + GAME_PAGE  # the key left the address bar
    browser.execute_script("window.sameDocument = true")
    _screenshot(browser, "game-partial.png")

    fill_game(stage.dsn, fixture_feed, EVERY, slice(FIRST, None))  # the rest of the game

    final = expected_page(fixture_feed)
    assert final["bug"] == ["3", "1"] and final["marks"] == 244 > partial["marks"]
    seen = _wait_for_page(browser, final)
    assert seen["status"].startswith("Final")
    assert browser.execute_script("return window.sameDocument === true")  # no reload
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.find_element("id", "conn").text == "final"  # the stream's `end`
    )
    _screenshot(browser, "game-final.png")
    assert _errors_in_console(browser) == []
    assert stage.key not in stage.log_path.read_text()


def test_the_scoreboard_shows_the_games_of_the_date(stage: Stage, browser: WebDriver) -> None:
    with psycopg.connect(stage.dsn) as conn:
        row = conn.execute(
            "SELECT away_runs, home_runs FROM games WHERE game_pk = %s", (FIXTURE_GAME_PK,)
        ).fetchone()
    assert row is not None
    browser.get(f"{stage.url}/live/?date=2024-07-01")  # the session cookie is still valid
    card = f"a.game-card[data-game-pk='{FIXTURE_GAME_PK}'] .runs"
    WebDriverWait(browser, WAIT_S).until(
        lambda d: [e.text for e in d.find_elements("css selector", card)]
        == [str(row[0]), str(row[1])]
    )
    _screenshot(browser, "scoreboard.png")
    browser.find_element("css selector", f"a.game-card[data-game-pk='{FIXTURE_GAME_PK}']").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: d.current_url == stage.url + GAME_PAGE)


def test_without_a_session_the_page_asks_for_a_key(stage: Stage, browser: WebDriver) -> None:
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})  # also those of Path=/v1
    browser.get("about:blank")  # a new document, not a same-page fragment change
    browser.get(f"{stage.url}{GAME_PAGE}#key=mlbsts_0123456789ab_{'A' * 43}")
    form = browser.find_element("id", "key-form")
    WebDriverWait(browser, WAIT_S).until(lambda d: form.is_displayed())
    assert "refused" in browser.find_element("id", "key-error").text
    _screenshot(browser, "key-form.png")
    browser.find_element("id", "key-input").send_keys(stage.key)
    browser.find_element("css selector", "#key-form button").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: not form.is_displayed())
    _wait_for_page(browser, {"marks": expected_page_marks(stage)})


def expected_page_marks(stage: Stage) -> int:
    with psycopg.connect(stage.dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pitch_events WHERE game_pk = %s AND is_pitch "
            "AND NOT retracted AND plate_x IS NOT NULL AND plate_z IS NOT NULL",
            (FIXTURE_GAME_PK,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _session(stage: Stage, key: str) -> httpx.Response:
    return httpx.post(f"{stage.url}/v1/session", headers={"X-API-Key": key}, timeout=30)


def test_a_page_session_stands_for_its_key_until_it_expires_or_the_key_is_revoked(
    stage: Stage,
) -> None:
    mine = create_key(stage.dsn, "session", ("history", "stream"), 100_000)
    opened = _session(stage, mine.key)
    assert opened.status_code == 200, opened.text
    cookie = opened.headers["set-cookie"]
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/v1", f"Max-Age={SESSION_S}"):
        assert attribute.lower() in cookie.lower()
    token = opened.cookies[SESSION_COOKIE]
    assert mine.key not in cookie and set(opened.json()["scopes"]) == {"history", "stream"}

    def linescore(value: str) -> int:
        jar = {SESSION_COOKIE: value}
        path = f"/v1/games/{FIXTURE_GAME_PK}/linescore"
        return httpx.get(stage.url + path, cookies=jar, timeout=30).status_code

    assert linescore(token) == 200
    assert linescore(token[:-2] + ("AA" if token[-2:] != "AA" else "BB")) == 401
    other = create_key(stage.dsn, "other", ("history",), 100)
    record = KeyRecord(
        other.key_id, "other", frozenset({"history"}), 100, other.salt, other.secret_hash
    )
    assert linescore(issue(record, time.time())[0]) == 200
    assert linescore(issue(record, time.time() - 2 * SESSION_S)[0]) == 401  # expired
    forged = issue(record, time.time())[0].replace(other.key_id, token.split(".")[0], 1)
    assert linescore(forged) == 401  # another key's id under this key's mac
    assert _session(stage, "hunter2").status_code == 401
    assert httpx.post(f"{stage.url}/v1/session", cookies={SESSION_COOKIE: token}).status_code == 401
    assert revoke_key(stage.dsn, mine.key_id)
    assert linescore(token) == 401  # revoking the key ends its sessions
