// Search: a TraceQL box with tag and value completion, a time range, the results with a
// duration histogram. State lives in the route: #/search?q=...&range=1h&limit=50.

import { getJson, formatDuration, escapeHtml, rowKeys } from "./api.js";
import { setParams } from "./app.js";

const RANGES = { "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800 };
const INTRINSICS = ["name", "status", "duration", "kind", "rootServiceName", "rootName", "traceDuration", "statusMessage"];
let tagCache = null;
const valueCache = new Map();

async function tags() {
  if (!tagCache) {
    try {
      const answer = await getJson("/api/v2/search/tags");
      tagCache = [...INTRINSICS];
      for (const scope of answer.scopes || []) {
        if (scope.name === "intrinsic") continue;
        for (const tag of scope.tags || []) tagCache.push(`${scope.name}.${tag}`);
      }
    } catch (error) {
      tagCache = [...INTRINSICS];
    }
  }
  return tagCache;
}

async function values(tag) {
  if (!valueCache.has(tag)) {
    try {
      const answer = await getJson(`/api/v2/search/tag/${encodeURIComponent(tag)}/values`);
      valueCache.set(tag, (answer.tagValues || []).map((v) => ({ value: v.value, quoted: v.type === "string" })));
    } catch (error) {
      valueCache.set(tag, []);
    }
  }
  return valueCache.get(tag);
}

/** What to offer for the text before the cursor: {from, items: [{label, insert}]}. */
async function completions(text) {
  const value = /([\w.:-]+)\s*(=|!=|=~|!~)\s*("?)([^"&|}]*)$/.exec(text);
  if (value) {
    const [, tag, , quote, prefix] = value;
    const found = (await values(tag)).filter((v) => String(v.value).startsWith(prefix)).slice(0, 50);
    return {
      from: text.length - prefix.length - quote.length,
      items: found.map((v) => ({ label: String(v.value), insert: v.quoted ? `"${v.value}"` : String(v.value) })),
    };
  }
  const tag = /(?:^|[{&|(!]\s*)([\w.]*)$/.exec(text);
  if (tag && text.includes("{")) {
    const prefix = tag[1];
    const found = (await tags()).filter((t) => t.startsWith(prefix) || t.startsWith("." + prefix)).slice(0, 50);
    return { from: text.length - prefix.length, items: found.map((t) => ({ label: t, insert: t })) };
  }
  return { from: text.length, items: [] };
}

function histogram(durationsMs) {
  if (!durationsMs.length) return "";
  const logs = durationsMs.map((ms) => Math.log10(Math.max(ms, 0.001)));
  let low = Math.floor(Math.min(...logs) * 4) / 4;
  let high = Math.max(Math.ceil(Math.max(...logs) * 4) / 4, low + 0.25);
  // At least ten buckets, so a narrow spread still reads as a distribution.
  while ((high - low) * 4 < 10) {
    low -= 0.25;
    high += 0.25;
  }
  const count = Math.round((high - low) * 4);
  const buckets = new Array(count).fill(0);
  for (const value of logs) buckets[Math.min(count - 1, Math.floor((value - low) * 4))]++;
  const most = Math.max(...buckets);
  const width = 100 / count;
  const bars = buckets
    .map((n, i) => {
      const height = (n / most) * 90;
      const from = formatDuration(10 ** (low + i / 4) * 1e6);
      return `<rect class="bucket" x="${i * width + 0.1}" y="${100 - height}" width="${width - 0.2}" height="${height}"><title>${n} traces from ${from}</title></rect>`;
    })
    .join("");
  return `<svg class="histogram" viewBox="0 0 100 100" preserveAspectRatio="none" aria-label="duration histogram">${bars}</svg>
    <div class="row muted" style="justify-content:space-between;font-size:11px"><span>${formatDuration(10 ** low * 1e6)}</span><span>duration (log scale)</span><span>${formatDuration(10 ** high * 1e6)}</span></div>`;
}

export async function renderSearch(view, route) {
  const params = route.params;
  const query = params.get("q") || "{}";
  const range = RANGES[params.get("range")] ? params.get("range") : "1h";
  const limit = params.get("limit") || "50";
  view.innerHTML = `
    <form class="row" id="search-form" autocomplete="off">
      <div class="query">
        <input id="q" data-slash aria-label="TraceQL query" spellcheck="false" value="${escapeHtml(query)}">
        <ul class="suggestions" id="suggestions" hidden></ul>
      </div>
      <select id="range" aria-label="time range">${Object.keys(RANGES).map((r) => `<option ${r === range ? "selected" : ""}>${r}</option>`).join("")}</select>
      <select id="limit" aria-label="most results">${["20", "50", "100", "500"].map((l) => `<option ${l === limit ? "selected" : ""}>${l}</option>`).join("")}</select>
      <button class="primary" type="submit">Search</button>
    </form>
    <div id="status" class="muted"></div>
    <div id="histogram"></div>
    <table class="results" id="results" hidden>
      <thead><tr><th>Root service</th><th>Root span</th><th>Start</th><th class="num">Duration</th><th class="num">Matched spans</th><th>Trace</th></tr></thead>
      <tbody></tbody>
    </table>`;
  const input = view.querySelector("#q");
  const list = view.querySelector("#suggestions");
  let offered = [];
  let active = -1;

  async function suggest() {
    const before = input.value.slice(0, input.selectionStart);
    const { from, items } = await completions(before);
    offered = items.map((item) => ({ ...item, from }));
    active = -1;
    list.innerHTML = offered.map((item, i) => `<li data-index="${i}">${escapeHtml(item.label)}</li>`).join("");
    list.hidden = offered.length === 0;
  }
  function accept(index) {
    const item = offered[index];
    if (!item) return;
    const cursor = input.selectionStart;
    input.value = input.value.slice(0, item.from) + item.insert + input.value.slice(cursor);
    const at = item.from + item.insert.length;
    input.setSelectionRange(at, at);
    list.hidden = true;
    input.focus();
  }
  input.addEventListener("input", suggest);
  input.addEventListener("focus", suggest);
  input.addEventListener("blur", () => setTimeout(() => (list.hidden = true), 150));
  input.addEventListener("keydown", (event) => {
    if (list.hidden) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      active = (active + (event.key === "ArrowDown" ? 1 : -1) + offered.length) % offered.length;
      list.querySelectorAll("li").forEach((li, i) => li.classList.toggle("active", i === active));
    } else if ((event.key === "Enter" || event.key === "Tab") && active >= 0) {
      event.preventDefault();
      accept(active);
    } else if (event.key === "Escape") {
      list.hidden = true;
    }
  });
  list.addEventListener("mousedown", (event) => {
    const li = event.target.closest("li");
    if (li) {
      event.preventDefault();
      accept(Number(li.dataset.index));
    }
  });

  view.querySelector("#search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams({ q: input.value, range: view.querySelector("#range").value, limit: view.querySelector("#limit").value });
    location.hash = `#/search?${next}`;
  });

  const end = Math.ceil(Date.now() / 1000);
  const status = view.querySelector("#status");
  status.textContent = "Searching…";
  let answer;
  try {
    answer = await getJson("/api/search", { q: query, start: end - RANGES[range], end, limit });
  } catch (error) {
    status.innerHTML = `<span class="error">${escapeHtml(error.message)}</span>`;
    return null;
  }
  // Left for another page while the search ran.
  if (!status.isConnected) return null;
  const traces = (answer.traces || []).sort((a, b) => Number(BigInt(b.startTimeUnixNano || 0) - BigInt(a.startTimeUnixNano || 0)));
  const partial = answer.metrics && answer.metrics.completedJobs !== answer.metrics.totalJobs;
  status.textContent = `${traces.length} trace${traces.length === 1 ? "" : "s"} in the last ${range}${partial ? " (partial)" : ""}`;
  view.querySelector("#histogram").innerHTML = histogram(traces.map((t) => t.durationMs || 0));
  const table = view.querySelector("#results");
  table.hidden = traces.length === 0;
  table.querySelector("tbody").innerHTML = traces
    .map((t) => {
      const started = new Date(Number(BigInt(t.startTimeUnixNano || 0) / 1000000n));
      const matched = (t.spanSets || (t.spanSet ? [t.spanSet] : [])).reduce((n, set) => n + (set.matched || 0), 0);
      return `<tr data-trace="${escapeHtml(t.traceID)}">
        <td>${escapeHtml(t.rootServiceName || "<root span not yet received>")}</td>
        <td>${escapeHtml(t.rootTraceName || "")}</td>
        <td>${started.toLocaleString()}</td>
        <td class="num">${formatDuration((t.durationMs || 0) * 1e6)}</td>
        <td class="num">${matched}</td>
        <td><a href="#/trace/${escapeHtml(t.traceID)}">${escapeHtml(t.traceID.slice(0, 16))}…</a></td></tr>`;
    })
    .join("");
  const stopKeys = rowKeys(table, () => document.activeElement === input);
  setParams(new URLSearchParams({ q: query, range, limit }));
  return stopKeys;
}
