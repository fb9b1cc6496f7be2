/**
 * The outbox: daily-work writes made with no network, kept in IndexedDB until the server has
 * answered them, then sent in order, one at a time, each with its own `Idempotency-Key`.
 *
 * An operation gets its key (a UUID) when it is queued and keeps it for every retry, so a
 * request whose answer was lost is replayed by the server instead of done twice
 * (docs/offline.md). Answers:
 * - 2xx: done, the operation leaves the outbox (`outbox:sent`, detail `{operation, data}`);
 * - 409 `idempotency_in_progress`: the first try still runs; asked again after `Retry-After`;
 * - another 4xx: refused, the operation stays with the server's reason until the user fixes
 *   and resends it or discards it (`outbox:refused`); the next operations still go;
 * - no answer or a 5xx: the run stops and starts again later (backoff), or when the network
 *   comes back (`online`, the live socket connected again, the page opened online).
 *
 * Every change is told as `outbox:changed` on `document`, in every tab of the browser. Runs are serialised across the tabs
 * of the browser by a Web Lock. Operations belong to the user who queued them: another user
 * signed in on the same browser neither sees nor sends them. The header badge
 * (`[data-outbox-badge]`, templates/includes/outbox_badge.html) counts them on every page.
 *
 * Sent only with their own user's cookies: a tab opened before another person signed in to the
 * browser still shows its user's operations, but sends none while the browser's login is
 * someone else's (the server's `offline_user` cookie names it, scheduler_project/pwa.py); they
 * wait, pending, and go once their user is signed in again. The CSRF token is the cookie's,
 * which a new login renews, not the one the page was rendered with.
 */

import { backoffDelay, realtime } from "../realtime/websocket.js";

const DB_NAME = "scheduler-outbox";
const STORE = "operations";
const LOCK = "scheduler-outbox-send";

export const State = Object.freeze({
  PENDING: "pending",
  SENDING: "sending",
  REFUSED: "refused",
});

const badge = document.querySelector("[data-outbox-badge]");
const user = badge?.dataset.outboxUser ?? "";
const USER_COOKIE = badge?.dataset.userCookie ?? "offline_user";
const CSRF_COOKIE = badge?.dataset.csrfCookie ?? "csrftoken";

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return decodeURIComponent(value.join("="));
  }
  return "";
}

/** Whether the browser is signed in as this page's user now (its cookies are theirs). */
const ownLogin = () => user !== "" && cookie(USER_COOKIE).split(".")[0] === user;
const csrfToken = () =>
  cookie(CSRF_COOKIE) || document.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";

/**
 * A volume as typed on this page («190,5», «1 905,5» in Russian; «1,905.5» in English) as a
 * number, to show a queued operation and to match it with the server's rows only: the server
 * parses what is sent (scheduler_project/numbers.py) and refuses what is not a number; NaN here
 * matches nothing.
 */
export function typedNumber(text) {
  const typed = String(text).trim();
  const plain =
    document.documentElement.lang === "ru"
      ? typed.replace(/[\s\u00a0\u202f\u2009]/g, "").replace(",", ".")
      : typed.replace(/,/g, "");
  return plain === "" ? NaN : Number(plain);
}

const language = document.documentElement.lang || undefined;
const shownFormat = new Intl.NumberFormat(language, { maximumFractionDigits: 20 });
const inputFormat = new Intl.NumberFormat(language, {
  maximumFractionDigits: 20,
  useGrouping: false,
});

/** A typed volume as the server's pages show it: "7,5" in Russian, grouped by thousands. */
export function formatVolume(text) {
  const number = typedNumber(text);
  return text !== "" && Number.isFinite(number) ? shownFormat.format(number) : text;
}

/** A volume shown by the server ("1 905,5") as a volume input holds it ("1905,5"). */
export function inputVolume(text) {
  const number = typedNumber(text);
  return Number.isFinite(number) ? inputFormat.format(number) : String(text).trim();
}

let database = null;

function open() {
  database ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () =>
      request.result.createObjectStore(STORE, { keyPath: "seq", autoIncrement: true });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return database;
}

