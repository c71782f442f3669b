// The trace as a tree of rows, and the two ways to draw it: a virtualised waterfall (only
// the rows in view are in the DOM, so 10,000 spans scroll like 10) and a flame graph on
// a canvas.

import { formatDuration, escapeHtml } from "./api.js";

export const ROW_HEIGHT = 24;

/** Parent and children links, depth, times relative to the trace start (ns, Numbers). */
export function buildTree(spans) {
  const byId = new Map(spans.map((span) => [span.id, span]));
  let startNs = spans[0].startNs;
  let endNs = spans[0].endNs;
  for (const span of spans) {
    if (span.startNs < startNs) startNs = span.startNs;
    if (span.endNs > endNs) endNs = span.endNs;
    span.children = [];
  }
  const roots = [];
  for (const span of spans) {
    const parent = span.parentId && span.parentId !== span.id ? byId.get(span.parentId) : undefined;
    if (parent) parent.children.push(span);
    else roots.push(span);
    span.start = Number(span.startNs - startNs);
    span.end = Number(span.endNs - startNs);
  }
  const byStart = (a, b) => a.start - b.start || a.end - b.end;
  roots.sort(byStart);
  // Depths without recursion (deep traces must not overflow the stack), and a guard
  // against parent cycles: a span reached twice is left where it was first placed.
  const seen = new Set();
  const stack = roots.map((root) => [root, 0]);
  while (stack.length) {
    const [span, depth] = stack.pop();
    if (seen.has(span.id)) continue;
    seen.add(span.id);
    span.depth = depth;
    span.children.sort(byStart);
    for (let i = span.children.length - 1; i >= 0; i--) stack.push([span.children[i], depth + 1]);
  }
  for (const span of spans) if (!seen.has(span.id)) { span.depth = 0; roots.push(span); seen.add(span.id); }
  return { roots, byId, startNs, duration: Math.max(1, Number(endNs - startNs)) };
}

/** The rows shown: depth-first, children of collapsed spans hidden, `keep` (if given) filters. */
export function visibleRows(tree, collapsed, keep) {
  const rows = [];
  const stack = [...tree.roots].reverse();
  const seen = new Set();
  while (stack.length) {
    const span = stack.pop();
    if (seen.has(span.id)) continue;
    seen.add(span.id);
    if (!keep || keep(span)) rows.push(span);
    if (collapsed.has(span.id)) continue;
    for (let i = span.children.length - 1; i >= 0; i--) stack.push(span.children[i]);
  }
  return rows;
}

