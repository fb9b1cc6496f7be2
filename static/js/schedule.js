/**
 * The schedule page, live: rows appear, change and disappear as tasks change anywhere; volume
 * done and progress follow the daily works (each such change is a `task_updated`).
 */

import { LiveTable, describe, fetchAll, notify, notifyResynced, realtime } from "./live.js";

const root = document.querySelector('[data-live-page="schedule"]');

if (root) {
  const table = new LiveTable(root, { task: "data-task-id" });

  const taskLabel = (data, row) => {
    const name = data.name ?? row?.querySelector(".task-name")?.textContent.trim() ?? "";
    return `${data.code} ${name}`.trim();
  };

  const onTask = async ({ detail: frame }) => {
    const { data } = frame;
    const [row] = table.rows("task", data.id);
    if (frame.type === "task_deleted" ? !row : row && Number(row.dataset.version) >= data.version) {
      return; // not on the page, or already showing this version
    }
    const label = taskLabel(data, row);
    if (await table.refresh("task", [data.id])) notify(describe(frame, label));
  };
  for (const type of ["task_created", "task_updated", "task_deleted"]) {
    document.addEventListener(`realtime:${type}`, onTask);
  }

  document.addEventListener("realtime:resync_required", async () => {
    const tasks = await fetchAll(root.dataset.apiUrl);
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

  realtime.subscribe(["tasks"]);
  realtime.connect();
}
