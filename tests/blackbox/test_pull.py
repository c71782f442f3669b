"""Pull collection end to end: an unchanged OpenTelemetry SDK application pushes to
`weft agent`; `weft serve` scrapes the agent from a Prometheus scrape config, so every
span carries the target's labels; /api/scrape/targets has Prometheus's shape; a scraper
killed with SIGKILL resumes from its cursor with no gap and no duplicate; a bad reload
keeps the running configuration. A Rust service using the weft-client crate is scraped
the same way."""

from __future__ import annotations

import subprocess
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

from helpers import WeftServer, free_ports, metric_sum, native_trace, wait_until, weft_binary
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


def client_example_binary():
    """The Rust service of crates/client/examples/checkout_service.rs, built by
    tests/run.sh beside the weft binary."""
    path = weft_binary().parent / "examples" / "checkout_service"
    if not path.exists():
        pytest.fail(f"{path} not found: build it with cargo build --profile ci -p weft-client --features axum --example checkout_service")
    return path


def test_a_rust_service_using_the_client_crate_is_scraped_with_its_target_labels(weft_factory, tmp_path):
    log = tmp_path / "checkout_service.log"
    service = subprocess.Popen(
        [str(client_example_binary()), "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=log.open("w"), text=True
    )
    try:
        first_line = service.stdout.readline()
        assert first_line.startswith("listening on "), first_line + log.read_text()
        address = first_line.split()[-1]
        config = tmp_path / "prometheus.yml"
        config.write_text(
            textwrap.dedent(
                f"""\
                scrape_configs:
                  - job_name: rust-shop
                    scrape_interval: 1s
                    metrics_path: /weft/spans
                    static_configs:
                      - targets: ['{address}']
                        labels: {{team: payments}}
                """
            )
        )
        server = weft_factory(["--scrape.config-file", str(config)])
        trace_ids = [
            requests.get(f"http://{address}/checkout", params={"items": items}, timeout=10).text for items in range(1, 6)
        ]
        expected = {trace_id: items + 2 for trace_id, items in zip(trace_ids, range(1, 6))}  # server, items, charge
        wait_until(
            lambda: trace_ids_with_spans(server, expected) == expected, timeout=20, message="5 traces scraped whole"
        )
        status, trace = native_trace(server.http_url, trace_ids[2])
        assert status == 200
        (resource_spans,) = trace["resourceSpans"]
        resource = {
            attribute["key"]: attribute["value"].get("stringValue")
            for attribute in resource_spans["resource"]["attributes"]
        }
        assert resource["service.name"] == "rust-checkout"
        assert resource["job"] == "rust-shop" and resource["instance"] == address and resource["team"] == "payments"
        spans = [span for scope in resource_spans["scopeSpans"] for span in scope["spans"]]
        (root,) = [span for span in spans if not span.get("parentSpanId")]
        assert root["name"] == "GET /checkout"
        assert sorted(span["name"] for span in spans if span is not root) == ["POST /charge"] + ["reserve stock"] * 3
        assert all(span["parentSpanId"] == root["spanId"] for span in spans if span is not root)
    finally:
        service.terminate()
        service.wait(timeout=10)


def test_two_scrapers_shard_the_targets_by_hashmod(weft_factory, agent_factory, tmp_path):
    agents = [agent_factory() for _ in range(4)]
    addresses = [f"127.0.0.1:{agent.scrape_port}" for agent in agents]
    servers = []
    for shard in (0, 1):
        config = tmp_path / f"shard-{shard}.yml"
        config.write_text(
            textwrap.dedent(
                f"""\
                scrape_configs:
                  - job_name: sharded
                    scrape_interval: 1s
                    metrics_path: /weft/spans
                    static_configs:
                      - targets: {addresses}
                    relabel_configs:
                      - source_labels: [__address__]
                        modulus: 2
                        target_label: __tmp_shard
                        action: hashmod
                      - source_labels: [__tmp_shard]
                        regex: '{shard}'
                        action: keep
                """
            )
        )
        servers.append(weft_factory(["--scrape.config-file", str(config)]))
    emitted = [emit_traces(agent, 5, f"agent-{index}") for index, agent in enumerate(agents)]

    def active_instances(server: WeftServer) -> set[str]:
        targets = requests.get(f"{server.http_url}/api/scrape/targets", timeout=10).json()["data"]
        return {target["labels"]["instance"] for target in targets["activeTargets"]}

    shards = [active_instances(server) for server in servers]
    assert shards[0] | shards[1] == set(addresses) and not shards[0] & shards[1], shards
    for agent_index, traces in enumerate(emitted):
        owner = 0 if addresses[agent_index] in shards[0] else 1
        wait_until(
            lambda: len(trace_ids_with_spans(servers[owner], traces)) == 5,
            timeout=20,
            message=f"agent {agent_index} scraped by shard {owner}",
        )
        assert trace_ids_with_spans(servers[1 - owner], traces) == {}, "only one shard scrapes a target"


def scraped_since(scraper: "Scraper", moment: float) -> bool:
    """True when every target of `scraper` was last scraped (started) after `moment`
    (Unix seconds)."""
    targets = requests.get(f"{scraper.url}/api/scrape/targets", timeout=10).json()["data"]["activeTargets"]

    def started(text: str) -> float:
        # RFC 3339 with up to nine fractional digits; Python reads six.
        head, _, fraction = text.rstrip("Z").partition(".")
        return datetime.fromisoformat(head).replace(tzinfo=timezone.utc).timestamp() + float(f"0.{fraction or 0}")

    return bool(targets) and all(started(target["lastScrape"]) > moment for target in targets)


class Scraper:
    """One `weft scraper` process forwarding to `server`'s OTLP/gRPC port; its cursors
    live in `path`, so a restart resumes."""

    def __init__(self, config: Path, server: WeftServer, path: Path):
        self.config, self.server, self.path = config, server, path
        self.log = path.with_suffix(".log")
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        (self.http_port,) = free_ports(1)
        command = [
            str(weft_binary()), "scraper",
            "--scrape.config-file", str(self.config),
            "--forward.endpoint", f"http://{self.server.otlp_grpc_endpoint}",
            "--http.listen", f"127.0.0.1:{self.http_port}",
            "--path", str(self.path),
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=self.log.open("a"), stderr=subprocess.STDOUT)
        wait_until(
            lambda: requests.get(f"{self.url}/ready", timeout=2).status_code == 200, timeout=20, message="scraper up"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def forwarded_spans(self) -> float:
        return metric_sum(requests.get(f"{self.url}/metrics", timeout=10).text, "weft_forward_spans_total")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=15)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            assert self.process.wait(timeout=15) == 0, self.log.read_text()[-3000:]


def test_two_scrapers_of_the_same_targets_store_each_span_once_and_one_can_die(weft_factory, agent_factory, tmp_path):
    """High availability: two `weft scraper`s pull the same agent and forward to one weft
    serve; each forwards every span, the server keeps one copy of each at ingest (its
    duplicate counter counts the other), and with one scraper killed the other goes on
    alone; the restarted one resumes from its cursor and its late copies are dropped too."""
    agent = agent_factory()
    config = tmp_path / "prometheus.yml"
    config.write_text(scrape_config(agent))
    # One head for the whole test: copies are dropped at ingest while the trace is in it.
    server = weft_factory(["--ingester.max-block-duration", "10m"])
    scrapers = [Scraper(config, server, tmp_path / f"scraper-{index}") for index in range(2)]
    try:
        first = emit_traces(agent, 30, "ha")
        wait_until(
            lambda: all(scraper.forwarded_spans() == 30 for scraper in scrapers),
            timeout=30,
            message="both scrapers forwarded all 30 spans",
        )
        assert trace_ids_with_spans(server, first) == first, "every trace stored with its one span"
        wait_until(
            lambda: metric_sum(server.metrics_text(), "weft_ingester_duplicate_spans_total") == 30,
            timeout=10,
            message="the second copy of each of the 30 spans dropped at ingest",
        )
        targets = requests.get(f"{scrapers[0].url}/api/scrape/targets", timeout=10).json()["data"]
        assert [target["health"] for target in targets["activeTargets"]] == ["up"]

        # A scrape's cursor is persisted after its spans are forwarded (and counted): wait
        # for a scrape that started after the count, so the one before it has persisted
        # its cursor, before the kill; else the restart rightly reads those spans again.
        counted = time.time()
        wait_until(lambda: scraped_since(scrapers[1], counted), timeout=30, message="a later scrape started")
        scrapers[1].kill()
        second = emit_traces(agent, 20, "one-scraper")
        everything = {**first, **second}
        wait_until(
            lambda: trace_ids_with_spans(server, everything) == everything,
            timeout=30,
            message="the surviving scraper stores the next 20 alone",
        )
        scrapers[1].start()
        wait_until(
            lambda: scrapers[1].forwarded_spans() == 20,
            timeout=30,
            message="the restarted scraper resumes from its cursor: the 20 it missed, nothing before",
        )
        wait_until(
            lambda: metric_sum(server.metrics_text(), "weft_ingester_duplicate_spans_total") == 50,
            timeout=10,
            message="its 20 late copies dropped at ingest",
        )
        assert trace_ids_with_spans(server, everything) == everything
    finally:
        for scraper in scrapers:
            scraper.stop()
