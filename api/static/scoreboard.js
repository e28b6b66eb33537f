// The scoreboard page (/live/): the games of a date (today by default, MLB's day in
// New York), their status and score, refreshed every few seconds.

import { byId, el, ordinal, replace, setBadge } from "./dom.js";
import { getJson, start } from "./session.js";

const REFRESH_MS = 5000;
let timer = null;

function mlbToday() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "America/New_York" }).format(new Date());
}

function chosenDate() {
  const asked = new URLSearchParams(location.search).get("date");
  return asked && /^\d{4}-\d{2}-\d{2}$/.test(asked) ? asked : mlbToday();
}

function statusText(game) {
  const state = game.status.abstract_game_state;
  if (state === "Live" && game.current_inning) {
    const half = String(game.inning_half || "").toLowerCase().startsWith("b") ? "Bot" : "Top";
    return `${half} ${ordinal(game.current_inning)}`;
  }
  if (state === "Preview" && game.start_time) {
    return new Date(game.start_time).toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
  }
  return game.status.detailed_state || state || "";
}

function teamLine(team, won) {
  return el(
    "div",
    { class: won ? "team won" : "team" },
    el("span", { class: "abbr" }, team.abbreviation || team.team_id || "?"),
    el("span", { class: "name" }, team.name || ""),
    el("span", { class: "runs" }, team.runs ?? ""),
  );
}

function card(game) {
  const final = game.status.abstract_game_state === "Final";
  const away = game.away.runs ?? 0;
  const home = game.home.runs ?? 0;
  return el(
    "a",
    { class: `game-card ${String(game.status.abstract_game_state).toLowerCase()}`,
      href: `/live/game/${game.game_pk}`, "data-game-pk": game.game_pk },
    el("div", { class: "card-status" }, statusText(game)),
    teamLine(game.away, final && away > home),
    teamLine(game.home, final && home > away),
  );
}

async function load(date) {
  const answer = await getJson(`/v1/games?date=${date}`);
  const games = answer ? answer.games : [];
  byId("note").textContent = games.length ? "" : `No games known for ${date}.`;
  replace("games", ...games.map(card));
  const live = games.some((g) => g.status.abstract_game_state === "Live");
  setBadge(live ? "live" : "up to date", live ? "live" : "final");
}

start(async () => {
  const date = chosenDate();
  const picker = byId("date");
  picker.value = date;
  picker.onchange = () => {
    if (picker.value) location.search = `?date=${picker.value}`;
  };
  await load(date);
  clearInterval(timer);
  timer = setInterval(() => load(date).catch(() => setBadge("offline", "error")), REFRESH_MS);
});
