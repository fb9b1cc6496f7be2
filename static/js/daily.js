/**
 * The daily order page, live: only the works of its date reach it, with the day's totals; task
 * changes refresh the rows of that task and the choices of the "add a work" form.
 *
 * With no network the "add" form, a row's Edit and Delete put the write in the outbox
 * (outbox.js): the row shows it at once as pending, and its state (sending, refused with the
 * server's reason, with "fix and resend" and "discard") until the server has taken it. The
 * form always goes through the outbox (online its operation is sent at once); online, Edit and
 * Delete open their pages as before.
 */

import {
  LiveTable,
  describe,
  fetchAll,
  format,
  listen,
  notify,
  notifyResynced,
  readJson,
  realtime,
} from "./live.js";
import * as outbox from "./outbox.js";
import { formatVolume, typedNumber } from "./outbox.js";

const root = document.querySelector('[data-live-page="daily"]');
/** What the history calls this page (`X-Source` of the outbox's requests). */
const SOURCE = "daily";

if (root) {
  const { date } = root.dataset;
  const table = new LiveTable(root, { work: "data-daily-work-id", task: "data-task-id" });
  const hasTaskChoices = document.querySelector('[data-live-part="task-options"]') !== null;

  // The chosen work's plan for the day and what is left of it, under the volume.
  const taskSelect = document.querySelector("[data-outbox-form] select[name=task]");
  const taskHint = document.querySelector("[data-task-hint]");
  const taskHints = readJson("task-hints") ?? {};
  const showTaskHint = () => {
    const hint = taskHints[taskSelect?.value] ?? "";
    taskHint.textContent = hint;
    taskHint.hidden = !hint;
  };
  if (taskSelect && taskHint) {
    taskSelect.addEventListener("change", showTaskHint);
    showTaskHint();
  }

  // Rows are fetched by work id: a work moved to another date leaves this page (the fragment
  // has no row for it), one moved to another task gets its new task's row.
  const onWork = async ({ detail: frame }) => {
    const { data } = frame;
    // A work this browser sent: its answer turns the pending row into it first.
    if (frame.type === "daily_work_created") {
      await answered(
        (body) =>
          body.task === data.task &&
          body.date === data.date &&
          typedNumber(body.volume) === Number(data.volume) &&
          body.description === data.description,
      );
    }
    const [row] = table.rows("work", data.id);
    const deleted = frame.type === "daily_work_deleted";
    if (!row && (deleted || data.date !== date)) {
      // A deletion of this day's work is told even when its row has gone already: its task's
      // recalculated volume done, sent first, refreshes the task's rows without it.
      if (deleted && data.date === date) notify(describe(frame));
      return;
    }
    // Already showing this version; a deletion carries the version the work had.
    if (row && !deleted && data.date === date && Number(row.dataset.version) >= data.version) {
      return;
    }
    const changed = await table.refresh("work", [data.id]);
    await showOutbox(); // a replaced row shows its waiting operation again
    if (changed) notify(describe(frame));
  };
  listen(["daily_work_created", "daily_work_updated", "daily_work_deleted"], onWork);

  // A task's code, name or unit shows in its rows; its name in the form's choices.
  const onTask = async ({ detail: frame }) => {
    const { data } = frame;
    const rows = table.rows("task", data.id);
    const rowsCurrent = rows.every((row) => Number(row.dataset.taskVersion) >= data.version);
    if (!hasTaskChoices && (frame.type === "task_deleted" || rowsCurrent)) return;
    await answered((body) => body.task === data.id);
    await table.refresh("task", [data.id]);
    await showOutbox();
  };
  listen(["task_created", "task_updated", "task_deleted"], onTask);

  document.addEventListener("realtime:resync_required", async () => {
    await answered();
    for (const row of table.tbody.querySelectorAll("tr.outbox-row")) row.remove();
    const [works, tasks] = await Promise.all([
      fetchAll(root.dataset.worksApiUrl),
      fetchAll(root.dataset.tasksApiUrl),
    ]);
    const taskVersion = new Map(tasks.map((task) => [task.id, task.version]));
    const expected = new Map(
      works.map((work) => [
        `work-${work.id}`,
        { param: "work", id: work.id, signature: `${work.version}/${taskVersion.get(work.task)}` },
      ]),
    );
    await table.resync(async () => expected);
    await showOutbox();
    notifyResynced();
  });

  // The outbox.

  /**
   * Wait, before showing a created work, until the outbox has the answer of a request that may
   * have created it (`matches` its body): the one on its way, or one tried whose answer was
   * lost, which the next try (its key replays the answer) turns from a pending row into the
   * work. Task updates and resyncs, whose rows may include it, wait the same way.
   */
  const answered = async (matches = () => true) => {
    await outbox.settled();
    const same = (operation) =>
      operation.kind === "create" &&
      operation.day === date &&
      operation.attempts > 0 &&
      operation.state !== outbox.State.REFUSED &&
      matches(operation.body);
    for (;;) {
      if (!(await outbox.operations()).some(same)) return;
      await new Promise((resume) =>
        document.addEventListener("outbox:changed", resume, { once: true }),
      );
    }
  };

  const form = document.querySelector("[data-outbox-form]");
  const texts = root.querySelector("[data-outbox-texts]").dataset;
  const rowTemplate = root.querySelector("template[data-outbox-row]");
  const statusTemplate = root.querySelector("template[data-outbox-status]");
  const worksApi = root.dataset.worksApiBase;
  let editing = null; // {workId, version} of a row, or {seq} of an operation being fixed

  const taskLabel = (taskId) =>
    [...(form?.elements.task.options ?? [])].find((option) => option.value === String(taskId))
      ?.textContent.trim() ?? "";

  let shownOperations = [];

  /**
   * Hide the pending row of a work the server may already have (a create tried, not answered)
   * while a row of the same values is on the page: a fragment brought it in (a task's rows, a
   * retried fetch) before the answer that tells its id. Run on every change of the rows, before
   * the browser paints, so one work never shows as two rows.
   */
  const hideDuplicates = () => {
    const claimed = new Set();
    for (const operation of shownOperations) {
      const pending = table.tbody.querySelector(`tr.outbox-row[data-outbox-seq="${operation.seq}"]`);
      if (!pending) continue;
      const { body } = operation;
      const tried = operation.attempts > 0 && operation.state !== outbox.State.REFUSED;
      const server = [...table.tbody.querySelectorAll("tr[data-daily-work-id]")].find(
        (row) =>
          !claimed.has(row) &&
          !row.classList.contains("outbox-row") &&
          Number(row.dataset.taskId) === body.task &&
          Number(row.dataset.volume) === typedNumber(body.volume) &&
          row.dataset.description === body.description,
      );
      if (tried && server) claimed.add(server);
      pending.hidden = Boolean(tried && server);
    }
  };
  new MutationObserver(hideDuplicates).observe(table.tbody, { childList: true });

  /** The outbox's operations of this day, shown on their rows (or rows of their own). */
  const showOutbox = async () => {
    const operations = (await outbox.operations()).filter((operation) => operation.day === date);
    shownOperations = operations;
    const shown = new Set();
    for (const operation of operations) {
      const row = outboxRow(operation);
      shown.add(row);
      row.dataset.outboxSeq = operation.seq;
      row.dataset.outboxState = operation.state;
      row.classList.add("is-outbox");
      row.classList.toggle("is-outbox-delete", operation.kind === "delete");
      if (operation.kind !== "delete") {
        const [code, ...name] = operation.display.taskLabel.split(" ");
        row.querySelector(".task-code").textContent = code;
        row.querySelector(".task-name").textContent = name.join(" ");
        row.querySelector(".daily-work-volume").textContent = formatVolume(operation.display.volume);
        row.querySelector(".daily-work-description").textContent =
          operation.display.description || "—";
      }
      const actions = row.querySelector(".row-actions");
      const status =
        actions.querySelector("[data-outbox-status]") ??
        actions.appendChild(statusTemplate.content.firstElementChild.cloneNode(true));
      const refused = operation.state === outbox.State.REFUSED;
      const state = operation.kind === "delete" && !refused ? texts.deleting : texts[operation.state];
      status.querySelector("[data-outbox-state]").textContent = state;
      status.querySelector("[data-outbox-reason]").textContent = refused ? operation.reason : "";
      status.querySelector("[data-outbox-reason]").hidden = !refused;
      status.querySelector(".outbox-status__actions").hidden = !refused;
      status.querySelector("[data-outbox-fix]").hidden = !form;
    }
    for (const row of table.tbody.querySelectorAll("tr.is-outbox")) {
      if (shown.has(row)) continue;
      if (row.classList.contains("outbox-row")) {
        row.remove();
      } else {
        // Discarded: the server's row again.
        row.dataset.version = "-1";
        table.refresh("work", [row.dataset.dailyWorkId]);
      }
    }
    hideDuplicates();
    table.syncEmpty();
  };

  /** The row an operation shows on: the work's own, or one made from the page's template. */
  const outboxRow = (operation) => {
    const own = table.tbody.querySelector(`tr[data-outbox-seq="${operation.seq}"]`);
    if (own) return own;
    const [work] = operation.workId ? table.rows("work", operation.workId) : [];
    if (work) return work;
    const row = rowTemplate.content.firstElementChild.cloneNode(true);
    row.id = `outbox-${operation.seq}`;
    table.tbody.append(row);
    return row;
  };

  const startEditing = (target, values) => {
    editing = target;
    form.elements.task.value = String(values.task);
    form.elements.volume.value = values.volume;
    form.elements.description.value = values.description;
    const submit = form.querySelector("[data-outbox-submit]");
    submit.textContent = submit.dataset.labelSave;
    form.querySelector("[data-outbox-cancel]").hidden = false;
    form.scrollIntoView({ block: "start" });
    form.elements.volume.focus();
  };

  const stopEditing = () => {
    editing = null;
    form.reset();
    const submit = form.querySelector("[data-outbox-submit]");
    submit.textContent = submit.dataset.labelAdd;
    form.querySelector("[data-outbox-cancel]").hidden = true;
  };

  form?.querySelector("[data-outbox-cancel]").addEventListener("click", stopEditing);

  // The form always sends through the outbox: online it goes at once, and a request that fails
  // on the network (or its lost answer) is sent again with the same key, never twice.
  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = {
      task: Number(form.elements.task.value),
      volume: form.elements.volume.value,
      description: form.elements.description.value,
    };
    const display = { ...values, taskLabel: taskLabel(values.task) };
    const target = editing;
    // Online, a volume that looks wrong is questioned before it is queued (offline it goes
    // unasked; the server's warnings then come with its answer).
    const answer = await outbox.ask(`${worksApi}check/`, {
      ...values,
      date,
      ...(target?.workId ? { id: Number(target.workId) } : {}),
    });
    const warnings = answer?.warnings ?? [];
    if (warnings.length && !window.confirm([...warnings, texts.confirmWarnings].join("\n\n"))) {
      return;
    }
    stopEditing();
    if (target?.seq) {
      const [operation] = (await outbox.operations()).filter(({ seq }) => seq === target.seq);
      if (!operation) return;
      const body = operation.kind === "create" ? { ...values, date } : values;
      // A stale version is fixed by sending over the version the page shows now.
      const [row] = operation.workId ? table.rows("work", operation.workId) : [];
      const ifMatch = row ? `"${row.dataset.version}"` : operation.ifMatch;
      await outbox.revise(operation.seq, { body, display, ifMatch }, { resend: true });
    } else if (target?.workId) {
      await outbox.enqueue({
        source: SOURCE,
        kind: "update",
        method: "PATCH",
        url: `${worksApi}${target.workId}/`,
        ifMatch: `"${target.version}"`,
        body: values,
        day: date,
        workId: target.workId,
        display,
      });
    } else {
      await outbox.enqueue({
        source: SOURCE,
        kind: "create",
        method: "POST",
        url: worksApi,
        body: { ...values, date },
        day: date,
        display,
      });
    }
  });

  // With no network, a row's Edit and Delete stay on the page and go through the outbox.
  table.tbody.addEventListener("click", async (event) => {
    const link = event.target.closest("a[data-outbox-action]");
    const row = link?.closest("tr[data-daily-work-id]");
    if (!row || navigator.onLine || !form) return;
    event.preventDefault();
    const workId = Number(row.dataset.dailyWorkId);
    if (link.dataset.outboxAction === "edit") {
      const values = {
        task: row.dataset.taskId,
        volume: row.dataset.volume,
        description: row.dataset.description,
      };
      startEditing({ workId, version: row.dataset.version }, values);
    } else if (window.confirm(texts.confirmDelete)) {
      await outbox.enqueue({
        source: SOURCE,
        kind: "delete",
        method: "DELETE",
        url: `${worksApi}${workId}/`,
        ifMatch: `"${row.dataset.version}"`,
        body: null,
        day: date,
        workId,
        display: { taskLabel: row.querySelector(".task-code").textContent.trim() },
      });
    }
  });

  table.tbody.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-outbox-fix], [data-outbox-discard]");
    const seq = Number(button?.closest("tr[data-outbox-seq]")?.dataset.outboxSeq);
    if (!seq) return;
    if (button.hasAttribute("data-outbox-discard")) {
      await outbox.discard(seq);
      return;
    }
    const [operation] = (await outbox.operations()).filter((candidate) => candidate.seq === seq);
    if (operation?.kind === "delete") {
      const [row] = table.rows("work", operation.workId);
      const ifMatch = row ? `"${row.dataset.version}"` : operation.ifMatch;
      await outbox.revise(seq, { ifMatch }, { resend: true });
    } else if (operation) {
      startEditing({ seq }, operation.display);
    }
  });

  // Confirmed: the pending row becomes the server's row (never both), and the page says so.
  document.addEventListener("outbox:sent", ({ detail: { operation, data } }) => {
    if (operation.day !== date) return;
    const work = format(texts.workLabel, {
      task: operation.display.taskLabel.split(" ")[0],
      date: texts.dayLabel,
    });
    // Sent unasked (offline): what the server found implausible is said now, in the same notice.
    notify([format(texts[operation.kind], { work }), ...(data?.warnings ?? [])].join(" "));
    const pending = table.tbody.querySelector(`tr[data-outbox-seq="${operation.seq}"]`);
    let workId = operation.workId;
    if (operation.kind === "create" && data?.id) {
      workId = data.id;
      if (pending && table.rows("work", workId).length) {
        pending.remove();
      } else if (pending) {
        pending.id = `work-${workId}`;
        pending.dataset.dailyWorkId = workId;
      }
    }
    if (pending) {
      delete pending.dataset.outboxSeq;
      pending.classList.remove("is-outbox");
      pending.dataset.version = "-1"; // replaced by the server's row
    }
    if (workId) table.refresh("work", [workId]);
  });
  document.addEventListener("outbox:changed", showOutbox);
  showOutbox();

  realtime.subscribe(["daily_works", "tasks"]);
  realtime.connect();
}
