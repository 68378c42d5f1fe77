// Dominus AI metrics dashboard. Plain ES module: no framework, no build step, nothing from a CDN.
//
// Reads, from the same origin as the page (relative to it, so an API Gateway stage prefix works):
//   GET /v1/metrics/ai-performance?from&to&group_by&function   (three group_bys per refresh)
//   GET /v1/orgs/me/ai-settings
// Query: ?org=<id> (sent as X-Org-Id, honoured locally), ?refresh=<seconds> (default 10, 0 = off),
// ?window=24h|7d|30d, ?function=<name>. A bearer token typed into the page is kept in sessionStorage.
//
// Hooks for tests: <body data-ready="true"> after the first complete render, data-state
// (loading|ready|empty|error), data-renders (complete renders so far); data-testid on the KPI values
// (each with data-value, the raw number) and on each chart's <svg>.

const SVG_NS = "http://www.w3.org/2000/svg";
const TOKEN_KEY = "dominus.ai-metrics.token";
const PERFORMANCE = "v1/metrics/ai-performance";
const SETTINGS = "v1/orgs/me/ai-settings";
const FETCH_TIMEOUT_MS = 25_000;
const DEFAULT_REFRESH_S = 10;
const WINDOWS = {
  "24h": { hours: 24, groupBy: "hour", label: "last 24 hours" },
  "7d": { hours: 24 * 7, groupBy: "day", label: "last 7 days" },
  "30d": { hours: 24 * 30, groupBy: "day", label: "last 30 days" },
};
const OUTCOMES = [
  { key: "hits", css: "hit", label: "hit" },
  { key: "shared", css: "shared", label: "shared" },
  { key: "bypass", css: "bypass", label: "bypass" },
  { key: "misses", css: "miss", label: "miss" },
];
const PERCENTILES = ["p50", "p95", "p99"];

// The API's root: the page is <root>dev/ai-metrics, so "../" from it.
const API_ROOT = new URL("../", location.href);
const $ = (id) => document.getElementById(id);

const query = new URLSearchParams(location.search);
const state = {
  org: (query.get("org") || "").trim(),
  window: WINDOWS[query.get("window")] ? query.get("window") : "7d",
  fn: (query.get("function") || "").trim(),
  refreshMs: refreshInterval(query.get("refresh")),
  token: readToken(),
  data: null, // the last answers that rendered: { timeline, byFunction, byModel, settings }
  controller: null, // the refresh under way
  timer: null,
  lastFetch: 0,
  renders: 0,
  drawn: new Map(), // chart id -> signature of what it shows now (unchanged data is not redrawn)
  functions: "", // the function filter's options now, joined
};

function refreshInterval(raw) {
  if (raw === null || raw.trim() === "") return DEFAULT_REFRESH_S * 1000;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0) return 0;
  return Math.max(0.5, seconds) * 1000;
}

function readToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting

const intFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

function num(value) {
  if (value === null || value === undefined || value === "") return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

function fmtInt(value) {
  const n = num(value);
  return n === null ? "–" : intFormat.format(n);
}

function fmtUsd(value) {
  const n = num(value);
  if (n === null) return "–";
  const abs = Math.abs(n);
  const digits = abs >= 1 || abs === 0 ? 2 : Math.min(8, Math.max(2, 1 - Math.floor(Math.log10(abs))));
  return new Intl.NumberFormat(undefined, {
    style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: digits,
  }).format(n);
}

function fmtPct(value) {
  const n = num(value);
  if (n === null) return "–";
  const pct = n * 100;
  return `${pct === 0 || pct >= 10 ? Math.round(pct) : pct.toFixed(1)}%`;
}

function fmtMs(value) {
  const n = num(value);
  if (n === null) return "–";
  if (n === 0) return "0 ms";
  if (n >= 10_000) return `${(n / 1000).toFixed(1)} s`;
  if (n >= 1000) return `${(n / 1000).toFixed(2)} s`;
  if (n < 10) return `${n.toFixed(1)} ms`;
  return `${Math.round(n)} ms`;
}

function parseKey(key, groupBy) {
  // "2026-11-24T03" (hour) or "2026-11-24" (day), both UTC
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}))?/.exec(key);
  if (!m) return null;
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], groupBy === "hour" ? +(m[4] || 0) : 0));
}

function timeKey(date, groupBy) {
  const iso = date.toISOString();
  return groupBy === "hour" ? iso.slice(0, 13) : iso.slice(0, 10);
}

const dayFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" });

function keyLabel(key, groupBy) {
  const date = parseKey(key, groupBy);
  if (!date) return key;
  return groupBy === "hour" ? `${String(date.getUTCHours()).padStart(2, "0")}:00` : dayFormat.format(date);
}

function keyTitle(key, groupBy) {
  const date = parseKey(key, groupBy);
  if (!date) return key;
  return groupBy === "hour" ? `${dayFormat.format(date)} ${keyLabel(key, groupBy)} UTC` : `${dayFormat.format(date)} (UTC)`;
}

function isoSeconds(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

// ---------------------------------------------------------------------------------------------
// DOM helpers

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false).map(String2Node));
  return node;
}

