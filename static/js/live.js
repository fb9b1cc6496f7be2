/**
 * What the live pages share: the connection badge in the header, the notices that say who
 * changed what, and `LiveTable`, which keeps a table's rows current from server-rendered
 * fragments.
 *
 * The page modules (schedule.js, monthly.js, daily.js) listen for the client's
 * `realtime:<type>` events and ask their `LiveTable` to refresh the rows an event touches. It
 * fetches those rows from the page's own view (`?fragment=rows&task=7`), so formatting,
 * translations and the buttons a user may see come from the same templates as the page;
 * fetches run one at a time, in the order of the events, so an older answer never overwrites
 * a newer one.
 *
 * Every live view fetches through `LiveFetch`, the one policy: a fetch that fails for a while
 * (a 5xx answer, no network) is tried again with the socket's backoff (doubling delays up to a
 * cap, with jitter), so a failing server is not hammered and the view comes right once it
 * answers again. An answer that asking again will not change (403, 404, a redirect to the login
 * page), or a stream the page shows refused, stops the view: a message on the page says what is
 * wrong.
 */

import { backoffDelay, isStreamForbidden, realtime } from "../realtime/websocket.js";

export { realtime };

const messages = readJson("live-messages") ?? {};
const NOTICE_MS = 8000;
const NOTICES_KEPT = 4;
const IDS_PER_FETCH = 200;
/** Statuses worth asking again for: the server (or a proxy before it) may answer later. */
const TRANSIENT_STATUSES = new Set([408, 429]);

/**
 * Run `handler(event)` on each `realtime:<type>` event of `types`. The promise it returns (a
 * fragment fetch and its rows put in place) tells the client when the page has applied the frame:
 * its change-to-screen lag is measured up to then.
 */
export function listen(types, handler) {
  for (const type of types) {
    document.addEventListener(`realtime:${type}`, (event) => event.waitUntil?.(handler(event)));
  }
}

/** `format("%(actor)s updated %(object)s", {actor: "maria", object: "1.2 Concrete"})` */
export function format(template, values) {
  return String(template ?? "").replace(/%\((\w+)\)s/g, (match, name) =>
    name in values ? String(values[name]) : match,
  );
}

/** The JSON a page embeds with `json_script`, or null. */
export function readJson(id) {
  const element = document.getElementById(id);
  return element ? JSON.parse(element.textContent) : null;
}

// The connection badge.

const badge = document.querySelector("[data-live-status]");

function showStatus({ status, attempt }) {
  if (!badge) return;
  const label = format(messages.status?.[status], { attempt });
  badge.hidden = !label;
  badge.dataset.state = status;
  badge.title = label;
  badge.querySelector("[data-live-status-label]").textContent = label;
}

document.addEventListener("realtime:status", ({ detail }) => showStatus(detail));
// Another module (the presence module in the header) may have connected the socket before this
// one listened: show the state it is in already.
if (realtime.status) showStatus({ status: realtime.status, attempt: realtime.attempt });

// Notices.

const notices = document.querySelector("[data-live-notices]");

/** Show a short message in the corner for a few seconds. */
export function notify(text) {
  if (!notices || !text) return;
  const notice = document.createElement("div");
  notice.className = "live-notice";
  const message = document.createElement("p");
  message.textContent = text;
  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.className = "live-notice__dismiss";
  dismiss.textContent = "×";
  dismiss.title = messages.dismiss ?? "";
  dismiss.setAttribute("aria-label", messages.dismiss ?? "");
  dismiss.addEventListener("click", () => notice.remove());
  notice.append(message, dismiss);
  notices.append(notice);
  while (notices.children.length > NOTICES_KEPT) notices.firstElementChild.remove();
  setTimeout(() => notice.remove(), NOTICE_MS);
}

// What a change was, as the pages write it: the one place that words a change someone made.

const lang = document.documentElement.lang || undefined;
const numberFormat = new Intl.NumberFormat(lang, { maximumFractionDigits: 20 });
const dayFormat = new Intl.DateTimeFormat(lang, { day: "2-digit", month: "2-digit", timeZone: "UTC" });
const monthFormat = new Intl.DateTimeFormat(lang, { month: "long", timeZone: "UTC" });

