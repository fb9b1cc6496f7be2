/**
 * The service worker of the installable app (docs/offline.md). Served at `/sw.js`
 * (scheduler_project/pwa.py) so that its scope is the whole site; its settings come in its URL's
 * query: `v` (version), `days`, `timeout` (ms), `shell`, `offline`, `login`, `logout` (paths),
 * `cookie` and `header` (names, below).
 *
 * Caches:
 * - `shell-<v>`: the app shell (the project's static files and the offline page, fetched without
 *   cookies: the same for everyone), cached at install; older versions' deleted on activate.
 * - `pages-<login>`: the pages and API reads one login opened, each stamped with the time it was
 *   fetched (`X-Offline-Fetched-At`); a copy older than `days` is dropped, never served.
 *
 * Whose copies: the server tags a logged-in session's responses (`header`, `X-Offline-User`) and
 * keeps the cookie `cookie` (`offline_user`) equal to the browser's current login, or absent.
 * A copy is kept under its response's tag, if that is the current login; only the current
 * login's copies answer; every other login's are deleted as soon as the worker sees the login
 * change (the cookie's change, a page telling who is logged in, any request it handles). So
 * a logout or login of any kind (the site's, the admin's), a password change (a new session) or
 * a session the server ended leaves no copy to answer. Without the Cookie Store API the pages'
 * word is the current login.
 *
 * Every GET it handles goes to the network first; a copy answers when the network fails or takes
 * longer than `timeout` (a slow answer still refreshes the copy). A page answered from its copy
 * gets `data-offline-copy="<fetched at>"` on its `<html>` (static/pwa/register.js shows the
 * banner); a page without a copy gets the offline page instead of the browser's error page.
 *
 * Never handled or kept: other origins, other methods than GET, the socket, the admin, the
 * account pages, answers other than a plain 200 of a login. The site's login or logout (their
 * POST) deletes the kept pages before it is sent: a phone may be shared.
 */

const params = new URL(self.location.href).searchParams;
const VERSION = params.get("v") ?? "0";
const MAX_AGE_MS = Number(params.get("days") ?? 7) * 24 * 3600 * 1000;
const TIMEOUT_MS = Number(params.get("timeout") ?? 4000);
const SHELL_URL = params.get("shell");
const OFFLINE_URL = params.get("offline");
const ACCOUNT_URLS = [params.get("login"), params.get("logout")].filter(Boolean);
const USER_COOKIE = params.get("cookie") ?? "offline_user";
const USER_HEADER = params.get("header") ?? "X-Offline-User";

const SHELL_CACHE = `shell-${VERSION}`;
/** The caches of pages and API reads: `pages-<login>` (and `pages`, of older versions). */
const PAGES = "pages";
const FETCHED_AT = "X-Offline-Fetched-At";
/** Paths never answered from a copy (their prefixes). */
const PASS_THROUGH = ["/api/ws", "/admin/", "/accounts/", "/i18n/", "/sw.js", "/metrics", "/healthz", "/readyz"];
const EXPIRY_CHECK_MS = 3600 * 1000;

/** Stores in progress, by URL: a page asking to be kept waits for the one already running. */
const storing = new Map();
let expiryCheckedAt = 0;
/** The login whose copies the caches hold (`null`: not checked since the worker started). */
let cachedFor = null;
/** Who the pages said is logged in, for browsers without the Cookie Store API. */
let told = null;
const TOLD_CACHE = "offline-user";

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const response = await fetch(SHELL_URL, { cache: "no-store" });
      const { urls } = await response.json();
      const cache = await caches.open(SHELL_CACHE);
      // Without cookies: the offline page must not be one user's (their name in its header).
      await cache.addAll(urls.map((url) => new Request(url, { credentials: "omit" })));
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
      await self.registration.cookies
        ?.subscribe([{ name: USER_COOKIE, url: self.registration.scope }])
        .catch(() => null);
      await forgetOthers(await currentUser());
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
      event.respondWith(forgetOthers(null).then(() => fetch(request)));
    }
    return;
  }
  if (PASS_THROUGH.some((prefix) => url.pathname.startsWith(prefix))) return;
  if (request.mode === "navigate") {
    event.respondWith(page(event));
  } else if (url.pathname.startsWith("/api/")) {
    event.respondWith(read(event, PAGES));
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(read(event, SHELL_CACHE));
  }
});

