/**
 * The real-time client: the one module that owns the page's WebSocket to `/api/ws`
 * (protocol: docs/realtime.md).
 *
 * It connects, subscribes to the streams the page asks for, and passes every frame on twice:
 * to the handlers registered with `on(type, handler)` and as a DOM `CustomEvent` named
 * `realtime:<type>` (`realtime:task_updated`, `realtime:resync_required`, …) on `document`, with
 * the frame as `detail`. Connection changes are `realtime:status` events
 * (`detail: {status, attempt}`).
 *
 * It survives network drops and server restarts: reconnects with exponential backoff and jitter
 * (at once when the browser comes back online or the tab becomes visible), takes a connection
 * that stays silent after a ping for dead, and resubscribes with the id of the last event it saw,
 * starting from the id the page was rendered with (`<body data-last-event-id>`), so the server
 * replays whatever was missed. Close code 4401 (not logged in) sends the browser to the login
 * page instead, after a `realtime:unauthenticated` event.
 *
 * Close codes of the server (docs/realtime.md), and what the client does on each:
 * - 4401 not logged in: to the login page, no more attempts;
 * - 4408 slow consumer (it fell too far behind): reconnect at once and resume;
 * - 4409 too many connections of this user: status `limited`, attempts go on with the backoff;
 * - 4429 rate limited: reconnect with the backoff;
 * - 4503 server busy (past its connection cap): status `busy`; the `error` frame before the close
 *   carries `retry_after` (seconds), and the next attempt waits at least that long, spread by
 *   jitter (`retryAfterDelay()`), so that the clients of a restarted server do not all come
 *   back at once. Any `error` frame with `retry_after` has that effect on the next attempt.
 * A refused socket (4409, 4503) opens and closes at once; it counts as a failed attempt.
 *
 * Change-to-screen lag: for a share of the live events (`lagSampleRate`; which ones, the server
 * decides by the event's id, `lagSampled()`), the client measures the time from the change's
 * commit (the frame's `ts`, server clock) to the page having applied it, that is, once the page's handlers have run and the promises they handed to
 * `event.waitUntil()` (a fragment fetch put into the DOM) have settled. Its clock offset to the
 * server comes from the pings (`"clock": true`; the pong carries `server_time`), NTP-style: of the
 * last few round trips, the one with the smallest round-trip time. The lags (seconds, each with
 * its event's id: the server counts each sampled event it sent once) go back in one `lag`
 * message per `lagReportInterval` at most; the server exports them on `/metrics` as
 * `realtime_change_to_screen_seconds`.
 *
 * Configuration: the JSON in `<script type="application/json" id="realtime-config">`
 * (see `DEFAULTS`); the page modules import the shared `realtime` instance.
 *
 *     import { realtime } from "/static/realtime/websocket.js";
 *     document.addEventListener("realtime:task_updated", (event) => patch(event.detail.data));
 *     realtime.subscribe(["tasks"]);
 *     realtime.connect();
 */

/** Close code of a socket without a valid login. */
export const CLOSE_UNAUTHENTICATED = 4401;
/** Close code of a socket whose client fell too far behind (its backlog was dropped). */
export const CLOSE_SLOW_CONSUMER = 4408;
/** Close code of a socket refused because its user has too many connections open. */
export const CLOSE_TOO_MANY_CONNECTIONS = 4409;
/** Close code of a socket that sent messages too fast. */
export const CLOSE_RATE_LIMITED = 4429;
/** Close code of a socket refused because the server holds all the connections it takes. */
export const CLOSE_SERVER_BUSY = 4503;

/** Connection states, as `client.status` and in `realtime:status` events. */
export const Status = Object.freeze({
  IDLE: "idle", // connect() not called yet
  CONNECTING: "connecting", // first attempt
  CONNECTED: "connected",
  RECONNECTING: "reconnecting", // waiting for or making attempt `attempt`
  OFFLINE: "offline", // the browser says it has no network; attempts go on
  LIMITED: "limited", // refused with 4409 (too many connections); waiting for or making `attempt`
  BUSY: "busy", // refused with 4503 (server busy); waiting at least `retry_after` for `attempt`
  CLOSED: "closed", // disconnect() or 4401: no more attempts
});

