/**
 * The monthly order page, live: only changes of its month (plans) and of the tasks that run in
 * it reach it. A row whose plan the user is typing is not replaced; it is marked outdated and
 * saving shows the conflict with the stored plan.
 */

import {
  LiveTable,
  describe,
  fetchAll,
  notify,
  notifyResynced,
  objectLabel,
  realtime,
} from "./live.js";

const root = document.querySelector('[data-live-page="monthly"]');

if (root) {
  const { month, monthFirst, monthLast } = root.dataset;
  const table = new LiveTable(root, { task: "data-task-id" });
  const runsInMonth = (task) => task.start_date <= monthLast && task.end_date >= monthFirst;
  const codeOf = (row) => row?.querySelector(".task-code")?.textContent.trim() ?? "";

  const onTask = async ({ detail: frame }) => {
    const { data } = frame;
    const [row] = table.rows("task", data.id);
    if (frame.type === "task_deleted") {
      if (!row) return;
    } else if (row ? Number(row.dataset.taskVersion) >= data.version : !runsInMonth(data)) {
      return; // already showing this version, or not a task of this month
    }
    const label = `${data.code} ${data.name ?? row?.querySelector(".task-name")?.textContent.trim() ?? ""}`;
    if (await table.refresh("task", [data.id])) notify(describe(frame, label.trim()));
  };
  for (const type of ["task_created", "task_updated", "task_deleted"]) {
    document.addEventListener(`realtime:${type}`, onTask);
  }

  // A plan moved to another task or month must leave the row that shows it (the old place)
  // as well as reach its new one: both tasks' rows are fetched again.
  const onPlan = async ({ detail: frame }) => {
    const { data } = frame;
    const shown = root.querySelector(`tr[data-monthly-task-id="${Number(data.id)}"]`);
    const current = shown && Number(shown.dataset.version) >= data.version;
    if (frame.type !== "monthly_task_deleted" && current) return; // already showing this version
    const tasks = new Set();
    if (shown) tasks.add(Number(shown.dataset.taskId));
    if (data.month === month) tasks.add(data.task);
    if (!tasks.size) return; // neither was nor is a plan of this month
    const label = objectLabel("monthly_task", { task: data.task_code ?? codeOf(shown) });
    if (await table.refresh("task", [...tasks])) notify(describe(frame, label));
  };
  for (const type of ["monthly_task_created", "monthly_task_updated", "monthly_task_deleted"]) {
    document.addEventListener(`realtime:${type}`, onPlan);
  }

  document.addEventListener("realtime:resync_required", async () => {
    const [tasks, plans] = await Promise.all([
      fetchAll(root.dataset.tasksApiUrl),
      fetchAll(root.dataset.plansApiUrl),
    ]);
    const planOf = new Map(plans.map((plan) => [plan.task, plan]));
    const expected = new Map();
    for (const task of tasks) {
      const plan = planOf.get(task.id);
      if (!plan && !runsInMonth(task)) continue;
      expected.set(`task-${task.id}`, {
        param: "task",
        id: task.id,
        signature: `${plan?.version ?? ""}/${task.version}`,
      });
    }
    await table.resync(async () => expected);
    notifyResynced();
  });

  realtime.subscribe(["tasks", "monthly_tasks"]);
  realtime.connect();
}
