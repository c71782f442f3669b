// Logs: a LogQL query over a time range, the entries newest first with a volume chart,
// and each entry's trace one click away when weft holds it (weft's /api/logs).
// #/logs?q=...&range=1h&limit=100

import { getJson, escapeHtml, rowKeys } from "./api.js";
import { setParams } from "./app.js";
import { rangeOf, rangeSelect, timeWindow } from "./analysis.js";

const LIMITS = ["100", "500", "1000", "5000"];
const BUCKETS = 60;

/** Entries per time bucket over [start, end] (seconds) as an SVG bar chart. */
function volume(entries, start, end) {
  if (!entries.length) return "";
  const counts = new Array(BUCKETS).fill(0);
  const width = (end - start) / BUCKETS;
  for (const entry of entries) {
    const seconds = Number(BigInt(entry.timestamp) / 1000000n) / 1000;
    const bucket = Math.floor((seconds - start) / width);
    counts[Math.max(0, Math.min(BUCKETS - 1, bucket))]++;
  }
  const most = Math.max(...counts);
  const bars = counts
    .map((n, i) => {
      const height = n ? Math.max(2, Math.round((n / most) * 46)) : 0;
      const from = new Date((start + i * width) * 1000).toLocaleTimeString();
      return `<rect class="bucket" x="${i * 10}" y="${48 - height}" width="9" height="${height}"><title>${n} from ${escapeHtml(from)}</title></rect>`;
    })
    .join("");
  return `<svg class="histogram volume" viewBox="0 0 ${BUCKETS * 10} 50" preserveAspectRatio="none" role="img" aria-label="entries over time">${bars}</svg>`;
}

function time(entry) {
  const nanos = BigInt(entry.timestamp);
  const date = new Date(Number(nanos / 1000000n));
  return `${date.toLocaleDateString()} ${date.toLocaleTimeString()}.${String(date.getMilliseconds()).padStart(3, "0")}`;
}

function traceCell(entry) {
  if (!entry.traceId) return "";
  if (entry.traceFound === false) return `<span class="muted" title="trace ${escapeHtml(entry.traceId)} is not stored">not stored</span>`;
  return `<a href="#/trace/${escapeHtml(entry.traceId)}">${escapeHtml(entry.traceId.slice(0, 16))}…</a>`;
}

export async function renderLogs(view, { params }) {
  const query = params.get("q") || "";
  const range = rangeOf(params);
  const limit = LIMITS.includes(params.get("limit")) ? params.get("limit") : "100";
  view.innerHTML = `
    <form class="row" id="logs-form">
      <div class="query"><input id="q" name="q" data-slash autocomplete="off" spellcheck="false"
        placeholder='{service_name="checkout"} |= "error"' value="${escapeHtml(query)}" aria-label="LogQL query"></div>
      ${rangeSelect(range)}
      <select name="limit" aria-label="most entries">${LIMITS.map((l) => `<option ${l === limit ? "selected" : ""}>${l}</option>`).join("")}</select>
      <button class="primary" type="submit">Run</button>
    </form>
    <div id="status" class="muted"></div>
    <div id="volume"></div>
    <table class="logs" id="entries" hidden>
      <thead><tr><th>Time</th><th>Labels</th><th>Line</th><th>Trace</th></tr></thead>
      <tbody></tbody>
    </table>`;
  const form = view.querySelector("#logs-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value) next.set(key, value);
    location.hash = `#/logs?${next}`;
  });
  const status = view.querySelector("#status");
  if (!query) {
    status.textContent = "A LogQL log query: a stream selector, then filters and parsers (docs/logql.md).";
    return null;
  }
  const { start, end } = timeWindow(range);
  status.textContent = "Running…";
  let answer;
  try {
    answer = await getJson("/api/logs", { query, start, end, limit, checkTraces: "true" });
  } catch (error) {
    status.innerHTML = `<span class="error">${escapeHtml(error.message)}</span>`;
    return null;
  }
  // Left for another page while the query ran.
  if (!status.isConnected) return null;
  const entries = answer.entries || [];
  const linked = entries.filter((entry) => entry.traceId && entry.traceFound !== false).length;
  const megabytes = ((answer.bytesProcessed || 0) / 1e6).toFixed(1);
  status.textContent = `${entries.length}${answer.truncated ? "+" : ""} ${entries.length === 1 ? "entry" : "entries"} in the last ${range}, ${linked} with a stored trace; ${megabytes} MB read`;
  view.querySelector("#volume").innerHTML = volume(entries, start, end);
  const table = view.querySelector("#entries");
  table.hidden = entries.length === 0;
  table.querySelector("tbody").innerHTML = entries
    .map((entry) => {
      const labels = Object.entries(entry.labels).map(([k, v]) => `${k}="${v}"`).join(", ");
      return `<tr data-trace="${escapeHtml(entry.traceFound === false ? "" : entry.traceId || "")}">
        <td class="muted">${escapeHtml(time(entry))}</td>
        <td class="muted">{${escapeHtml(labels)}}</td>
        <td>${escapeHtml(entry.line)}</td>
        <td>${traceCell(entry)}</td></tr>`;
    })
    .join("");
  const stopKeys = rowKeys(table, () => ["INPUT", "SELECT"].includes(document.activeElement.tagName));
  setParams(new URLSearchParams({ q: query, range, limit }));
  document.body.dataset.logsRendered = String(entries.length);
  return stopKeys;
}