const DEFAULTS = Object.freeze({
  url: "/api/ws", // a path on this host, or a ws:// / wss:// URL
  loginUrl: "/accounts/login/",
  reconnectDelay: 1000, // ms before the first retry; doubled per failed attempt…
  reconnectDelayMax: 30000, // …up to this; each delay is jittered to 50–100 %
  heartbeatInterval: 25000, // ms between pings
  heartbeatTimeout: 10000, // ms of silence after a ping (or a connection attempt) = dead
  lastEventId: null, // resume point; default: <body data-last-event-id>
  lagSampleRate: 0, // share of live events whose change-to-screen lag is measured (0: off)
  lagReportInterval: 10000, // ms between `lag` reports
});

const SEEN_IDS_KEPT = 5000;
/** The server's bounds of a `lag` message (realtime/protocol.py). */
const LAG_SAMPLES_MAX = 100;
const LAG_SECONDS_MAX = 600;
/** Knuth's multiplicative hash, as realtime/protocol.py `lag_sampled` spreads the event ids. */
const LAG_HASH = 2654435761;
/** Round trips the clock offset is chosen from: recent enough to follow a drifting clock. */
const CLOCK_SAMPLES_KEPT = 8;

/** The statuses of the refusals, by close code; shown until a connection succeeds. */
const REFUSALS = new Map([
  [CLOSE_TOO_MANY_CONNECTIONS, Status.LIMITED],
  [CLOSE_SERVER_BUSY, Status.BUSY],
]);

/** Any frame type, for `on()` and `off()`. */
const ANY = "*";

export class RealtimeClient {
  /**
   * @param {Partial<typeof DEFAULTS>} [options]
   * @param {EventTarget} [target] where the `realtime:*` DOM events are dispatched
   */
  constructor(options = {}, target = document) {
    this.options = { ...DEFAULTS, ...options };
    this.target = target;
    this.streams = new Set();
    this.handlers = new Map();
    this.seen = new Set();
    this.lastId = toEventId(this.options.lastEventId);
    this.socket = null;
    this.started = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.retryHinted = false; // the pending retry waits for the server's `retry_after`
    this.retryAfter = null; // seconds, from an `error` frame of the current socket
    this.refusal = null; // Status.LIMITED or Status.BUSY while refused
    this.pingTimer = null;
    this.deadTimer = null;
    this.currentStatus = Status.IDLE;
    this.statusAttempt = 0;
    this.clock = new ClockOffset();
    this.lag = new LagSamples(this.options.lagSampleRate);
    this.lagTimer = null;
    this.subscribing = 0; // subscribes of this socket not yet answered: their frames are replays
  }

  /** The connection state: one of `Status`. */
  get status() {
    return this.currentStatus;
  }

  /** The id of the newest event seen (or the page's own), sent as `last_event_id`. */
  get lastEventId() {
    return this.lastId;
  }

  /** Open the connection and keep it open. Calling it again does nothing. */
  connect() {
    if (this.currentStatus === Status.CLOSED) return;
    if (!this.started) {
      this.started = true;
      this.listenToBrowser();
    }
    if (this.socket === null && this.retryTimer === null) this.open();
  }

  /** Close the connection for good (no reconnect). */
  disconnect() {
    this.setStatus(Status.CLOSED);
    this.cancelRetry();
    this.drop(this.socket);
  }

  /**
   * Receive these streams (`tasks`, `daily_works`, `monthly_tasks`); they are subscribed
   * again, with the last event id, after every reconnect.
   * @param {string[]} streams
   */
  subscribe(streams) {
    const added = streams.filter((stream) => !this.streams.has(stream));
    added.forEach((stream) => this.streams.add(stream));
    if (added.length && this.isOpen()) this.sendSubscribe(added);
  }

