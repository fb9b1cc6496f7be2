/**
 * The progress page, live: the S-curve (Chart.js, vendored, read from `window.Chart`) and the
 * two tables follow every change of tasks, reports, plans and the calendar.
 *
 * Events come in bursts (a foreman saves a day's reports, a planner moves ten tasks), and one
 * report changes the whole curve from its day on, so the page does not patch anything per
 * event: a burst is debounced (`DEBOUNCE_MS`) into one refetch of the curve's JSON
 * (`data-curve-url`, the API's shape, as embedded at load in `#progress-curve`) and of the
 * server-rendered tables (`data-fragment-url`). One refetch runs at a time; events during it
 * ask for one more. Changed rows and the moved figures are highlighted.
 */

import {
  describe,
  highlight,
  LiveFetch,
  listen,
  notify,
  notifyResynced,
  readJson,
  realtime,
} from "./live.js";

const DEBOUNCE_MS = 300;
const NOTICES_PER_REFRESH = 3;
const EVENT_TYPES = ["task", "daily_work", "monthly_task", "calendar_day"].flatMap((entity) =>
  ["created", "updated", "deleted"].map((action) => `${entity}_${action}`),
);

const root = document.querySelector('[data-live-page="progress"]');

/** A CSS custom property of the page (colours follow the light or dark scheme). */
function cssColor(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}


/** Where today falls among the curve's days: its index, or -1 before the first day. */
function todayIndex(curve) {
  if (!curve.days.length || curve.today < curve.days[0]) return -1;
  const index = curve.days.indexOf(curve.today);
  return index === -1 ? curve.days.length - 1 : index;
}

/** Draws today's line and its label over the chart (Chart.js has no such built-in). */
const todayLine = {
  id: "todayLine",
  afterDatasetsDraw(chart, _args, options) {
    const { index, label, color } = options;
    if (index === undefined || index < 0 || index >= chart.data.labels.length) return;
    const x = chart.scales.x.getPixelForValue(index);
    const { top, bottom } = chart.chartArea;
    const { ctx } = chart;
    ctx.save();
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    ctx.setLineDash([4, 4]);
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, bottom);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = color;
    ctx.font = "600 12px system-ui, sans-serif";
    ctx.textAlign = x > chart.chartArea.right - 60 ? "right" : "left";
    ctx.fillText(label, x + (ctx.textAlign === "left" ? 5 : -5), top + 12);
    ctx.restore();
  },
};

/**
 * The frames worth a notice: the changes someone made, not the recalculation of a task's fact
 * that a report brings about (`describe` words neither it nor the calendar's changes).
 */
function told(frames) {
  return frames.filter((frame) => describe(frame));
}

class ProgressPage {
  constructor(element) {
    this.root = element;
    this.labels = readJson("progress-labels") ?? {};
    this.curve = readJson("progress-curve");
    this.lang = document.documentElement.lang || undefined;
    this.percent = new Intl.NumberFormat(this.lang, {
      minimumFractionDigits: 1,
      maximumFractionDigits: 1,
    });
    this.signedPercent = new Intl.NumberFormat(this.lang, {
      minimumFractionDigits: 1,
      maximumFractionDigits: 1,
      signDisplay: "exceptZero",
    });
    this.shortDate = new Intl.DateTimeFormat(this.lang, { day: "numeric", month: "short" });
    this.longDate = new Intl.DateTimeFormat(this.lang, { dateStyle: "long" });
    this.timer = null;
    this.running = false;
    this.again = false;
    this.frames = [];
    this.waiting = []; // resolvers of schedule(): called once a refresh has put its answer in
    // Stopped (a 4xx, the login gone, its streams refused): nothing more is fetched.
    this.live = new LiveFetch(root, () => {
      clearTimeout(this.timer);
      this.waiting.splice(0).forEach((resolve) => resolve());
    });
    this.chart = this.createChart();
    this.showSummary(this.curve);
  }

  get stopped() {
    return this.live.stopped;
  }

  // The chart.

