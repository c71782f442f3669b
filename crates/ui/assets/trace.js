// One trace: a collapsible waterfall (or a flame graph), the critical path marked, a span
// filter, and the selected span's details. #/trace/<id>?span=<spanId>&view=flame&critical=1

import { fetchTrace, fetchCriticalPath, fetchTraceLogs, formatDuration, escapeHtml } from "./api.js";
import { setParams } from "./app.js";
import { buildTree, visibleRows, waterfall, flame } from "./waterfall.js";

/** Traces with more spans than this open with their wide spans folded. */
const BIG_TRACE_SPANS = 5000;
const WIDE_SPAN_CHILDREN = 50;

function table(pairs) {
  if (!pairs.length) return `<p class="muted">none</p>`;
  return `<table>${pairs.map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(v)}</td></tr>`).join("")}</table>`;
}

/** Stream labels that name a service, in the order they are tried. */
const SERVICE_LABELS = ["service_name", "service", "app", "job", "container"];

function logRows(entries) {
  if (!entries.length) return `<p class="muted">none</p>`;
  return `<table class="logs">${entries
    .map((entry) => {
      const labels = Object.entries(entry.labels).map(([k, v]) => `${k}="${v}"`).join(", ");
      const offset = entry.offsetNs < 0 ? `-${formatDuration(-entry.offsetNs)}` : `+${formatDuration(entry.offsetNs)}`;
      return `<tr><td class="muted">${escapeHtml(offset)}</td><td class="muted">{${escapeHtml(labels)}}</td><td>${escapeHtml(entry.line)}</td></tr>`;
    })
    .join("")}</table>`;
}

/** The trace's entries from the span's service while the span ran. */
function spanLogs(span, logs) {
  return logs.entries.filter(
    (entry) => SERVICE_LABELS.some((label) => entry.labels[label] === span.service) && entry.offsetNs >= span.start && entry.offsetNs <= span.end,
  );
}

function details(span, tree, critical, logs) {
  if (!span) return `<p class="muted">Select a span (click, or <kbd>j</kbd>/<kbd>k</kbd>).</p>`;
  const onPath = critical && critical.selfTime.get(span.id);
  const facts = [
    ["span id", span.id],
    ["parent", span.parentId || "(root)"],
    ["kind", span.kind],
    ["start", `+${formatDuration(span.start)}`],
    ["duration", formatDuration(span.end - span.start)],
    ["status", span.error ? `error${span.statusMessage ? ": " + span.statusMessage : ""}` : "ok"],
  ];
  if (onPath !== undefined) facts.push(["on the critical path", formatDuration(onPath)]);
  const events = span.events
    .map((event) => `<h3>${escapeHtml(event.name)} <span class="muted">+${formatDuration(Number(event.timeNs - tree.startNs))}</span></h3>${table(event.attributes)}`)
    .join("");
  const links = span.links
    .map((link) => `<p><a href="#/trace/${link.traceId}?span=${link.spanId}">${link.traceId.slice(0, 16)}… / ${link.spanId}</a></p>${table(link.attributes)}`)
    .join("");
  return `<h2><span class="muted">${escapeHtml(span.service)}</span> ${escapeHtml(span.name)}</h2>
    ${table(facts)}
    <h3>Attributes</h3>${table(span.attributes)}
    <h3>Events</h3>${events || `<p class="muted">none</p>`}
    <h3>Links</h3>${links || `<p class="muted">none</p>`}
    <h3>Resource</h3>${table(span.resource)}
    <h3>Scope</h3><p>${escapeHtml(span.scope || "—")}</p>
    <h3>Logs of ${escapeHtml(span.service)} during the span</h3>${logs ? logRows(spanLogs(span, logs)) : `<p class="muted">loading…</p>`}`;
}

/** The analytics answer as lookups: spans on the path, their segments (relative ns), self time. */
function criticalLookups(answer, tree) {
  if (!answer || !answer.segments) return null;
  const segments = new Map();
  for (const segment of answer.segments) {
    const start = Number(BigInt(segment.start_unix_nanos) - tree.startNs);
    const end = Number(BigInt(segment.end_unix_nanos) - tree.startNs);
    if (!segments.has(segment.span_id)) segments.set(segment.span_id, []);
    segments.get(segment.span_id).push({ start, end });
  }
  const selfTime = new Map((answer.spans || []).map((s) => [s.span_id, s.self_time_on_path_nanos]));
  return { spans: new Set(segments.keys()), segments, selfTime, total: answer.total_nanos };
}

export async function renderTrace(view, route) {
  // Tempo's search drops leading zeros from trace ids; the full id is 32 hex digits.
  const given = route.rest[0] || "";
  const traceId = /^[0-9a-fA-F]{1,31}$/.test(given) ? given.toLowerCase().padStart(32, "0") : given.toLowerCase();
  const params = route.params;
  view.innerHTML = `<p class="muted">Loading trace ${escapeHtml(traceId)}…</p>`;
  // Gone once another page is drawn: then this one draws nothing.
  const loading = view.firstElementChild;
  const loadStarted = performance.now();
  let spans;
  try {
    spans = await fetchTrace(traceId);
  } catch (error) {
    if (!loading.isConnected) return null;
    view.innerHTML = `<p class="error">${escapeHtml(error.status === 404 ? `Trace ${traceId} not found.` : error.message)}</p>`;
    return null;
  }
  const tree = buildTree(spans);
  const critical = criticalLookups(await fetchCriticalPath(traceId), tree);
  if (!loading.isConnected) return null;
  const services = new Set(spans.map((span) => span.service));
  const errors = spans.filter((span) => span.error).length;
  const root = tree.roots[0];
  // A big trace opens as a summary: wide fan-outs folded, everything one click away.
  const folded = new Set(spans.length > BIG_TRACE_SPANS ? spans.filter((span) => span.children.length > WIDE_SPAN_CHILDREN).map((span) => span.id) : []);
  view.innerHTML = `
    <div class="trace-head">
      <h1><span class="muted">${escapeHtml(root.service)}</span> ${escapeHtml(root.name)}</h1>
      <div class="facts"><span>${escapeHtml(traceId)}</span><span>${formatDuration(tree.duration)}</span>
        <span id="span-count">${spans.length} spans</span><span>${services.size} services</span>
        <span class="${errors ? "error" : ""}">${errors} errors</span>
        <span>${critical ? `critical path ${formatDuration(critical.total)}` : "critical path unavailable"}</span>
        <a href="#/flow?${new URLSearchParams({ root_service: root.service, root_operation: root.name })}">request flow of this workflow</a>
        <a href="#/compare?${new URLSearchParams({ a: traceId })}" style="margin-left:12px">compare with…</a></div>
    </div>
    ${spans.partial ? `<p class="error" id="partial">${escapeHtml(spans.partial)}</p>` : ""}
    ${folded.size ? `<p class="muted" id="folded">${spans.length} spans: ${folded.size === 1 ? "the span" : `the ${folded.size} spans`} with more than ${WIDE_SPAN_CHILDREN} children ${folded.size === 1 ? "starts" : "start"} folded (▸); Expand all shows everything.</p>` : ""}
    <div class="row">
      <input id="filter" data-slash placeholder="Find spans: name, service, attribute value" aria-label="find spans" style="min-width:320px">
      <span id="match-count" class="muted"></span>
      <label><input type="checkbox" id="critical-only" ${params.get("critical") === "1" ? "checked" : ""} ${critical ? "" : "disabled"}> critical path only (c)</label>
      <select id="mode" aria-label="view"><option value="waterfall">Waterfall</option><option value="flame" ${params.get("view") === "flame" ? "selected" : ""}>Flame graph</option></select>
      <button type="button" id="expand">Expand all</button><button type="button" id="collapse">Collapse all</button>
      <span class="legend"><span><i style="background:var(--bar)"></i>span</span><span><i style="background:var(--error)"></i>error</span><span><i style="background:var(--critical)"></i>critical path</span></span>
    </div>
    <div class="split"><div class="waterfall" id="spans"></div><div class="details" id="details"></div></div>
    <details id="trace-logs" open><summary>Logs of this trace <span class="muted" id="log-count">loading…</span></summary><div id="log-rows"></div></details>`;
  const state = { collapsed: new Set(folded), selected: params.get("span") || "", matches: null, critical, version: 0, logs: null };
  const filter = view.querySelector("#filter");
  const criticalOnly = view.querySelector("#critical-only");
  const mode = view.querySelector("#mode");
  const container = view.querySelector("#spans");
  let rows = [];
  let drawing = null;

  const keep = () => (criticalOnly.checked && critical ? (span) => critical.spans.has(span.id) : null);
  function refresh() {
    state.version++;
    const params = new URLSearchParams();
    if (state.selected) params.set("span", state.selected);
    if (mode.value === "flame") params.set("view", "flame");
    if (criticalOnly.checked) params.set("critical", "1");
    setParams(params);
    view.querySelector("#details").innerHTML = details(tree.byId.get(state.selected), tree, critical, state.logs);
    if (mode.value === "flame") {
      drawing = null;
      flame(container, spans, tree, state, select);
      return;
    }
    if (!drawing) drawing = waterfall(container, tree, select);
    rows = visibleRows(tree, state.collapsed, keep());
    drawing.update(rows, state);
  }
  function reveal(id) {
    // Expand every ancestor so the span has a row.
    for (let span = tree.byId.get(id); span; span = tree.byId.get(span.parentId)) {
      if (span.id !== id) state.collapsed.delete(span.id);
      if (span.parentId === span.id) break;
    }
  }
  function select(id, toggle) {
    if (toggle) {
      if (state.collapsed.has(id)) state.collapsed.delete(id);
      else state.collapsed.add(id);
    }
    state.selected = id;
    reveal(id);
    refresh();
    const index = rows.findIndex((span) => span.id === id);
    if (drawing && index >= 0) drawing.scrollTo(index);
  }
  filter.addEventListener("input", () => {
    const text = filter.value.trim().toLowerCase();
    state.matches = text
      ? new Set(spans.filter((span) => span.name.toLowerCase().includes(text) || span.service.toLowerCase().includes(text) || span.id === text || span.attributes.some(([k, v]) => k.toLowerCase().includes(text) || String(v).toLowerCase().includes(text))).map((span) => span.id))
      : null;
    view.querySelector("#match-count").textContent = state.matches ? `${state.matches.size} matching` : "";
    refresh();
  });
  filter.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !state.matches || !state.matches.size) return;
    // Enter jumps to the next match in tree order, opening its ancestors.
    const order = visibleRows(tree, new Set(), null).filter((span) => state.matches.has(span.id));
    const at = order.findIndex((span) => span.id === state.selected);
    select(order[(at + 1) % order.length].id, false);
  });
  criticalOnly.addEventListener("change", refresh);
  mode.addEventListener("change", refresh);
  view.querySelector("#expand").addEventListener("click", () => { state.collapsed.clear(); refresh(); });
  view.querySelector("#collapse").addEventListener("click", () => {
    for (const span of spans) if (span.children.length && span.depth >= 1) state.collapsed.add(span.id);
    refresh();
  });
  const onKey = (event) => {
    if (["INPUT", "SELECT"].includes(document.activeElement.tagName) && document.activeElement.type !== "checkbox") {
      if (event.key === "Escape") document.activeElement.blur();
      return;
    }
    const index = rows.findIndex((span) => span.id === state.selected);
    const current = tree.byId.get(state.selected);
    if (event.key === "j" || event.key === "ArrowDown") select((rows[index + 1] || rows[rows.length - 1] || {}).id, false);
    else if (event.key === "k" || event.key === "ArrowUp") select((rows[Math.max(index - 1, 0)] || {}).id, false);
    else if (event.key === "Enter" && current) select(current.id, true);
    else if (event.key === "ArrowLeft" && current) { state.collapsed.add(current.id); refresh(); }
    else if (event.key === "ArrowRight" && current) { state.collapsed.delete(current.id); refresh(); }
    else if (event.key === "c" && critical) { criticalOnly.checked = !criticalOnly.checked; refresh(); }
    else if (event.key === "f") { mode.value = mode.value === "flame" ? "waterfall" : "flame"; refresh(); }
    else if (event.key === "Escape") { state.selected = ""; refresh(); }
    else return;
    event.preventDefault();
  };
  document.addEventListener("keydown", onKey);
  if (state.selected) reveal(state.selected);
  refresh();
  if (state.selected) select(state.selected, false);
  document.body.dataset.traceRenderedMs = String(Math.round(performance.now() - loadStarted));
  // Logs come after the waterfall is drawn: they never hold it up. The page may have
  // been left (its panel replaced) by the time they come.
  const logsPanel = view.querySelector("#trace-logs");
  fetchTraceLogs(traceId, tree.startNs).then((logs) => {
    if (!logsPanel.isConnected) return;
    state.logs = logs || { entries: [], truncated: false };
    const count = view.querySelector("#log-count");
    if (!logs) count.textContent = "(logs cannot be read)";
    else {
      const n = logs.entries.length;
      count.textContent = `${n}${logs.truncated ? "+" : ""} ${n === 1 ? "entry" : "entries"} whose metadata or line carries the trace id`;
    }
    view.querySelector("#log-rows").innerHTML = logRows(state.logs.entries);
    view.querySelector("#details").innerHTML = details(tree.byId.get(state.selected), tree, critical, state.logs);
    document.body.dataset.traceLogs = String(state.logs.entries.length);
  });
  return () => document.removeEventListener("keydown", onKey);
}