/** A number as the page writes it: «7,5» and «1 905,5» in Russian, «1,905.5» in English. */
export function formatNumber(number) {
  return numberFormat.format(number);
}

/** `2026-12-07` as «07.12» (Russian) or «12/07» (English). */
function formatDay(iso) {
  return dayFormat.format(new Date(`${iso}T00:00:00Z`));
}

/** `2026-12` as «декабрь 2026» or «December 2026». */
function formatMonth(month) {
  const day = new Date(`${month}-01T00:00:00Z`);
  return `${monthFormat.format(day)} ${day.getUTCFullYear()}`;
}

// Each unit's decimals (Unit.decimals): a notice's volume is rounded as the pages show it.
const unitDecimals = readJson("unit-decimals") ?? {};
const volumeFormats = new Map();
const volume = (value, unit) => {
  const decimals = unitDecimals[unit];
  if (decimals === undefined) return formatNumber(Number(value));
  if (!volumeFormats.has(decimals)) {
    volumeFormats.set(decimals, new Intl.NumberFormat(lang, { maximumFractionDigits: decimals }));
  }
  return volumeFormats.get(decimals).format(Number(value));
};
const has = (data, ...names) => names.every((name) => data[name] !== undefined && data[name] !== null);

/** Per entity, the values its notices name, from an event's data (the REST representation);
 * null when the frame lacks them (a frame older than these notices). */
const NOTICE_VALUES = {
  task: (data) =>
    has(data, "code", "name") ? { task: format(messages.task, { code: data.code, name: data.name }) } : null,
  daily_work: (data) =>
    has(data, "task_code", "task_unit", "volume", "date")
      ? {
          code: data.task_code,
          unit: data.task_unit,
          volume: volume(data.volume, data.task_unit),
          date: formatDay(data.date),
        }
      : null,
  monthly_task: (data) =>
    has(data, "task_code", "task_unit", "volume_plan", "month")
      ? {
          code: data.task_code,
          unit: data.task_unit,
          volume: volume(data.volume_plan, data.task_unit),
          month: formatMonth(data.month),
        }
      : null,
};

/** Who made a change: the full name, else the login; "A script" for none. */
export function actorName(frame) {
  return frame.actor ? frame.actor.name || frame.actor.username : messages.script;
}

/**
 * The notice of a change someone made: «Иван Петров: 7,5 м³ по 4.4 за 07.12». Empty for a
 * change another one brought about (`frame.cause`: a task's volume done recalculated after a
 * report, which the report's notice tells) and for what has no notice (the calendar).
 */
export function describe(frame) {
  if (frame.cause) return "";
  const cut = frame.type.lastIndexOf("_");
  const [entity, action] = [frame.type.slice(0, cut), frame.type.slice(cut + 1)];
  const template = messages.notice?.[entity]?.[action];
  const values = NOTICE_VALUES[entity]?.(frame.data ?? {});
  return template && values ? format(template, { actor: actorName(frame), ...values }) : "";
}

/** Tell the user that the page reloaded its data after `resync_required`. */
export function notifyResynced() {
  notify(messages.resynced);
}

// Rows.

/**
 * The server's order of rows: by `data-sort-key` (the task's code key, digits only, so plain
 * string comparison agrees with the database), then by id.
 */
function compareRows(a, b) {
  const [keyA, keyB] = [a.dataset.sortKey ?? "", b.dataset.sortKey ?? ""];
  if (keyA !== keyB) return keyA < keyB ? -1 : 1;
  return Number(a.id.replace(/\D+/g, "")) - Number(b.id.replace(/\D+/g, ""));
}

/** What a row shows: changed text or input values get the row highlighted. */
function visibleState(row) {
  const values = [...row.querySelectorAll("input:not([type=hidden]), select, textarea")].map(
    (control) => control.value,
  );
  return `${row.textContent.replace(/\s+/g, " ")}|${values.join("|")}`;
}

function signature(row) {
  return `${row.dataset.version ?? ""}/${row.dataset.taskVersion ?? ""}`;
}

/** A row whose form holds an entry the user has not sent yet: never replaced under them. */
function isDirty(row) {
  if (row.classList.contains("has-problem")) return true;
  return [...row.querySelectorAll("input:not([type=hidden]), textarea")].some(
    (control) => control.value !== control.defaultValue,
  );
}