  /** @param {string[]} streams */
  unsubscribe(streams) {
    const removed = streams.filter((stream) => this.streams.delete(stream));
    if (removed.length && this.isOpen()) this.send({ type: "unsubscribe", events: removed });
  }

  /**
   * Call `handler(frame)` for each frame of this type (`"task_updated"`, `"subscribed"`,
   * `"resync_required"`, …), or of every type with `"*"`.
   * @param {string} type
   * @param {(frame: object) => void} handler
   */
  on(type, handler) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(handler);
  }

  /** Remove a handler added with `on()`. */
  off(type, handler) {
    this.handlers.get(type)?.delete(handler);
  }

  /** Send a message now if connected; returns whether it was sent. */
  send(message) {
    if (!this.isOpen()) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  // Internals.

  isOpen() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  open() {
    this.retryTimer = null;
    this.retryHinted = false;
    this.retryAfter = null;
    const socket = new WebSocket(socketUrl(this.options.url));
    this.socket = socket;
    // Another connection may reach another server, with another clock.
    this.clock.reset();
    this.subscribing = 0;
    let opened = false;
    const attempt = this.attempt;
    this.setStatus(this.attempt === 0 ? Status.CONNECTING : this.retryingStatus());
    // A connection attempt that hangs (a server that accepts nothing) counts as failed.
    this.armDeadTimer();
    socket.onopen = () => {
      opened = true;
      this.attempt = 0;
      this.refusal = null;
      this.clearDeadTimer();
      console.info("WebSocket connected");
      this.setStatus(Status.CONNECTED);
      if (this.streams.size) this.sendSubscribe([...this.streams]);
      this.pingTimer = setInterval(() => this.ping(), this.options.heartbeatInterval);
    };
    socket.onmessage = (message) => {
      this.clearDeadTimer();
      this.receive(message.data);
    };
    socket.onclose = (close) => {
      if (this.socket === socket) this.closed(opened, close.code, attempt);
    };
  }

  /** Forget `socket` at once (a dead connection may take minutes to report its close). */
  drop(socket) {
    if (socket === null) return;
    const wasOpen = socket.readyState === WebSocket.OPEN;
    socket.onopen = socket.onmessage = socket.onclose = null;
    socket.close();
    if (this.socket === socket) this.closed(wasOpen, null);
  }

  /** @param {number} [attempt] the attempt the socket was opened by */
  closed(wasOpen, code, attempt = this.attempt) {
    this.socket = null;
    clearInterval(this.pingTimer);
    this.clearDeadTimer();
    const retryAfter = this.retryAfter;
    this.retryAfter = null;
    if (wasOpen) console.info("WebSocket disconnected");
    if (code === CLOSE_UNAUTHENTICATED) {
      this.setStatus(Status.CLOSED);
      // The login ended: what was kept for it goes first (static/pwa/register.js).
      this.target.dispatchEvent(new CustomEvent("realtime:unauthenticated"));
      const next = window.location.pathname + window.location.search;
      window.location.assign(`${this.options.loginUrl}?next=${encodeURIComponent(next)}`);
      return;
    }
    if (this.currentStatus === Status.CLOSED) return;
    this.refusal = REFUSALS.get(code) ?? null;
    // A refused socket opened and closed at once: a failed attempt, so the backoff goes on.
    if (this.refusal !== null) this.attempt = attempt;
    if (code === CLOSE_SLOW_CONSUMER && retryAfter === null) {
      this.open(); // resumes from the last event id seen
      return;
    }
    this.scheduleRetry(retryAfter);
  }

  /** @param {number | null} [retryAfter] the server's hint, in seconds */
  scheduleRetry(retryAfter = null) {
    this.attempt += 1;
    this.setStatus(this.retryingStatus());
    let delay = backoffDelay(this.attempt, this.options);
    if (retryAfter !== null) {
      delay = Math.max(delay, retryAfterDelay(retryAfter));
      this.retryHinted = true;
    }
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  cancelRetry() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.retryHinted = false;
  }

  retryingStatus() {
    if (navigator.onLine === false) return Status.OFFLINE;
    return this.refusal ?? Status.RECONNECTING;
  }

  /**
   * Back online or visible again: retry now instead of at the end of the backoff delay (not
   * before the time the server asked for, though).
   */
  wake() {
    if (!this.started || this.currentStatus === Status.CLOSED) return;
    if (this.retryTimer !== null) {
      if (this.retryHinted) return;
      this.cancelRetry();
      this.open();
    } else if (this.isOpen()) {
      this.setStatus(Status.CONNECTED);
      this.ping(); // a connection that died while asleep or offline shows itself now
    }
  }

  listenToBrowser() {
    window.addEventListener("online", () => this.wake());
    window.addEventListener("offline", () => {
      if (this.currentStatus !== Status.CLOSED) this.setStatus(Status.OFFLINE);
    });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.wake();
    });
  }

  ping() {
    const message = { type: "ping" };
    if (this.lag.on) Object.assign(message, { clock: true, sent: Date.now() });
    if (this.send(message) && this.deadTimer === null) this.armDeadTimer();
  }

  armDeadTimer() {
    this.clearDeadTimer();
    const socket = this.socket;
    this.deadTimer = setTimeout(() => {
      this.deadTimer = null;
      console.warn("WebSocket silent for too long; reconnecting");
      this.drop(socket);
    }, this.options.heartbeatTimeout);
  }

  clearDeadTimer() {
    clearTimeout(this.deadTimer);
    this.deadTimer = null;
  }

  sendSubscribe(streams) {
    const message = { type: "subscribe", events: streams };
    if (this.lastId !== null) message.last_event_id = this.lastId;
    if (this.send(message)) this.subscribing += 1;
  }

  receive(text) {
    const received = Date.now();
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      console.error("WebSocket: not JSON", text);
      return;
    }
    if (typeof frame !== "object" || frame === null || typeof frame.type !== "string") return;
    if (typeof frame.id === "number" && typeof frame.event === "string") {
      if (this.seen.has(frame.id)) return; // a replay of an event already applied
      this.remember(frame.id);
      const committed = Date.parse(frame.ts);
      // A replayed event's wait is the client's absence, not a lag.
      if (this.subscribing === 0 && Number.isFinite(committed) && this.lag.draw(frame.id)) {
        this.dispatch(frame).then(() => this.applied(frame.id, committed));
        return;
      }
    } else if (frame.type === "subscribed") {
      this.subscribing = Math.max(0, this.subscribing - 1);
      this.advance(toEventId(frame.last_event_id));
    } else if (frame.type === "pong") {
      if (typeof frame.server_time === "number" && typeof frame.sent === "number") {
        this.clock.add(frame.sent, received, frame.server_time);
      }
    } else if (frame.type === "error") {
      if (isDelay(frame.retry_after)) this.retryAfter = frame.retry_after;
      // The user lost the view permission of these streams: the server unsubscribed them, and
      // asking for them again on the next reconnect would refuse the whole subscribe.
      if (frame.code === "forbidden" && Array.isArray(frame.events)) {
        frame.events.forEach((stream) => this.streams.delete(stream));
      } else if (frame.code === "forbidden" && frame.page === undefined) {
        this.subscribing = Math.max(0, this.subscribing - 1); // a refused subscribe
      }
    }
    this.dispatch(frame);
  }

  remember(id) {
    this.seen.add(id);
    if (this.seen.size > SEEN_IDS_KEPT) this.seen.delete(this.seen.values().next().value);
    this.advance(id);
  }

  advance(id) {
    if (id !== null && (this.lastId === null || id > this.lastId)) this.lastId = id;
  }

  /** Hand `frame` to the page; resolves once the work the handlers handed back has settled. */
  dispatch(frame) {
    const event = new RealtimeEvent(`realtime:${frame.type}`, frame);
    for (const handler of [...(this.handlers.get(frame.type) ?? []), ...(this.handlers.get(ANY) ?? [])]) {
      try {
        event.waitUntil(handler(frame));
      } catch (error) {
        reportError(error); // one failing handler must not starve the others
      }
    }
    this.target.dispatchEvent(event);
    return Promise.all(event.pending);
  }

  /** A sampled event is on the page: its lag waits in `lag` for the next report. */
  applied(id, committed) {
    if (document.visibilityState === "hidden") return; // throttled: not what a user sees
    this.lag.add(id, committed, Date.now());
    if (this.clock.offset === null) this.ping(); // the first estimate, without waiting
    if (this.lagTimer === null) {
      this.lagTimer = setTimeout(() => this.reportLag(), this.options.lagReportInterval);
    }
  }

  /** Send the lags measured since the last report (or keep them until a pong has come). */
  reportLag() {
    this.lagTimer = null;
    const offset = this.clock.offset;
    if (offset !== null && this.isOpen()) {
      const samples = this.lag.take(offset);
      if (samples.length) this.send({ type: "lag", samples });
    }
    if (this.lag.size) {
      this.lagTimer = setTimeout(() => this.reportLag(), this.options.lagReportInterval);
    }
  }

  setStatus(status) {
    if (status === this.currentStatus && this.attempt === this.statusAttempt) return;
    this.currentStatus = status;
    this.statusAttempt = this.attempt;
    const detail = { status, attempt: this.attempt };
    this.target.dispatchEvent(new CustomEvent("realtime:status", { detail }));
  }
}

