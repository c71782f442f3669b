// Drives weft's web UI in Debian's Chromium with Playwright (playwright-core from npm,
// `executablePath`, no browser download), over the traces tests/blackbox/test_web_ui.py
// sent with the OpenTelemetry Python SDK. Every page is visited; any console error or
// failed request fails the run. Prints one JSON line of measurements; exits 1 on the
// first failed check, naming it.
//
// Environment: WEFT_URL (a weft serve), WEFT_CAPPED_URL (one with a low
// query.max_spans_per_trace), WEFT_IDS (JSON: trace and span ids by role), CHROMIUM,
// WEFT_SHOTS (screenshot directory).

import { chromium } from "playwright-core";

const base = process.env.WEFT_URL;
const cappedBase = process.env.WEFT_CAPPED_URL;
const ids = JSON.parse(process.env.WEFT_IDS);
const shots = process.env.WEFT_SHOTS;
const TIMEOUT = 15_000;

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
}

/** Waits until `locator` matches exactly `count` elements. */
async function count(locator, expected, what, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let seen;
  while (Date.now() < deadline) {
    seen = await locator.count();
    if (seen === expected) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`check failed: ${what}: expected ${expected} elements, found ${seen}`);
}

async function attached(locator, what, timeout = TIMEOUT) {
  try {
    await locator.first().waitFor({ state: "attached", timeout });
  } catch (error) {
    throw new Error(`check failed: ${what}: not found`);
  }
}