function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false).map(String2Node));
  return node;
}

function String2Node(child) {
  return child instanceof Node ? child : document.createTextNode(String(child));
}

function setAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
}

// Rough text width in px for 12px system-ui: enough to lay out labels without measuring.
function textWidth(text, px = 12) {
  return String(text).length * px * 0.58;
}

function truncate(text, maxPx, px = 12) {
  const str = String(text);
  const fit = Math.floor(maxPx / (px * 0.58));
  return str.length <= fit ? str : `${str.slice(0, Math.max(1, fit - 1))}…`;
}

function round(n) {
  return Math.round(n * 10) / 10;
}

// A chart's <svg>: an image with a title and a description (its text alternative).
function chartSvg(id, width, height, title, description) {
  return s("svg", {
    "data-testid": id, id: `${id}-svg`, role: "img", viewBox: `0 0 ${width} ${height}`,
    width, height, "aria-labelledby": `${id}-title ${id}-desc`, preserveAspectRatio: "xMinYMin meet",
  }, s("title", { id: `${id}-title` }, title), s("desc", { id: `${id}-desc` }, description));
}

// The numbers behind a chart as a table, folded away under it.
function dataTable(caption, headers, rows) {
  return h("details", {},
    h("summary", {}, "Show the numbers"),
    h("div", { class: "table-wrap" },
      h("table", {},
        h("caption", { class: "skip-caption", hidden: true }, caption),
        h("thead", {}, h("tr", {}, headers.map((text, i) => h("th", { class: i ? "num" : null, scope: "col" }, text)))),
        h("tbody", {}, rows.map((row) => h("tr", {}, row.map((cell, i) => h(i ? "td" : "th", { class: i ? "num" : null, scope: i ? null : "row" }, cell))))))));
}

function niceStep(raw) {
  const exp = Math.floor(Math.log10(raw));
  const f = raw / 10 ** exp;
  const nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nice * 10 ** exp;
}

