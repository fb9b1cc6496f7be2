/**
 * Presence: who else has this page open, and what they edit (protocol: docs/realtime.md,
 * "Presence").
 *
 * Configured by the `[data-presence]` element in the page header: `data-presence-page` (the
 * page key, e.g. `schedule`, `msg:2026-03`) and `data-presence-idle-seconds` (a tab hidden that
 * long shows as idle). It announces the page on every (re)connect; page code says what the user
 * edits with a `presence:editing` DOM event on `document` (`detail`: `{stream, id}`, an МСГ
 * cell `{stream: "daily_works", task, date}`, or null); an edit page names its object with
 * `data-presence-stream` and `data-presence-id`, edited while the page is open.
 *
 * The others are shown as initials in circles (full name in the title, idle ones dimmed), and
 * "Maria is editing" on the rows and cells they edit, found by their data- attributes.
 */

import { realtime } from "./websocket.js";

const root = document.querySelector("[data-presence]");
const messages = JSON.parse(document.getElementById("live-messages")?.textContent ?? "{}").presence ?? {};

/** Where an edited object shows: its row or cell. */
const TARGETS = {
  tasks: (target) => `[data-task-id="${target.id}"]:not(td)`,
  monthly_tasks: (target) => `[data-monthly-task-id="${target.id}"]`,
  daily_works: (target) =>
    target.date === undefined
      ? `[data-daily-work-id="${target.id}"]`
      : `[data-task-id="${target.task}"] td[data-date="${target.date}"]`,
  calendar_days: (target) => `[data-calendar-day-id="${target.id}"]`,
};

function format(template, values) {
  return String(template ?? "").replace(/%\((\w+)\)s/g, (match, name) => (name in values ? String(values[name]) : match));
}

if (root) {
  const page = root.dataset.presencePage;
  const idleMs = Number(root.dataset.presenceIdleSeconds || 120) * 1000;
  const list = root.querySelector("[data-presence-people]");
  const { presenceStream: stream, presenceId: id } = root.dataset;
  let editing = stream && id ? { stream, id: Number(id) } : null;
  let idle = document.visibilityState === "hidden";
  let idleTimer = null;
  let people = [];

  const announce = () => realtime.send({ type: "presence", page, editing, idle });

  document.addEventListener("realtime:status", ({ detail }) => {
    if (detail.status === "connected") announce();
  });
  document.addEventListener("presence:editing", ({ detail }) => {
    editing = detail ?? null;
    announce();
  });
  // Saving ends the edit (the page then leaves, or shows the form again with its errors).
  document.addEventListener("submit", () => {
    if (editing === null) return;
    editing = null;
    announce();
  });
  document.addEventListener("visibilitychange", () => {
    clearTimeout(idleTimer);
    if (document.visibilityState === "hidden") {
      idleTimer = setTimeout(() => {
        idle = true;
        announce();
      }, idleMs);
    } else if (idle) {
      idle = false;
      announce();
    }
  });

  realtime.on("presence", (frame) => {
    if (frame.page !== page) return;
    people = frame.people;
    render();
    mark();
  });

  function render() {
    list.replaceChildren(
      ...people.map((person) => {
        const item = document.createElement("li");
        item.className = "presence__person";
        item.classList.toggle("is-idle", person.idle);
        item.textContent = person.initials;
        item.title = format(person.idle ? messages.idle : messages.here, { name: person.name });
        item.dataset.presenceUser = person.id;
        return item;
      }),
    );
    root.hidden = people.length === 0;
  }

  /** Put "X is editing" on every row or cell someone edits; idempotent (re-run on DOM changes). */
  function mark() {
    const wanted = new Map();
    for (const person of people) {
      for (const target of person.editing) {
        const selector = TARGETS[target.stream]?.(target);
        if (!selector) continue;
        for (const element of document.querySelectorAll(selector)) {
          const names = wanted.get(element) ?? [];
          names.push(person.name);
          wanted.set(element, names);
        }
      }
    }
    for (const element of document.querySelectorAll("[data-presence-editor]")) {
      if (!wanted.has(element)) {
        delete element.dataset.presenceEditor;
        element.classList.remove("is-being-edited");
        element.querySelector(":scope .presence-marker")?.remove();
      }
    }
    for (const [element, names] of wanted) {
      const text = format(messages.editing, { name: names.join(", ") });
      if (element.dataset.presenceEditor === text) continue;
      element.dataset.presenceEditor = text;
      element.classList.add("is-being-edited");
      const holder = element.matches("tr") ? element.querySelector("td, th") : element;
      let marker = element.querySelector(":scope .presence-marker");
      if (!marker) {
        marker = document.createElement("span");
        marker.className = "presence-marker";
        holder?.append(marker);
      }
      marker.textContent = text;
    }
  }

  // Rows swapped in by live updates lose their marks: put them back.
  let pending = false;
  new MutationObserver(() => {
    if (pending || !people.some((person) => person.editing.length)) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      mark();
    });
  }).observe(document.body, { childList: true, subtree: true });

  if (realtime.status === "connected") announce();
  realtime.connect();
}
