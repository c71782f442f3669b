// Aggregates over many traces: the request-flow graph of one workflow, the
// calling-context tree, and comparisons of two traces or two sets of traces.
// #/flow?q=..&range=1h[&root_service=..&root_operation=..]   #/cct?q=..&range=1h
// #/compare?a=<id>&b=<id> | ?qa=..&qb=..&range=1h | ?q=..&threshold=250ms&range=1h

import { getJson, formatDuration, escapeHtml } from "./api.js";

const RANGES = { "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800 };
// Most rows a table draws; the rest are counted below it (answers are ranked or ordered).
const MAX_ROWS = 1000;

function capped(rows) {
  return rows.length > MAX_ROWS ? rows.slice(0, MAX_ROWS) : rows;
}

function moreRows(rows) {
  return rows.length > MAX_ROWS ? `<p class="muted">${rows.length - MAX_ROWS} more rows not shown.</p>` : "";
}

export function rangeOf(params) {
  return RANGES[params.get("range")] ? params.get("range") : "1h";
}

export function timeWindow(range) {
  const end = Math.ceil(Date.now() / 1000);
  return { start: end - RANGES[range], end };
}

export function rangeSelect(range) {
  return `<select name="range" aria-label="time range">${Object.keys(RANGES).map((r) => `<option ${r === range ? "selected" : ""}>${r}</option>`).join("")}</select>`;
}

/** A form whose fields become the route's parameters on submit. */
function formRoute(view, page) {
  const form = view.querySelector("form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value) params.set(key, value);
    location.hash = `#/${page}?${params}`;
  });
}

function selectionNote(answer) {
  const selection = answer.selection || answer.selection_a;
  const parts = [];
  if (selection) parts.push(`${selection.traces_selected} traces selected`);
  if (answer.truncated) parts.push("truncated: more traces matched or a bound was hit");
  if (selection && selection.partial_reason) parts.push(selection.partial_reason);
  return parts.join(" · ");
}

function bar(fraction, critical) {
  const width = Math.max(0, Math.min(1, fraction)) * 100;
  return `<span class="share${critical ? " critical" : ""}"><i style="width:${width}%"></i></span>`;
}

/**
 * A collapsible tree table in `table` (its tbody is drawn): `nodes` with `id`, `depth`
 * and a parent given by `parentOf`, siblings by `order`, one row's cells by `cells`.
 * In big trees nodes with more than 20 children start collapsed; a click on ▸/▾ toggles.
 */
function treeTable(table, nodes, parentOf, order, cells, rowClass = () => "") {
  const children = new Map();
  const roots = [];
  for (const node of nodes) {
    const parent = parentOf(node);
    if (parent === null || parent === undefined) roots.push(node);
    else {
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(node);
    }
  }
  roots.sort(order);
  for (const list of children.values()) list.sort(order);
  // In big trees, wide nodes (many distinct children: loops, fan-outs) start collapsed.
  const collapsed = new Set(nodes.length > 200 ? nodes.filter((n) => (children.get(n.id) || []).length > 20).map((n) => n.id) : []);
  const body = table.querySelector("tbody");
  function draw() {
    const rows = [];
    const stack = [...roots].reverse();
    while (stack.length && rows.length < MAX_ROWS) {
      const node = stack.pop();
      rows.push(node);
      if (collapsed.has(node.id)) continue;
      const below = children.get(node.id) || [];
      for (let i = below.length - 1; i >= 0; i--) stack.push(below[i]);
    }
    body.innerHTML = rows
      .map((node) => {
        const toggle = children.has(node.id) ? (collapsed.has(node.id) ? "▸" : "▾") : "";
        return `<tr data-node="${node.id}" class="${rowClass(node)}"><td style="padding-left:${8 + node.depth * 16}px"><span class="toggle" data-toggle="${node.id}">${toggle}</span>
          <b>${escapeHtml(node.service)}</b> ${escapeHtml(node.operation)}</td>${cells(node)}</tr>`;
      })
      .join("");
    const note = table.nextElementSibling && table.nextElementSibling.classList.contains("more") ? table.nextElementSibling : null;
    if (note) note.textContent = stack.length ? "More rows not shown: collapse some contexts." : "";
  }
  body.addEventListener("click", (event) => {
    const toggle = event.target.closest("[data-toggle]");
    if (!toggle || !toggle.textContent) return;
    const id = Number(toggle.dataset.toggle);
    if (collapsed.has(id)) collapsed.delete(id);
    else collapsed.add(id);
    draw();
  });
  draw();
}

async function load(view, path, params) {
  const status = view.querySelector("#status");
  status.textContent = "Loading…";
  try {
    const answer = await getJson(path, params);
    // Left for another page meanwhile: nothing to draw.
    if (!status.isConnected) return null;
    status.textContent = selectionNote(answer);
    return answer;
  } catch (error) {
    status.innerHTML = `<span class="error">${escapeHtml(error.message)}</span>`;
    return null;
  }
}

