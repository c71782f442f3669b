"""Pull collection under irregular scrapes: an unchanged OpenTelemetry SDK application
pushes multi-span traces to `weft agent` while `weft serve` scrapes it with every wait
jittered over interval x (1 ± 0.5) (`--scrape.interval-jitter 0.5`). With a ring large
enough, every trace arrives whole; with a ring too small, the spans missing from storage
equal exactly the drops the scraper counted (`weft_scrape_spans_dropped_by_client_total`).

The run lasts WEFT_PULL_SOAK_SECONDS (default 15 s; the acceptance run uses 600)."""

from __future__ import annotations

import os
import random
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from helpers import metric_sum, native_trace, wait_until
from test_agent import Agent, agent_factory  # noqa: F401  (fixture re-export)

SOAK_SECONDS = float(os.environ.get("WEFT_PULL_SOAK_SECONDS", "15"))
CHILDREN_PER_TRACE = 3


def jittered_config(agent: Agent, interval_seconds: int = 1) -> str:
    return textwrap.dedent(
        f"""\
        scrape_configs:
          - job_name: jittered
            scrape_interval: {interval_seconds}s
            scrape_timeout: 1s
            metrics_path: /weft/spans
            static_configs:
              - targets: ['127.0.0.1:{agent.scrape_port}']
        """
    )


def emit_for(agent: Agent, seconds: float, seed: int) -> dict[str, int]:
    """Traces of a root and CHILDREN_PER_TRACE children that end at random moments
    (so one trace's spans straddle scrapes), for `seconds`; trace id (hex) -> spans."""
    provider = TracerProvider(resource=Resource.create({"service.name": "jitter-app"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{agent.otlp_port}/v1/traces"))
    )
    tracer = provider.get_tracer("jitter")
    rng = random.Random(seed)
    traces: dict[str, int] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with tracer.start_as_current_span("GET /order") as root:
            for child in range(CHILDREN_PER_TRACE):
                with tracer.start_as_current_span(f"step-{child}"):
                    time.sleep(rng.uniform(0, 0.004))
            traces[format(root.get_span_context().trace_id, "032x")] = 1 + CHILDREN_PER_TRACE
    provider.shutdown()
    return traces


def stored_span_counts(server, trace_ids) -> dict[str, int]:
    def count(trace_id: str) -> tuple[str, int]:
        status, trace = native_trace(server.http_url, trace_id)
        if status != 200:
            return trace_id, 0
        return trace_id, sum(len(ss["spans"]) for rs in trace["resourceSpans"] for ss in rs["scopeSpans"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(pool.map(count, trace_ids))


def wait_first_scrape(server) -> None:
    """Spans evicted before a scraper's first scrape are not drops it can see (it has no
    cursor yet), so producing starts after the first scrape."""

    def scraped_once() -> bool:
        targets = requests.get(f"{server.http_url}/api/scrape/targets", timeout=10).json()["data"]["activeTargets"]
        return bool(targets) and targets[0]["health"] == "up"

    wait_until(scraped_once, timeout=20, message="the agent scraped once")


def scraped_totals(server) -> tuple[float, float]:
    text = server.metrics_text()
    return (
        metric_sum(text, "weft_scrape_spans_total", job="jittered"),
        metric_sum(text, "weft_scrape_spans_dropped_by_client_total", job="jittered"),
    )


def test_jittered_scrapes_leave_no_trace_incomplete(weft_factory, agent_factory, tmp_path):
    agent = agent_factory("--buffer.max-bytes", str(256 * 1024 * 1024))
    config = tmp_path / "prometheus.yml"
    config.write_text(jittered_config(agent))
    server = weft_factory(["--scrape.config-file", str(config), "--scrape.interval-jitter", "0.5"])
    wait_first_scrape(server)
    traces = emit_for(agent, SOAK_SECONDS, seed=1)
    expected_spans = sum(traces.values())
    wait_until(
        lambda: scraped_totals(server)[0] >= expected_spans, timeout=30, message=f"{expected_spans} spans scraped"
    )
    scraped, dropped = scraped_totals(server)
    assert (scraped, dropped) == (expected_spans, 0)
    counts = stored_span_counts(server, traces)
    incomplete = {trace_id: count for trace_id, count in counts.items() if count != traces[trace_id]}
    print(f"jittered pull: {len(traces)} traces, {expected_spans} spans over {SOAK_SECONDS:.0f}s, incomplete {len(incomplete)}")
    assert not incomplete, f"{len(incomplete)} of {len(traces)} traces incomplete, e.g. {list(incomplete.items())[:5]}"


def test_with_a_ring_too_small_the_spans_missing_from_storage_equal_the_drops_counted(
    weft_factory, agent_factory, tmp_path
):
    # 16 KiB holds well under a hundred spans, and scrapes come 2 to 6 s apart: far more
    # arrives between two scrapes, even from a producer slowed by a busy machine.
    agent = agent_factory("--buffer.max-bytes", str(16 * 1024))
    config = tmp_path / "prometheus.yml"
    config.write_text(jittered_config(agent, interval_seconds=4))
    server = weft_factory(["--scrape.config-file", str(config), "--scrape.interval-jitter", "0.5"])
    wait_first_scrape(server)
    stop = threading.Event()
    traces: dict[str, int] = {}

    def produce():
        while not stop.is_set():
            traces.update(emit_for(agent, 1.0, seed=len(traces)))

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(max(min(SOAK_SECONDS, 20), 12))
    stop.set()
    producer.join()
    expected_spans = sum(traces.values())
    wait_until(
        lambda: sum(scraped_totals(server)) >= expected_spans,
        timeout=40,
        message=f"every one of {expected_spans} spans scraped or counted as dropped",
    )
    scraped, dropped = scraped_totals(server)
    assert dropped > 0, "the ring was meant to overflow"
    assert scraped + dropped == expected_spans, (scraped, dropped, expected_spans)
    stored = sum(stored_span_counts(server, traces).values())
    assert stored == scraped, (stored, scraped)
    print(f"small ring: {expected_spans} spans sent, {int(scraped)} stored, {int(dropped)} counted as dropped")
