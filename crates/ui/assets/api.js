// Talking to weft's HTTP API (Tempo's search, tag and trace endpoints, weft's analytics),
// and turning its answers into plain objects the views draw.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** GET `path` with `params`; the parsed JSON, or an ApiError carrying the server's text. */
export async function getJson(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  const text = await response.text();
  if (!response.ok) throw new ApiError(response.status, text.trim() || response.statusText);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ApiError(response.status, `not JSON from ${url.pathname}: ${error.message}`);
  }
}

/** Base64 (Tempo's ids) or hex to lowercase hex. */
export function hexId(value) {
  if (!value) return "";
  if (/^[0-9a-fA-F]+$/.test(value) && value.length % 2 === 0 && value.length >= 16) return value.toLowerCase();
  const bytes = atob(value);
  let hex = "";
  for (let i = 0; i < bytes.length; i++) hex += bytes.charCodeAt(i).toString(16).padStart(2, "0");
  return hex;
}

/** An OTLP/JSON AnyValue as something to show. */
export function anyValue(value) {
  if (!value) return "";
  if ("stringValue" in value) return value.stringValue;
  if ("intValue" in value) return String(value.intValue);
  if ("doubleValue" in value) return String(value.doubleValue);
  if ("boolValue" in value) return String(value.boolValue);
  if ("bytesValue" in value) return value.bytesValue;
  if ("arrayValue" in value) return "[" + (value.arrayValue.values || []).map(anyValue).join(", ") + "]";
  if ("kvlistValue" in value) {
    return "{" + (value.kvlistValue.values || []).map((kv) => `${kv.key}: ${anyValue(kv.value)}`).join(", ") + "}";
  }
  return JSON.stringify(value);
}

function attributes(list) {
  return (list || []).map((kv) => [kv.key, anyValue(kv.value)]);
}

const KINDS = { 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer" };

function kindName(kind) {
  if (typeof kind === "number") return KINDS[kind] || "unspecified";
  return String(kind || "").replace("SPAN_KIND_", "").toLowerCase() || "unspecified";
}

function isError(status) {
  if (!status) return false;
  return status.code === 2 || status.code === "STATUS_CODE_ERROR";
}

/**
 * The trace `traceId` as a flat list of spans: {id, parentId, service, name, kind,
 * start, end (ns as Numbers, relative precision is enough for drawing), startNs (BigInt),
 * attributes, resource, scope, events, links, error, statusMessage}; the list's
 * `partial` says why spans are missing when the server cut the trace.
 */
export async function fetchTrace(traceId) {
  const answer = await getJson(`/api/v2/traces/${encodeURIComponent(traceId)}`);
  const batches = (answer.trace && answer.trace.resourceSpans) || [];
  const spans = [];
  for (const batch of batches) {
    const resource = attributes(batch.resource && batch.resource.attributes);
    const service = (resource.find(([key]) => key === "service.name") || [, "unknown"])[1];
    for (const scopeSpans of batch.scopeSpans || []) {
      const scope = scopeSpans.scope ? `${scopeSpans.scope.name || ""} ${scopeSpans.scope.version || ""}`.trim() : "";
      for (const span of scopeSpans.spans || []) {
        const startNs = BigInt(span.startTimeUnixNano || 0);
        const endNs = BigInt(span.endTimeUnixNano || span.startTimeUnixNano || 0);
        spans.push({
          id: hexId(span.spanId),
          parentId: hexId(span.parentSpanId),
          service,
          name: span.name || "",
          kind: kindName(span.kind),
          startNs,
          endNs: endNs < startNs ? startNs : endNs,
          attributes: attributes(span.attributes),
          resource,
          scope,
          events: (span.events || []).map((event) => ({
            name: event.name || "",
            timeNs: BigInt(event.timeUnixNano || 0),
            attributes: attributes(event.attributes),
          })),
          links: (span.links || []).map((link) => ({
            traceId: hexId(link.traceId),
            spanId: hexId(link.spanId),
            attributes: attributes(link.attributes),
          })),
          error: isError(span.status),
          statusMessage: (span.status && span.status.message) || "",
        });
      }
    }
  }
  if (!spans.length) throw new ApiError(404, `trace ${traceId} not found`);
  // A trace over the server's read limit comes back cut to its earliest spans, saying so.
  spans.partial = answer.status === "PARTIAL" ? answer.message || "only part of the trace was read" : "";
  return spans;
}

/** The critical path of a trace from the analytics API, or null when it is not available. */
export async function fetchCriticalPath(traceId) {
  try {
    const answer = await getJson(`/api/analytics/critical-path/${encodeURIComponent(traceId)}`);
    return answer.critical_path || answer;
  } catch (error) {
    return null;
  }
}

/**
 * The log entries of a trace (weft's /api/traces/{id}/logs: metadata naming the trace or
 * lines containing its id, in its window), each with `offsetNs` from `startNs`; null when
 * logs cannot be read.
 */
export async function fetchTraceLogs(traceId, startNs) {
  try {
    const answer = await getJson(`/api/traces/${encodeURIComponent(traceId)}/logs`, { limit: 1000 });
    for (const entry of answer.entries) entry.offsetNs = Number(BigInt(entry.timestamp) - startNs);
    return answer;
  } catch (error) {
    return null;
  }
}

/**
 * Keys over a table of traces or entries: `j`/`k` (or the arrows) move the selection over
 * its body rows, Enter opens the selected row's trace (its `data-trace`, when set). Keys
 * pressed while `typing()` is true are left alone. Returns the function that stops it.
 */
export function rowKeys(table, typing) {
  let selected = -1;
  const rows = () => table.querySelectorAll("tbody tr");
  const select = (index) => {
    const all = rows();
    if (!all.length) return;
    selected = Math.max(0, Math.min(all.length - 1, index));
    all.forEach((row, i) => row.classList.toggle("selected", i === selected));
    all[selected].scrollIntoView({ block: "nearest" });
  };
  const onKey = (event) => {
    if (typing()) return;
    if (event.key === "j" || event.key === "ArrowDown") select(selected + 1);
    else if (event.key === "k" || event.key === "ArrowUp") select(selected - 1);
    else if (event.key === "Enter" && selected >= 0 && rows()[selected].dataset.trace) location.hash = `#/trace/${rows()[selected].dataset.trace}`;
    else return;
    event.preventDefault();
  };
  document.addEventListener("keydown", onKey);
  return () => document.removeEventListener("keydown", onKey);
}

/** "1.23 s", "45.6 ms", "789 µs" from nanoseconds. */
export function formatDuration(nanos) {
  const value = Number(nanos);
  if (value >= 1e9) return `${(value / 1e9).toPrecision(3)} s`;
  if (value >= 1e6) return `${(value / 1e6).toPrecision(3)} ms`;
  if (value >= 1e3) return `${(value / 1e3).toPrecision(3)} µs`;
  return `${value} ns`;
}

/** Escapes text for HTML. */
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
