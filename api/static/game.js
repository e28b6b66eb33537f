// The game page (/live/game/{game_pk}): follows the game's event stream (server-sent
// events, GET /v1/games/{pk}/stream) and keeps every pitch and play in memory; the score,
// line score and box scores come from the boxscore route, fetched again whenever events
// arrive; names from the players route. Nothing reloads the page.

import { byId, el, halfName, replace, setBadge } from "./dom.js";
import { drawVelocity, drawZone, legend } from "./charts.js";
import { boxScores, lineScore, playByPlay } from "./tables.js";
import { AuthNeeded, getJson, openSession, start } from "./session.js";

const KINDS = ["pitch", "play", "runner", "action", "review", "status"];
const REFRESH_MS = 5000;
const gamePk = Number(location.pathname.split("/").filter(Boolean).pop());
const base = `/v1/games/${gamePk}`;

const state = {
  pitches: new Map(), // event_id -> pitch_events row
  plays: new Map(), // event_id -> plays row
  status: null, // the game_status row
  box: null, // the boxscore route's answer
  game: null, // the players route's answer (teams, date, players)
  players: new Map(), // player_id -> player row
  events: 0,
  lastId: null,
  ended: false,
  source: null,
};
let refreshTimer = null;
let renderTimer = null;

function sortedPitches() {
  return [...state.pitches.values()].sort(
    (a, b) => a.at_bat_index - b.at_bat_index || a.play_event_index - b.play_event_index);
}

function nameOf(id) {
  const p = state.players.get(Number(id));
  return p ? p.full_name || p.boxscore_name : id ? `#${id}` : "";
}

function final() {
  const s = state.box ? state.box.status.abstract_game_state : state.status?.abstract_game_state;
  return s === "Final";
}

async function refresh() {
  const [box, game] = await Promise.all([getJson(`${base}/boxscore`), getJson(`${base}/players`)]);
  if (box) state.box = box;
  if (game) {
    state.game = game;
    state.players = new Map(game.players.map((p) => [p.player_id, p]));
  }
  render();
  if (state.ended && final()) clearInterval(refreshTimer);
}

function refreshSoon() {
  if (refresh.pending) return;
  refresh.pending = setTimeout(() => {
    refresh.pending = null;
    refresh().catch(onError);
  }, 400);
}

function renderSoon() {
  if (!renderTimer) renderTimer = setTimeout(() => { renderTimer = null; render(); }, 150);
}

function onEvent(kind, message) {
  state.lastId = message.lastEventId || state.lastId;
  state.events += 1;
  const row = JSON.parse(message.data);
  const table = kind === "pitch" ? state.pitches : kind === "play" ? state.plays : null;
  if (table && row.retracted) table.delete(row.event_id);
  else if (table) table.set(row.event_id, row);
  if (kind === "status") state.status = row;
  refreshSoon();
  renderSoon();
}

function openStream() {
  if (state.source || state.ended) return;
  const after = state.lastId ? `?after=${encodeURIComponent(state.lastId)}` : "";
  const source = new EventSource(`${base}/stream${after}`);
  state.source = source;
  for (const kind of KINDS) source.addEventListener(kind, (m) => onEvent(kind, m));
  source.addEventListener("end", () => {
    source.close();
    state.source = null;
    state.ended = true;
    setBadge("final", "final");
    refresh().catch(onError);
  });
  source.onopen = () => setBadge("live", "live");
  source.onerror = () => {
    if (source.readyState !== EventSource.CLOSED) return setBadge("reconnecting", "wait");
    state.source = null; // refused (an expired session?): renew it, then resume after lastId
    setBadge("reconnecting", "wait");
    setTimeout(() => openSession().then(refresh).then(openStream).catch(onError), 3000);
  };
}

function onError(error) {
  if (error instanceof AuthNeeded) setBadge("key needed", "error");
  else setBadge("offline", "wait");
}

/** " · Top 5th, 1 out" from the newest pitch, or the newest play once it is complete. */
function situation() {
  const pitch = sortedPitches().pop();
  const play = [...state.plays.values()].sort((a, b) => a.at_bat_index - b.at_bat_index).pop();
  const now = play && (!pitch || play.at_bat_index >= pitch.at_bat_index) ? play : pitch;
  if (!now) return "";
  const outs = now === play ? play.outs : pitch.outs_after;
  return ` · ${halfName(now.inning, now.half_inning)}, ${outs} out`;
}

function renderHeader(teams) {
  const totals = state.box ? state.box.totals : null;
  for (const side of ["away", "home"]) {
    const team = teams ? teams[side] : null;
    byId(`name-${side}`).textContent = team ? team.name || team.abbreviation : side;
    byId(`score-${side}`).textContent = totals ? String(totals[side].runs ?? 0) : "–";
  }
  const status = state.box ? state.box.status : state.status;
  const detailed = status ? status.detailed_state || status.abstract_game_state : "";
  const where = final() ? "" : situation();
  byId("status").textContent = `${detailed || "waiting for data"}${where}`;
  if (state.game) {
    byId("back").href = `/live/?date=${state.game.game_date}`;
    document.title = `${teams.away.abbreviation} @ ${teams.home.abbreviation} · MLB-STS live`;
  }
}

function renderPitcherChoice(pitches) {
  const select = byId("pitcher");
  const ids = [...new Set(pitches.map((p) => p.pitcher_id).filter(Boolean))];
  const wanted = ["", ...ids.map(String)];
  const have = [...select.options].map((o) => o.value);
  if (have.join() !== wanted.join() || ids.some((id, i) => select.options[i + 1].text !== nameOf(id))) {
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "" }, "All pitchers (trend: the current one)"),
      ...ids.map((id) => el("option", { value: String(id) }, nameOf(id))));
    select.value = wanted.includes(chosen) ? chosen : "";
  }
  return select.value ? Number(select.value) : null;
}

function render() {
  const teams = state.game ? state.game.teams : null;
  const pitches = sortedPitches();
  renderHeader(teams);
  replace("linescore", lineScore(state.box, teams));
  const chosen = renderPitcherChoice(pitches);
  const zonePitches = chosen ? pitches.filter((p) => p.pitcher_id === chosen) : pitches;
  const shown = drawZone(byId("zone"), zonePitches, nameOf);
  byId("zone-count").textContent = `${shown} pitches`;
  replace("legend", ...legend(zonePitches));
  const trendOf = chosen || (pitches.length ? pitches[pitches.length - 1].pitcher_id : null);
  const own = pitches.filter((p) => p.pitcher_id === trendOf);
  drawVelocity(byId("velocity"), own, nameOf);
  byId("velocity-who").textContent = trendOf ? nameOf(trendOf) : "";
  const firstPitch = new Map();
  pitches.forEach((p, i) => { if (!firstPitch.has(p.pitcher_id)) firstPitch.set(p.pitcher_id, i); });
  replace("boxscores", ...boxScores(state.box, teams, state.players, firstPitch));
  const plays = [...state.plays.values()].sort((a, b) => b.at_bat_index - a.at_bat_index);
  replace("pbp", ...playByPlay(plays, teams));
  byId("events").textContent = `${state.events} events received`;
}

let started = false;

start(async () => {
  await refresh(); // a 401 here shows the key form; start() runs this again after it
  if (started) return openStream();
  started = true;
  byId("pitcher").onchange = render;
  refreshTimer = setInterval(() => refresh().catch(onError), REFRESH_MS);
  openStream();
});
