/**
 * The schedule page, live, in both its views.
 *
 * Table: rows appear, change and disappear as tasks change anywhere; volume done, progress and
 * the forecast follow the daily works. A report that changes the volume done is followed by a
 * `task_updated`, but the forecast's rate also moves when a report changes and the total stays
 * (a work moved to another date), and its dates when the working calendar changes: those
 * events refresh the rows they touch even though the task's version is the same.
 *
 * Timeline: every such event fetches the timeline's body again (one request at a time, and at
 * most one more for all the events that arrive meanwhile): a changed date can move the axis,
 * and with it every bar. Folded sections stay folded. Failed fetches follow the live views' one
 * policy (`LiveFetch`): asked again with backoff, or the timeline stops and says why.
 */

import {
  LiveFetch,
  LiveTable,
  describe,
  fetchAll,
  listen,
  notify,
  notifyResynced,
  realtime,
} from "./live.js";

const TASK_EVENTS = ["task_created", "task_updated", "task_deleted"];
const WORK_EVENTS = ["daily_work_created", "daily_work_updated", "daily_work_deleted"];
const CALENDAR_EVENTS = ["calendar_day_created", "calendar_day_updated", "calendar_day_deleted"];

function start(root) {
  realtime.subscribe((root.dataset.streams ?? "tasks").split(/\s+/).filter(Boolean));
  realtime.connect();
}

/** The table view: rows from `?fragment=rows&task=…`. */
function liveTable(root) {
  const table = new LiveTable(root, { task: "data-task-id" });
  // The refresh in flight per task id, so that the `task_updated` which follows a report's
  // event, committed together, does not fetch the same row a second time.
  const inflight = new Map();

  const refresh = (ids) => {
    const request = table.refresh("task", ids);
    for (const id of ids) inflight.set(id, request);
    request.finally(() => {
      for (const id of ids) if (inflight.get(id) === request) inflight.delete(id);
    });
    return request;
  };

  /** Fetch these rows even if their task's version is the one shown. */
  const refreshStale = (ids) => {
    for (const id of ids) {
      for (const row of table.rows("task", id)) row.dataset.version = "";
    }
    return refresh(ids);
  };

  listen(TASK_EVENTS, async ({ detail: frame }) => {
    const { data } = frame;
    const earlier = await inflight.get(data.id);
    const [row] = table.rows("task", data.id);
    if (frame.type === "task_deleted" ? !row : row && Number(row.dataset.version) >= data.version) {
      // Not on the page, or already showing this version (maybe fetched for a report's event;
      // a recalculation of its fact has no notice of its own: the report's told it).
      if (earlier && row) notify(describe(frame));
      return;
    }
    if (await refresh([data.id])) notify(describe(frame));
  });

  // A report moves its task's volume done: its notice says who reported what (also when an
  // earlier fetch, of a task event, already brought the row's new figures).
  listen(WORK_EVENTS, async ({ detail: frame }) => {
    if (!table.rows("task", frame.data.task).length) return;
    await refreshStale([frame.data.task]);
    notify(describe(frame));
  });

  listen(CALENDAR_EVENTS, () => {
    const ids = [...table.tbody.querySelectorAll("tr[data-task-id]")].map((row) =>
      Number(row.dataset.taskId),
    );
    if (ids.length) return refreshStale(ids);
  });

  document.addEventListener("realtime:resync_required", async () => {
    const tasks = await fetchAll(root.dataset.apiUrl);
    // Forecasts may have moved with no task changing: every row is fetched again.
    for (const row of table.tbody.querySelectorAll("tr[data-task-id]")) row.dataset.version = "";
    await table.resync(
      async () =>
        new Map(
          tasks.map((task) => [
            `task-${task.id}`,
            { param: "task", id: task.id, signature: `${task.version}/` },
          ]),
        ),
    );
    notifyResynced();
  });
}

/** The timeline view: its whole body from `?view=timeline&fragment=timeline`. */
function liveTimeline(root) {
  let running = null;
  let again = false;
  const notes = [];
  const live = new LiveFetch(root, () => notes.splice(0));

  const fetchBody = async () =>
    (await live.fragment(root.dataset.fragmentUrl)).querySelector("[data-timeline-body]");

  const swap = (body) => {
    const current = root.querySelector("[data-timeline-body]");
    const folded = new Set(
      [...current.querySelectorAll("details[data-section]:not([open])")].map(
        (section) => section.dataset.section,
      ),
    );
    const scrolled = current.querySelector(".timeline")?.scrollLeft ?? 0;
    const before = new Map(
      [...current.querySelectorAll(".timeline-task")].map((row) => [row.id, row.outerHTML]),
    );
    for (const section of body.querySelectorAll("details[data-section]")) {
      section.open = !folded.has(section.dataset.section);
    }
    current.replaceWith(body);
    const scroller = body.querySelector(".timeline");
    if (scroller) scroller.scrollLeft = scrolled;
    for (const row of body.querySelectorAll(".timeline-task")) {
      if (before.get(row.id) !== row.outerHTML) row.classList.add("is-live-changed");
    }
    for (const part of body.querySelectorAll("[data-live-part]")) {
      const name = CSS.escape(part.dataset.livePart);
      document.querySelector(`[data-live-part="${name}"]:not([data-timeline-body] *)`)
        ?.replaceWith(part.cloneNode(true));
    }
  };

  /** Fetch the body now, or once more after the fetch in flight; then tell the notes. */
  const refresh = (note) => {
    if (live.stopped) return Promise.resolve();
    if (note) notes.push(note);
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        const told = notes.splice(0);
        try {
          swap(await fetchBody());
        } catch (error) {
          notes.unshift(...told);
          // Asked again after the backoff, or never: stopped.
          again = await live.retry(error);
          continue;
        }
        live.succeeded();
        told.forEach(notify);
      } while (again);
      running = null;
    })();
    return running;
  };

  scrollToToday(root.querySelector(".timeline"));

  listen([...TASK_EVENTS, ...WORK_EVENTS], ({ detail: frame }) => refresh(describe(frame)));
  listen(CALENDAR_EVENTS, () => refresh(null));
  document.addEventListener("realtime:resync_required", async () => {
    await refresh(null);
    notifyResynced();
  });
}

/** On a screen narrower than the timeline, start with today's line in view, a third in. */
function scrollToToday(scroller) {
  const today = scroller?.querySelector(".timeline-row--axis .timeline-today");
  if (!today || scroller.scrollWidth <= scroller.clientWidth) return;
  const label = scroller.querySelector(".timeline-label").offsetWidth;
  const x = Number(today.getAttribute("x1"));
  scroller.scrollLeft = Math.max(0, x - (scroller.clientWidth - label) / 3);
}

const page = document.querySelector("[data-live-page]");
if (page?.dataset.livePage === "schedule") {
  liveTable(page);
  start(page);
} else if (page?.dataset.livePage === "timeline") {
  liveTimeline(page);
  start(page);
}