/** A virtualised waterfall in `container`; returns {update(rows, state), scrollTo(index)}. */
export function waterfall(container, tree, onSelect) {
  container.innerHTML = `
    <div class="ruler"><div class="label">Service and operation</div><div class="ticks"></div></div>
    <div class="scroller"><div class="rows"></div></div>`;
  const scroller = container.querySelector(".scroller");
  const body = container.querySelector(".rows");
  container.querySelector(".ticks").innerHTML = [0, 0.25, 0.5, 0.75]
    .map((f) => `<span style="left:${f * 100}%">${formatDuration(tree.duration * f)}</span>`)
    .join("") + `<span style="right:4px">${formatDuration(tree.duration)}</span>`;
  let rows = [];
  let state = {};
  let drawn = "";

  function draw() {
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW_HEIGHT) - 10);
    const last = Math.min(rows.length, Math.ceil((scroller.scrollTop + scroller.clientHeight) / ROW_HEIGHT) + 10);
    const key = `${first}:${last}:${state.version}`;
    if (key === drawn) return;
    drawn = key;
    let html = "";
    for (let index = first; index < last; index++) {
      const span = rows[index];
      const left = (span.start / tree.duration) * 100;
      const width = Math.max(((span.end - span.start) / tree.duration) * 100, 0.05);
      const onPath = state.critical && state.critical.spans.has(span.id);
      const classes = ["span-row"];
      if (span.id === state.selected) classes.push("selected");
      if (state.matches && state.matches.has(span.id)) classes.push("match");
      const toggle = span.children.length ? (state.collapsed.has(span.id) ? "▸" : "▾") : "";
      const segments = onPath
        ? state.critical.segments
            .get(span.id)
            .map((s) => `<i class="crit" style="left:${(s.start / tree.duration) * 100}%;width:${Math.max(((s.end - s.start) / tree.duration) * 100, 0.05)}%"></i>`)
            .join("")
        : "";
      html += `<div class="${classes.join(" ")}" data-index="${index}" data-span="${span.id}" style="top:${index * ROW_HEIGHT}px">
        <div class="label" style="padding-left:${Math.min(span.depth, 40) * 12 + 4}px"><span class="toggle">${toggle}</span><span class="service">${escapeHtml(span.service)}</span>${escapeHtml(span.name)}</div>
        <div class="timeline"><div class="bar${span.error ? " error" : ""}${onPath ? " critical" : ""}" style="left:${left}%;width:${width}%"></div>${segments}
        <span class="duration" style="left:calc(${Math.min(left + width, 88)}% + 4px)">${formatDuration(span.end - span.start)}</span></div></div>`;
    }
    body.innerHTML = html;
  }

  scroller.addEventListener("scroll", () => requestAnimationFrame(draw));
  new ResizeObserver(() => { drawn = ""; draw(); }).observe(scroller);
  body.addEventListener("click", (event) => {
    const row = event.target.closest(".span-row");
    if (row) onSelect(row.dataset.span, event.target.closest(".toggle") !== null);
  });
  return {
    update(nextRows, nextState) {
      rows = nextRows;
      state = nextState;
      body.style.height = `${rows.length * ROW_HEIGHT}px`;
      drawn = "";
      draw();
    },
    scrollTo(index) {
      const top = index * ROW_HEIGHT;
      if (top < scroller.scrollTop || top + ROW_HEIGHT > scroller.scrollTop + scroller.clientHeight) {
        scroller.scrollTop = Math.max(0, top - scroller.clientHeight / 2);
      }
      drawn = "";
      draw();
    },
  };
}

/** A flame graph (x: time, y: depth) of every span on a canvas; click selects. */
export function flame(container, spans, tree, state, onSelect) {
  const depth = Math.min(spans.reduce((max, span) => Math.max(max, span.depth), 0) + 1, 200);
  const height = 18;
  container.innerHTML = `<div class="scroller"><canvas class="flame"></canvas></div>`;
  const canvas = container.querySelector("canvas");
  const ratio = window.devicePixelRatio || 1;
  const width = container.clientWidth - 2;
  canvas.style.height = `${depth * height}px`;
  canvas.width = width * ratio;
  canvas.height = depth * height * ratio;
  const context = canvas.getContext("2d");
  context.scale(ratio, ratio);
  const styles = getComputedStyle(document.documentElement);
  const colour = (name) => styles.getPropertyValue(name).trim();
  context.font = `11px ${colour("--font") || "sans-serif"}`;
  for (const span of spans) {
    if (span.depth >= depth) continue;
    const x = (span.start / tree.duration) * width;
    const w = Math.max(((span.end - span.start) / tree.duration) * width, 1);
    const y = span.depth * height;
    const onPath = state.critical && state.critical.spans.has(span.id);
    context.fillStyle = span.error ? colour("--error") : onPath ? colour("--critical") : colour("--bar");
    context.globalAlpha = span.id === state.selected ? 1 : 0.8;
    context.fillRect(x, y + 1, w - 0.5, height - 2);
    if (w > 40) {
      context.fillStyle = "#fff";
      context.globalAlpha = 1;
      context.fillText(`${span.service}: ${span.name}`.slice(0, Math.floor(w / 6)), x + 3, y + 13);
    }
  }
  canvas.addEventListener("click", (event) => {
    const box = canvas.getBoundingClientRect();
    const at = ((event.clientX - box.left) / width) * tree.duration;
    const level = Math.floor((event.clientY - box.top) / height);
    const hit = spans.find((span) => span.depth === level && span.start <= at && at <= span.end);
    if (hit) onSelect(hit.id, false);
  });
}