function messageRowOf(row) {
  const next = row.nextElementSibling;
  return next?.classList.contains("row-message") ? next : null;
}

/** Mark an element changed for a moment (the `is-live-changed` animation). */
export function highlight(row) {
  row.classList.remove("is-live-changed");
  void row.offsetWidth; // restart the animation
  row.classList.add("is-live-changed");
  row.addEventListener("animationend", () => row.classList.remove("is-live-changed"), {
    once: true,
  });
}

/** A fragment request that failed; `status` 0 means no answer at all (network). */
class FragmentError extends Error {
  constructor(url, status) {
    super(`${url}: ${status ? `HTTP ${status}` : "no answer"}`);
    this.status = status;
  }

  /** Whether asking again may get another answer. */
  get transient() {
    return this.status === 0 || this.status >= 500 || TRANSIENT_STATUSES.has(this.status);
  }
}

const sleep = (ms) => new Promise((resume) => setTimeout(resume, ms));

/**
 * The one fetch policy of every live view (the tables, the timeline, the progress page). A GET
 * of the view's own fragment or JSON; an answer that asking again may change (no answer, a 5xx,
 * 408, 429) is asked again with the socket's backoff, said above the view; any other (a 4xx, a
 * redirect to the login page) stops the view, as does the server refusing a stream the page
 * shows (its view permission went): the page says why and fetches nothing more.
 *
 * The view's root is told as DOM events: `live:retry` (`detail: {attempt, delay, status}`)
 * before each new try, `live:stopped` (`detail: {status}`) when the view gives up.
 */
export class LiveFetch {
  /**
   * @param {HTMLElement} root where the problem is said and the events are dispatched
   * @param {() => void} [onStop] called once when the view stops
   */
  constructor(root, onStop = () => {}) {
    this.root = root;
    this.onStop = onStop;
    this.failures = 0; // fetches failed in a row
    this.stopped = false;
    this.problem = null;
    document.addEventListener("realtime:error", ({ detail }) => {
      if (isStreamForbidden(detail)) this.stop(403);
    });
  }

  /** The answer to a GET of `url`; throws a `FragmentError` for a failed one. */
  async get(url, accept = "text/html") {
    let response;
    try {
      response = await fetch(url, { headers: { Accept: accept } });
    } catch {
      throw new FragmentError(url, 0);
    }
    // A redirect is the login page: the session ended, as a 401 says.
    if (response.redirected) throw new FragmentError(url, 401);
    if (!response.ok) throw new FragmentError(url, response.status);
    return response;
  }

  /** The HTML fragment at `url`, parsed. */
  async fragment(url) {
    const response = await this.get(url, "text/html");
    const template = document.createElement("template");
    template.innerHTML = await response.text();
    return template.content;
  }

  /** The JSON at `url`. */
  async json(url) {
    return (await this.get(url, "application/json")).json();
  }

  /**
   * After a failed fetch: resolves `true` once the backoff delay has passed (ask again), or
   * `false` when the view stopped (the failure will not change by asking again).
   */
  async retry(error) {
    const failure = error instanceof FragmentError ? error : new FragmentError(this.root.id, 0);
    if (!failure.transient) {
      this.stop(failure.status);
      return false;
    }
    this.failures += 1;
    const delay = backoffDelay(this.failures, realtime.options);
    console.warn(`Live update failed; retrying in ${Math.round(delay)} ms`, error);
    this.showProblem("warning", failure.status ? "server_error" : "unreachable", {
      status: failure.status,
      attempt: this.failures,
    });
    this.emit("live:retry", { attempt: this.failures, delay, status: failure.status });
    await sleep(delay);
    return !this.stopped;
  }

  /** A fetch succeeded: the problem said, if any, goes. */
  succeeded() {
    this.failures = 0;
    this.showProblem(null);
  }

  /** Give up: what is shown stays as it is and the page says why; later fetches do nothing. */
  stop(status) {
    if (this.stopped) return;
    this.stopped = true;
    const forbidden = status === 401 || status === 403;
    console.warn(`Live updates stopped: HTTP ${status}`);
    this.showProblem("error", forbidden ? "forbidden" : "refused", { status });
    this.emit("live:stopped", { status });
    this.onStop();
  }

