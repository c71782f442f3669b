// The shell: hash routes (every view is a deep link), theme, global keys.

import { renderSearch } from "./search.js";
import { renderTrace } from "./trace.js";
import { renderMap } from "./map.js";
import { renderFlow, renderCct, renderCompare } from "./analysis.js";
import { renderRed } from "./red.js";
import { renderLogs } from "./logs.js";

const view = document.getElementById("view");
let cleanup = null;

/** The current route: {page, rest, params}. `#/trace/<id>?span=..` gives page "trace". */
export function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = hash.split("?");
  const [page, ...rest] = path.split("/");
  return { page: page || "search", rest, params: new URLSearchParams(query) };
}

/** Replaces the current route's parameters without reloading the view. */
export function setParams(params) {
  const { page, rest } = route();
  const path = [page, ...rest].join("/");
  const query = params.toString();
  history.replaceState(null, "", `#/${path}${query ? "?" + query : ""}`);
}

async function render() {
  if (cleanup) cleanup();
  cleanup = null;
  const current = route();
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.dataset.nav === current.page);
  }
  view.replaceChildren();
  const pages = { search: renderSearch, trace: renderTrace, map: renderMap, flow: renderFlow, cct: renderCct, compare: renderCompare, red: renderRed, logs: renderLogs };
  const page = pages[current.page] || renderSearch;
  cleanup = (await page(view, current)) || null;
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  localStorage.setItem("weft-theme", theme);
}

function toggleTheme() {
  applyTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark");
}

applyTheme(localStorage.getItem("weft-theme") || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
document.getElementById("theme").addEventListener("click", toggleTheme);

document.addEventListener("keydown", (event) => {
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "?") {
    document.getElementById("keys").showModal();
  } else if (event.key === "t") {
    toggleTheme();
  } else if (event.key === "/") {
    const input = view.querySelector("input[data-slash]");
    if (input) {
      event.preventDefault();
      input.focus();
      input.select();
    }
  }
});

window.addEventListener("hashchange", render);
render();
