// The page's access to the API (api/page_session.py): the API key is read once from the
// URL's fragment (#key=..., never sent to a server) or typed into the form, traded for a
// session cookie (POST /v1/session), and kept in this module's memory only, to renew the
// session before it expires. The fragment is removed from the address bar at once.

import { byId, setBadge } from "./dom.js";

const RENEW_BEFORE_S = 300;
let key = null;
let renewal = null;

/** Thrown when the API wants a key this page does not have: the key form is shown. */
export class AuthNeeded extends Error {}

function takeKeyFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const found = params.get("key");
  if (found) {
    key = found.trim();
    history.replaceState(null, "", location.pathname + location.search);
  }
}

/** Open (or renew) the page session with the key in memory; false without a good key. */
export async function openSession() {
  if (!key) return false;
  const answer = await fetch("/v1/session", {
    method: "POST",
    headers: { "X-API-Key": key },
    cache: "no-store",
  });
  if (!answer.ok) {
    if (answer.status === 401) key = null;
    showKeyError(answer.status === 401 ? "This key was refused." : `Error ${answer.status}.`);
    return false;
  }
  const session = await answer.json();
  clearTimeout(renewal);
  const inS = Math.max(session.max_age_s - RENEW_BEFORE_S, 30);
  renewal = setTimeout(() => openSession().catch(() => {}), inS * 1000);
  return true;
}

/** GET a JSON route with the session; null on 404; AuthNeeded when no key is accepted. */
export async function getJson(path) {
  let answer = await fetch(path, { cache: "no-cache" });
  if (answer.status === 401 && (await openSession())) {
    answer = await fetch(path, { cache: "no-cache" });
  }
  if (answer.status === 401) {
    byId("key-form").hidden = false;
    throw new AuthNeeded(path);
  }
  if (answer.status === 404) return null;
  if (!answer.ok) throw new Error(`${path}: HTTP ${answer.status}`);
  return answer.json();
}

function showKeyError(text) {
  const error = byId("key-error");
  if (error) error.textContent = text;
}

/** Run main() once a session may be open; the key form opens one and runs it again. */
export async function start(main) {
  takeKeyFromFragment();
  const form = byId("key-form");
  const input = byId("key-input");
  const run = async () => {
    try {
      await main();
    } catch (error) {
      if (!(error instanceof AuthNeeded)) throw error;
      setBadge("key needed", "error");
    }
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    key = input.value.trim();
    input.value = "";
    if (await openSession()) {
      form.hidden = true;
      showKeyError("");
      await run();
    }
  });
  if (key) await openSession();
  await run();
}
