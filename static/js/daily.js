/**
 * The daily order page, live: only the works of its date reach it, with the day's totals; task
 * changes refresh the rows of that task and the choices of the "add a work" form.
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

const root = document.querySelector('[data-live-page="daily"]');

if (root) {
  const { date } = root.dataset;
  const table = new LiveTable(root, { work: "data-daily-work-id", task: "data-task-id" });
  const hasTaskChoices = document.querySelector('[data-live-part="task-options"]') !== null;
  const codeOf = (row) => row?.querySelector(".task-code")?.textContent.trim() ?? "";

  // Rows are fetched by work id: a work moved to another date leaves this page (the fragment
  // has no row for it), one moved to another task gets its new task's row.
  const onWork = async ({ detail: frame }) => {
    const { data } = frame;
    const [row] = table.rows("work", data.id);
    if (!row && (frame.type === "daily_work_deleted" || data.date !== date)) return;
    if (row && data.date === date && Number(row.dataset.version) >= data.version) return;
    const label = objectLabel("daily_work", { task: data.task_code ?? codeOf(row) });
    if (await table.refresh("work", [data.id])) notify(describe(frame, label));
  };
  listen(["daily_work_created", "daily_work_updated", "daily_work_deleted"], onWork);

  // A task's code, name or unit shows in its rows; its name in the form's choices.
  const onTask = ({ detail: frame }) => {
    const { data } = frame;
    const rows = table.rows("task", data.id);
    const rowsCurrent = rows.every((row) => Number(row.dataset.taskVersion) >= data.version);
    if (!hasTaskChoices && (frame.type === "task_deleted" || rowsCurrent)) return;
    return table.refresh("task", [data.id]);
  };
  listen(["task_created", "task_updated", "task_deleted"], onTask);

  document.addEventListener("realtime:resync_required", async () => {
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
    notifyResynced();
  });

  realtime.subscribe(["daily_works", "tasks"]);
  realtime.connect();
}
