// RED charts from TraceQL metrics: request rate, error rate and latency quantiles over
// time, one line per group. #/red?q={...}&range=1h&by=resource.service.name

import { getJson, formatDuration, escapeHtml } from "./api.js";

const RANGES = ["15m", "1h", "6h", "24h"];
const PALETTE = ["#2f6fdf", "#e08a00", "#2a9d6f", "#c9302c", "#8a56d6", "#1fa2b8", "#c0569a", "#7d8a2a"];
const MAX_LINES = 8;

/** `{ filter } | <stage>`: the filter as given, then an extra pipeline stage. */
function metricsQuery(filter, stage) {
  const base = filter.trim() || "{ }";
  return `${base} | ${stage}`;
}

function labelText(labels, by) {
  const own = (labels || []).filter((label) => label.key !== "p" && label.key !== "__name__");
  const named = own.find((label) => label.key === by) || own[0];
  if (!named) return "all";
  const value = named.value || {};
  return String(value.stringValue ?? value.intValue ?? value.doubleValue ?? value.boolValue ?? "");
}

function quantileOf(labels) {
  const p = (labels || []).find((label) => label.key === "p");
  return p ? Number(p.value.doubleValue ?? p.value.stringValue) : null;
}

/** An SVG line chart of `lines` ([{name, points: [[ms, value]]}]) with `format` for the axis. */
function chart(title, lines, format) {
  const width = 560, height = 180, left = 64, bottom = 20;
  const points = lines.flatMap((line) => line.points);
  if (!points.length) return `<figure class="chart"><figcaption>${escapeHtml(title)}</figcaption><p class="muted">no data</p></figure>`;
  const x0 = Math.min(...points.map((p) => p[0])), x1 = Math.max(...points.map((p) => p[0]), x0 + 1);
  const top = Math.max(...points.map((p) => p[1]), 0) || 1;
  const x = (ms) => left + ((ms - x0) / (x1 - x0)) * (width - left - 8);
  const y = (value) => height - bottom - (value / top) * (height - bottom - 8);
  const paths = lines
    .map((line, index) => {
      const d = line.points.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
      return `<path d="${d}" fill="none" stroke="${PALETTE[index % PALETTE.length]}" stroke-width="1.5" data-series="${escapeHtml(line.name)}"><title>${escapeHtml(line.name)}</title></path>`;
    })
    .join("");
  const ticks = [0, 0.5, 1]
    .map((f) => `<text x="${left - 6}" y="${y(top * f) + 4}" text-anchor="end">${escapeHtml(format(top * f))}</text><line x1="${left}" x2="${width - 8}" y1="${y(top * f)}" y2="${y(top * f)}"></line>`)
    .join("");
  const times = [x0, (x0 + x1) / 2, x1]
    .map((ms, i) => `<text x="${x(ms)}" y="${height - 4}" text-anchor="${["start", "middle", "end"][i]}">${new Date(ms).toLocaleTimeString()}</text>`)
    .join("");
  const legend = lines.map((line, index) => `<span><i style="background:${PALETTE[index % PALETTE.length]}"></i>${escapeHtml(line.name)}</span>`).join("");
  return `<figure class="chart"><figcaption>${escapeHtml(title)}</figcaption>
    <svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(title)}">${ticks}${times}${paths}</svg>
    <div class="legend">${legend}</div></figure>`;
}

function lines(answer, by, name = (labels) => labelText(labels, by)) {
  return (answer.series || [])
    .map((series) => ({
      name: name(series.labels),
      points: (series.samples || []).map((sample) => [Number(sample.timestampMs), Number(sample.value || 0)]),
    }))
    .sort((a, b) => b.points.reduce((s, p) => s + p[1], 0) - a.points.reduce((s, p) => s + p[1], 0))
    .slice(0, MAX_LINES);
}

export async function renderRed(view, route) {
  const params = route.params;
  const range = RANGES.includes(params.get("range")) ? params.get("range") : "1h";
  const filter = params.get("q") || "{ }";
  const by = params.get("by") || "resource.service.name";
  view.innerHTML = `
    <form class="row" id="red-form">
      <div class="query"><input name="q" data-slash aria-label="TraceQL filter" value="${escapeHtml(filter)}"></div>
      <input name="by" aria-label="group by" value="${escapeHtml(by)}" style="width:220px">
      <select name="range" aria-label="time range">${RANGES.map((r) => `<option ${r === range ? "selected" : ""}>${r}</option>`).join("")}</select>
      <button class="primary" type="submit">Show</button>
    </form>
    <p id="status" class="muted">TraceQL metrics: rate, errors and duration by ${escapeHtml(by)}</p>
    <div class="charts" id="charts"></div>`;
  view.querySelector("#red-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    location.hash = `#/red?${new URLSearchParams({ q: form.get("q"), by: form.get("by"), range: form.get("range") })}`;
  });
  const ask = (stage) => getJson("/api/metrics/query_range", { q: metricsQuery(filter, stage), since: range });
  let answers;
  try {
    answers = await Promise.all([
      ask(`rate() by (${by})`),
      ask(`{ status = error } | rate() by (${by})`),
      ask(`quantile_over_time(duration, .5, .95, .99) by (${by})`),
    ]);
  } catch (error) {
    view.querySelector("#status").innerHTML = `<span class="error">${escapeHtml(error.message)}</span>`;
    return null;
  }
  const [rate, errors, durations] = answers;
  const perSecond = (value) => `${value.toPrecision(2)}/s`;
  const seconds = (value) => formatDuration(value * 1e9);
  const p95 = { series: (durations.series || []).filter((series) => quantileOf(series.labels) === 0.95) };
  const p50 = { series: (durations.series || []).filter((series) => quantileOf(series.labels) === 0.5) };
  view.querySelector("#charts").innerHTML =
    chart("Requests (spans/s)", lines(rate, by), perSecond) +
    chart("Errors (spans/s)", lines(errors, by), perSecond) +
    chart("Duration p95", lines(p95, by), seconds) +
    chart("Duration p50", lines(p50, by), seconds);
  return null;
}