  showProblem(level, key, values = {}) {
    this.problem = showProblem(this.root, this.problem, level, key, values);
  }

  emit(type, detail) {
    this.root.dispatchEvent(new CustomEvent(type, { detail, bubbles: true }));
  }
}

/**
 * The message at the top of `root` about failed live fetches (`messages.fragment[key]`), kept in
 * `current`; level `null` removes it. Returns the element now shown, or `null`.
 */
export function showProblem(root, current, level, key, values = {}) {
  if (level === null) {
    current?.remove();
    return null;
  }
  const problem = current ?? document.createElement("p");
  if (!current) {
    problem.dataset.liveProblem = "";
    root.prepend(problem);
  }
  problem.className = `alert alert--${level} live-problem`;
  problem.setAttribute("role", level === "error" ? "alert" : "status");
  problem.textContent = format(messages.fragment?.[key], values);
  return problem;
}

/**
 * A table kept current from the page's fragments.
 *
 * The page root (`[data-live-page]`) holds `[data-live-rows]` (the table's card),
 * `[data-live-empty]` (shown when there are no rows) and `data-fragment-url`. Rows have an
 * `id`, `data-version` and maybe `data-task-version`; a fragment answer is a `<table>` with
 * the rows asked for, followed by elements marked `data-live-part` that replace the page's
 * elements of the same mark (counts, totals, choices).
 *
 * Its fetches follow `LiveFetch`'s policy.
 */
export class LiveTable {
  /**
   * @param {HTMLElement} root the `[data-live-page]` element
   * @param {Record<string, string>} scopes fragment parameter → row attribute holding that id,
   *   e.g. `{task: "data-task-id"}`
   */
  constructor(root, scopes) {
    this.root = root;
    this.scopes = scopes;
    this.tbody = root.querySelector("[data-live-rows] tbody");
    this.fragmentUrl = root.dataset.fragmentUrl;
    this.pending = [];
    this.running = false;
    // Stopped (a 4xx, the login gone, a stream refused): what was asked for gets no rows.
    this.live = new LiveFetch(root, () => {
      for (const request of this.pending.splice(0)) request.resolve(false);
    });
  }

  get stopped() {
    return this.live.stopped;
  }

  /** The rows on the page whose `param` id (`task`, `work`, …) is `id`. */
  rows(param, id) {
    return [...this.tbody.querySelectorAll(`tr[${this.scopes[param]}="${Number(id)}"]`)].filter(
      (row) => !row.classList.contains("row-message"),
    );
  }

