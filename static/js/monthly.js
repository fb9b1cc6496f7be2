/**
 * The МСГ page, live: every change that moves a figure of its month (a daily work, a plan, a
 * task, the working calendar) refreshes the rows of the tasks it touches, with every section's
 * subtotal, the day header and the month's totals, from the page's own fragments.
 *
 * A daily work change also emits `task_updated` for its task (its volume done changed): both
 * frames touch the same row, and the row is fetched once. A fragment says which event it
 * reflects (`data-snapshot`, the newest event id when it was read): a frame already reflected
 * by the row's last fetch, or by one under way, fetches nothing more.
 *
 * A row whose plan the user is typing is not replaced; it is marked outdated and saving shows
 * the conflict with the stored plan. A click on a day cell opens that day's work form in a
 * dialog (the cell's own page, monthly/cell_form.html); sending it reloads the page.
 */

import {
  LiveTable,
  describe,
  fetchAll,
  listen,
  notify,
  notifyResynced,
  objectLabel,
  realtime,
} from "./live.js";

/** A `LiveTable` that also keeps the sections' subtotal rows and remembers what it fetched. */
class GridTable extends LiveTable {
  constructor(root, scopes) {
    super(root, scopes);
    this.snapshot = Number(document.body.dataset.lastEventId ?? 0);
    this.covered = new Map(); // task id → the newest event its row's last fetch reflects
    this.inflight = new Map(); // task id → the refresh under way for it
  }

  /** The newest event the row of `taskId` reflects. */
  coveredUntil(taskId) {
    return this.covered.get(taskId) ?? this.snapshot;
  }

  async fetch(batch) {
    const fragment = await super.fetch(batch);
    const snapshot = Number(fragment.querySelector("[data-snapshot]")?.dataset.snapshot ?? 0);
    for (const { ids } of batch) {
      for (const id of ids) this.covered.set(id, Math.max(snapshot, this.coveredUntil(id)));
    }
    return fragment;
  }

  /**
   * Refresh the rows of `taskIds` that the event `frame` may have changed, unless a fetch
   * made since already shows it. Resolves whether anything on the page changed.
   */
  async refreshFor(frame, taskIds) {
    const stale = [];
    for (const id of new Set(taskIds.map(Number))) {
      if (this.inflight.has(id)) await this.inflight.get(id);
      if (this.coveredUntil(id) < frame.id) stale.push(id);
    }
    if (!stale.length) return false;
    const done = this.refresh("task", stale);
    for (const id of stale) this.inflight.set(id, done);
    const changed = await done;
    for (const id of stale) if (this.inflight.get(id) === done) this.inflight.delete(id);
    return changed;
  }

  /** Sections come and go with their tasks; the fragment holds all of the month's. */
  replaceParts(fragment) {
    const incoming = new Map(
      [...fragment.querySelectorAll("tr[data-section-row]")].map((row) => [
        row.dataset.sectionRow,
        row,
      ]),
    );
    for (const row of this.tbody.querySelectorAll("tr[data-section-row]")) {
      if (!incoming.has(row.dataset.sectionRow)) row.remove();
    }
    for (const [name, row] of incoming) {
      const current = this.tbody.querySelector(`tr[data-section-row="${CSS.escape(name)}"]`);
      if (!current) {
        this.place(row.cloneNode(true));
      } else if (current.textContent !== row.textContent) {
        row.classList.add("is-live-changed");
      }
    }
    const totals = fragment.querySelector('[data-live-part="monthly-totals"]');
    const shownTotals = document.querySelector('[data-live-part="monthly-totals"]');
    if (totals && shownTotals && totals.textContent !== shownTotals.textContent) {
      totals.classList.add("is-live-changed");
    }
    super.replaceParts(fragment);
  }
}

const root = document.querySelector('[data-live-page="monthly"]');