async function contains(locator, text, what, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let seen = "";
  while (Date.now() < deadline) {
    seen = (await locator.count()) ? await locator.first().innerText() : "";
    if (seen.includes(text)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`check failed: ${what}: ${JSON.stringify(text)} not in ${JSON.stringify(seen.slice(0, 300))}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const measured = {};
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  page.on("response", (response) => response.status() >= 400 && errors.push(`${response.status()} ${response.url()}`));

  // Search, with tag and value completion and the duration histogram.
  await page.goto(`${base}/#/search?range=1h&q=${encodeURIComponent('{ resource.service.name = "frontend" }')}`);
  await count(page.locator("#results tbody tr"), 2, "two checkout traces found");
  await attached(page.locator("svg.histogram rect.bucket"), "duration histogram");
  const box = page.locator("#q");
  await box.fill("");
  await box.pressSequentially("{ resource.serv");
  const suggestion = page.locator("#suggestions").getByText("resource.service.name", { exact: true });
  await suggestion.waitFor({ state: "visible", timeout: TIMEOUT });
  await suggestion.click();
  check((await box.inputValue()) === "{ resource.service.name", "a tag completion is inserted");
  await box.pressSequentially(" = ");
  await page.locator("#suggestions li", { hasText: "payment" }).waitFor({ state: "visible", timeout: TIMEOUT });
  await page.screenshot({ path: `${shots}/search.png` });

  // The trace page: waterfall, critical path, details, keyboard, flame graph.
  // Tempo's search answers trace ids without leading zeros.
  await page.locator(`#results tbody tr[data-trace="${ids.trace.replace(/^0+/, "")}"] a`).click();
  await count(page.locator(".span-row"), 6, "six span rows");
  await contains(page.locator("#span-count"), "6 spans", "span count");
  await contains(page.locator(".trace-head .facts"), ids.trace, "full trace id");
  const payment = page.locator(`.span-row[data-span="${ids.payment}"]`);
  await attached(payment.locator(".bar.critical"), "payment on the critical path");
  await attached(payment.locator(".bar.error"), "payment drawn as an error");
  await count(page.locator(`.span-row[data-span="${ids.cart}"] .bar.critical`), 0, "cart (parallel, shorter) off the path");
  await payment.click();
  await contains(page.locator("#details"), "payment.method", "span attributes");
  await contains(page.locator("#details"), "card declined", "status message");
  await contains(page.locator("#details"), "on the critical path", "time on the path");
  await contains(page.locator("#details"), "card declined by issuer", "the payment span's log line in its details");
  await contains(page.locator("#trace-logs"), "card declined by issuer", "the trace's logs");
  await contains(page.locator("#log-count"), "1 entry whose", "one log entry tied to the trace");
  check(page.url().includes(`span=${ids.payment}`), "the selection is in the deep link");
  await page.keyboard.press("k");
  check((await page.locator(".span-row.selected").getAttribute("data-span")) !== ids.payment, "k moves the selection");
  await page.keyboard.press("c");
  await count(page.locator(`.span-row[data-span="${ids.cart}"]`), 0, "critical path only hides cart");
  await page.keyboard.press("c");
  await page.keyboard.press("f");
  await page.locator("canvas.flame").waitFor({ state: "visible", timeout: TIMEOUT });
  await page.keyboard.press("f");
  await page.screenshot({ path: `${shots}/trace.png` });

  // Logs: a LogQL query, the volume chart, and the entry's trace one click away.
  await page.goto(`${base}/#/logs?range=1h&q=${encodeURIComponent('{service_name="payment"} |= "declined"')}`);
  await count(page.locator("#entries tbody tr"), 1, "one payment log entry");
  await contains(page.locator("#entries"), "card declined by issuer", "the log line");
  await attached(page.locator("svg.volume rect.bucket"), "the volume chart");
  await contains(page.locator("#status"), "1 with a stored trace", "its trace is stored");
  await page.screenshot({ path: `${shots}/logs.png` });
  await page.locator("#entries tbody tr a").click();
  await count(page.locator(".span-row"), 6, "the log entry's trace opens");

    // A deep link selects its span; dark mode.
  await page.goto(`${base}/#/trace/${ids.trace}?span=${ids.cart}`);
  await page.locator(`.span-row.selected[data-span="${ids.cart}"]`).waitFor({ state: "attached", timeout: TIMEOUT });
  await contains(page.locator("#details"), "cart.items", "deep-linked span's details");
  await page.keyboard.press("t");
  check((await page.evaluate("document.documentElement.dataset.theme")) === "dark", "t switches to dark");
  await page.screenshot({ path: `${shots}/trace-dark.png` });
  await page.keyboard.press("t");

  // 10,001 spans: a summary first, every row one click away, only rows in view drawn.
  await page.goto(`${base}/#/trace/${ids.big}`);
  await contains(page.locator("#span-count"), "10001 spans", "big trace loaded", 30_000);
  measured.bigTraceRenderedMs = Number(await page.evaluate("document.body.dataset.traceRenderedMs"));
  await page.locator("#folded").waitFor({ state: "visible", timeout: TIMEOUT });
  await count(page.locator(".span-row"), 1, "the root's 100 children start folded");
  const expanded = Date.now();
  await page.locator("#expand").click();
  await page.locator(".span-row", { hasText: "item 0.0" }).first().waitFor({ state: "visible", timeout: TIMEOUT });
  measured.bigTraceExpandMs = Date.now() - expanded;
  measured.bigTraceRowsInDom = await page.locator(".span-row").count();
  check(measured.bigTraceRowsInDom < 200, "only the rows in view are in the page");
  await page.evaluate("document.querySelector('.waterfall .scroller').scrollTop = 1e9");
  await page.locator(".span-row", { hasText: "item 99.98" }).waitFor({ state: "visible", timeout: TIMEOUT });
  await page.keyboard.press("Escape");

  // A trace over the server's read limit says it was cut.
  await page.goto(`${cappedBase}/#/trace/${ids.capped}`);
  await contains(page.locator("#span-count"), "5000 spans", "capped trace", 30_000);
  await contains(page.locator("#partial"), "5000", "the cut is explained");

  // The service map.
  await page.goto(`${base}/#/map?range=1h`);
  for (const service of ["frontend", "cart", "payment"]) {
    await attached(page.locator(`g.node[data-service="${service}"]`), `${service} on the map`);
  }
  await attached(page.locator('g.edge.errors[data-caller="frontend"][data-callee="payment"]'), "failing edge frontend -> payment");
  await page.screenshot({ path: `${shots}/map.png` });

  // RED charts from TraceQL metrics: a rate line per service; only payment errs.
  await page.goto(`${base}/#/red?range=1h`);
  const charts = page.locator("figure.chart");
  await count(charts, 4, "four RED charts");
  for (const service of ["frontend", "cart", "payment"]) {
    await attached(charts.nth(0).locator(`path[data-series="${service}"]`), `${service} request rate line`);
  }
  await count(charts.nth(1).locator("path"), 1, "one error line");
  await attached(charts.nth(1).locator('path[data-series="payment"]'), "payment's error line");
  await page.screenshot({ path: `${shots}/red.png` });

  // Request flow of the checkout workflow, the common critical path marked.
  await page.goto(`${base}/#/flow?range=1h&root_service=frontend&root_operation=${encodeURIComponent("GET /checkout")}`);
  await count(page.locator("#flow tbody tr"), 6, "six calling positions");
  await count(page.locator("#flow tbody tr.common", { hasText: "payment handler" }), 1, "payment on the common path");
  await count(page.locator("#flow tbody tr.common", { hasText: "cart handler" }), 0, "cart off the common path");
  await contains(page.locator("#out h2"), "2 traces", "both checkouts aggregated");
  await page.screenshot({ path: `${shots}/flow.png` });

  // Calling contexts across workflows.
  await page.goto(`${base}/#/cct?range=1h`);
  await count(page.locator("#cct tbody tr", { hasText: "nightly run" }), 1, "the batch workflow's root");
  await count(page.locator("#cct tbody tr", { hasText: "payment handler" }), 1, "checkout's payment context");
  await page.screenshot({ path: `${shots}/cct.png` });

  // Two traces side by side, then fast against slow traces.
  await page.goto(`${base}/#/compare?a=${ids.trace}&b=${ids.other}`);
  await count(page.locator("#compare tbody tr"), 6, "six aligned contexts");
  await page.goto(`${base}/#/compare?range=1h&q=${encodeURIComponent("{ }")}&threshold=1s`);
  await contains(page.locator("#out p"), "A (fast): 2 traces", "fast set");
  await contains(page.locator("#out p"), "B (slow): 1 traces", "slow set");
  await attached(page.locator("#compare tbody tr", { hasText: "nightly run" }), "the slow set's own context");
  await page.screenshot({ path: `${shots}/compare.png` });

  check(errors.length === 0, `no console errors or failed requests: ${JSON.stringify(errors)}`);
  console.log(JSON.stringify(measured));
} catch (error) {
  console.error(error.message);
  if (errors.length) console.error(`console errors and failed requests so far: ${JSON.stringify(errors)}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