/**
 * The `realtime:<type>` DOM event. A listener whose work goes on after it returns (a fragment
 * fetch) hands its promise to `waitUntil()`: the frame counts as applied once it settles.
 */
export class RealtimeEvent extends CustomEvent {
  constructor(type, frame) {
    super(type, { detail: frame });
    this.pending = [];
  }

  /** @param {unknown} work a promise (anything else is done already) */
  waitUntil(work) {
    if (typeof work?.then !== "function") return;
    // A failure stays as visible as it was without this (an unhandled rejection otherwise).
    this.pending.push(Promise.resolve(work).catch((error) => reportError(error)));
  }
}

/**
 * The client's clock offset to the server's, NTP-style: each pong gives
 * `offset = server_time − (sent + received) / 2`, off by at most half its round trip, so the
 * estimate is the one of the smallest round trip among the last `CLOCK_SAMPLES_KEPT`.
 */
export class ClockOffset {
  constructor() {
    this.samples = [];
  }

  /** A pong: `sent` and `received` on this clock, `serverTime` on the server's (ms). */
  add(sent, received, serverTime) {
    const rtt = received - sent;
    if (!(rtt >= 0) || !Number.isFinite(serverTime)) return;
    this.samples.push({ rtt, offset: serverTime - (sent + received) / 2 });
    if (this.samples.length > CLOCK_SAMPLES_KEPT) this.samples.shift();
  }