if (root) {
  const { month, monthFirst, monthLast } = root.dataset;
  const table = new GridTable(root, { task: "data-task-id" });
  const runsInMonth = (task) => task.start_date <= monthLast && task.end_date >= monthFirst;
  const codeOf = (row) => row?.querySelector(".task-code")?.textContent.trim() ?? "";
  const taskRows = () => [...root.querySelectorAll("tr.msg-row[data-task-id]")];

  const onTask = async ({ detail: frame }) => {
    const { data } = frame;
    const [row] = table.rows("task", data.id);
    if (frame.type === "task_deleted") {
      if (!row) return;
    } else if (row ? Number(row.dataset.taskVersion) >= data.version : !runsInMonth(data)) {
      return; // already showing this version, or not a task of this month
    }
    const name = data.name ?? row?.querySelector(".msg-task-name")?.textContent.trim() ?? "";
    const label = `${data.code} ${name}`;
    if (await table.refreshFor(frame, [data.id])) notify(describe(frame, label.trim()));
  };
  listen(["task_created", "task_updated", "task_deleted"], onTask);

  // A work counts in its task's row of its date's month; one moved (to another task or date)
  // must also leave the row that counted it: rows list their month's works in data-work-ids.
  const onWork = async ({ detail: frame }) => {
    const { data } = frame;
    const tasks = new Set();
    if (data.date >= monthFirst && data.date <= monthLast) tasks.add(Number(data.task));
    for (const row of root.querySelectorAll(`tr[data-work-ids~="${Number(data.id)}"]`)) {
      tasks.add(Number(row.dataset.taskId));
    }
    if (!tasks.size) return;
    const [row] = table.rows("task", data.task);
    const label = objectLabel("daily_work", { task: data.task_code ?? codeOf(row) });
    if (await table.refreshFor(frame, [...tasks])) notify(describe(frame, label));
  };
  listen(["daily_work_created", "daily_work_updated", "daily_work_deleted"], onWork);

  // A plan moved to another task or month must leave the row that shows it (the old place)
  // as well as reach its new one: both tasks' rows are fetched again.
  const onPlan = async ({ detail: frame }) => {
    const { data } = frame;
    const shown = root.querySelector(`tr[data-monthly-task-id="${Number(data.id)}"]`);
    const current = shown && Number(shown.dataset.planVersion) >= data.version;
    if (frame.type !== "monthly_task_deleted" && current) return; // already showing this version
    const tasks = new Set();
    if (shown) tasks.add(Number(shown.dataset.taskId));
    if (data.month === month) tasks.add(data.task);
    if (!tasks.size) return; // neither was nor is a plan of this month
    const label = objectLabel("monthly_task", { task: data.task_code ?? codeOf(shown) });
    if (await table.refreshFor(frame, [...tasks])) notify(describe(frame, label));
  };
  listen(["monthly_task_created", "monthly_task_updated", "monthly_task_deleted"], onPlan);

  // The working calendar moves plans per day, shading and needed rates: every row (rare).
  const onCalendarDay = ({ detail: frame }) => {
    const ids = taskRows().map((row) => Number(row.dataset.taskId));
    return table.refreshFor(frame, ids.length ? ids : [0]);
  };
  listen(["calendar_day_created", "calendar_day_updated", "calendar_day_deleted"], onCalendarDay);

  // Fingerprints cannot be worked out from the API: every row of the month is fetched again.
  document.addEventListener("realtime:resync_required", async () => {
    const [tasks, plans] = await Promise.all([
      fetchAll(root.dataset.tasksApiUrl),
      fetchAll(root.dataset.plansApiUrl),
    ]);
    const planned = new Set(plans.map((plan) => plan.task));
    const expected = new Map();
    for (const task of tasks) {
      if (!planned.has(task.id) && !runsInMonth(task)) continue;
      expected.set(`task-${task.id}`, { param: "task", id: task.id, signature: "" });
    }
    await table.resync(async () => expected);
    notifyResynced();
  });

  // The calendar's stream only for who may view it (the page needs the other three).
  realtime.subscribe(root.dataset.streams.split(/\s+/).filter(Boolean));
  realtime.connect();
}

// A day cell: its form in a dialog, fetched from the cell's page (which works without this).

const dialog = document.querySelector("[data-cell-dialog]");

if (root && dialog) {
  const body = dialog.querySelector("[data-cell-body]");
  dialog.querySelector("[data-cell-close]").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => document.dispatchEvent(new CustomEvent("presence:editing", { detail: null })));

  root.addEventListener("click", async (event) => {
    const link = event.target.closest("a[data-cell]");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    let form = null;
    try {
      const response = await fetch(link.href, { headers: { Accept: "text/html" } });
      if (response.ok && !response.redirected) {
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        form = page.querySelector("form[data-cell-form]");
      }
    } catch {
      form = null;
    }
    if (!form) {
      window.location.assign(link.href); // the cell's page says what is wrong
      return;
    }
    body.replaceChildren(document.adoptNode(form));
    // Others see "… is editing" on this cell while the dialog is open (static/realtime/presence.js).
    const cell = { stream: "daily_works", task: Number(link.closest("tr")?.dataset.taskId), date: link.closest("td")?.dataset.date };
    if (cell.task && cell.date) document.dispatchEvent(new CustomEvent("presence:editing", { detail: cell }));
    form.querySelector("[data-cell-cancel]")?.addEventListener("click", (cancel) => {
      cancel.preventDefault();
      dialog.close();
    });
    dialog.showModal();
    form.querySelector("input[name=volume]")?.focus();
  });
}

// A row's plan input: others see "… is editing" on the row while it has the focus (the plan,
// or the task when the month has no plan yet; static/realtime/presence.js).
if (root) {
  const planTarget = (input) => {
    const row = input?.closest("tr[data-task-id]");
    if (!row) return null;
    const plan = Number(row.dataset.monthlyTaskId);
    return plan ? { stream: "monthly_tasks", id: plan } : { stream: "tasks", id: Number(row.dataset.taskId) };
  };
  const announce = (detail) => document.dispatchEvent(new CustomEvent("presence:editing", { detail }));
  root.addEventListener("focusin", (event) => {
    if (event.target.matches?.("input[name=volume_plan]")) announce(planTarget(event.target));
  });
  // A plan typed in keeps its Save button in view, focused or not (static/css/msg.css).
  root.addEventListener("input", (event) => {
    if (event.target.matches?.("input[name=volume_plan]")) {
      event.target.form?.classList.add("is-edited");
    }
  });
  root.addEventListener("focusout", (event) => {
    if (!event.target.matches?.("input[name=volume_plan]")) return;
    const next = event.relatedTarget;
    if (!(next instanceof Element && next.matches("input[name=volume_plan]"))) announce(null);
  });
}

// On a laptop the days scroll under the sticky figures: on load, today's column (with the day
// before it) comes into view beside them.
if (root) {
  const card = root.querySelector(".msg-card");
  const today = card?.querySelector("thead th.is-today");
  if (card && today && card.scrollWidth > card.clientWidth) {
    const sticky = [...card.querySelectorAll("thead th.msg-sticky")].reduce(
      (right, th) => Math.max(right, th.offsetLeft + th.offsetWidth),
      0,
    );
    const before = today.previousElementSibling;
    const first = before?.classList.contains("msg-day-head") ? before : today;
    card.scrollLeft = Math.max(0, first.offsetLeft - sticky);
  }
}