function niceTicks(max, count = 4) {
  const top = max > 0 ? max : 1;
  const step = niceStep(top / count);
  const ticks = [];
  for (let v = 0; v <= top + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < top) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

// ---------------------------------------------------------------------------------------------
// Charts (hand-written SVG, drawn at the container's width in px so text stays readable)

function columnChart({ id, title, rows, width, xTitle, yTitle, format, summary }) {
  const height = width < 520 ? 220 : 260;
  const ticks = niceTicks(Math.max(0, ...rows.map((r) => r.value)));
  const top = ticks[ticks.length - 1];
  const tickLabels = ticks.map(format);
  const left = Math.ceil(Math.max(...tickLabels.map((t) => textWidth(t)))) + 26;
  const margin = { left, right: 8, top: 10, bottom: 46 };
  const plotW = Math.max(10, width - margin.left - margin.right);
  const plotH = height - margin.top - margin.bottom;
  const band = plotW / Math.max(1, rows.length);
  const barW = Math.max(1, band * 0.72);
  const y = (v) => margin.top + plotH - (v / top) * plotH;
  const svg = chartSvg(id, width, height, title, summary);

  const yAxis = s("g", { class: "y-axis", "aria-hidden": "true" });
  ticks.forEach((t, i) => {
    yAxis.append(s("g", { class: "tick" },
      s("line", { class: "gridline", x1: margin.left, x2: width - margin.right, y1: round(y(t)), y2: round(y(t)) }),
      s("text", { x: margin.left - 6, y: round(y(t)) + 4, "text-anchor": "end" }, tickLabels[i])));
  });
  yAxis.append(s("text", {
    class: "axis-title", transform: `translate(12 ${margin.top + plotH / 2}) rotate(-90)`, "text-anchor": "middle",
  }, yTitle));
  svg.append(yAxis);

  const bars = s("g", { class: "bars" });
  rows.forEach((row, i) => {
    const x = margin.left + i * band + (band - barW) / 2;
    const barH = row.value > 0 ? Math.max(1, (row.value / top) * plotH) : 0;
    bars.append(s("rect", {
      class: "bar", x: round(x), y: round(margin.top + plotH - barH), width: round(barW), height: round(barH),
      "data-key": row.key, "data-value": row.value,
    }, s("title", {}, row.title)));
  });
  svg.append(bars);

  const labelPx = Math.max(...rows.map((r) => textWidth(r.label))) + 8;
  const every = Math.max(1, Math.ceil(labelPx / band));
  const xAxis = s("g", { class: "x-axis", "aria-hidden": "true" },
    s("line", { class: "axis", x1: margin.left, x2: width - margin.right, y1: margin.top + plotH, y2: margin.top + plotH }));
  rows.forEach((row, i) => {
    if ((rows.length - 1 - i) % every !== 0) return; // keep the latest bucket labelled
    const cx = margin.left + i * band + band / 2;
    xAxis.append(s("g", { class: "tick" }, s("text", { x: round(cx), y: margin.top + plotH + 16, "text-anchor": "middle" }, row.label)));
  });
  xAxis.append(s("text", { class: "axis-title", x: margin.left + plotW / 2, y: height - 6, "text-anchor": "middle" }, xTitle));
  svg.append(xAxis);
  return svg;
}

function barChart({ id, title, rows, width, xTitle, format, summary }) {
  const rowH = 22;
  const gap = 10;
  const valueLabels = rows.map((r) => format(r.value));
  const labelW = Math.min(width * 0.4, Math.max(...rows.map((r) => textWidth(r.label))) + 10);
  const valueW = Math.max(...valueLabels.map((t) => textWidth(t))) + 10;
  const margin = { left: labelW, right: valueW, top: 4, bottom: 30 };
  const plotW = Math.max(10, width - margin.left - margin.right);
  const height = margin.top + rows.length * (rowH + gap) + margin.bottom;
  const max = Math.max(0, ...rows.map((r) => r.value));
  const svg = chartSvg(id, width, height, title, summary);
  const bars = s("g", { class: "bars" });
  rows.forEach((row, i) => {
    const top = margin.top + i * (rowH + gap);
    const w = max > 0 && row.value > 0 ? Math.max(1, (row.value / max) * plotW) : 0;
    bars.append(
      s("text", { x: margin.left - 8, y: top + rowH / 2 + 4, "text-anchor": "end", class: "category", "data-label": row.label },
        s("title", {}, row.label), truncate(row.label, labelW - 10)),
      s("rect", {
        class: row.selected ? "bar selected" : "bar", x: margin.left, y: top, width: round(w), height: rowH, rx: 2,
        "data-key": row.key, "data-value": row.value,
      }, s("title", {}, row.title)),
      s("text", { class: "value-label", x: round(margin.left + w + 6), y: top + rowH / 2 + 4 }, valueLabels[i]));
  });
  svg.append(bars);
  const base = margin.top + rows.length * (rowH + gap) - gap / 2;
  svg.append(s("g", { class: "x-axis", "aria-hidden": "true" },
    s("line", { class: "axis", x1: margin.left, x2: margin.left, y1: margin.top - 2, y2: base }),
    s("text", { class: "axis-title", x: margin.left + plotW / 2, y: height - 8, "text-anchor": "middle" }, xTitle)));
  return svg;
}

function stackedChart({ id, title, rows, width, summary }) {
  const rowH = 24;
  const gap = 10;
  const labelW = Math.min(width * 0.36, Math.max(...rows.map((r) => textWidth(r.label))) + 10);
  const margin = { left: labelW, right: 4, top: 4, bottom: 28 };
  const plotW = Math.max(10, width - margin.left - margin.right);
  const height = margin.top + rows.length * (rowH + gap) + margin.bottom;
  const svg = chartSvg(id, width, height, title, summary);
  const bars = s("g", { class: "bars" });
  rows.forEach((row, i) => {
    const top = margin.top + i * (rowH + gap);
    const total = OUTCOMES.reduce((sum, o) => sum + (num(row.stats[o.key]) || 0), 0);
    bars.append(s("text", { x: margin.left - 8, y: top + rowH / 2 + 4, "text-anchor": "end" },
      s("title", {}, row.label), truncate(row.label, labelW - 10)));
    if (total === 0) {
      bars.append(s("rect", { class: "empty-row", x: margin.left, y: top, width: plotW, height: rowH, fill: "#eef1f5" },
        s("title", {}, `${row.label}: no calls`)));
      return;
    }
    let x = margin.left;
    for (const outcome of OUTCOMES) {
      const count = num(row.stats[outcome.key]) || 0;
      if (count === 0) continue;
      const w = (count / total) * plotW;
      const share = count / total;
      bars.append(s("rect", {
        class: `seg ${outcome.css}`, x: round(x), y: top, width: round(w), height: rowH,
        "data-outcome": outcome.css, "data-value": count,
      }, s("title", {}, `${row.label}: ${outcome.label} ${fmtInt(count)} of ${fmtInt(total)} (${fmtPct(share)})`)));
      if (w >= 38) {
        bars.append(s("text", { class: "seg-label", x: round(x + w / 2), y: top + rowH / 2 + 4, "text-anchor": "middle", "aria-hidden": "true" }, fmtPct(share)));
      }
      x += w;
    }
  });
  svg.append(bars);
  svg.append(s("g", { class: "x-axis", "aria-hidden": "true" },
    s("text", { class: "axis-title", x: margin.left + plotW / 2, y: height - 8, "text-anchor": "middle" }, "Share of calls (0–100%)")));
  return svg;
}

function latencyChart({ id, title, rows, width, summary }) {
  const sub = 8;
  const gap = 12;
  const rowH = sub * PERCENTILES.length;
  const values = rows.flatMap((r) => PERCENTILES.map((p) => num(r.latency[p]) || 0));
  const ticks = niceTicks(Math.max(0, ...values), width < 520 ? 3 : 5);
  const top = ticks[ticks.length - 1];
  const labelW = Math.min(width * 0.36, Math.max(...rows.map((r) => textWidth(r.label))) + 10);
  const margin = { left: labelW, right: 24, top: 4, bottom: 44 };
  const plotW = Math.max(10, width - margin.left - margin.right);
  const plotH = rows.length * (rowH + gap);
  const height = margin.top + plotH + margin.bottom;
  const x = (v) => margin.left + (v / top) * plotW;
  const svg = chartSvg(id, width, height, title, summary);
  const grid = s("g", { class: "x-axis", "aria-hidden": "true" });
  for (const t of ticks) {
    grid.append(s("g", { class: "tick" },
      s("line", { class: "gridline", x1: round(x(t)), x2: round(x(t)), y1: margin.top, y2: margin.top + plotH }),
      s("text", { x: round(x(t)), y: margin.top + plotH + 16, "text-anchor": "middle" }, fmtMs(t))));
  }
  grid.append(s("text", { class: "axis-title", x: margin.left + plotW / 2, y: height - 6, "text-anchor": "middle" }, "Latency (p50, p95, p99)"));
  svg.append(grid);
  const bars = s("g", { class: "bars" });
  rows.forEach((row, i) => {
    const rowTop = margin.top + i * (rowH + gap) + gap / 2;
    bars.append(s("text", { x: margin.left - 8, y: rowTop + rowH / 2 + 4, "text-anchor": "end" },
      s("title", {}, row.label), truncate(row.label, labelW - 10)));
    PERCENTILES.forEach((p, j) => {
      const v = num(row.latency[p]);
      bars.append(s("rect", {
        class: `bar ${p}`, x: margin.left, y: rowTop + j * sub, width: round(v ? Math.max(1, x(v) - margin.left) : 0),
        height: sub - 1, "data-key": `${row.key}:${p}`, "data-value": v ?? "",
      }, s("title", {}, `${row.label}: latency ${p} ${fmtMs(v)}`)));
    });
  });
  svg.append(bars);
  return svg;
}

function legend(items) {
  return h("ul", { class: "legend" },
    items.map(({ css, label }) => h("li", {}, h("span", { class: `swatch ${css}`, "aria-hidden": "true" }), label)));
}

function placeholder(text) {
  return h("p", { class: "none" }, text);
}

// ---------------------------------------------------------------------------------------------
// Rendering

// Replaces a container's content only when what it would show changed: a refresh with the same
// numbers touches nothing (no flicker, an open "Show the numbers" stays open).
function draw(containerId, signature, build) {
  const container = $(containerId);
  const key = JSON.stringify(signature);
  if (state.drawn.get(containerId) === key) return;
  state.drawn.set(containerId, key);
  container.replaceChildren(...[].concat(build(container)));
}

function chartWidth(container) {
  return Math.max(260, Math.floor(container.clientWidth || 320));
}

function setKpi(id, value, text, sub) {
  const node = $(id);
  node.textContent = text;
  node.dataset.value = value === null || value === undefined ? "" : String(value);
  node.title = text;
  $(`${id}-sub`).textContent = sub || "";
}

function renderKpis(totals) {
  const lat = totals.latency_ms || {};
  const ttft = totals.ttft_ms || {};
  const unpriced = num(totals.unpriced_calls) || 0;
  setKpi("kpi-cost", num(totals.cost_usd), fmtUsd(totals.cost_usd),
    unpriced ? `${fmtInt(unpriced)} unpriced call${unpriced === 1 ? "" : "s"} not included`
      : `${fmtInt(totals.input_tokens)} in · ${fmtInt(totals.output_tokens)} out tokens`);
  setKpi("kpi-calls", num(totals.calls), fmtInt(totals.calls),
    `${fmtInt(totals.hits)} hits · ${fmtInt(totals.misses)} misses`);
  setKpi("kpi-hit-rate", num(totals.hit_rate), fmtPct(totals.hit_rate),
    `shared ${fmtPct(totals.shared_rate)} · bypass ${fmtPct(totals.bypass_rate)}`);
  setKpi("kpi-saved", num(totals.saved_cost_usd), fmtUsd(totals.saved_cost_usd),
    `${fmtInt(totals.cached_input_tokens)} cached input tokens`);
  setKpi("kpi-error-rate", num(totals.error_rate), fmtPct(totals.error_rate),
    `${fmtInt(totals.errors)} error${num(totals.errors) === 1 ? "" : "s"}`);
  setKpi("kpi-p95", num(lat.p95), fmtMs(lat.p95), `p50 ${fmtMs(lat.p50)} · p99 ${fmtMs(lat.p99)}`);
  setKpi("kpi-ttft", num(ttft.p50), fmtMs(ttft.p50), `p95 ${fmtMs(ttft.p95)} · ${fmtInt(ttft.streams)} streams`);
}

function renderHeader(timeline, settings) {
  const org = (settings && settings.org_id) || (timeline && timeline.org_id) || state.org || "demo";
  $("org").textContent = org;
  document.title = `AI metrics · ${org} · Dominus`;
  const mode = $("mode");
  const cache = $("cache");
  if (settings) {
    const m = String(settings.mode_default || "?");
    mode.textContent = `mode ${m}`;
    mode.className = `badge mode-${m}`;
    mode.dataset.value = m;
    $("balance").textContent = `${fmtInt(settings.token_balance)} tokens`;
    $("balance").dataset.value = num(settings.token_balance) ?? "";
    const ttl = num(settings.cache_ttl_s);
    cache.textContent = settings.cache_enabled
      ? `cache on${ttl ? `, TTL ${ttl >= 3600 ? `${round(ttl / 3600)} h` : `${Math.round(ttl / 60)} min`}` : ""}`
        + (settings.dedupe_enabled ? " · dedupe on" : " · dedupe off")
      : "cache off";
    cache.hidden = false;
  } else {
    mode.textContent = "mode ?";
    mode.className = "badge muted";
    mode.dataset.value = "";
    $("balance").textContent = "–";
    cache.hidden = true;
  }
}

function renderFunctionOptions(byFunction) {
  const names = (byFunction ? byFunction.groups.map((g) => g.key) : []).filter(Boolean);
  if (state.fn && !names.includes(state.fn)) names.push(state.fn);
  names.sort();
  const joined = names.join("\n");
  if (joined === state.functions) return;
  state.functions = joined;
  const select = $("function");
  select.replaceChildren(h("option", { value: "" }, "All functions"), ...names.map((n) => h("option", { value: n }, n)));
  select.value = state.fn;
}

function timeRows(timeline) {
  const groupBy = timeline.group_by === "hour" ? "hour" : "day";
  const byKey = new Map(timeline.groups.map((g) => [g.key, g]));
  const keys = new Set(byKey.keys());
  const from = new Date(timeline.from);
  const to = new Date(timeline.to);
  if (!Number.isNaN(from.getTime()) && !Number.isNaN(to.getTime())) {
    const step = groupBy === "hour" ? 3_600_000 : 86_400_000;
    const start = parseKey(timeKey(from, groupBy), groupBy).getTime();
    const end = to.getTime() - 1; // `to` is exclusive: 04:00:00 does not open the 04 hour
    for (let t = start, n = 0; t <= end && n < 1000; t += step, n += 1) keys.add(timeKey(new Date(t), groupBy));
  }
  return [...keys].sort().map((key) => {
    const g = byKey.get(key) || {};
    const cost = num(g.cost_usd) || 0;
    return {
      key, value: cost, label: keyLabel(key, groupBy),
      title: `${keyTitle(key, groupBy)}: ${fmtUsd(cost)} · ${fmtInt(g.calls || 0)} calls`,
      calls: num(g.calls) || 0, when: keyTitle(key, groupBy),
    };
  });
}

function renderCostOverTime(timeline) {
  const groupBy = timeline.group_by === "hour" ? "hour" : "day";
  const rows = timeRows(timeline);
  draw("chart-cost-time", [rows, groupBy, chartWidth($("chart-cost-time"))], (container) => {
    const total = rows.reduce((sum, r) => sum + r.value, 0);
    const peak = rows.reduce((best, r) => (r.value > best.value ? r : best), rows[0] || { value: 0 });
    const unit = groupBy === "hour" ? "hour" : "day";
    const summary = `Cost per ${unit} (UTC), ${rows.length} ${unit}s: ${fmtUsd(total)} in all`
      + (peak && peak.value > 0 ? `; the most, ${fmtUsd(peak.value)}, on ${peak.when}.` : ".");
    return [
      columnChart({
        id: "chart-cost-time", title: `Cost per ${unit}`, rows, width: chartWidth(container),
        xTitle: groupBy === "hour" ? "Hour (UTC)" : "Day (UTC)", yTitle: "Cost (USD)", format: fmtUsd, summary,
      }),
      dataTable(`Cost per ${unit}`, [groupBy === "hour" ? "Hour (UTC)" : "Day (UTC)", "Calls", "Cost"],
        rows.map((r) => [r.when, fmtInt(r.calls), fmtUsd(r.value)])),
    ];
  });
}

function costRows(answer, selected) {
  return answer.groups.map((g) => ({
    key: g.key, label: g.key || "(none)", value: num(g.cost_usd) || 0, calls: num(g.calls) || 0,
    selected: selected !== undefined && selected !== "" && g.key === selected,
    title: `${g.key}: ${fmtUsd(g.cost_usd)} · ${fmtInt(g.calls)} calls · hit rate ${fmtPct(g.hit_rate)}`
      + (num(g.unpriced_calls) ? ` · ${fmtInt(g.unpriced_calls)} unpriced` : ""),
  }));
}

function renderCostBars(containerId, answer, what, selected) {
  if (!answer) {
    draw(containerId, ["unavailable"], () => placeholder("Not available: see the error above."));
    return;
  }
  const rows = costRows(answer, selected);
  draw(containerId, [rows, chartWidth($(containerId))], (container) => {
    if (!rows.length) return placeholder("No calls in this window.");
    const total = rows.reduce((sum, r) => sum + r.value, 0);
    const summary = `Cost per ${what}, ${rows.length} ${what}s, ${fmtUsd(total)} in all: `
      + rows.map((r) => `${r.label} ${fmtUsd(r.value)}`).join(", ") + ".";
    return [
      barChart({ id: containerId, title: `Cost per ${what}`, rows, width: chartWidth(container), xTitle: "Cost (USD)", format: fmtUsd, summary }),
      dataTable(`Cost per ${what}`, [what[0].toUpperCase() + what.slice(1), "Calls", "Cost"],
        rows.map((r) => [r.label, fmtInt(r.calls), fmtUsd(r.value)])),
    ];
  });
}

function renderOutcomes(timeline, byFunction) {
  const total = { key: "__total__", label: state.fn ? `${state.fn} (all)` : "All calls", stats: timeline.totals };
  const perFunction = state.fn || !byFunction ? [] : byFunction.groups.map((g) => ({ key: g.key, label: g.key, stats: g }));
  const rows = [total, ...perFunction];
  const pick = (stats) => OUTCOMES.map((o) => num(stats[o.key]) || 0);
  draw("chart-outcomes", [rows.map((r) => [r.label, pick(r.stats)]), chartWidth($("chart-outcomes"))], (container) => {
    const counts = pick(timeline.totals);
    const sum = counts.reduce((a, b) => a + b, 0);
    const items = OUTCOMES.map((o, i) => ({ css: o.css, label: `${o.label} ${fmtInt(counts[i])}${sum ? ` (${fmtPct(counts[i] / sum)})` : ""}` }));
    if (!sum) return placeholder("No calls in this window.");
    const summary = `Cache outcomes of ${fmtInt(sum)} calls: ` + items.map((i) => i.label).join(", ") + ".";
    return [
      legend(items),
      stackedChart({ id: "chart-outcomes", title: "Cache outcomes: hit, shared, bypass, miss", rows, width: chartWidth(container), summary }),
      dataTable("Cache outcomes", ["", ...OUTCOMES.map((o) => o.label)], rows.map((r) => [r.label, ...pick(r.stats).map(fmtInt)])),
    ];
  });
}

function renderLatency(timeline, byFunction) {
  const source = byFunction ? byFunction.groups : [];
  const rows = source.map((g) => ({ key: g.key, label: g.key, latency: g.latency_ms || {}, ttft: g.ttft_ms || {}, calls: g.calls }));
  const overall = { key: "__total__", label: state.fn ? `${state.fn} (window)` : "All functions", latency: timeline.totals.latency_ms || {}, ttft: timeline.totals.ttft_ms || {}, calls: timeline.totals.calls };
  const picked = (r) => [r.key, r.calls, PERCENTILES.map((p) => num(r.latency[p])), num(r.ttft.p50), num(r.ttft.p95), num(r.ttft.streams)];
  draw("chart-latency", [rows.map(picked), chartWidth($("chart-latency"))], (container) => {
    const charted = rows.filter((r) => PERCENTILES.some((p) => num(r.latency[p]) !== null));
    if (!charted.length) return placeholder(byFunction ? "No latencies in this window." : "Not available: see the error above.");
    const summary = "Latency per function: " + charted.map((r) => `${r.label} p50 ${fmtMs(r.latency.p50)}, p95 ${fmtMs(r.latency.p95)}, p99 ${fmtMs(r.latency.p99)}`).join("; ") + ".";
    return [
      legend(PERCENTILES.map((p) => ({ css: p, label: `latency ${p}` }))),
      latencyChart({ id: "chart-latency", title: "Latency percentiles per function", rows: charted, width: chartWidth(container), summary }),
    ];
  });
  draw("latency-table", [rows.map(picked), picked(overall)], () => {
    const headers = ["Function", "Calls", "p50", "p95", "p99", "TTFT p50", "TTFT p95", "Streams"];
    const line = (r, strong) => h("tr", { class: strong ? "total" : null },
      h("th", { scope: "row" }, strong ? h("strong", {}, r.label) : r.label),
      h("td", { class: "num" }, fmtInt(r.calls)),
      ...PERCENTILES.map((p) => h("td", { class: "num" }, fmtMs(r.latency[p]))),
      h("td", { class: "num" }, fmtMs(r.ttft.p50)), h("td", { class: "num" }, fmtMs(r.ttft.p95)),
      h("td", { class: "num" }, fmtInt(r.ttft.streams ?? 0)));
    return h("table", { "data-testid": "latency-table" },
      h("caption", { hidden: true }, "Latency and time to first token per function"),
      h("thead", {}, h("tr", {}, headers.map((t, i) => h("th", { scope: "col", class: i ? "num" : null }, t)))),
      h("tbody", {}, rows.map((r) => line(r, false)), line(overall, true)));
  });
}

const timeFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });

function renderErrors(timeline) {
  const errors = Array.isArray(timeline.recent_errors) ? timeline.recent_errors : [];
  draw("errors", [errors], () => {
    if (!errors.length) return h("p", { class: "none", "data-testid": "errors-none" }, "No errors in this window.");
    const headers = ["Time", "Function", "Operation", "Model", "Code", "Latency", "Request id"];
    return h("table", { "data-testid": "errors-table" },
      h("caption", { hidden: true }, "Recent errors, newest first"),
      h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col", class: t === "Latency" ? "num" : null }, t)))),
      h("tbody", {}, errors.map((e) => {
        const when = new Date(e.timestamp);
        return h("tr", { "data-testid": "error-row" },
          h("td", {}, h("time", { datetime: e.timestamp, title: e.timestamp }, Number.isNaN(when.getTime()) ? String(e.timestamp) : timeFormat.format(when))),
          h("td", {}, e.function ?? "–"), h("td", {}, e.operation ?? "–"), h("td", {}, e.model ?? "–"),
          h("td", { class: "code" }, e.error_code ?? "–"), h("td", { class: "num" }, fmtMs(e.latency_ms)),
          h("td", { class: "mono", title: e.request_id ?? "" }, e.request_id ? truncate(e.request_id, 140) : "–"));
      })));
  });
}