  series(curve) {
    const toNumber = (value) => (value === null ? null : Number(value));
    return {
      labels: curve.days,
      planned: curve.site.planned.map(toNumber),
      actual: curve.site.actual.map(toNumber),
    };
  }

  createChart() {
    const canvas = this.root.querySelector("[data-progress-chart]");
    const { labels, planned, actual } = this.series(this.curve);
    const accent = cssColor("--accent", "#2f6f9f");
    const actualColor = cssColor("--success", "#2f7d4f");
    const muted = cssColor("--text-muted", "#5c6b7a");
    const grid = cssColor("--border", "#dfe3e8");
    const dateOf = (iso) => new Date(`${iso}T00:00:00`);
    return new window.Chart(canvas, {
      type: "line",
      data: {
        labels,
        datasets: [
          {
            label: this.labels.planned,
            data: planned,
            borderColor: accent,
            backgroundColor: accent,
            borderDash: [6, 4],
            borderWidth: 2,
            pointRadius: 0,
            pointHoverRadius: 4,
            tension: 0,
          },
          {
            label: this.labels.actual,
            data: actual,
            borderColor: actualColor,
            backgroundColor: `${actualColor}22`,
            borderWidth: 2.5,
            pointRadius: 0,
            pointHoverRadius: 4,
            fill: "origin",
            tension: 0,
          },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: { duration: 250 },
        interaction: { mode: "index", intersect: false },
        scales: {
          x: {
            grid: { display: false },
            ticks: {
              color: muted,
              maxRotation: 0,
              autoSkip: true,
              maxTicksLimit: 12,
              callback: (_value, index) => this.shortDate.format(dateOf(labels[index] ?? "")),
            },
          },
          y: {
            min: 0,
            max: 100,
            grid: { color: grid },
            ticks: { color: muted, stepSize: 20, callback: (value) => `${value} %` },
          },
        },
        plugins: {
          legend: { position: "bottom", labels: { color: muted, boxWidth: 26, boxHeight: 3 } },
          tooltip: {
            callbacks: {
              title: (items) => this.longDate.format(dateOf(items[0].label)),
              label: (item) =>
                `${item.dataset.label}: ${this.percent.format(item.parsed.y)} %`,
            },
          },
          todayLine: {
            index: todayIndex(this.curve),
            label: this.labels.today,
            color: cssColor("--danger", "#b4372f"),
          },
        },
      },
      plugins: [todayLine],
    });
  }

  /** Put a new curve in the chart; returns whether anything drawn changed. */
  applyCurve(curve) {
    const before = JSON.stringify(this.series(this.curve));
    const after = this.series(curve);
    this.curve = curve;
    const chart = this.chart;
    // The x ticks' callback reads the labels array it was made with: keep that array.
    chart.data.labels.splice(0, chart.data.labels.length, ...after.labels);
    chart.data.datasets[0].data = after.planned;
    chart.data.datasets[1].data = after.actual;
    chart.options.plugins.todayLine.index = todayIndex(curve);
    chart.update();
    this.root.querySelector("[data-curve-chart]").hidden = !curve.days.length;
    this.root.querySelector("[data-curve-empty]").hidden = Boolean(curve.days.length);
    for (const note of this.root.querySelectorAll("[data-weighting]")) {
      note.hidden = note.dataset.weighting !== curve.weighting;
    }
    const changed = before !== JSON.stringify(after);
    this.showSummary(curve, changed);
    return changed;
  }

  /** Today's planned and actual figures above the chart. */
  showSummary(curve, changed = false) {
    const index = todayIndex(curve);
    const planned = index < 0 ? 0 : Number(curve.site.planned[index]);
    const actualValue = index < 0 ? null : curve.site.actual[index];
    const actual = actualValue === null ? 0 : Number(actualValue);
    const values = {
      planned: `${this.percent.format(planned)} %`,
      actual: `${this.percent.format(actual)} %`,
      deviation: `${this.signedPercent.format(actual - planned)} %`,
    };
    for (const [name, text] of Object.entries(values)) {
      const element = this.root.querySelector(`[data-curve-value="${name}"]`);
      if (element.textContent === text) continue;
      element.textContent = text;
      if (changed) highlight(element);
    }
    const deviation = this.root.querySelector('[data-curve-value="deviation"]');
    deviation.classList.toggle("is-behind", actual < planned);
    deviation.classList.toggle("is-ahead", actual > planned);
  }

  // The tables.

  /** Replace the page's parts with the fragment's; rows whose text changed are highlighted. */
  applyTables(fragment) {
    let changed = false;
    for (const part of fragment.querySelectorAll("[data-progress-part]")) {
      const name = CSS.escape(part.dataset.progressPart);
      const current = this.root.querySelector(`[data-progress-part="${name}"]`);
      if (!current) continue;
      const text = (element) => element.textContent.replace(/\s+/g, " ").trim();
      if (text(current) === text(part)) continue;
      const before = new Map([...current.querySelectorAll("tr[id]")].map((row) => [row.id, text(row)]));
      const incoming = part.cloneNode(true);
      current.replaceWith(incoming);
      changed = true;
      for (const row of incoming.querySelectorAll("tbody > tr[id]")) {
        if (before.get(row.id) !== text(row)) highlight(row);
      }
      for (const stat of incoming.querySelectorAll("[data-month-stat]")) {
        const old = current.querySelector(`[data-month-stat="${stat.dataset.monthStat}"]`);
        if (!old || text(old) !== text(stat)) highlight(stat);
      }
    }
    return changed;
  }

  // Live updates.

  /**
   * Refresh after a quiet `DEBOUNCE_MS`; a frame given is told in a notice if it moved anything.
   * Resolves once a refresh started after this call has put its answer on the page (or the page
   * has given up).
   */
  schedule(frame = null) {
    if (this.stopped) return Promise.resolve();
    if (frame) this.frames.push(frame);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), DEBOUNCE_MS);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async refresh() {
    this.timer = null;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    const frames = this.frames.splice(0);
    const waiting = this.waiting.splice(0);
    try {
      const [curve, fragment] = await Promise.all([this.fetchCurve(), this.fetchTables()]);
      const moved = this.applyCurve(curve);
      const changed = this.applyTables(fragment);
      if (moved) highlight(this.root.querySelector("[data-curve-chart]"));
      this.live.succeeded();
      if (moved || changed) told(frames).slice(-NOTICES_PER_REFRESH).forEach((f) => this.tell(f));
      this.emit("progress:updated", { moved, changed });
      waiting.forEach((resolve) => resolve());
    } catch (error) {
      this.waiting.unshift(...waiting);
      this.frames.unshift(...frames);
      this.running = false;
      // Again after the backoff (the frames told once it answers), or never: stopped.
      if (await this.live.retry(error)) this.refresh();
      return;
    }
    this.running = false;
    if (this.again && !this.stopped) {
      this.again = false;
      this.schedule();
    }
  }

  tell(frame) {
    notify(describe(frame));
  }

  emit(type, detail) {
    this.root.dispatchEvent(new CustomEvent(type, { detail, bubbles: true }));
  }

  async fetchCurve() {
    return this.live.json(this.root.dataset.curveUrl);
  }

  async fetchTables() {
    return this.live.fragment(this.root.dataset.fragmentUrl);
  }
}

if (root && window.Chart) {
  const page = new ProgressPage(root);
  listen(EVENT_TYPES, ({ detail }) => page.schedule(detail));
  document.addEventListener("realtime:resync_required", async () => {
    page.schedule();
    root.addEventListener("progress:updated", () => notifyResynced(), { once: true });
  });
  // A change of section is a new page: the chart and the tables are the section's.
  const sectionForm = document.querySelector("[data-section-form]");
  sectionForm?.querySelector("select")?.addEventListener("change", () => sectionForm.submit());

  const streams = (root.dataset.streams ?? "").split(" ").filter(Boolean);
  realtime.subscribe(streams);
  realtime.connect();
}