export async function renderFlow(view, route) {
  const params = route.params;
  const range = rangeOf(params);
  view.innerHTML = `
    <form class="row">
      <div class="query"><input name="q" data-slash aria-label="TraceQL filter" value="${escapeHtml(params.get("q") || "{}")}"></div>
      <input name="root_service" placeholder="root service" value="${escapeHtml(params.get("root_service") || "")}">
      <input name="root_operation" placeholder="root operation" value="${escapeHtml(params.get("root_operation") || "")}">
      ${rangeSelect(range)}<button class="primary" type="submit">Show</button>
    </form>
    <p id="status" class="muted"></p><div id="out"></div>`;
  formRoute(view, "flow");
  const answer = await load(view, "/api/analytics/flow", {
    q: params.get("q") || "{}",
    root_service: params.get("root_service"),
    root_operation: params.get("root_operation"),
    ...timeWindow(range),
  });
  if (!answer || !answer.nodes) return null;
  const workflow = answer.workflow || {};
  view.querySelector("#out").innerHTML = `
    <h2 style="font-size:15px">${escapeHtml(workflow.root_service || "")} · ${escapeHtml(workflow.root_operation || "")}
      <span class="muted">(${answer.trace_count} traces${answer.workflow_chosen_from === "most_common" ? ", the most common workflow" : ""})</span></h2>
    <table class="results tree" id="flow">
      <thead><tr><th>Calling position</th><th>Frequency</th><th class="num">Per trace</th><th class="num">Errors</th><th class="num">p50</th><th class="num">p95</th><th class="num">p99</th></tr></thead>
      <tbody></tbody></table><p class="muted more"></p>
    <p class="legend"><span><i style="background:var(--critical)"></i>the most common critical path</span></p>`;
  treeTable(
    view.querySelector("#flow"),
    answer.nodes,
    (node) => node.caller,
    (a, b) => b.frequency - a.frequency || a.id - b.id,
    (node) => `<td>${bar(node.frequency, node.on_common_path)} ${(node.frequency * 100).toFixed(0)}%</td>
        <td class="num">${node.per_trace ? node.per_trace.mean.toFixed(2) : ""}</td>
        <td class="num${node.error_count ? " error" : ""}">${node.error_count}</td>
        <td class="num">${formatDuration(node.latency.p50_nanos)}</td><td class="num">${formatDuration(node.latency.p95_nanos)}</td><td class="num">${formatDuration(node.latency.p99_nanos)}</td>`,
    (node) => (node.on_common_path ? "common" : ""),
  );
  return null;
}

export async function renderCct(view, route) {
  const params = route.params;
  const range = rangeOf(params);
  view.innerHTML = `
    <form class="row">
      <div class="query"><input name="q" data-slash aria-label="TraceQL filter" value="${escapeHtml(params.get("q") || "{}")}"></div>
      ${rangeSelect(range)}<button class="primary" type="submit">Show</button>
    </form>
    <p id="status" class="muted"></p><div id="out"></div>`;
  formRoute(view, "cct");
  const answer = await load(view, "/api/analytics/cct", { q: params.get("q") || "{}", ...timeWindow(range) });
  if (!answer || !answer.nodes) return null;
  const total = answer.nodes.filter((node) => node.parent === null).reduce((sum, node) => sum + node.inclusive.total_nanos, 0) || 1;
  view.querySelector("#out").innerHTML = `
    <table class="results tree" id="cct">
      <thead><tr><th>Calling context</th><th class="num">Spans</th><th class="num">Traces</th><th>Self time share</th><th class="num">Self total</th><th class="num">Inclusive mean</th><th class="num">Inclusive p95</th></tr></thead>
      <tbody></tbody></table><p class="muted more"></p>`;
  treeTable(
    view.querySelector("#cct"),
    answer.nodes,
    (node) => node.parent,
    (a, b) => b.inclusive.total_nanos - a.inclusive.total_nanos,
    (node) => `<td class="num">${node.span_count}</td><td class="num">${node.trace_count}</td>
        <td>${bar(node.exclusive.total_nanos / total, false)} ${((node.exclusive.total_nanos / total) * 100).toFixed(1)}%</td>
        <td class="num">${formatDuration(node.exclusive.total_nanos)}</td>
        <td class="num">${formatDuration(node.inclusive.mean_nanos)}</td><td class="num">${formatDuration(node.inclusive.p95_nanos)}</td>`,
  );
  return null;
}