  /** Milliseconds to add to `Date.now()` to read the server's clock; `null` before a pong. */
  get offset() {
    if (!this.samples.length) return null;
    return this.samples.reduce((best, sample) => (sample.rtt < best.rtt ? sample : best)).offset;
  }

  reset() {
    this.samples = [];
  }
}

/**
 * Whether the lag of event `id` is measured at sample rate `rate`: the server's rule
 * (realtime/protocol.py `lag_sampled`), which counts only the lags of the events it sampled.
 * @param {number} id
 * @param {number} rate 0 to 1
 */
export function lagSampled(id, rate) {
  return Math.imul(id, LAG_HASH) >>> 0 < rate * 2 ** 32;
}

/**
 * The lags measured since the last report: a uniform sample of at most `LAG_SAMPLES_MAX` of
 * them (reservoir sampling), so a burst of events costs one bounded message.
 */
export class LagSamples {
  /**
   * @param {number} rate the share of events measured (0 to 1)
   * @param {() => number} [random] in [0, 1)
   */
  constructor(rate, random = Math.random) {
    this.rate = Number(rate) || 0;
    this.random = random;
    this.kept = [];
    this.seen = 0;
  }

  get on() {
    return this.rate > 0;
  }

  get size() {
    return this.kept.length;
  }

