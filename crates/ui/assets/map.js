// The service map: who calls whom over a time range, with calls, error rate and latency
// per edge, laid out in layers from the entry services. #/map?range=1h&q={...}

import { getJson, formatDuration, escapeHtml } from "./api.js";

const RANGES = { "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400 };

/** Columns by longest call chain from services nobody calls (cycles broken where met). */
function layers(nodes, edges) {
  const callees = new Map(nodes.map((n) => [n, []]));
  const callers = new Map(nodes.map((n) => [n, 0]));
  for (const edge of edges) {
    if (edge.caller === edge.callee) continue;
    callees.get(edge.caller).push(edge.callee);
    callers.set(edge.callee, callers.get(edge.callee) + 1);
  }
  const rank = new Map();
  let frontier = nodes.filter((n) => callers.get(n) === 0);
  if (!frontier.length) frontier = nodes.slice(0, 1);
  for (const n of frontier) rank.set(n, 0);
  // Relax along edges at most |nodes| times: a longest-path layering that ends on cycles.
  for (let round = 0; round < nodes.length && frontier.length; round++) {
    const next = [];
    for (const n of frontier) {
      for (const callee of callees.get(n)) {
        if (!rank.has(callee) || rank.get(callee) < rank.get(n) + 1) {
          if (rank.has(callee) && rank.get(callee) > rank.get(n)) continue;
          rank.set(callee, rank.get(n) + 1);
          next.push(callee);
        }
      }
    }
    frontier = next;
  }
  for (const n of nodes) if (!rank.has(n)) rank.set(n, 0);
  return rank;
}

export async function renderMap(view, route) {
  const params = route.params;
  const range = RANGES[params.get("range")] ? params.get("range") : "1h";
  const query = params.get("q") || "{}";
  view.innerHTML = `
    <form class="row" id="map-form">
      <div class="query"><input id="q" data-slash aria-label="TraceQL filter" value="${escapeHtml(query)}"></div>
      <select id="range" aria-label="time range">${Object.keys(RANGES).map((r) => `<option ${r === range ? "selected" : ""}>${r}</option>`).join("")}</select>
      <button class="primary" type="submit">Show</button>
      <span id="status" class="muted"></span>
    </form>
    <svg class="map" id="map" role="img" aria-label="service map"></svg>`;
  view.querySelector("#map-form").addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/map?${new URLSearchParams({ q: view.querySelector("#q").value, range: view.querySelector("#range").value })}`;
  });
  const end = Math.ceil(Date.now() / 1000);
  const status = view.querySelector("#status");
  let answer;
  try {
    answer = await getJson("/api/analytics/service-map", { q: query, start: end - RANGES[range], end });
  } catch (error) {
    status.innerHTML = `<span class="error">${escapeHtml(error.message)}</span>`;
    return null;
  }
  // Left for another page while the map was computed.
  if (!status.isConnected) return null;
  const map = answer.service_map || answer;
  const nodes = (map.nodes || []).map((node) => node.service);
  const edges = map.edges || [];
  status.textContent = `${nodes.length} services, ${edges.length} connections${answer.truncated ? " (truncated)" : ""}`;
  if (!nodes.length) return null;
  const rank = layers(nodes, edges);
  const columns = new Map();
  for (const node of nodes) {
    const r = rank.get(node);
    if (!columns.has(r)) columns.set(r, []);
    columns.get(r).push(node);
  }
  const boxWidth = 170, boxHeight = 46, columnGap = 190, rowGap = 34;
  const position = new Map();
  let height = 0;
  for (const [r, members] of [...columns.entries()].sort((a, b) => a[0] - b[0])) {
    members.sort();
    members.forEach((node, i) => position.set(node, { x: 20 + r * (boxWidth + columnGap), y: 20 + i * (boxHeight + rowGap) }));
    height = Math.max(height, 20 + members.length * (boxHeight + rowGap));
  }
  const width = 40 + columns.size * (boxWidth + columnGap);
  const byService = new Map((map.nodes || []).map((node) => [node.service, node]));
  const edgeSvg = edges
    .map((edge) => {
      const from = position.get(edge.caller), to = position.get(edge.callee);
      if (!from || !to) return "";
      const x1 = from.x + boxWidth, y1 = from.y + boxHeight / 2, x2 = to.x, y2 = to.y + boxHeight / 2;
      const self = edge.caller === edge.callee;
      const path = self
        ? `M${from.x + boxWidth - 20},${from.y} C${from.x + boxWidth},${from.y - 40} ${from.x + boxWidth + 40},${from.y + 10} ${from.x + boxWidth},${from.y + 14}`
        : `M${x1},${y1} C${(x1 + x2) / 2},${y1} ${(x1 + x2) / 2},${y2} ${x2},${y2}`;
      const stats = edge.stats || {};
      const latency = stats.latency || {};
      const label = `${stats.call_count} · ${((stats.error_rate || 0) * 100).toFixed(0)}% err · p95 ${formatDuration(latency.p95_nanos || 0)}`;
      return `<g class="edge${stats.error_count ? " errors" : ""}" data-caller="${escapeHtml(edge.caller)}" data-callee="${escapeHtml(edge.callee)}">
        <path d="${path}" marker-end="url(#arrow)"><title>${escapeHtml(`${edge.caller} → ${edge.callee}: ${label}`)}</title></path>
        <text x="${self ? from.x + boxWidth - 20 : (x1 + x2) / 2}" y="${self ? from.y - 30 : (y1 + y2) / 2 - 6}" text-anchor="middle">${escapeHtml(label)}</text></g>`;
    })
    .join("");
  const nodeSvg = nodes
    .map((service) => {
      const { x, y } = position.get(service);
      const node = byService.get(service) || {};
      const server = node.server || {};
      const line = server.call_count ? `${server.call_count} in · p95 ${formatDuration((server.latency || {}).p95_nanos || 0)}` : `${node.span_count || 0} spans`;
      return `<g class="node${node.error_span_count ? " errors" : ""}" data-service="${escapeHtml(service)}">
        <a href="#/search?${new URLSearchParams({ q: `{ resource.service.name = "${service}" }`, range })}">
        <rect x="${x}" y="${y}" width="${boxWidth}" height="${boxHeight}" rx="6"></rect>
        <text x="${x + 8}" y="${y + 18}" font-weight="600">${escapeHtml(service.slice(0, 24))}</text>
        <text x="${x + 8}" y="${y + 36}">${escapeHtml(line)}</text></a></g>`;
    })
    .join("");
  const svg = view.querySelector("#map");
  // Drawn at 1:1 (the page scrolls for big maps) so text keeps its size.
  svg.setAttribute("viewBox", `0 0 ${width} ${Math.max(height, 200)}`);
  svg.style.width = `${width}px`;
  svg.style.height = `${Math.max(height, 200)}px`;
  svg.innerHTML = `<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="currentColor"></path></marker></defs>${edgeSvg}${nodeSvg}`;
  return null;
}