  /**
   * Fetch the rows of these ids again and put them in place: changed rows are replaced and
   * highlighted, new ones inserted in order, rows the answer lacks removed.
   * @param {string} param
   * @param {number[]} ids
   * @returns {Promise<boolean>} whether anything on the page changed
   */
  refresh(param, ids) {
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.pending.push({ param, ids: ids.map(Number), resolve });
      this.run();
    });
  }

  /**
   * Reload through the REST API after `resync_required`: `expected` maps the id of every row
   * the page should show to its signature (`version/task version`) and the fragment
   * parameter that fetches it; rows that differ, are missing or are not expected are fetched.
   * @param {() => Promise<Map<string, {param: string, id: number, signature: string}>>} expected
   */
  async resync(expected) {
    const wanted = await expected();
    const stale = new Map();
    const add = (param, id) => {
      if (!stale.has(param)) stale.set(param, []);
      stale.get(param).push(id);
    };
    for (const [rowId, row] of wanted) {
      const current = this.tbody.querySelector(`#${CSS.escape(rowId)}`);
      if (!current || signature(current) !== row.signature) add(row.param, row.id);
    }
    for (const current of this.tbody.querySelectorAll("tr[id]")) {
      if (wanted.has(current.id)) continue;
      const [param, attribute] = Object.entries(this.scopes).find(([, name]) =>
        current.hasAttribute(name),
      );
      add(param, Number(current.getAttribute(attribute)));
    }
    if (!stale.size) stale.set(Object.keys(this.scopes)[0], []); // still refresh totals
    await Promise.all([...stale].map(([param, ids]) => this.refresh(param, ids)));
  }

  async run() {
    if (this.running) return;
    this.running = true;
    while (this.pending.length && !this.stopped) {
      const batch = this.take();
      let fragment;
      try {
        fragment = await this.fetch(batch);
      } catch (error) {
        // The same rows again (later and later, while the server is away), or none: stopped.
        this.pending.unshift(...batch);
        if (!(await this.live.retry(error))) break;
        continue;
      }
      const changed = batch.map((request) => this.apply(fragment, request));
      this.replaceParts(fragment);
      this.syncEmpty();
      batch.forEach((request, index) => request.resolve(changed[index]));
      this.live.succeeded();
    }
    if (this.stopped) for (const request of this.pending.splice(0)) request.resolve(false);
    this.running = false;
  }

  take() {
    const batch = [];
    let count = 0;
    while (this.pending.length && count < IDS_PER_FETCH) {
      const request = this.pending.shift();
      batch.push(request);
      count += request.ids.length;
    }
    return batch;
  }

  async fetch(batch) {
    const url = new URL(this.fragmentUrl, window.location.href);
    for (const { param, ids } of batch) ids.forEach((id) => url.searchParams.append(param, id));
    return this.live.fragment(url);
  }

  apply(fragment, { param, ids }) {
    const attribute = this.scopes[param];
    let changed = false;
    for (const id of ids) {
      const selector = `tr[${attribute}="${id}"]:not(.row-message)`;
      const incoming = [...fragment.querySelectorAll(`tbody > ${selector}`)];
      const keep = new Set(incoming.map((row) => row.id));
      for (const row of this.rows(param, id)) {
        if (!keep.has(row.id)) {
          messageRowOf(row)?.remove();
          row.remove();
          changed = true;
        }
      }
      for (const row of incoming) changed = this.upsert(row.cloneNode(true)) || changed;
    }
    return changed;
  }

  upsert(row) {
    const current = this.tbody.querySelector(`#${CSS.escape(row.id)}`);
    if (!current) {
      this.place(row);
      highlight(row);
      return true;
    }
    if (signature(current) === signature(row)) return false;
    if (isDirty(current)) {
      // The user's unsent entry stays; saving it will show the conflict with the new values.
      current.classList.add("is-outdated");
      return true;
    }
    const visibleChange = visibleState(current) !== visibleState(row);
    const focused = current.contains(document.activeElement) ? document.activeElement.id : "";
    current.replaceWith(row);
    this.place(row);
    if (focused) document.getElementById(focused)?.focus();
    if (visibleChange) highlight(row);
    return visibleChange;
  }

  /** Put `row` where the server's order puts it (compareRows). */
  place(row) {
    const others = [...this.tbody.children].filter(
      (other) => other !== row && !other.classList.contains("row-message"),
    );
    const next = others.find((other) => compareRows(row, other) < 0) ?? null;
    if (row.parentNode === this.tbody && row.nextElementSibling === next) return;
    this.tbody.insertBefore(row, next);
  }

  replaceParts(fragment) {
    for (const part of fragment.querySelectorAll("[data-live-part]")) {
      const name = CSS.escape(part.dataset.livePart);
      const target = document.querySelector(`[data-live-part="${name}"]`);
      if (!target) continue;
      if (target instanceof HTMLSelectElement) {
        // Fresh choices; the user's choice stays if it still exists.
        const value = target.value;
        target.replaceChildren(...part.cloneNode(true).children);
        target.value = value;
        if (target.value !== value) target.value = "";
      } else {
        target.replaceWith(part.cloneNode(true));
      }
    }
  }

  syncEmpty() {
    const empty = this.tbody.querySelector("tr[id]") === null;
    this.root.querySelector("[data-live-rows]").hidden = empty;
    const placeholder = this.root.querySelector("[data-live-empty]");
    if (placeholder) placeholder.hidden = !empty;
  }
}

/** Every object of a REST list, following its pages (`next`). */
export async function fetchAll(url) {
  const results = [];
  let next = new URL(url, window.location.href);
  next.searchParams.set("limit", "1000");
  while (next) {
    const response = await fetch(next, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`${next}: HTTP ${response.status}`);
    const page = await response.json();
    results.push(...page.results);
    next = page.next ? new URL(page.next) : null;
  }
  return results;
}
