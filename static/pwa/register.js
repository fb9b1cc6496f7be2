/**
 * The installable app in the page (docs/offline.md): registers the service worker
 * (static/pwa/sw.js), tells it whose page this is, asks it to keep this page when the page was
 * loaded before the worker controlled it, and shows the banner on a copy the worker answered
 * with (its `<html data-offline-copy="<fetched at>">`).
 *
 * Configured by `[data-offline-banner]` in base.html (`data-sw-url`: the worker with its
 * settings, on a logged-in user's page only; `data-offline-user`: the tag of the page's login, ""
 * for none); the banner's text is `offline_copy` of the page's `#live-messages`. Once kept, the
 * page is marked `<html data-offline-ready>`.
 *
 * Who is logged in: a page loaded from the server names its login to the worker, which then
 * deletes every other login's copies (a page of no login: all of them); so does a socket refused
 * for want of a login (`realtime:unauthenticated`, the session ended on the server), before the
 * browser goes to the login page. A copy or the offline page says nothing: they are the worker's.
 *
 * The banner goes when the network is back: at the browser's `online` event, or when the page's
 * socket connects (the server answers again). A live page then catches up through its socket,
 * which resubscribes from the event id the copy was rendered with; any other page loads again.
 */

const banner = document.querySelector("[data-offline-banner]");
const root = document.documentElement;
const isCopy = root.hasAttribute("data-offline-copy");
const isOfflinePage = document.querySelector("[data-offline-page]") !== null;
const user = banner?.dataset.offlineUser ?? "";

/** Tell the worker in control (if any) who is logged in: `tag`, or "" for nobody. */
function tellUser(tag) {
  navigator.serviceWorker.controller?.postMessage({ type: "user", user: tag });
}

function showBanner() {
  const fetchedAt = new Date(root.dataset.offlineCopy);
  const time = new Intl.DateTimeFormat(root.lang || undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  }).format(fetchedAt);
  const messages = JSON.parse(document.getElementById("live-messages")?.textContent ?? "{}");
  banner.textContent = String(messages.offline_copy ?? "").replace("%(time)s", time);
  banner.hidden = false;
}

function backOnline() {
  if (banner.hidden) return;
  banner.hidden = true;
  const isLive = document.querySelector("[data-live-page], [data-live-watch]") !== null;
  if (!isLive) window.location.reload();
}

/** Ask the worker to keep this page; resolves with whether it did. */
async function keepThisPage() {
  const registration = await navigator.serviceWorker.ready;
  const channel = new MessageChannel();
  const answer = new Promise((resolve) => {
    channel.port1.onmessage = ({ data }) => resolve(data);
  });
  const message = { type: "keep", url: window.location.href, user };
  registration.active.postMessage(message, [channel.port2]);
  return (await answer) === "kept";
}

if (banner && "serviceWorker" in navigator) {
  if (!isCopy && !isOfflinePage) tellUser(user);
  document.addEventListener("realtime:unauthenticated", () => tellUser(""));
}

if (banner?.dataset.swUrl && "serviceWorker" in navigator) {
  if (isCopy) {
    showBanner();
    window.addEventListener("online", backOnline);
    document.addEventListener("realtime:status", ({ detail }) => {
      if (detail.status === "connected") backOnline();
    });
  } else if (!isOfflinePage) {
    navigator.serviceWorker
      .register(banner.dataset.swUrl, { scope: "/" })
      .then(keepThisPage)
      .then((kept) => {
        if (kept) root.dataset.offlineReady = "";
      })
      .catch((error) => console.warn("The page is not kept for offline use:", error));
  }
}