function pathCell(path) {
  const last = path[path.length - 1] || {};
  const before = path.slice(0, -1).map((step) => `${step.service}: ${step.operation}`).join(" › ");
  return `<td><span class="muted" style="font-size:11px">${escapeHtml(before)}${before ? " › " : ""}</span><b>${escapeHtml(last.service || "")}</b> ${escapeHtml(last.operation || "")}</td>`;
}

function signed(nanos) {
  const value = Number(nanos);
  return `${value > 0 ? "+" : value < 0 ? "−" : ""}${formatDuration(Math.abs(value))}`;
}

export async function renderCompare(view, route) {
  const params = route.params;
  const range = rangeOf(params);
  view.innerHTML = `
    <form class="row">
      <input name="a" placeholder="trace A" value="${escapeHtml(params.get("a") || "")}" style="width:290px">
      <input name="b" placeholder="trace B" value="${escapeHtml(params.get("b") || "")}" style="width:290px">
      <span class="muted">or</span>
      <div class="query"><input name="q" data-slash aria-label="TraceQL filter" placeholder="{ } split at a duration" value="${escapeHtml(params.get("q") || "")}"></div>
      <input name="threshold" placeholder="e.g. 250ms" value="${escapeHtml(params.get("threshold") || "")}" style="width:100px">
      ${rangeSelect(range)}<button class="primary" type="submit">Compare</button>
    </form>
    <p id="status" class="muted"></p><div id="out"></div>`;
  formRoute(view, "compare");
  const traces = params.get("a") && params.get("b");
  const sets = params.get("threshold") || (params.get("qa") && params.get("qb"));
  if (!traces && !sets) {
    view.querySelector("#status").textContent = "Give two trace ids, or a filter and a duration to split fast from slow traces.";
    return null;
  }
  const query = traces
    ? { a: params.get("a"), b: params.get("b") }
    : { q: params.get("q"), qa: params.get("qa"), qb: params.get("qb"), threshold: params.get("threshold"), ...timeWindow(range) };
  const answer = await load(view, "/api/analytics/compare", query);
  if (!answer || !answer.nodes) return null;
  const out = view.querySelector("#out");
  if (traces) {
    out.innerHTML = `
      <p><a href="#/trace/${escapeHtml(answer.a.trace_id)}">A</a>: ${answer.a.span_count} spans, ${formatDuration(answer.a.duration_nanos)} ·
         <a href="#/trace/${escapeHtml(answer.b.trace_id)}">B</a>: ${answer.b.span_count} spans, ${formatDuration(answer.b.duration_nanos)}</p>
      <table class="results" id="compare">
        <thead><tr><th>Calling context</th><th>In</th><th class="num">Spans A → B</th><th class="num">Self A</th><th class="num">Self B</th><th class="num">Self B − A</th><th class="num">Inclusive B − A</th></tr></thead>
        <tbody>${capped(answer.nodes)
          .map((node) => {
            const a = node.a || {}, b = node.b || {};
            return `<tr class="${node.presence !== "both" ? "changed" : ""}">${pathCell(node.path)}<td>${escapeHtml(node.presence.replace("_", " "))}</td>
              <td class="num">${a.span_count || 0} → ${b.span_count || 0}</td><td class="num">${formatDuration(a.exclusive_nanos || 0)}</td><td class="num">${formatDuration(b.exclusive_nanos || 0)}</td>
              <td class="num">${signed(node.exclusive_delta_nanos)}</td><td class="num">${signed(node.inclusive_delta_nanos)}</td></tr>`;
          })
          .join("")}</tbody></table>${moreRows(answer.nodes)}`;
    return null;
  }
  const summary = (side, label) => `${label}: ${side.trace_count} traces, median ${formatDuration((side.duration || {}).p50_nanos || 0)}`;
  out.innerHTML = `
    <p>${summary(answer.a, "A (fast)")} · ${summary(answer.b, "B (slow)")}${answer.split_threshold_nanos ? ` · split at ${formatDuration(answer.split_threshold_nanos)}` : ""}</p>
    <table class="results" id="compare">
      <thead><tr><th>Calling context</th><th class="num">Frequency A</th><th class="num">Frequency B</th><th class="num">Self per trace A</th><th class="num">Self per trace B</th><th class="num">Contribution to B − A</th></tr></thead>
      <tbody>${capped(answer.nodes)
        .map(
          (node) => `<tr>${pathCell(node.path)}<td class="num">${(node.a.trace_frequency * 100).toFixed(0)}%</td><td class="num">${(node.b.trace_frequency * 100).toFixed(0)}%</td>
            <td class="num">${formatDuration(node.a.exclusive_per_trace_mean_nanos)}</td><td class="num">${formatDuration(node.b.exclusive_per_trace_mean_nanos)}</td>
            <td class="num">${signed(node.contribution_nanos)}</td></tr>`,
        )
        .join("")}</tbody></table>${moreRows(answer.nodes)}`;
  return null;
}