function renderSource(timeline) {
  const parts = [];
  const from = new Date(timeline.from);
  const to = new Date(timeline.to);
  if (!Number.isNaN(from.getTime()) && !Number.isNaN(to.getTime())) parts.push(`Window ${isoSeconds(from)} to ${isoSeconds(to)}.`);
  if (timeline.source) {
    parts.push(`${fmtInt(timeline.source.rollup_hours)} h from hourly roll-ups, ${fmtInt(timeline.source.raw_hours)} h from raw records.`);
  }
  const rel = timeline.sketch && num(timeline.sketch.relative_error);
  if (rel) parts.push(`Percentiles within ±${fmtPct(rel)}.`);
  $("source").textContent = parts.join(" ");
}

function render() {
  const { timeline, byFunction, byModel, settings } = state.data;
  renderHeader(timeline, settings);
  renderFunctionOptions(byFunction);
  if (!timeline) return;
  const empty = !(num(timeline.totals.calls) > 0);
  $("empty").hidden = !empty;
  renderKpis(timeline.totals);
  renderCostOverTime(timeline);
  renderCostBars("chart-cost-function", byFunction, "function", state.fn);
  renderCostBars("chart-cost-model", byModel, "model");
  renderOutcomes(timeline, byFunction);
  renderLatency(timeline, byFunction);
  renderErrors(timeline);
  renderSource(timeline);
}