/** The login changed (a login, a logout, a new session): the others' copies go at once. */
self.addEventListener("cookiechange", (event) => {
  event.waitUntil(currentUser().then(forgetOthers));
});

/**
 * A page asks to be kept (`keep`: it was loaded before this worker controlled it), or says who
 * is logged in (`user`: its login's tag, "" for nobody: a page of no login, a socket refused
 * for want of one; a `keep` says it too). Whoever it names, the copies of every other login go.
 */
self.addEventListener("message", (event) => {
  if (event.data?.type === "user" && typeof event.data.user === "string") {
    event.waitUntil(tell(event.data.user));
    return;
  }
  if (event.data?.type !== "keep" || typeof event.data.url !== "string") return;
  const [port] = event.ports;
  const said = typeof event.data.user === "string" ? tell(event.data.user) : Promise.resolve();
  event.waitUntil(
    said.then(() => keep(event.data.url)).then(
      (kept) => port?.postMessage(kept ? "kept" : "not kept"),
      () => port?.postMessage("not kept"),
    ),
  );
});

/** The tag of the browser's current login ("" for none): the cookie, else the pages' word. */
async function currentUser() {
  if (self.cookieStore) {
    const cookie = await self.cookieStore.get(USER_COOKIE).catch(() => null);
    return cookie?.value ?? "";
  }
  if (told === null) {
    const saved = await (await caches.open(TOLD_CACHE)).match("/user");
    told = saved ? await saved.text() : "";
  }
  return told;
}

async function tell(user) {
  if (!self.cookieStore) {
    told = user;
    await (await caches.open(TOLD_CACHE)).put("/user", new Response(user));
  }
  await forgetOthers(user);
}

/** Delete the copies of every login but `user` (`null` or "": of every login). */
async function forgetOthers(user) {
  const kept = user ? `${PAGES}-${user}` : null;
  for (const name of await caches.keys()) {
    if ((name === PAGES || name.startsWith(`${PAGES}-`)) && name !== kept) {
      await caches.delete(name);
    }
  }
  cachedFor = user ?? "";
}

/** The cache of the current login's copies, its others' deleted first; null for no login. */
async function pagesCache() {
  const user = await currentUser();
  if (user !== cachedFor) await forgetOthers(user);
  return user ? `${PAGES}-${user}` : null;
}

async function page(event) {
  try {
    const response = await read(event, PAGES, markCopy);
    if (response) return response;
  } catch {
    // No answer and no copy.
  }
  return (await caches.match(OFFLINE_URL, { cacheName: SHELL_CACHE })) ?? Response.error();
}

/**
 * The network's answer if it comes within `TIMEOUT_MS`, else the copy kept in `cacheName` (passed
 * through `present`; `PAGES`: the current login's), else the network's answer whenever it comes.
 * A 200 is kept.
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
  const copy = await cached(cacheName === PAGES ? await pagesCache() : cacheName, request.url);
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

/**
 * Keep a copy stamped with the time it was fetched (pages and API reads: under the login its
 * response was made for, and only while that login is the current one).
 */
function store(cacheName, request, response) {
  const url = request.url;
  const done = (async () => {
    if (cacheName === SHELL_CACHE) return (await caches.open(cacheName)).put(request, response);
    const user = response.headers.get(USER_HEADER);
    const current = await pagesCache();
    if (!user || current !== `${PAGES}-${user}`) return undefined;
    const cache = await caches.open(current);
    const headers = new Headers(response.headers);
    headers.set(FETCHED_AT, new Date().toISOString());
    await cache.put(url, new Response(await response.blob(), { status: 200, headers }));
    if (Date.now() - expiryCheckedAt > EXPIRY_CHECK_MS) await dropExpired();
  })();
  storing.set(url, done);
  done.finally(() => storing.get(url) === done && storing.delete(url));
  return done;
}

/** The copy of `url`, if it is younger than `MAX_AGE_MS` (none without a cache name). */
async function cached(cacheName, url) {
  if (!cacheName) return undefined;
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
  const cacheName = await pagesCache();
  if (!cacheName) return;
  const cache = await caches.open(cacheName);
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
  if (await cached(await pagesCache(), target.href)) return true;
  const response = await fetch(target.href, { headers: { Accept: "text/html" } });
  if (!keepable(response, { mode: "navigate" })) return false;
  await store(PAGES, new Request(target.href), response);
  return (await cached(await pagesCache(), target.href)) !== undefined;
}
