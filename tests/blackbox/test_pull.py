"""Pull collection end to end: an unchanged OpenTelemetry SDK application pushes to
`weft agent`; `weft serve` scrapes the agent from a Prometheus scrape config, so every
span carries the target's labels; /api/scrape/targets has Prometheus's shape; a scraper
killed with SIGKILL resumes from its cursor with no gap and no duplicate; a bad reload
keeps the running configuration."""

from __future__ import annotations

import textwrap

import requests

from helpers import WeftServer, native_trace, wait_until
from test_agent import Agent, agent_factory, emit  # noqa: F401  (fixture re-export)


def scrape_config(agent: Agent, interval: str = "1s") -> str:
    return textwrap.dedent(
        f"""\
        scrape_configs:
          - job_name: shop
            scrape_interval: {interval}
            scrape_timeout: 1s
            metrics_path: /weft/spans
            static_configs:
              - targets: ['127.0.0.1:{agent.scrape_port}']
                labels: {{env: prod}}
            relabel_configs:
              - source_labels: [__address__]
                regex: '127\\.0\\.0\\.1:(\\d+)'
                target_label: agent_port
                replacement: '$1'
        """
    )


def trace_ids_with_spans(server: WeftServer, provider_spans: dict[str, int]) -> dict[str, int]:
    found = {}
    for trace_id in provider_spans:
        status, trace = native_trace(server.http_url, trace_id)
        if status == 200:
            found[trace_id] = sum(len(ss["spans"]) for rs in trace["resourceSpans"] for ss in rs["scopeSpans"])
    return found


def emit_traces(agent: Agent, count: int, prefix: str) -> dict[str, int]:
    """`count` one-span traces from an unchanged SDK app; their ids (hex) -> 1."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{agent.otlp_port}/v1/traces"))
    )
    tracer = provider.get_tracer("shop")
    ids = {}
    for index in range(count):
        with tracer.start_as_current_span(f"{prefix}-{index}") as span:
            ids[format(span.get_span_context().trace_id, "032x")] = 1
    provider.shutdown()
    return ids


def test_spans_pulled_from_an_agent_carry_the_target_labels(weft_factory, agent_factory, tmp_path):
    agent = agent_factory()
    config = tmp_path / "prometheus.yml"
    config.write_text(scrape_config(agent))
    server = weft_factory(["--scrape.config-file", str(config)])
    ids = emit_traces(agent, 30, "pulled")
    wait_until(lambda: len(trace_ids_with_spans(server, ids)) == 30, timeout=20, message="30 traces scraped")

    status, trace = native_trace(server.http_url, next(iter(ids)))
    assert status == 200
    resource = {
        attribute["key"]: attribute["value"].get("stringValue")
        for attribute in trace["resourceSpans"][0]["resource"]["attributes"]
    }
    assert resource["service.name"] == "checkout", resource  # the application's own wins
    assert resource["job"] == "shop"
    assert resource["instance"] == f"127.0.0.1:{agent.scrape_port}"
    assert resource["env"] == "prod"
    assert resource["agent_port"] == str(agent.scrape_port)

    targets = requests.get(f"{server.http_url}/api/scrape/targets", timeout=10).json()
    assert targets["status"] == "success"
    (active,) = targets["data"]["activeTargets"]
    assert active["health"] == "up" and active["scrapePool"] == "shop"
    assert active["scrapeUrl"] == f"http://127.0.0.1:{agent.scrape_port}/weft/spans"
    assert active["labels"] == {
        "job": "shop",
        "instance": f"127.0.0.1:{agent.scrape_port}",
        "env": "prod",
        "agent_port": str(agent.scrape_port),
    }
    assert active["discoveredLabels"]["__address__"] == f"127.0.0.1:{agent.scrape_port}"
    assert targets["data"]["droppedTargets"] == []


def test_a_killed_scraper_resumes_from_its_cursor_and_a_bad_reload_is_refused(
    weft_factory, agent_factory, tmp_path
):
    agent = agent_factory()
    config = tmp_path / "prometheus.yml"
    config.write_text(scrape_config(agent))
    server = weft_factory(["--scrape.config-file", str(config)])
    first = emit_traces(agent, 20, "before")
    wait_until(lambda: len(trace_ids_with_spans(server, first)) == 20, timeout=20, message="first batch scraped")
    server.kill()
    second = emit_traces(agent, 20, "while-down")
    server.start()
    everything = {**first, **second}
    wait_until(
        lambda: len(trace_ids_with_spans(server, everything)) == 40, timeout=20, message="all 40 traces after restart"
    )
    # No duplicate: every trace holds exactly its one span.
    assert set(trace_ids_with_spans(server, everything).values()) == {1}

    config.write_text("scrape_configs:\n  - job_name: shop\n    scrape_interval: banana\n")
    response = requests.post(f"{server.http_url}/-/reload", timeout=10)
    assert response.status_code == 500 and "banana" in response.text, response.text
    third = emit_traces(agent, 5, "after-bad-reload")
    wait_until(lambda: len(trace_ids_with_spans(server, third)) == 5, timeout=20, message="still scraping")