// ---------------------------------------------------------------------------------------------
// Fetching

class ApiError extends Error {
  constructor(code, message, status, requestId, path) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
    this.requestId = requestId || null;
    this.path = path;
  }
}

async function api(path, params, signal) {
  const url = new URL(path, API_ROOT);
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Accept: "application/json" };
  if (state.org) headers["X-Org-Id"] = state.org;
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  let response;
  try {
    response = await fetch(url, { headers, signal, cache: "no-store", credentials: "same-origin" });
  } catch (error) {
    if (signal.aborted) throw error;
    throw new ApiError("network_error", `Could not reach ${url.pathname}: ${error.message}`, 0, null, path);
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  const requestId = response.headers.get("x-request-id");
  if (!response.ok) {
    const detail = body && typeof body.error === "object" && body.error ? body.error : null;
    if (detail) {
      throw new ApiError(detail.code || `http_${response.status}`, detail.message || response.statusText, response.status, detail.request_id || requestId, path);
    }
    const message = (body && typeof body.message === "string" && body.message) || text.slice(0, 200) || response.statusText;
    const hint = response.status === 401 || response.status === 403 ? " Set an API token (a JWT for your org)." : "";
    throw new ApiError(`http_${response.status}`, message + hint, response.status, requestId, path);
  }
  if (!body || typeof body !== "object") throw new ApiError("bad_response", `${url.pathname} did not answer JSON.`, response.status, requestId, path);
  return body;
}

