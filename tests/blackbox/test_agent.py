"""`weft agent`: an application using the OpenTelemetry SDK, unchanged (OTLP exporter
pointed at the agent), has its spans kept in the agent's byte-bounded ring and served on
the scrape endpoint of docs/pull-protocol.md; two scrapers each see every span; with a
ring too small, the spans a scraper misses equal exactly the drops it is told about."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from helpers import free_ports, wait_until, weft_binary


class Agent:
    def __init__(self, tmp_path: Path, *args: str):
        self.scrape_port, self.otlp_port = free_ports(2)
        self.log = tmp_path / "agent.log"
        command = [
            str(weft_binary()),
            "agent",
            "--scrape.listen", f"127.0.0.1:{self.scrape_port}",
            "--otlp-http.listen", f"127.0.0.1:{self.otlp_port}",
        ]
        for flag in ("otlp-grpc", "zipkin", "jaeger-compact", "jaeger-binary", "jaeger-http", "jaeger-grpc"):
            command += [f"--{flag}.listen", "off"]
        self.process = subprocess.Popen(command + list(args), stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        wait_until(lambda: requests.get(self.url(), timeout=2).status_code == 200, timeout=20, message="agent up")

    def url(self, cursor: int | None = None) -> str:
        query = "" if cursor is None else f"?cursor={cursor}"
        return f"http://127.0.0.1:{self.scrape_port}/weft/spans{query}"

    def scrape(self, cursor: int | None) -> tuple[list[str], int, int]:
        """(span names, next cursor, dropped) of one scrape."""
        response = requests.get(self.url(cursor), timeout=10)
        assert response.status_code == 200, response.text
        request = ExportTraceServiceRequest.FromString(response.content)
        names = [span.name for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]
        for rs in request.resource_spans:
            services = [kv.value.string_value for kv in rs.resource.attributes if kv.key == "service.name"]
            assert services == ["checkout"], rs.resource
        return names, int(response.headers["Weft-Cursor-Next"]), int(response.headers["Weft-Dropped"])

    def drain(self, cursor: int | None = None) -> tuple[list[str], int, int]:
        """Every span after `cursor`, scraping until nothing new comes."""
        names: list[str] = []
        dropped = 0
        while True:
            batch, next_cursor, missed = self.scrape(cursor)
            names += batch
            dropped += missed
            if next_cursor == cursor or not batch:
                return names, next_cursor, dropped
            cursor = next_cursor

    def stop(self) -> None:
        self.process.terminate()
        assert self.process.wait(timeout=15) == 0, self.log.read_text()[-3000:]


@pytest.fixture
def agent_factory(tmp_path):
    agents: list[Agent] = []

    def start(*args: str) -> Agent:
        agent = Agent(tmp_path, *args)
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.stop()


def emit(agent: Agent, count: int, prefix: str = "op") -> None:
    """An unchanged OpenTelemetry SDK application exporting over OTLP/HTTP to the agent."""
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{agent.otlp_port}/v1/traces"))
    )
    tracer = provider.get_tracer("shop")
    for index in range(count):
        with tracer.start_as_current_span(f"{prefix}-{index}"):
            pass
    provider.shutdown()


def test_two_scrapers_each_see_every_span_of_an_unchanged_sdk_application(agent_factory):
    agent = agent_factory()
    emit(agent, 60)
    first, first_cursor, first_dropped = agent.drain()
    second, _, second_dropped = agent.drain()
    assert sorted(first) == sorted(f"op-{index}" for index in range(60))
    assert second == first and first_dropped == second_dropped == 0
    # A scraper resuming from its cursor gets only what is new.
    emit(agent, 5, prefix="late")
    newer, _, _ = agent.drain(first_cursor)
    assert sorted(newer) == sorted(f"late-{index}" for index in range(5))


def test_with_a_ring_too_small_the_missing_spans_equal_the_drops_reported(agent_factory):
    agent = agent_factory("--buffer.max-bytes", "8192")
    emit(agent, 20, prefix="early")
    seen, cursor, dropped = agent.drain()
    assert dropped == 20 - len(seen) and len(seen) < 20 or dropped == 0 and len(seen) == 20
    emit(agent, 200, prefix="burst")
    burst, _, burst_dropped = agent.drain(cursor)
    assert burst_dropped > 0, "a ring of 8 KiB cannot hold 200 spans"
    assert len(burst) + burst_dropped == 200, (len(burst), burst_dropped)
    assert burst == sorted(burst, key=lambda name: int(name.split("-")[1])), "order kept"
    metrics = requests.get(f"http://127.0.0.1:{agent.scrape_port}/metrics", timeout=10).text
    assert "weft_agent_spans_buffered_total 220" in metrics, metrics[-2000:]
