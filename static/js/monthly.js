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
 * the conflict with the stored plan.
 *
 * A click on a day cell opens a dialog that enters the day's work, or corrects or deletes the
 * day's one work, through the outbox (outbox.js) as the daily page does: the cell shows the entry
 * pending at once, the header's badge counts it, it is sent once (its Idempotency-Key) when the
 * network allows, and the row is fetched again in place; a refusal shows in the cell and in its
 * dialog, to fix and resend or discard. Without this module a cell opens its own page
 * (monthly/cell_form.html).
 */

import {
  LiveTable,
  describe,
  fetchAll,
  format,
  listen,
  notify,
  notifyResynced,
  realtime,
} from "./live.js";
import * as outbox from "./outbox.js";
import { formatVolume, inputVolume } from "./outbox.js";

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

  /** Refresh these tasks' rows now (a write this page sent was answered); the frames of the
   * write that arrive meanwhile wait for this fetch, which reflects them. */
  refreshNow(taskIds) {
    return this.refreshFor({ id: Number.POSITIVE_INFINITY }, taskIds);
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
const table = root ? new GridTable(root, { task: "data-task-id" }) : null;

/**
 * Wait, before fetching a row for an event, for the outbox's answer to a write of this browser
 * that may have caused it (`matches` the operation: one on its way, or tried and not answered
 * yet): the answer fetches the row and says what was done, and the event then finds the row
 * showing it, as on the daily page.
 */
async function answered(matches) {
  await outbox.settled();
  const same = (operation) =>
    operation.attempts > 0 && operation.state !== outbox.State.REFUSED && matches(operation);
  while ((await outbox.operations()).some(same)) {
    await new Promise((resume) =>
      document.addEventListener("outbox:changed", resume, { once: true }),
    );
  }
}

/** The task of a queued daily-work write, when it says (a deletion queued on the daily page
 * names only the work). */
const operationTask = (operation) => Number(operation.body?.task ?? operation.display?.task);

if (root) {
  const { month, monthFirst, monthLast } = root.dataset;
  const runsInMonth = (task) => task.start_date <= monthLast && task.end_date >= monthFirst;
  const taskRows = () => [...root.querySelectorAll("tr.msg-row[data-task-id]")];

  const onTask = async ({ detail: frame }) => {
    const { data } = frame;
    await answered((operation) => operationTask(operation) === data.id);
    const [row] = table.rows("task", data.id);
    if (frame.type === "task_deleted") {
      if (!row) return;
    } else if (row ? Number(row.dataset.taskVersion) >= data.version : !runsInMonth(data)) {
      return; // already showing this version, or not a task of this month
    }
    if (await table.refreshFor(frame, [data.id])) notify(describe(frame));
  };
  listen(["task_created", "task_updated", "task_deleted"], onTask);

  // A work counts in its task's row of its date's month; one moved (to another task or date)
  // must also leave the row that counted it: rows list their month's works in data-work-ids.
  const onWork = async ({ detail: frame }) => {
    const { data } = frame;
    await answered(
      (operation) =>
        operation.workId === data.id ||
        (operation.kind === "create" &&
          operationTask(operation) === data.task &&
          operation.day === data.date),
    );
    const tasks = new Set();
    if (data.date >= monthFirst && data.date <= monthLast) tasks.add(Number(data.task));
    for (const row of root.querySelectorAll(`tr[data-work-ids~="${Number(data.id)}"]`)) {
      tasks.add(Number(row.dataset.taskId));
    }
    if (!tasks.size) return;
    if (await table.refreshFor(frame, [...tasks])) notify(describe(frame));
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
    if (await table.refreshFor(frame, [...tasks])) notify(describe(frame));
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

// A day cell: its work entered, corrected or deleted in a dialog, through the outbox.

const dialog = document.querySelector("[data-cell-dialog]");

if (root && dialog) {
  const { worksApiBase: worksApi, worksCheckUrl } = root.dataset;
  const texts = document.querySelector("[data-outbox-texts]").dataset;
  const form = dialog.querySelector("[data-cell-entry]");
  const part = (name) => dialog.querySelector(`[data-cell-${name}]`);
  const [title, status, warnings, submit, deleteButton, discardButton] = [
    "title",
    "status",
    "warnings",
    "submit",
    "delete",
    "discard",
  ].map(part);
  const { volume, description } = form.elements;
  // The open cell: {taskId, day, code, name, work, questioned: the volume whose warnings show}.
  let current = null;

  const cellOf = (taskId, day) =>
    root.querySelector(`tr.msg-row[data-task-id="${Number(taskId)}"] > td[data-date="${day}"]`);
  const headOf = (day) =>
    root.querySelector(`th.msg-day-head[data-date="${day}"]`)?.dataset ?? {};
  const codeOf = (row) => row.querySelector(".task-code").textContent.trim();

  /** The cell an operation shows on: a new work's task and day, or where the work is now. */
  const operationCell = (operation) => {
    if (operation.kind === "create") return cellOf(operation.body.task, operation.day);
    const link = root.querySelector(`a[data-work="${Number(operation.workId)}"]`);
    if (link) return link.closest("td");
    // A cell of several works lists none of them; its row does.
    const row = root.querySelector(`tr.msg-row[data-work-ids~="${Number(operation.workId)}"]`);
    return row?.querySelector(`td[data-date="${operation.day}"]`) ?? null;
  };

  /** The day's one work, as the cell's link carries it (its volume is the cell's fact). */
  const workOf = (cell) => {
    const link = cell?.querySelector("a[data-cell][data-work]");
    if (!link) return null;
    return {
      id: Number(link.dataset.work),
      version: link.dataset.workVersion,
      volume: inputVolume(cell.querySelector(".msg-cell__fact").textContent),
      description: link.dataset.workDescription ?? "",
    };
  };

  // The outbox on the cells: the entry shown in place of the day's fact, marked with its state.

  let queued = []; // the user's operations, as last read
  const settling = new Map(); // seq → an operation answered, shown until its row is fetched

  const stateText = (operation) => {
    if (operation.state === outbox.State.REFUSED) return `${texts.refused} ${operation.reason}`;
    return operation.kind === "delete" ? texts.deleting : texts[operation.state];
  };

  const mark = (cell, operation, sent) => {
    const content = cell.querySelector(".msg-cell");
    cell.classList.add("is-outbox");
    cell.classList.toggle("is-outbox-delete", operation.kind === "delete");
    cell.dataset.outboxSeq = operation.seq;
    cell.dataset.outboxState = sent ? "sent" : operation.state;
    let entry = content.querySelector(".msg-cell__entry");
    if (!entry) {
      entry = document.createElement("span");
      entry.className = "msg-cell__entry";
      content.append(entry);
    }
    entry.textContent = operation.kind === "delete" ? "" : formatVolume(operation.display.volume);
    let note = content.querySelector(".msg-cell__outbox");
    if (!note) {
      note = document.createElement("span");
      note.className = "msg-cell__outbox visually-hidden";
      content.append(note);
    }
    note.textContent = sent ? "" : stateText(operation);
  };

  const unmark = (cell) => {
    cell.classList.remove("is-outbox", "is-outbox-delete");
    delete cell.dataset.outboxSeq;
    delete cell.dataset.outboxState;
    for (const added of cell.querySelectorAll(".msg-cell__entry, .msg-cell__outbox")) {
      added.remove();
    }
  };

  /** Put the outbox on the cells. Synchronous, from the operations last read: rows fetched
   * again show their entries before the browser paints them. */
  const paint = () => {
    const marked = new Map();
    for (const operation of queued) {
      const cell = operationCell(operation);
      if (cell) marked.set(cell, { operation, sent: false });
    }
    for (const operation of settling.values()) {
      const cell = operationCell(operation);
      if (cell && !marked.has(cell)) marked.set(cell, { operation, sent: true });
    }
    for (const cell of root.querySelectorAll("td.is-outbox")) {
      if (!marked.has(cell)) unmark(cell);
    }
    for (const [cell, { operation, sent }] of marked) mark(cell, operation, sent);
  };

  const load = async () => {
    queued = await outbox.operations();
    paint();
    if (current) show({ values: false });
  };

  new MutationObserver(paint).observe(table.tbody, { childList: true });
  document.addEventListener("outbox:changed", load);

  const workLabel = (cell) =>
    format(texts.workLabel, {
      task: codeOf(cell.closest("tr")),
      date: headOf(cell.dataset.date).shortDate ?? cell.dataset.date,
    });

  // Answered: the page says so and fetches the row (and the row the work left, if it moved);
  // the entry stays on the cell until the row shows the server's figures.
  document.addEventListener("outbox:sent", ({ detail: { operation, data } }) => {
    const cell = operationCell(operation);
    if (!cell) return;
    // Sent unasked (offline): what the server found implausible is said now, in the same notice.
    const saved = format(texts[operation.kind], { work: workLabel(cell) });
    notify([saved, ...(data?.warnings ?? [])].join(" "));
    const tasks = [Number(cell.closest("tr").dataset.taskId)];
    if (operation.body?.task) tasks.push(Number(operation.body.task));
    settling.set(operation.seq, operation);
    table.refreshNow(tasks).finally(() => {
      settling.delete(operation.seq);
      paint();
    });
  });

  document.addEventListener("outbox:refused", async ({ detail }) => {
    const cell = operationCell(detail.operation);
    if (!cell || (current && cellOf(current.taskId, current.day) === cell)) return;
    const [operation] = (await outbox.operations()).filter(
      (candidate) => candidate.seq === detail.operation.seq,
    );
    if (operation) notify(`${workLabel(cell)}: ${stateText(operation)}`);
  });

  // The dialog.

  /** The operation waiting in the outbox for the open cell, if any. */
  const cellOperation = () => {
    const cell = cellOf(current.taskId, current.day);
    return cell ? queued.findLast((operation) => operationCell(operation) === cell) : undefined;
  };

  const refusedOperation = () => {
    const operation = cellOperation();
    return operation?.state === outbox.State.REFUSED ? operation : null;
  };

  /**
   * The work a write of the open cell changes, at the version it is made over: the one the user
   * opened. A write refused for its entry (400) is fixed over the same version; one refused for
   * the work's state (409 changed, 404 deleted meanwhile; the user has read why) over what the
   * page shows now, as the daily page's Fix and resend does.
   */
  const targetWork = () => {
    const refused = refusedOperation();
    if (!refused) return current.work;
    if (refused.status !== 400) return workOf(cellOf(current.taskId, current.day));
    if (!refused.workId) return null;
    return { id: refused.workId, version: refused.ifMatch.replaceAll('"', "") };
  };

  /** Show the open cell: its state and buttons; with `values`, the entry in the fields too. */
  const show = ({ values }) => {
    const operation = cellOperation();
    const refused = operation?.state === outbox.State.REFUSED;
    const waiting = Boolean(operation) && !refused;
    const { work } = current;
    status.hidden = !operation;
    if (operation) {
      status.dataset.outboxState = operation.state;
      status.querySelector("[data-outbox-state]").textContent =
        refused ? texts.refused : stateText(operation);
      const reason = status.querySelector("[data-outbox-reason]");
      reason.textContent = refused ? operation.reason : "";
      reason.hidden = !refused;
    }
    if (values) {
      const entry = operation?.kind !== "delete" ? operation?.display : null;
      volume.value = entry ? entry.volume : (work?.volume ?? "");
      description.value = entry ? entry.description : (work?.description ?? "");
    }
    const questioned = current.questioned === volume.value;
    warnings.hidden = !questioned;
    title.textContent = work ? title.dataset.labelChange : title.dataset.labelAdd;
    if (questioned) submit.textContent = submit.dataset.labelAnyway;
    else if (refused) submit.textContent = submit.dataset.labelResend;
    else submit.textContent = work ? submit.dataset.labelSave : submit.dataset.labelAdd;
    // An entry on its way is not changed under it: it is the server's to answer first.
    volume.disabled = description.disabled = waiting;
    submit.hidden = waiting;
    if (deleteButton) deleteButton.hidden = waiting || !work;
    discardButton.hidden = !refused;
  };

  const open = (link) => {
    const cell = link.closest("td");
    const row = cell.closest("tr.msg-row");
    const head = headOf(cell.dataset.date);
    const unit = row.querySelector(".task-unit").textContent.trim();
    const plan = cell.querySelector(".msg-cell__plan").textContent.trim();
    current = {
      taskId: Number(row.dataset.taskId),
      day: cell.dataset.date,
      code: codeOf(row),
      name: row.querySelector(".msg-task-name").textContent.trim(),
      // The version the user sees now: saving over a later one is refused (409), not lost.
      work: workOf(cell),
    };
    part("code").textContent = current.code;
    part("name").textContent = current.name;
    part("date").textContent = head.longDate ?? current.day;
    part("unit").textContent = unit;
    part("plan").textContent = plan ? `${plan} ${unit}` : "—";
    part("left").textContent = `${row.dataset.left} ${unit}`;
    show({ values: true });
    dialog.showModal();
    if (!volume.disabled) volume.focus();
    // Others see "… is editing" on this cell while the dialog is open (realtime/presence.js).
    const editing = { stream: "daily_works", task: current.taskId, date: current.day };
    document.dispatchEvent(new CustomEvent("presence:editing", { detail: editing }));
  };

  /**
   * The first answer to the operation `seq`: "sent" (or gone: discarded in another tab),
   * "refused", or "queued" when there is none for now (no network, no answer): it waits in the
   * outbox, shown on its cell.
   */
  const answer = (seq) =>
    new Promise((resolve) => {
      if (!navigator.onLine) {
        resolve("queued");
        return;
      }
      const finish = (outcome) => {
        document.removeEventListener("outbox:changed", check);
        resolve(outcome);
      };
      const check = async () => {
        const operation = (await outbox.operations()).find((candidate) => candidate.seq === seq);
        if (!operation) finish("sent");
        else if (operation.state === outbox.State.REFUSED) finish("refused");
        else if (operation.state === outbox.State.PENDING && operation.attempts) finish("queued");
      };
      document.addEventListener("outbox:changed", check);
      check(); // answered already
    });

  /** Queue the cell's write (a refused one of the cell becomes it, with a new key) and keep
   * the dialog open until its first answer: a refusal shows there. */
  const write = async (kind, values) => {
    const opened = current;
    const { taskId, day, code, name } = opened;
    opened.questioned = undefined; // answered: the entry goes as it is
    const refused = refusedOperation();
    const work = targetWork();
    if (kind !== "create" && !work) return;
    const operation = {
      source: "msg", // what the history calls this page (`X-Source`)
      kind,
      method: { create: "POST", update: "PATCH", delete: "DELETE" }[kind],
      url: kind === "create" ? worksApi : `${worksApi}${work.id}/`,
      body: kind === "delete" ? null : kind === "create" ? { ...values, date: day } : values,
      ifMatch: kind === "create" ? undefined : `"${work.version}"`,
      day,
      workId: kind === "create" ? undefined : work.id,
      display:
        kind === "delete"
          ? { task: taskId, taskLabel: code }
          : { ...values, taskLabel: `${code} ${name}` },
    };
    const stored = refused
      ? await outbox.revise(refused.seq, operation, { resend: true })
      : await outbox.enqueue(operation);
    // Meanwhile the dialog shows the operation's state as the outbox changes (load).
    const outcome = await answer(stored.seq);
    if (current !== opened) return; // closed meanwhile: the cell shows how it went
    if (outcome === "refused") show({ values: false });
    else dialog.close();
  };

  /**
   * Why the server finds the entry implausible (docs/msg.md, "Plausibility"): asked before the
   * entry is queued, online only; none when it cannot say in time, or the entry is no number
   * (the write's refusal then says why).
   */
  const implausible = async (work) => {
    const answer = await outbox.ask(worksCheckUrl, {
      ...(work ? { id: work.id } : {}),
      task: current.taskId,
      date: current.day,
      volume: volume.value,
    });
    return answer?.warnings ?? [];
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!current || submit.hidden || submit.disabled) return;
    const opened = current;
    const work = targetWork();
    const values = { task: opened.taskId, volume: volume.value, description: description.value };
    if (opened.questioned !== values.volume) {
      submit.disabled = true;
      const found = await implausible(work).finally(() => (submit.disabled = false));
      if (current !== opened) return;
      if (found.length) {
        // Nothing is queued until the user confirms this volume ("Save anyway").
        opened.questioned = values.volume;
        const items = found.map((text) =>
          Object.assign(document.createElement("li"), { textContent: text }),
        );
        part("warnings-list").replaceChildren(...items);
        show({ values: false });
        return;
      }
    }
    write(work ? "update" : "create", values);
  });

  // Another volume is another question.
  volume.addEventListener("input", () => {
    if (current?.questioned !== undefined) show({ values: false });
  });

  deleteButton?.addEventListener("click", () => {
    if (current && window.confirm(texts.confirmDelete)) write("delete", null);
  });

  discardButton.addEventListener("click", async () => {
    const operation = current && refusedOperation();
    if (operation) await outbox.discard(operation.seq);
    dialog.close();
  });

  for (const button of [part("close"), part("cancel")]) {
    button.addEventListener("click", () => dialog.close());
  }
  dialog.addEventListener("close", () => {
    current = null;
    document.dispatchEvent(new CustomEvent("presence:editing", { detail: null }));
  });

  root.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-cell]");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    open(link);
  });

  load();
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

// "All figures" adds %, remaining and the forecast before the days: shown, they come into view
// (the grid may be scrolled to today), and the choice is kept for the next visit.
if (root) {
  const toggle = document.querySelector(".msg-figures-toggle");
  const card = root.querySelector(".msg-card");
  const key = "msg:all-figures";
  if (toggle) {
    toggle.checked = localStorage.getItem(key) === "1";
    toggle.addEventListener("change", () => {
      localStorage.setItem(key, toggle.checked ? "1" : "0");
      if (toggle.checked && card) card.scrollLeft = 0;
    });
  }
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
