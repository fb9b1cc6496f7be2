/**
 * The service worker of the installable app (docs/offline.md). Served at `/sw.js`
 * (scheduler_project/pwa.py) so that its scope is the whole site; its settings come in its URL's
 * query: `v` (version), `days`, `timeout` (ms), `shell`, `offline`, `login`, `logout` (paths).
 *
 * Caches:
 * - `shell-<v>`: the app shell (the project's static files and the offline page), cached at
 *   install; the caches of older versions are deleted on activate.
 * - `pages`: the pages and API reads the user opened, each stamped with the time it was fetched
 *   (`X-Offline-Fetched-At`); a copy older than `days` is dropped, never served.
 *
 * Every GET it handles goes to the network first; a copy answers when the network fails or takes
 * longer than `timeout` (a slow answer still refreshes the copy). A page answered from its copy
 * gets `data-offline-copy="<fetched at>"` on its `<html>` (static/pwa/register.js shows the
 * banner); a page without a copy gets the offline page instead of the browser's error page.
 *
 * Never handled or kept: other origins, other methods than GET, the socket, the admin, the
 * account pages, answers other than a plain 200. A login or logout (their POST) deletes the kept
 * pages: a phone may be shared.
 */

const params = new URL(self.location.href).searchParams;
const VERSION = params.get("v") ?? "0";
const MAX_AGE_MS = Number(params.get("days") ?? 7) * 24 * 3600 * 1000;
const TIMEOUT_MS = Number(params.get("timeout") ?? 4000);
const SHELL_URL = params.get("shell");
const OFFLINE_URL = params.get("offline");
const ACCOUNT_URLS = [params.get("login"), params.get("logout")].filter(Boolean);

const SHELL_CACHE = `shell-${VERSION}`;
const PAGES_CACHE = "pages";
const FETCHED_AT = "X-Offline-Fetched-At";
/** Paths never answered from a copy (their prefixes). */
const PASS_THROUGH = ["/api/ws", "/admin/", "/accounts/", "/i18n/", "/sw.js", "/metrics", "/healthz", "/readyz"];
const EXPIRY_CHECK_MS = 3600 * 1000;

/** Stores in progress, by URL: a page asking to be kept waits for the one already running. */
const storing = new Map();
let expiryCheckedAt = 0;

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const response = await fetch(SHELL_URL, { cache: "no-store" });
      const { urls } = await response.json();
      const cache = await caches.open(SHELL_CACHE);
      await cache.addAll(urls);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("shell-") && name !== SHELL_CACHE) await caches.delete(name);
      }
      await dropExpired();
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method !== "GET") {
    if (request.method === "POST" && ACCOUNT_URLS.includes(url.pathname)) {
      // Forgotten before the request leaves: the next page cannot be an old user's copy.
      event.respondWith(caches.delete(PAGES_CACHE).then(() => fetch(request)));
    }
    return;
  }
  if (PASS_THROUGH.some((prefix) => url.pathname.startsWith(prefix))) return;
  if (request.mode === "navigate") {
    event.respondWith(page(event));
  } else if (url.pathname.startsWith("/api/")) {
    event.respondWith(read(event, PAGES_CACHE));
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(read(event, SHELL_CACHE));
  }
});

/** A page asks to be kept: it was loaded before this worker controlled it. */
self.addEventListener("message", (event) => {
  if (event.data?.type !== "keep" || typeof event.data.url !== "string") return;
  const [port] = event.ports;
  event.waitUntil(
    keep(event.data.url).then(
      (kept) => port?.postMessage(kept ? "kept" : "not kept"),
      () => port?.postMessage("not kept"),
    ),
  );
});

async function page(event) {
  try {
    const response = await read(event, PAGES_CACHE, markCopy);
    if (response) return response;
  } catch {
    // No answer and no copy.
  }
  return (await caches.match(OFFLINE_URL, { cacheName: SHELL_CACHE })) ?? Response.error();
}

/**
 * The network's answer if it comes within `TIMEOUT_MS`, else the copy kept in `cacheName` (passed
 * through `present`), else the network's answer whenever it comes. A 200 is kept.
 */
async function read(event, cacheName, present = (copy) => copy) {
  const { request } = event;
  const network = fetch(request);
  const kept = network.then((response) =>
    keepable(response, request) ? store(cacheName, request, response.clone()) : null,
  );
  event.waitUntil(kept.catch(() => null));
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, TIMEOUT_MS, null);
  });
  const first = await Promise.race([network.catch(() => null), timeout]);
  clearTimeout(timer);
  if (first) return first;
  const copy = await cached(cacheName, request.url);
  if (copy) return present(copy);
  return network; // rejects when there is no network
}

/** A plain 200; for a page, an HTML one (not a downloaded file). */
function keepable(response, request) {
  if (response.status !== 200 || response.type !== "basic" || response.redirected) return false;
  return request.mode !== "navigate" || isHtml(response);
}

function isHtml(response) {
  return (response.headers.get("Content-Type") ?? "").startsWith("text/html");
}

/** Keep a copy stamped with the time it was fetched (pages and API reads). */
function store(cacheName, request, response) {
  const url = request.url;
  const done = (async () => {
    const cache = await caches.open(cacheName);
    if (cacheName === SHELL_CACHE) return cache.put(request, response);
    const headers = new Headers(response.headers);
    headers.set(FETCHED_AT, new Date().toISOString());
    await cache.put(url, new Response(await response.blob(), { status: 200, headers }));
    if (Date.now() - expiryCheckedAt > EXPIRY_CHECK_MS) await dropExpired();
  })();
  storing.set(url, done);
  done.finally(() => storing.get(url) === done && storing.delete(url));
  return done;
}

/** The copy of `url`, if it is younger than `MAX_AGE_MS`. */
async function cached(cacheName, url) {
  await storing.get(url)?.catch(() => null);
  const cache = await caches.open(cacheName);
  const copy = await cache.match(url, { ignoreVary: true });
  if (!copy || cacheName === SHELL_CACHE) return copy;
  if (isExpired(copy)) {
    await cache.delete(url, { ignoreVary: true });
    return undefined;
  }
  return copy;
}

function isExpired(copy) {
  const fetchedAt = Date.parse(copy.headers.get(FETCHED_AT) ?? "");
  return !(Date.now() - fetchedAt < MAX_AGE_MS);
}

async function dropExpired() {
  expiryCheckedAt = Date.now();
  const cache = await caches.open(PAGES_CACHE);
  for (const request of await cache.keys()) {
    const copy = await cache.match(request, { ignoreVary: true });
    if (!copy || isExpired(copy)) await cache.delete(request, { ignoreVary: true });
  }
}

/** The kept page, marked as a copy for the page's banner. */
async function markCopy(copy) {
  const fetchedAt = copy.headers.get(FETCHED_AT);
  const html = (await copy.text()).replace(/<html\b/i, `<html data-offline-copy="${fetchedAt}"`);
  const headers = new Headers(copy.headers);
  headers.delete("Content-Length");
  return new Response(html, { status: 200, headers });
}

/** Keep `url` (a page of this site) unless a fresh copy is kept already; whether it is kept. */
async function keep(url) {
  const target = new URL(url);
  if (target.origin !== self.location.origin) return false;
  if (PASS_THROUGH.some((prefix) => target.pathname.startsWith(prefix))) return false;
  if (await cached(PAGES_CACHE, target.href)) return true;
  const response = await fetch(target.href, { headers: { Accept: "text/html" } });
  if (!keepable(response, { mode: "navigate" })) return false;
  await store(PAGES_CACHE, new Request(target.href), response);
  return true;
}
