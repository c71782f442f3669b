"""The built-in web UI, driven in Debian's Chromium through Playwright, over traces sent by
the OpenTelemetry Python SDK: search with completion and a duration histogram, the trace
page (waterfall, critical path, span details, keyboard, flame graph, deep links), a
10,000-span trace that renders only the rows in view, light and dark, and the service map."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from helpers import REPO_ROOT, WeftServer, wait_until

sys.path.insert(0, str(REPO_ROOT / "tests" / "ui"))
from chromium import CHROMIUM, launch  # noqa: E402

MS = 1_000_000


def missing_prerequisite() -> str | None:
    if not Path(CHROMIUM).is_file():
        return f"Chromium not found at {CHROMIUM} (Debian package chromium; or set WEFT_TEST_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Python package playwright not installed (tests/requirements.txt)"
    return None


def providers(server: WeftServer, services: list[str]):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    made = {}
    for service in services:
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{server.otlp_http_url}/v1/traces"), max_export_batch_size=1000, max_queue_size=20_000)
        )
        made[service] = provider
    return made


def send_checkout(server: WeftServer) -> dict[str, str]:
    """frontend GET /checkout [0, 100 ms] calls cart [10, 40] and, in parallel, payment
    [15, 90] (an error); the render step [95, 99]. Ids (hex) by role."""
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    made = providers(server, ["frontend", "cart", "payment"])
    # A minute and a half ago: metrics queries leave out the step still in progress.
    t0 = time.time_ns() - 90_000 * MS
    front = made["frontend"].get_tracer("shop")
    root = front.start_span("GET /checkout", kind=SpanKind.SERVER, start_time=t0)
    root_context = trace.set_span_in_context(root)
    ids = {"trace": format(root.get_span_context().trace_id, "032x"), "root": format(root.get_span_context().span_id, "016x")}

    def call(service: str, start: int, end: int, error: bool = False) -> None:
        client = front.start_span(f"call {service}", kind=SpanKind.CLIENT, start_time=t0 + start * MS, context=root_context)
        server_span = (
            made[service]
            .get_tracer(service)
            .start_span(
                f"{service} handler",
                kind=SpanKind.SERVER,
                start_time=t0 + (start + 5) * MS,
                context=trace.set_span_in_context(client),
                attributes={"payment.method": "card"} if service == "payment" else {"cart.items": 3},
            )
        )
        if error:
            server_span.set_status(Status(StatusCode.ERROR, "card declined"))
        server_span.end(end_time=t0 + (end - 5) * MS)
        client.end(end_time=t0 + end * MS)
        ids[service] = format(server_span.get_span_context().span_id, "016x")

    call("cart", 5, 45)
    call("payment", 10, 95, error=True)
    render = front.start_span("render", start_time=t0 + 95 * MS, context=root_context)
    render.end(end_time=t0 + 99 * MS)
    root.end(end_time=t0 + 100 * MS)
    for provider in made.values():
        provider.shutdown()
    return ids


def send_big_trace(server: WeftServer, fan_out: int = 100) -> str:
    """One root, `fan_out` children with `fan_out - 1` children each: fan_out² + 1 spans."""
    from opentelemetry import trace

    provider = providers(server, ["batch"])["batch"]
    tracer = provider.get_tracer("batch")
    # Older than the checkouts, so aggregates that stop at a node budget take those first.
    t0 = time.time_ns() - 300_000 * MS
    root = tracer.start_span("nightly run", start_time=t0)
    trace_id = format(root.get_span_context().trace_id, "032x")
    for child_index in range(fan_out):
        child_start = t0 + child_index * 100 * MS
        child = tracer.start_span(f"step {child_index}", start_time=child_start, context=trace.set_span_in_context(root))
        for leaf_index in range(fan_out - 1):
            leaf = tracer.start_span(
                f"item {child_index}.{leaf_index}",
                start_time=child_start + leaf_index * MS,
                context=trace.set_span_in_context(child),
            )
            leaf.end(end_time=child_start + (leaf_index + 1) * MS)
        child.end(end_time=child_start + 99 * MS)
    root.end(end_time=t0 + fan_out * 100 * MS)
    provider.shutdown()
    return trace_id


def spans_stored(server: WeftServer, trace_id: str) -> int:
    import requests

    response = requests.get(f"{server.http_url}/api/v2/traces/{trace_id}", timeout=30)
    if response.status_code != 200:
        return 0
    batches = (response.json().get("trace") or {}).get("resourceSpans") or []
    return sum(len(scope.get("spans", [])) for batch in batches for scope in batch.get("scopeSpans", []))


@pytest.mark.slow
def test_the_web_ui_searches_draws_traces_and_maps_services(weft_factory, tmp_path):
    missing = missing_prerequisite()
    if missing:
        pytest.fail(missing)
    from playwright.sync_api import expect, sync_playwright

    server = weft_factory()
    ids = send_checkout(server)
    other = send_checkout(server)
    big = send_big_trace(server)
    wait_until(lambda: spans_stored(server, ids["trace"]) == 6, timeout=30, message="checkout trace stored")
    wait_until(lambda: spans_stored(server, big) == 10_001, timeout=60, message="10,001-span trace stored")
    # Kept after the run as the test's artefacts, like the Zipkin UI test's.
    shots = Path(os.environ.get("WEFT_TEST_UI_SCREENSHOTS", REPO_ROOT / "target" / "ui-screenshots")) / "weft-ui"
    shots.mkdir(parents=True, exist_ok=True)
    for old in shots.glob("*.png"):
        old.unlink()

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("response", lambda response: errors.append(f"{response.status} {response.url}") if response.status >= 400 else None)

            # Search, with tag and value completion.
            frontend = quote('{ resource.service.name = "frontend" }')
            page.goto(f"{server.http_url}/#/search?range=1h&q={frontend}")
            expect(page.locator("#results tbody tr")).to_have_count(2, timeout=15_000)
            expect(page.locator("svg.histogram rect.bucket").first).to_be_attached()
            box = page.locator("#q")
            box.fill("")
            box.type("{ resource.serv")
            suggestion = page.locator("#suggestions").get_by_text("resource.service.name", exact=True)
            expect(suggestion).to_be_visible()
            suggestion.click()
            assert box.input_value() == "{ resource.service.name"
            box.type(" = ")
            expect(page.locator("#suggestions li", has_text="payment")).to_be_visible()
            page.screenshot(path=str(shots / "search.png"))

            # The trace page.
            # Tempo's search answers trace ids without leading zeros.
            page.locator(f'#results tbody tr[data-trace="{ids["trace"].lstrip("0")}"] a').click()
            expect(page.locator(".span-row")).to_have_count(6, timeout=15_000)
            expect(page.locator("#span-count")).to_have_text("6 spans")
            expect(page.locator(".trace-head .facts")).to_contain_text(ids["trace"])
            payment = page.locator(f'.span-row[data-span="{ids["payment"]}"]')
            expect(payment.locator(".bar.critical")).to_be_attached()
            expect(payment.locator(".bar.error")).to_be_attached()
            expect(page.locator(f'.span-row[data-span="{ids["cart"]}"] .bar.critical')).to_have_count(0)
            payment.click()
            expect(page.locator("#details")).to_contain_text("payment.method")
            expect(page.locator("#details")).to_contain_text("card declined")
            expect(page.locator("#details")).to_contain_text("on the critical path")
            assert f"span={ids['payment']}" in page.url
            page.keyboard.press("k")
            expect(page.locator(".span-row.selected")).not_to_have_attribute("data-span", ids["payment"])
            page.keyboard.press("c")
            expect(page.locator(f'.span-row[data-span="{ids["cart"]}"]')).to_have_count(0)
            page.keyboard.press("c")
            page.keyboard.press("f")
            expect(page.locator("canvas.flame")).to_be_visible()
            page.keyboard.press("f")
            page.screenshot(path=str(shots / "trace.png"))

            # A deep link selects its span; dark mode holds.
            page.goto(f"{server.http_url}/#/trace/{ids['trace']}?span={ids['cart']}")
            expect(page.locator(".span-row.selected")).to_have_attribute("data-span", ids["cart"], timeout=15_000)
            expect(page.locator("#details")).to_contain_text("cart.items")
            page.keyboard.press("t")
            assert page.evaluate("document.documentElement.dataset.theme") == "dark"
            page.screenshot(path=str(shots / "trace-dark.png"))
            page.keyboard.press("t")

            # 10,000 spans: drawn at once, only the rows in view are in the page.
            page.goto(f"{server.http_url}/#/trace/{big}")
            expect(page.locator("#span-count")).to_have_text("10001 spans", timeout=30_000)
            rendered_ms = int(page.evaluate("document.body.dataset.traceRenderedMs"))
            print(f"10,000-span trace fetched and drawn in {rendered_ms} ms")
            assert rendered_ms < 5_000, rendered_ms
            # It opens as a summary: the root's 100 children are folded under it.
            expect(page.locator("#folded")).to_be_visible()
            expect(page.locator(".span-row")).to_have_count(1)
            page.locator("#expand").click()
            expect(page.locator(".span-row", has_text="item 0.0").first).to_be_visible()
            assert page.locator(".span-row").count() < 200
            page.evaluate("document.querySelector('.waterfall .scroller').scrollTop = 1e9")
            expect(page.locator(".span-row", has_text="item 99.98")).to_be_visible()
            page.keyboard.press("Escape")

            # A trace over the server's read limit says it is cut.
            capped = weft_factory(["--query.max-spans-per-trace", "5000"])
            capped_id = send_big_trace(capped)
            wait_until(lambda: spans_stored(capped, capped_id) == 5_000, timeout=60, message="capped read")
            page.goto(f"{capped.http_url}/#/trace/{capped_id}")
            expect(page.locator("#span-count")).to_have_text("5000 spans", timeout=30_000)
            expect(page.locator("#partial")).to_contain_text("5000")

            # The service map.
            page.goto(f"{server.http_url}/#/map?range=1h")
            for service in ("frontend", "cart", "payment"):
                expect(page.locator(f'g.node[data-service="{service}"]')).to_be_attached(timeout=15_000)
            expect(page.locator('g.edge.errors[data-caller="frontend"][data-callee="payment"]')).to_be_attached()
            page.screenshot(path=str(shots / "map.png"))

            # RED charts from TraceQL metrics: every service has a rate line, only payment errs.
            page.goto(f"{server.http_url}/#/red?range=1h")
            charts = page.locator("figure.chart")
            expect(charts).to_have_count(4, timeout=15_000)
            page.screenshot(path=str(shots / "red.png"))
            for service in ("frontend", "cart", "payment"):
                expect(charts.nth(0).locator(f'path[data-series="{service}"]')).to_be_attached()
            expect(charts.nth(1).locator("path")).to_have_count(1)
            expect(charts.nth(1).locator('path[data-series="payment"]')).to_be_attached()
            page.screenshot(path=str(shots / "red.png"))

            # Request flow of the checkout workflow: both traces, the common path marked.
            page.goto(f"{server.http_url}/#/flow?range=1h&root_service=frontend&root_operation={quote('GET /checkout')}")
            expect(page.locator("#flow tbody tr")).to_have_count(6, timeout=15_000)
            expect(page.locator("#flow tbody tr.common", has_text="payment handler")).to_have_count(1)
            expect(page.locator("#flow tbody tr.common", has_text="cart handler")).to_have_count(0)
            expect(page.locator("#out h2")).to_contain_text("2 traces")
            page.screenshot(path=str(shots / "flow.png"))

            # Calling contexts across workflows: checkout's six and the batch run's.
            page.goto(f"{server.http_url}/#/cct?range=1h")
            expect(page.locator("#cct tbody tr", has_text="nightly run")).to_have_count(1, timeout=15_000)
            expect(page.locator("#cct tbody tr", has_text="payment handler")).to_have_count(1)

            # Two traces side by side, then fast against slow traces.
            page.goto(f"{server.http_url}/#/compare?a={ids['trace']}&b={other['trace']}")
            expect(page.locator("#compare tbody tr")).to_have_count(6, timeout=15_000)
            page.goto(f"{server.http_url}/#/compare?range=1h&q={quote('{ }')}&threshold=1s")
            expect(page.locator("#out p").first).to_contain_text("A (fast): 2 traces", timeout=15_000)
            expect(page.locator("#out p").first).to_contain_text("B (slow): 1 traces")
            expect(page.locator("#compare tbody tr", has_text="nightly run").first).to_be_attached()
            page.screenshot(path=str(shots / "compare.png"))
            assert errors == [], errors
        finally:
            browser.close()
