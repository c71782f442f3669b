"""zipkin-lens, Zipkin's own UI, driven by Playwright in Debian's Chromium against weft and
against the real Zipkin server, both holding the same recorded traces (shared/fixtures):
the search page, the trace pages and the dependencies page must show the same.

- Real Zipkin: `io.zipkin:zipkin-server` (exec jar, in-memory storage) on a free loopback
  port, serving its bundled zipkin-lens at /zipkin/ itself.
- weft: the same zipkin-lens build (`io.zipkin:zipkin-lens`, same version) served by
  tests/ui/static_proxy.py the way zipkin-server serves it (index.html for the UI's
  routes, static files under /zipkin/), with /zipkin/config.json and the API forwarded
  to weft's Zipkin listener.
- Both artifacts come from tests/ui/fetch_zipkin_ui_deps.sh (pinned, checksummed), which
  tests/run.sh runs during setup, into target/ui-deps (or $WEFT_TEST_UI_DEPS).

What is compared, page by page: every visible text and every leaf element's box (so span
bars, indentation and column layout count, not only text), the options of the service,
span name and remote service dropdowns, the results of a search driven through the
criteria input, the span detail panel of clicked spans, and the graph the dependencies page
hands its renderer (nodes, links, call and error counts; the graph is drawn on a canvas).
Nothing is normalised: the UI only ever shows data and paths relative to /zipkin/.
Differences that are understood are listed in KNOWN_DIFFERENCES with the reason; the test
warns about those and fails on any other.

Screenshots of each page for both backends, and all that each showed (shown-*.json), go
to target/ui-screenshots/zipkin-lens (zipkin-lens-s3 in the S3 pass; or
$WEFT_TEST_UI_SCREENSHOTS). Without Chromium, Playwright, Java or the artifacts the test
is skipped, with the reason, unless WEFT_TEST_UI_REQUIRED=1 (tests/run.sh sets it for
the full run), when it fails instead.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import pytest
import requests

from helpers import FIXTURES_DIR, REPO_ROOT, WeftServer, free_ports, wait_for_trace, wait_until

# Runs in both black-box passes, local disk and S3 (tests/run.sh: -m storage).
pytestmark = pytest.mark.storage

sys.path.insert(0, str(REPO_ROOT / "tests" / "ui"))
from chromium import CHROMIUM, launch  # noqa: E402
from static_proxy import ZIPKIN_LENS_INDEX_PATHS, StaticProxyServer  # noqa: E402

FIXTURES = {
    # fixture file -> trace id
    "zipkin-yelp.json": "a03ee8fff1dcd9b9",
    "zipkin-smartthings-oauth-authorization.json": "8ce82b2e9ed820ba",
}
# The fixtures are from 2018-2019; keep them through retention.
OLD_DATA_ARGS = ["--storage.retention", "100000d"]

UI_DEPS_DIR = Path(os.environ.get("WEFT_TEST_UI_DEPS", REPO_ROOT / "target" / "ui-deps"))
# (tests/run.sh runs the suite twice at once, blocks on local disk and in S3: one dir each)
_SCREENSHOT_SUBDIR = "zipkin-lens-s3" if os.environ.get("WEFT_TEST_S3_ENDPOINT") else "zipkin-lens"
SCREENSHOT_DIR = Path(
    os.environ.get("WEFT_TEST_UI_SCREENSHOTS", REPO_ROOT / "target" / "ui-screenshots" / _SCREENSHOT_SUBDIR)
)
VIEWPORT = {"width": 1400, "height": 1000}
# Milliseconds Playwright waits for a selector, navigation or click.
PAGE_TIMEOUT_MS = 20_000
ZIPKIN_START_TIMEOUT_SECONDS = 60.0

# Every leaf element (no element children) or element with text of its own under `root`,
# as [x, y, width, height, text] relative to `root`, in document order. Hidden elements
# (no box) are left out.
SNAPSHOT_JS = """(root) => {
  const origin = root.getBoundingClientRect();
  const items = [];
  for (const element of root.querySelectorAll('*')) {
    const text = Array.from(element.childNodes)
      .filter(node => node.nodeType === Node.TEXT_NODE)
      .map(node => node.textContent.trim())
      .filter(Boolean)
      .join(' ');
    if (!text && element.children.length > 0) continue;
    const box = element.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (getComputedStyle(element).visibility === 'hidden') continue;
    items.push([Math.round(box.x - origin.x), Math.round(box.y - origin.y),
                Math.round(box.width), Math.round(box.height), text]);
  }
  return items;
}"""

# The graph the dependencies page gives its renderer (vizceral draws it on a canvas): the
# `traffic` prop of the React component around the .vizceral element, or null.
DEPENDENCY_GRAPH_JS = """() => {
  const element = document.querySelector('.vizceral');
  if (!element) return null;
  for (let node = element; node; node = node.parentElement) {
    const key = Object.keys(node).find(name =>
      name.startsWith('__reactFiber$') || name.startsWith('__reactInternalInstance$'));
    if (!key) continue;
    for (let fiber = node[key]; fiber; fiber = fiber.return) {
      const props = fiber.memoizedProps;
      if (props && props.traffic) {
        const traffic = props.traffic;
        return {
          nodes: traffic.nodes.map(n => ({name: n.name, size: n.size ?? null})),
          connections: traffic.connections.map(c => ({source: c.source, target: c.target, metrics: c.metrics})),
        };
      }
    }
  }
  return null;
}"""

# One row of the trace page's virtualised span list (react-window style: absolutely placed,
# `top` = row index * 30px).
SPAN_ROW_SELECTOR = "div[style*='position: absolute'][style*='height: 30px']"
ROW_HEIGHT_PX = 30
# The scrolling element around the span list.
SPAN_LIST_JS = f"""(main) => {{
  let element = main.querySelector("{SPAN_ROW_SELECTOR}");
  while (element && !(element.scrollHeight > element.clientHeight &&
                      /(auto|scroll)/.test(getComputedStyle(element).overflowY))) {{
    element = element.parentElement;
  }}
  return element || document.scrollingElement;
}}"""
# The span rows now rendered, as [top offset in px, snapshot relative to the row].
SPAN_ROWS_JS = f"""(main) => Array.from(main.querySelectorAll("{SPAN_ROW_SELECTOR}"))
  .map(row => [parseInt(row.style.top, 10), ({SNAPSHOT_JS})(row)])"""

# Clicks the span row at `top` px where a user would, the middle of the row (the element
# there gets a click event, which bubbles to the row's handler); false when that row is
# not rendered yet or not in view.
CLICK_SPAN_ROW_JS = f"""(main, top) => {{
  const row = Array.from(main.querySelectorAll("{SPAN_ROW_SELECTOR}"))
    .find(candidate => parseInt(candidate.style.top, 10) === top);
  if (!row) return false;
  const box = row.getBoundingClientRect();
  const target = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
  if (!target || !row.contains(target)) return false;
  target.click();
  return true;
}}"""

# The span detail panel of the trace page: the ancestor of the "Span ID" label that sits
# in the right-hand column (narrower than half of <main>), as a snapshot.
SPAN_DETAIL_JS = """(main) => {
  const mainBox = main.getBoundingClientRect();
  const label = Array.from(main.querySelectorAll('*')).find(e =>
    e.children.length === 0 && e.textContent.trim() === 'Span ID');
  if (!label) return null;
  let panel = label;
  while (panel.parentElement && panel.parentElement !== main &&
         panel.parentElement.getBoundingClientRect().width < mainBox.width / 2) {
    panel = panel.parentElement;
  }
  return panel;
}"""


# ---------------------------------------------------------------------------------------
# prerequisites


def missing_prerequisite() -> str | None:
    """Why the test cannot run here, or None."""
    if not Path(CHROMIUM).is_file():
        return f"Chromium not found at {CHROMIUM} (Debian package chromium; or set WEFT_TEST_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Python package playwright not installed (tests/requirements.txt)"
    if shutil.which("java") is None:
        return "java not found (Debian package default-jre-headless)"
    for needed in ("zipkin-lens/index.html", "zipkin-server-exec.jar"):
        if not (UI_DEPS_DIR / needed).is_file():
            return f"{UI_DEPS_DIR / needed} missing: run tests/ui/fetch_zipkin_ui_deps.sh"
    for name in FIXTURES:
        if not (FIXTURES_DIR / name).is_file():
            return f"fixture {FIXTURES_DIR / name} missing: shared/ must sit beside the repository"
    return None


@pytest.fixture(scope="module")
def prerequisites():
    reason = missing_prerequisite()
    if reason is None:
        return
    if os.environ.get("WEFT_TEST_UI_REQUIRED") == "1":
        pytest.fail(f"WEFT_TEST_UI_REQUIRED=1 but {reason}")
    pytest.skip(reason)


# ---------------------------------------------------------------------------------------
# servers


class ZipkinServer:
    """The real Zipkin server (in-memory storage) on a free loopback port."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_ports(1)[0]
        self.log_path = log_path
        self.log_file = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                "java",
                # a short-lived test server: quick start over peak speed
                "-XX:TieredStopAtLevel=1",
                "-Xmx512m",
                "-jar",
                str(UI_DEPS_DIR / "zipkin-server-exec.jar"),
                "--armeria.ports[0].ip=127.0.0.1",
                f"--armeria.ports[0].port={self.port}",
            ],
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "STORAGE_TYPE": "mem"},
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        def healthy() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"zipkin-server exited with {self.process.returncode}:\n{self.log_tail()}")
            return requests.get(f"{self.url}/health", timeout=2).status_code == 200

        wait_until(healthy, timeout=ZIPKIN_START_TIMEOUT_SECONDS, interval=0.2, message="zipkin-server /health")

    def log_tail(self, max_chars: int = 6000) -> str:
        self.log_file.flush()
        return self.log_path.read_text(errors="replace")[-max_chars:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log_file.close()


def load_fixtures(zipkin_api: str, get_trace: Callable[[str, int], Any]) -> None:
    """POST every fixture to a Zipkin v2 API and wait until each trace reads back whole."""
    for name, trace_id in FIXTURES.items():
        spans = json.loads((FIXTURES_DIR / name).read_text())
        response = requests.post(
            f"{zipkin_api}/spans", data=json.dumps(spans), headers={"Content-Type": "application/json"}, timeout=30
        )
        assert response.status_code == 202, f"POST {name} to {zipkin_api}: {response.status_code} {response.text[:300]}"
        get_trace(trace_id, len(spans))


def fixture_window_millis() -> tuple[int, int]:
    """A time range (epoch ms) holding every span of the fixtures."""
    stamps = [
        span["timestamp"] // 1000
        for name in FIXTURES
        for span in json.loads((FIXTURES_DIR / name).read_text())
        if "timestamp" in span
    ]
    return min(stamps) - 60_000, max(stamps) + 60_000


# ---------------------------------------------------------------------------------------
# what a page shows


def settle(read: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Read the page until two reads in a row agree (transitions and late renders are
    over), and return that read."""
    deadline = time.monotonic() + timeout
    previous = read()
    while True:
        time.sleep(0.1)
        current = read()
        if current == previous:
            return current
        if time.monotonic() >= deadline:
            raise AssertionError(f"page did not settle within {timeout}s")
        previous = current


def snapshot(page, selector: str = "main") -> list:
    return settle(lambda: page.locator(selector).evaluate(SNAPSHOT_JS))


def suggestions(page):
    """The criteria input's suggestion list items."""
    return page.locator("[data-testid=criterion-input] + div li")


class LensSession:
    """One backend's zipkin-lens in one browser page; `shown` collects what it shows,
    keyed by what was looked at, for comparison with the other backend."""

    def __init__(self, browser, name: str, base_url: str, window: tuple[int, int]) -> None:
        self.name = name
        self.base_url = base_url
        self.start_millis, self.end_millis = window
        self.page = browser.new_page(viewport=VIEWPORT)
        self.page.set_default_timeout(PAGE_TIMEOUT_MS)
        self.shown: dict[str, Any] = {}
        self.screenshots: list[Path] = []

    def screenshot(self, label: str) -> None:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOT_DIR / f"{label}-{self.name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.screenshots.append(path)

    def result_rows(self):
        return self.page.get_by_test_id("TraceSummaryRow-duration")

    def search_page(self) -> None:
        page = self.page
        page.goto(
            f"{self.base_url}/zipkin/?lookback=range&startTs={self.start_millis}&endTs={self.end_millis}&limit=10"
        )
        # the URL's time range runs the search at once: both fixture traces
        page.wait_for_function(
            "n => document.querySelectorAll('[data-testid=TraceSummaryRow-duration]').length === n",
            arg=len(FIXTURES),
            polling=100,
        )
        self.shown["search: all traces"] = snapshot(page)
        page.get_by_role("button", name="Expand all").click()
        self.shown["search: all traces, expanded"] = snapshot(page)
        self.screenshot("search-all")

        # the service dropdown, then span name and remote service for one service
        page.get_by_test_id("add-button").click()
        suggestions(page).filter(has_text="serviceName").click()
        suggestions(page).first.wait_for()
        self.shown["search: service dropdown"] = settle(suggestions(page).all_inner_texts)
        suggestions(page).get_by_text("mobile_api", exact=True).click()
        suggestions(page).filter(has_text="spanName").click()
        suggestions(page).first.wait_for()
        self.shown["search: span name dropdown (mobile_api)"] = settle(suggestions(page).all_inner_texts)
        suggestions(page).get_by_text("post /location/update/v4", exact=True).click()
        suggestions(page).filter(has_text="remoteServiceName").click()
        suggestions(page).first.wait_for()
        self.shown["search: remote service dropdown (mobile_api)"] = settle(suggestions(page).all_inner_texts)
        suggestions(page).get_by_text("memcache", exact=True).click()
        page.keyboard.press("Escape")
        with page.expect_response(lambda response: "/api/v2/traces?" in response.url):
            page.get_by_role("button", name="Run query").click()
        page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=TraceSummaryRow-duration]').length === 1", polling=100
        )
        page.get_by_role("button", name="Expand all").click()
        self.shown["search: mobile_api, post /location/update/v4, memcache"] = snapshot(page)
        self.screenshot("search-criteria")

    def trace_page(self, trace_id: str, span_rows_to_click: Callable[[int], list[int]]) -> None:
        page = self.page
        page.goto(f"{self.base_url}/zipkin/traces/{trace_id}")
        page.wait_for_function(
            "id => (document.querySelector('main')?.innerText ?? '').includes(id)", arg=trace_id, polling=100
        )
        main = page.locator("main")
        main.locator(SPAN_ROW_SELECTOR).first.wait_for(state="attached")
        self.shown[f"trace {trace_id}: page"] = snapshot(page)
        self.screenshot(f"trace-{trace_id}")
        read_details = f"m => {{ const panel = ({SPAN_DETAIL_JS})(m); return panel && ({SNAPSHOT_JS})(panel); }}"
        # the root span's row (row 0) is selected when the page opens
        details = settle(lambda: main.evaluate(read_details))
        self.shown[f"trace {trace_id}: span row 0 details"] = details

        # The span list is virtualised: scroll through it and collect every row, each as
        # a snapshot relative to the row, keyed by the row's offset in the list. (Plain
        # DOM reads and writes: Playwright's actions wait for animation frames, which
        # take seconds each on this page on a busy machine.)
        list_height, client_height = main.evaluate(
            f"""m => {{
              const list = ({SPAN_LIST_JS})(m);
              const rows = m.querySelector("{SPAN_ROW_SELECTOR}").parentElement;
              return [rows.getBoundingClientRect().height, list.clientHeight];
            }}"""
        )
        row_count = round(list_height / ROW_HEIGHT_PX)
        rows: dict[int, list] = {}
        step = max(client_height // ROW_HEIGHT_PX - 1, 1) * ROW_HEIGHT_PX
        for scroll_top in range(0, int(list_height), step):
            main.evaluate(f"(m, top) => {{ ({SPAN_LIST_JS})(m).scrollTop = top; }}", scroll_top)
            # read once the rows for this scroll position are there: the first and the
            # last (or the list's last) row in view
            wanted = [scroll_top, min(scroll_top + step, (row_count - 1) * ROW_HEIGHT_PX)]
            wait_until(
                lambda: main.evaluate(
                    f"""(m, tops) => {{
                      const present = Array.from(m.querySelectorAll("{SPAN_ROW_SELECTOR}"))
                        .map(row => parseInt(row.style.top, 10));
                      return tops.every(top => present.includes(top));
                    }}""",
                    wanted,
                ),
                message=f"{self.name}: span rows at {wanted} px of trace {trace_id} after scrolling",
            )
            rows.update(main.evaluate(SPAN_ROWS_JS))
            if len(rows) >= row_count:
                break
        self.shown[f"trace {trace_id}: span rows"] = [rows[top] for top in sorted(rows)]
        assert sorted(rows) == [index * ROW_HEIGHT_PX for index in range(row_count)], (
            f"{self.name}: trace {trace_id}: expected {row_count} span rows, collected rows at {sorted(rows)}"
        )

        for index in span_rows_to_click(len(rows)):
            # rows still in view after the scrolling above need no scroll (each re-render
            # of this page costs seconds on a busy machine)
            if not main.evaluate(CLICK_SPAN_ROW_JS, index * ROW_HEIGHT_PX):
                main.evaluate(f"(m, top) => {{ ({SPAN_LIST_JS})(m).scrollTop = top; }}", index * ROW_HEIGHT_PX)
                wait_until(
                    lambda: main.evaluate(CLICK_SPAN_ROW_JS, index * ROW_HEIGHT_PX),
                    message=f"{self.name}: span row {index} of trace {trace_id} to click",
                )
            previous = details
            wait_until(
                lambda: main.evaluate(read_details) != previous,
                message=f"{self.name}: details of span row {index} of trace {trace_id} after a click",
            )
            details = settle(lambda: main.evaluate(read_details))
            self.shown[f"trace {trace_id}: span row {index} details"] = details

    def dependencies_page(self) -> None:
        page = self.page
        page.goto(f"{self.base_url}/zipkin/dependency?startTime={self.start_millis}&endTime={self.end_millis}")
        page.wait_for_function(
            f"() => {{ const g = ({DEPENDENCY_GRAPH_JS})(); return g && g.nodes.length > 0; }}", polling=100
        )
        self.record_graph("dependencies: graph", settle(lambda: page.evaluate(DEPENDENCY_GRAPH_JS)))
        self.shown["dependencies: page"] = snapshot(page)
        self.screenshot("dependencies")
        page.get_by_label("Filter").click()
        page.get_by_role("option").first.wait_for()
        options = settle(page.get_by_role("option").all_inner_texts)
        self.shown["dependencies: filter dropdown"] = options
        self.shown["dependencies: filter dropdown, distinct and sorted"] = sorted(set(options))
        # (the filter only changes what the canvas draws, not the graph it is given)
        page.get_by_role("option", name=DEPENDENCY_FILTER, exact=True).first.click()
        self.shown[f"dependencies: page filtered to {DEPENDENCY_FILTER}"] = snapshot(page)
        self.screenshot(f"dependencies-{DEPENDENCY_FILTER}")

    def record_graph(self, key: str, graph: dict) -> None:
        """The graph as given to the renderer, and the same without order (zipkin-lens
        draws the links in the order of the API's answer, which the API leaves open)."""
        self.shown[key] = graph
        self.shown[f"{key}: node names, distinct and sorted"] = sorted({node["name"] for node in graph["nodes"]})
        self.shown[f"{key}: links, sorted"] = sorted(
            [link["source"], link["target"], link["metrics"]["normal"], link["metrics"]["danger"]]
            for link in graph["connections"]
        )

    def close(self) -> None:
        self.page.close()


# The service the dependencies page is filtered to.
DEPENDENCY_FILTER = "datamgmt"

# Differences between weft and zipkin-server that are understood and reported, with why.
# The test warns about each instead of failing, and fails once one is gone (then remove it
# here).
KNOWN_DIFFERENCES = {
    "dependencies: graph": (
        "link order: weft's /api/v2/dependencies sorts links by parent and child, Zipkin lists "
        "them in the order its DependencyLinker first meets them (newest trace first, "
        "breadth-first); zipkin-lens draws nodes and links in that order"
    ),
    "dependencies: filter dropdown": "the filter lists nodes in link order (see above)",
}


def yelp_rows(count: int) -> list[int]:
    """Span rows to click after row 0 (selected when the page opens): all of them."""
    return list(range(1, count))


def smartthings_rows(count: int) -> list[int]:
    """Span rows to click after row 0: two near the end, still in view after the span list
    was scrolled through (each click re-renders the page, which costs time; the span rows
    already show every span's name, duration and place)."""
    return [count - 1, count - 6]


def drive_lens(browser, name: str, base_url: str) -> dict[str, Any]:
    """What zipkin-lens at `base_url` shows on each page (see `LensSession`)."""
    session = LensSession(browser, name, base_url, fixture_window_millis())
    phases = [
        ("search", session.search_page),
        ("yelp trace", lambda: session.trace_page(FIXTURES["zipkin-yelp.json"], yelp_rows)),
        (
            "smartthings trace",
            lambda: session.trace_page(FIXTURES["zipkin-smartthings-oauth-authorization.json"], smartthings_rows),
        ),
        ("dependencies", session.dependencies_page),
    ]
    try:
        for phase, run in phases:
            phase_started = time.monotonic()
            run()
            print(f"{name}: {phase} page took {time.monotonic() - phase_started:.1f}s")
    except Exception as error:
        try:
            session.screenshot("failure")
        except Exception as screenshot_error:  # the original error matters more
            error.add_note(f"no failure screenshot: {screenshot_error}")
        raise AssertionError(
            f"driving zipkin-lens against {name} failed (screenshot: {SCREENSHOT_DIR}/failure-{name}.png): {error}"
        ) from error
    finally:
        session.close()
    return session.shown


def differences(weft_shown: dict[str, Any], zipkin_shown: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, unified diff of the JSON) for each key where the two differ, sorted."""
    found = []
    for key in zipkin_shown.keys() | weft_shown.keys():
        ours, theirs = weft_shown.get(key), zipkin_shown.get(key)
        if ours == theirs:
            continue
        diff = difflib.unified_diff(
            json.dumps(theirs, indent=1).splitlines(),
            json.dumps(ours, indent=1).splitlines(),
            fromfile=f"zipkin: {key}",
            tofile=f"weft: {key}",
            lineterm="",
            n=2,
        )
        found.append((key, "\n".join(list(diff)[:80])))
    return sorted(found)


# ---------------------------------------------------------------------------------------
# the test


@pytest.mark.slow
def test_zipkin_lens_shows_the_same_for_weft_and_zipkin(prerequisites, weft_factory, tmp_path: Path):
    from playwright.sync_api import sync_playwright

    test_started = time.monotonic()
    # only this run's pictures in the screenshot dir
    for old_output in [*SCREENSHOT_DIR.glob("*.png"), *SCREENSHOT_DIR.glob("shown-*.json")]:
        old_output.unlink()
    # the JVM starts while weft's pages are driven
    zipkin = ZipkinServer(tmp_path / "zipkin-server.log")
    try:
        weft: WeftServer = weft_factory(args=OLD_DATA_ARGS)
        lens = StaticProxyServer(
            static_dir=UI_DEPS_DIR / "zipkin-lens",
            mount="/zipkin/",
            index_paths=ZIPKIN_LENS_INDEX_PATHS,
            forward_prefixes=["/zipkin/api/v2/", "/zipkin/config.json", "/api/v2/"],
            upstream=weft.zipkin_url,
            redirects={"/": "/zipkin/", "/zipkin": "/zipkin/"},
        ).start()
        try:
            load_fixtures(weft.zipkin_api, lambda trace_id, count: wait_for_trace(weft, trace_id, count))

            def load_zipkin() -> str:
                zipkin.wait_ready()

                def has_trace(trace_id: str, count: int) -> Any:
                    def probe():
                        response = requests.get(f"{zipkin.url}/api/v2/trace/{trace_id}", timeout=5)
                        return response.status_code == 200 and len(response.json()) >= count

                    return wait_until(probe, message=f"zipkin-server trace {trace_id}")

                load_fixtures(f"{zipkin.url}/api/v2", has_trace)
                print(f"zipkin-server ready and loaded {time.monotonic() - test_started:.1f}s into the test")
                return zipkin.url

            shown = {}
            with sync_playwright() as playwright:
                browser = launch(playwright)
                try:
                    for name, base_url in (("weft", lambda: lens.url), ("zipkin", load_zipkin)):
                        shown[name] = drive_lens(browser, name, base_url())
                finally:
                    browser.close()
        finally:
            lens.stop()
    finally:
        zipkin.stop()
    print(f"both UIs driven {time.monotonic() - test_started:.1f}s into the test")

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    for name, seen in shown.items():
        (SCREENSHOT_DIR / f"shown-{name}.json").write_text(json.dumps(seen, indent=1, sort_keys=True))

    # the comparison must have had something to compare
    assert len(shown["zipkin"]["search: all traces"]) > 20
    assert len(shown["zipkin"]["trace a03ee8fff1dcd9b9: span rows"]) == 13
    assert len(shown["zipkin"]["dependencies: graph"]["connections"]) > 10
    found = differences(shown["weft"], shown["zipkin"])
    unexpected = [text for key, text in found if key not in KNOWN_DIFFERENCES]
    for key, text in found:
        if key in KNOWN_DIFFERENCES:
            warnings.warn(f"known difference, {KNOWN_DIFFERENCES[key]}:\n{text}", stacklevel=1)
    assert not unexpected, (
        f"zipkin-lens shows {len(unexpected)} differences between weft and zipkin-server "
        f"(all of what each showed: {SCREENSHOT_DIR}/shown-*.json):\n\n" + "\n\n".join(unexpected)
    )
    gone = sorted(KNOWN_DIFFERENCES.keys() - {key for key, _ in found})
    assert not gone, f"known differences no longer seen (remove them from KNOWN_DIFFERENCES): {gone}"