  /** Whether to measure event `id`. */
  draw(id) {
    return this.on && lagSampled(id, this.rate);
  }

  /** Event `id`: `committed` on the server's clock, `applied` on this one (ms). */
  add(id, committed, applied) {
    this.seen += 1;
    const sample = { id, committed, applied };
    if (this.kept.length < LAG_SAMPLES_MAX) {
      this.kept.push(sample);
    } else {
      const index = Math.floor(this.random() * this.seen);
      if (index < LAG_SAMPLES_MAX) this.kept[index] = sample;
    }
  }

  /**
   * The samples `{id, seconds}`: the lags with the clock `offset` (ms) applied, clamped at 0;
   * forgets them.
   */
  take(offset) {
    const lags = this.kept
      .map(({ id, committed, applied }) => ({
        id,
        seconds: Math.max(0, applied + offset - committed) / 1000,
      }))
      .filter((lag) => lag.seconds <= LAG_SECONDS_MAX)
      .map(({ id, seconds }) => ({ id, seconds: Math.round(seconds * 1000) / 1000 }));
    this.kept = [];
    this.seen = 0;
    return lags;
  }
}

/**
 * The wait before reconnect attempt `attempt` (1, 2, …): `reconnectDelay` doubled per earlier
 * failed attempt, capped at `reconnectDelayMax`, then jittered to 50–100 % so that many clients
 * dropped at once do not come back at once.
 * @param {number} attempt
 * @param {{reconnectDelay: number, reconnectDelayMax: number}} options
 * @param {number} [random] in [0, 1)
 */
export function backoffDelay(attempt, { reconnectDelay, reconnectDelayMax }, random = Math.random()) {
  const delay = Math.min(reconnectDelayMax, reconnectDelay * 2 ** (attempt - 1));
  return delay * (0.5 + random / 2);
}

/**
 * Whether an `error` frame says the page's streams are not delivered any more for want of the
 * view permission: lost while subscribed (`events`: the streams unsubscribed), or refused when
 * they were asked for again (a reconnect after the permission went). Presence refusals name a
 * `page` and are not about the streams.
 * @param {{code?: string, page?: string}} frame
 */
export function isStreamForbidden(frame) {
  return frame.code === "forbidden" && frame.page === undefined;
}

/**
 * The wait before the attempt after a server's `retry_after` hint (seconds): at least the hint,
 * jittered up to 150 % of it, so that the clients a server turned away do not return together.
 * @param {number} retryAfter
 * @param {number} [random] in [0, 1)
 */
export function retryAfterDelay(retryAfter, random = Math.random()) {
  return retryAfter * 1000 * (1 + random / 2);
}

function isDelay(value) {
  return typeof value === "number" && Number.isFinite(value) && value >= 0;
}

function socketUrl(url) {
  const absolute = new URL(url, window.location.href);
  if (absolute.protocol === "http:") absolute.protocol = "ws:";
  if (absolute.protocol === "https:") absolute.protocol = "wss:";
  return absolute.href;
}

function toEventId(value) {
  if (value === null || value === undefined || value === "") return null;
  const id = Number(value);
  return Number.isSafeInteger(id) && id >= 0 ? id : null;
}

function pageOptions() {
  const element = document.getElementById("realtime-config");
  const options = element ? JSON.parse(element.textContent) : {};
  if (options.lastEventId === undefined && document.body) {
    options.lastEventId = document.body.dataset.lastEventId ?? null;
  }
  return options;
}

/** The page's shared client, configured from `#realtime-config` and `<body data-last-event-id>`. */
export const realtime = new RealtimeClient(pageOptions());