/** Run `body(store)` in one transaction; resolves with its result once committed. */
async function transact(mode, body) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const transaction = db.transaction(STORE, mode);
    let result;
    Promise.resolve(body(transaction.objectStore(STORE))).then((value) => (result = value));
    transaction.oncomplete = () => resolve(result);
    transaction.onerror = () => reject(transaction.error);
  });
}

const request = (idbRequest) =>
  new Promise((resolve, reject) => {
    idbRequest.onsuccess = () => resolve(idbRequest.result);
    idbRequest.onerror = () => reject(idbRequest.error);
  });

// The other tabs of this browser show the same outbox: they hear of its changes here.
const tabs = "BroadcastChannel" in window ? new BroadcastChannel(DB_NAME) : null;

function changed({ tell = true } = {}) {
  document.dispatchEvent(new CustomEvent("outbox:changed"));
  updateBadge();
  if (tell) tabs?.postMessage("changed");
}

tabs?.addEventListener("message", () => changed({ tell: false }));

/** The current user's operations, in the order they were queued. */
export async function operations() {
  const all = await transact("readonly", (store) => request(store.getAll()));
  return all.filter((operation) => operation.user === user);
}

/**
 * Queue a write: `{method, url, body, ifMatch, kind, day, workId, display, source}`; returns the
 * stored operation (with its `seq` and `key`) and starts a run. `source` names the page that
 * queued it (`daily`, `msg`), sent as `X-Source` so that the history tells that page, not the API.
 */
export async function enqueue(operation) {
  const stored = {
    // The page's language: a volume is sent as typed and read by the server in it.
    language: document.documentElement.lang,
    ...operation,
    user,
    key: crypto.randomUUID(),
    state: State.PENDING,
    reason: "",
    attempts: 0,
  };
  stored.seq = await transact("readwrite", (store) => request(store.add(stored)));
  changed();
  send();
  return stored;
}

const ASK_TIMEOUT_MS = 4000;
/** How long a question before queuing waits for its answer: on a bad network the entry is
 * queued unasked rather than held up (as the service worker gives up on a page, by default). */

/**
 * Ask the server about a write before queuing it (`POST url` with `body`; nothing is written),
 * with the headers the queued write would have: its JSON answer, or null when there is none in
 * time (no network, a slow one, an error): the write then goes unasked.
 */
export async function ask(url, body) {
  if (!navigator.onLine || !ownLogin()) return null;
  try {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/json",
        "Content-Language": document.documentElement.lang,
        "X-CSRFToken": csrfToken(),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(ASK_TIMEOUT_MS),
    });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

/** Change a queued operation; `resend` gives it a new key and makes it pending again. */
export async function revise(seq, changes, { resend = false } = {}) {
  const operation = await transact("readonly", (store) => request(store.get(seq)));
  if (!operation) return null;
  Object.assign(operation, changes);
  if (resend) {
    // The old key's answer (the refusal) would be replayed: a new request needs a new key.
    Object.assign(operation, { key: crypto.randomUUID(), state: State.PENDING, reason: "" });
    operation.attempts = 0;
  }
  await transact("readwrite", (store) => request(store.put(operation)));
  changed();
  if (resend) send();
  return operation;
}

export async function discard(seq) {
  await transact("readwrite", (store) => request(store.delete(seq)));
  changed();
}

async function updateBadge() {
  if (!badge) return;
  const count = (await operations()).length;
  badge.hidden = count === 0;
  badge.dataset.count = String(count);
  const label = badge.querySelector("[data-outbox-badge-count]");
  if (label) label.textContent = String(count);
}

// Sending.

let inFlight = Promise.resolve();
let retryTimer = null;
let failures = 0;

/** Resolves once no request of the outbox is on its way (a page awaits it before it shows a
 * work created by an event, so that the work's answer can turn its pending row into it). */
export function settled() {
  return inFlight;
}

/**
 * Send the outbox now (if the browser thinks it is online and is signed in as this page's
 * user); one run at a time per browser.
 */