function isPerformance(answer) {
  return answer && typeof answer === "object" && answer.totals && Array.isArray(answer.groups);
}

function showErrors(errors) {
  const box = $("error");
  if (!errors.length) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const seen = new Set();
  const lines = [];
  for (const e of errors) {
    const key = `${e.code}|${e.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    lines.push(h("div", { class: "error-line", "data-code": e.code },
      h("strong", {}, e.code), e.message,
      e.status ? ` (HTTP ${e.status}${e.path ? `, ${e.path.replace(/^v1/, "/v1")}` : ""})` : "",
      e.requestId ? h("span", { class: "muted" }, ` · request ${e.requestId}`) : ""));
  }
  box.replaceChildren(...lines);
  box.hidden = false;
}

async function refresh() {
  clearTimeout(state.timer);
  state.timer = null;
  if (state.controller) state.controller.abort("superseded");
  const controller = new AbortController();
  state.controller = controller;
  const timeout = setTimeout(() => controller.abort("timeout"), FETCH_TIMEOUT_MS);
  const win = WINDOWS[state.window];
  // `to` is left to the server (its now, exclusive): a browser clock a little behind the server's
  // would otherwise leave the latest calls out. A few seconds of skew at `from` do not matter.
  const range = { from: isoSeconds(new Date(Date.now() - win.hours * 3_600_000)) };
  const fn = state.fn || undefined;
  if (!state.renders) setStatus("loading", "Loading…");
  state.lastFetch = Date.now();
  try {
    const results = await Promise.allSettled([
      api(PERFORMANCE, { ...range, group_by: win.groupBy, function: fn }, controller.signal),
      api(PERFORMANCE, { ...range, group_by: "function" }, controller.signal),
      api(PERFORMANCE, { ...range, group_by: "model", function: fn }, controller.signal),
      api(SETTINGS, {}, controller.signal),
    ]);
    if (state.controller !== controller) return; // a newer refresh (a filter changed) took over
    const errors = [];
    const values = results.map((result, i) => {
      if (result.status === "fulfilled") {
        if (i < 3 && !isPerformance(result.value)) {
          errors.push(new ApiError("bad_response", "The metrics API answered without totals and groups.", 200, null, PERFORMANCE));
          return null;
        }
        return result.value;
      }
      const reason = result.reason;
      if (controller.signal.aborted && controller.signal.reason === "timeout") {
        errors.push(new ApiError("timeout", `No answer within ${FETCH_TIMEOUT_MS / 1000} s.`, 0, null, i < 3 ? PERFORMANCE : SETTINGS));
      } else {
        errors.push(reason instanceof ApiError ? reason : new ApiError("client_error", String(reason && reason.message || reason), 0));
      }
      return null;
    });
    const [timeline, byFunction, byModel, settings] = values;
    showErrors(errors);
    if (timeline) {
      // Keep what the last good refresh showed for a part that failed this time.
      const previous = state.data || {};
      state.data = {
        timeline,
        byFunction: byFunction || previous.byFunction || null,
        byModel: byModel || previous.byModel || null,
        settings: settings || previous.settings || null,
      };
      render();
    } else if (state.data) {
      render(); // the header and filters still reflect what is known
    }
    const complete = errors.length === 0;
    if (complete) {
      state.renders += 1;
      document.body.dataset.renders = String(state.renders);
      document.body.dataset.ready = "true";
      const empty = !(num(timeline.totals.calls) > 0);
      setStatus(empty ? "empty" : "ready", liveText());
      const now = new Date();
      $("updated").textContent = now.toLocaleTimeString();
      $("updated").dateTime = now.toISOString();
    } else {
      setStatus("error", state.data ? `${liveText()} · showing the last data that loaded` : "Could not load the metrics");
    }
  } finally {
    clearTimeout(timeout);
    if (state.controller === controller) {
      state.controller = null;
      schedule();
    }
  }
}

function liveText() {
  return state.refreshMs ? `Live, every ${state.refreshMs / 1000} s` : "Not refreshing (?refresh=0)";
}

function setStatus(name, text) {
  document.body.dataset.state = name;
  $("state").textContent = text;
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = null;
  if (!state.refreshMs || document.hidden) return;
  state.timer = setTimeout(refresh, state.refreshMs);
}

function onVisibility() {
  $("paused").hidden = !document.hidden || !state.refreshMs;
  if (document.hidden) {
    clearTimeout(state.timer);
    state.timer = null;
  } else if (!state.controller && state.refreshMs) {
    if (Date.now() - state.lastFetch >= state.refreshMs) refresh();
    else schedule();
  }
}

// ---------------------------------------------------------------------------------------------
// Controls

function syncUrl() {
  const params = new URLSearchParams(location.search);
  params.set("window", state.window);
  if (state.fn) params.set("function", state.fn);
  else params.delete("function");
  history.replaceState(null, "", `${location.pathname}?${params}`);
}

function setupControls() {
  $("window").value = state.window;
  renderFunctionOptions(null);
  $("window").addEventListener("change", (event) => {
    state.window = WINDOWS[event.target.value] ? event.target.value : "7d";
    syncUrl();
    refresh();
  });
  $("function").addEventListener("change", (event) => {
    state.fn = event.target.value;
    syncUrl();
    refresh();
  });
  $("controls").addEventListener("submit", (event) => event.preventDefault());

  const toggle = $("token-toggle");
  const form = $("token-form");
  const showToken = () => { toggle.textContent = state.token ? "API token ✓" : "API token"; };
  showToken();
  toggle.addEventListener("click", () => {
    form.hidden = !form.hidden;
    toggle.setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) $("token").focus();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value.trim().replace(/^Bearer\s+/i, "");
    try {
      if (state.token) sessionStorage.setItem(TOKEN_KEY, state.token);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch {
      // storage may be off (private mode): the token still applies to this page
    }
    $("token").value = "";
    form.hidden = true;
    toggle.setAttribute("aria-expanded", "false");
    showToken();
    refresh();
  });
  $("token-clear").addEventListener("click", () => {
    state.token = "";
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch {
      // nothing stored
    }
    $("token").value = "";
    showToken();
    refresh();
  });

  // Charts are drawn at their container's width: redraw (from the data held) when it changes.
  let lastWidth = 0;
  let frame = 0;
  new ResizeObserver(() => {
    const width = $("main").clientWidth;
    if (width === lastWidth) return;
    lastWidth = width;
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => { if (state.data) render(); });
  }).observe($("main"));
  document.addEventListener("visibilitychange", onVisibility);
}

$("org").textContent = state.org || "demo";
setupControls();
refresh();