export function send() {
  if (!navigator.onLine || !ownLogin()) return Promise.resolve();
  clearTimeout(retryTimer);
  const run = () => sendAll();
  return navigator.locks ? navigator.locks.request(LOCK, run) : run();
}

/** `sendOne`'s answer when the browser's login is no longer the operation's user. */
const AWAY = "away";

async function sendAll() {
  for (;;) {
    const next = (await operations()).find((operation) => operation.state !== State.REFUSED);
    if (!next || !navigator.onLine || !ownLogin()) return;
    let finish;
    inFlight = new Promise((resolve) => (finish = resolve));
    try {
      const sent = await sendOne(next);
      if (sent === AWAY) return; // sent again when the user is back
      if (!sent) {
        failures += 1;
        retryTimer = setTimeout(send, backoffDelay(failures, realtime.options));
        return;
      }
      failures = 0;
    } finally {
      finish();
    }
  }
}

/**
 * One operation; returns false when the run must stop (no answer, or a server error), `AWAY`
 * when another user is signed in (nothing was sent).
 */
async function sendOne(operation) {
  await revise(operation.seq, { state: State.SENDING, attempts: operation.attempts + 1 });
  for (;;) {
    // Checked just before the request leaves: the cookies it carries are this user's.
    if (!ownLogin()) {
      await revise(operation.seq, { state: State.PENDING });
      return AWAY;
    }
    let response;
    try {
      response = await fetch(operation.url, {
        method: operation.method,
        credentials: "same-origin",
        headers: {
          Accept: "application/json",
          "Content-Type": "application/json",
          "Idempotency-Key": operation.key,
          ...(operation.language ? { "Content-Language": operation.language } : {}),
          // The page that queued it, for the history (docs/history.md): not "the API".
          ...(operation.source ? { "X-Source": operation.source } : {}),
          "X-CSRFToken": csrfToken(),
          ...(operation.ifMatch ? { "If-Match": operation.ifMatch } : {}),
        },
        body: operation.body ? JSON.stringify(operation.body) : undefined,
      });
    } catch (error) {
      console.warn("Outbox: no answer; sending later", error);
      await revise(operation.seq, { state: State.PENDING });
      return false;
    }
    const data = await response.json().catch(() => null);
    if (response.status === 409 && data?.code === "idempotency_in_progress") {
      const seconds = Number(response.headers.get("Retry-After")) || 1;
      await new Promise((resume) => setTimeout(resume, seconds * 1000));
      continue;
    }
    if (response.status >= 500 || response.status === 429) {
      await revise(operation.seq, { state: State.PENDING });
      return false;
    }
    // A work already deleted is what a delete asked for.
    const done = response.ok || (operation.method === "DELETE" && response.status === 404);
    if (done) {
      await transact("readwrite", (store) => request(store.delete(operation.seq)));
      // Told before `outbox:changed`, so the page turns the pending row into the work first.
      document.dispatchEvent(new CustomEvent("outbox:sent", { detail: { operation, data } }));
      changed();
      return true;
    }
    const reason = reasonOf(data, response.status);
    await revise(operation.seq, { state: State.REFUSED, reason, status: response.status });
    document.dispatchEvent(new CustomEvent("outbox:refused", { detail: { operation, data } }));
    return true;
  }
}

/** The server's words for a refusal: its `detail`, or its field errors. */
function reasonOf(data, status) {
  if (data?.detail) return String(data.detail);
  if (data && typeof data === "object") {
    const messages = Object.values(data).flat().filter((value) => typeof value === "string");
    if (messages.length) return messages.join(" ");
  }
  return `HTTP ${status}`;
}

window.addEventListener("online", () => send());
document.addEventListener("realtime:status", ({ detail }) => {
  if (detail.status === "connected") send();
});
// Someone signed in or out in another tab: this page's user may be back.
window.cookieStore?.addEventListener("change", ({ changed, deleted }) => {
  if ([...changed, ...deleted].some(({ name }) => name === USER_COOKIE)) send();
});
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") send();
});
updateBadge();
send();
