"""Sampling end to end against the real binary: tail-sampling policies in the
OpenTelemetry Collector's YAML keep exactly the expected traces of a fixed corpus (slow,
failing, attribute-tagged, ordinary), late spans follow the decision, a SIGKILL during
the decision wait loses no decision, and span metrics on /metrics count every span
before head sampling keeps a tenth of the traces."""

from __future__ import annotations

import random
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from helpers import WeftServer, metric_sum, native_trace, parse_metrics, wait_until

DECISION_WAIT = "1s"
# Cut the head every second, so traces are decided about a second after their wait.
FAST_CUTS = ["--ingester.max-block-duration", "1s"]


@dataclass
class CorpusTrace:
    """One trace of the corpus and the properties the policies look at."""

    trace_id: bytes
    slow: bool = False
    failing: bool = False
    tier: str = "standard"
    status_code: int = 200
    cache_hit: bool = False
    health_check: bool = False
    spans: int = 3
    extra: list[bytes] = field(default_factory=list)

    @property
    def hex(self) -> str:
        return self.trace_id.hex()


def corpus(seed: int) -> list[CorpusTrace]:
    """60 traces: 10 slow, 10 failing (3 of them slow too), 8 gold-tier, 6 with HTTP 5xx,
    5 cache hits, 4 health checks, 6 with 6 spans, the rest ordinary; overlaps on purpose."""
    rng = random.Random(seed)
    traces = [CorpusTrace(trace_id=rng.randbytes(16)) for _ in range(60)]
    for trace in traces[0:10]:
        trace.slow = True
    for trace in traces[7:17]:
        trace.failing = True
    for trace in traces[20:28]:
        trace.tier = "gold"
    traces[28].tier = "platinum"
    for trace in traces[30:36]:
        trace.status_code = 503
    for trace in traces[36:41]:
        trace.cache_hit = True
    for trace in traces[41:45]:
        trace.health_check = True
    for trace in traces[45:51]:
        trace.spans = 6
    return traces


def string(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def export_request(traces: list[CorpusTrace], first_span: int = 1) -> ExportTraceServiceRequest:
    """Each trace as a root server span of `frontend` and children of `backend`."""
    now = time.time_ns() - 5_000_000_000
    frontend, backend = [], []
    for trace in traces:
        root_nanos = 2_500_000_000 if trace.slow else 40_000_000
        root_attributes = [
            string("tier", trace.tier),
            KeyValue(key="http.status_code", value=AnyValue(int_value=trace.status_code)),
            KeyValue(key="cache.hit", value=AnyValue(bool_value=trace.cache_hit)),
            string("url.path", "/health" if trace.health_check else "/cart"),
        ]
        for index in range(first_span, first_span + trace.spans):
            span = Span(
                trace_id=trace.trace_id,
                span_id=index.to_bytes(8, "big"),
                name="GET /cart" if index == 1 else f"call {index}",
                kind=Span.SPAN_KIND_SERVER if index == 1 else Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=now + index * 1_000,
                end_time_unix_nano=now + index * 1_000 + (root_nanos if index == 1 else 5_000_000),
            )
            if index == 1:
                span.attributes.extend(root_attributes)
                frontend.append(span)
            else:
                span.parent_span_id = (1).to_bytes(8, "big")
                if trace.failing and index == 2:
                    span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="boom"))
                backend.append(span)
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(resource=Resource(attributes=[string("service.name", service)]), scope_spans=[ScopeSpans(spans=spans)])
            for service, spans in (("frontend", frontend), ("backend", backend))
            if spans
        ]
    )


def push(server: WeftServer, request: ExportTraceServiceRequest) -> None:
    response = requests.post(
        f"{server.otlp_http_url}/v1/traces",
        data=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert response.status_code == 200, response.text[:300]


def decided(server: WeftServer) -> float:
    return metric_sum(server.metrics_text(), "weft_tail_sampling_traces_total")


def settled(server: WeftServer, traces: list[CorpusTrace], want: set[str]) -> set[str]:
    """The stored traces once the decided head is written: dropped traces stay readable
    from the head being written until its block is done, so poll briefly."""
    found: set[str] = set()

    def probe() -> bool:
        nonlocal found
        found = stored(server, traces)
        return found == want

    try:
        wait_until(probe, timeout=10, interval=0.2)
    except AssertionError:
        pass
    return found


def stored(server: WeftServer, traces: list[CorpusTrace]) -> set[str]:
    found = set()
    for trace in traces:
        status, _ = native_trace(server.http_url, trace.hex)
        if status == 200:
            found.add(trace.hex)
    return found


def start(weft_factory, tmp_path: Path, policies: str, data_dir: Path | None = None) -> WeftServer:
    path = tmp_path / "policies.yaml"
    path.write_text(textwrap.dedent(policies))
    return weft_factory(["--sampling.tail-policies", str(path), *FAST_CUTS], data_dir=data_dir)


POLICIES = {
    "latency": (
        "{name: slow, type: latency, latency: {threshold_ms: 1000}}",
        lambda t: t.slow,
    ),
    "status_code": (
        "{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}",
        lambda t: t.failing,
    ),
    "string_attribute": (
        "{name: gold, type: string_attribute, string_attribute: {key: tier, values: [gold]}}",
        lambda t: t.tier == "gold",
    ),
    "string_attribute_regex": (
        "{name: premium, type: string_attribute, string_attribute: {key: tier, values: ['gold|plat.*'], enabled_regex_matching: true}}",
        lambda t: t.tier in ("gold", "platinum"),
    ),
    "string_attribute_inverted": (
        "{name: not-health, type: string_attribute, string_attribute: {key: url.path, values: [/health], invert_match: true}}",
        lambda t: not t.health_check,
    ),
    "numeric_attribute": (
        "{name: server-errors, type: numeric_attribute, numeric_attribute: {key: http.status_code, min_value: 500, max_value: 599}}",
        lambda t: t.status_code >= 500,
    ),
    "boolean_attribute": (
        "{name: cached, type: boolean_attribute, boolean_attribute: {key: cache.hit, value: true}}",
        lambda t: t.cache_hit,
    ),
    "span_count": (
        "{name: big, type: span_count, span_count: {min_spans: 5}}",
        lambda t: t.spans >= 5,
    ),
    "and": (
        "{name: slow-errors, type: and, and: {and_sub_policy: ["
        "{name: slow, type: latency, latency: {threshold_ms: 1000}}, "
        "{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}]}}",
        lambda t: t.slow and t.failing,
    ),
    "drop": (
        "{name: no-health, type: drop, drop: {drop_sub_policy: ["
        "{name: health, type: string_attribute, string_attribute: {key: url.path, values: [/health]}}]}}, "
        "{name: everything, type: always_sample}",
        lambda t: not t.health_check,
    ),
}


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_each_policy_stores_exactly_the_expected_traces(weft_factory, tmp_path, policy):
    body, expected = POLICIES[policy]
    server = start(weft_factory, tmp_path, f"decision_wait: {DECISION_WAIT}\npolicies: [{body}]\n")
    traces = corpus(seed=len(policy))
    push(server, export_request(traces))
    wait_until(lambda: decided(server) == len(traces), timeout=20, message="every trace decided")
    want = {trace.hex for trace in traces if expected(trace)}
    assert 0 < len(want) < len(traces)
    assert settled(server, traces, want) == want


REALISTIC = """\
# Keep every failing or slow request and the gold tier, drop health checks, all
# under one spans-per-second budget shared by the sub-policies.
decision_wait: 1s
num_traces: 100000
policies:
  - name: no-health-checks
    type: drop
    drop:
      drop_sub_policy:
        - name: health
          type: string_attribute
          string_attribute: {key: url.path, values: [/health]}
  - name: budget
    type: composite
    composite:
      max_total_spans_per_second: 100000
      policy_order: [errors, slow, gold]
      composite_sub_policy:
        - name: errors
          type: status_code
          status_code: {status_codes: [ERROR]}
        - name: slow
          type: latency
          latency: {threshold_ms: 1000}
        - name: gold
          type: string_attribute
          string_attribute: {key: tier, values: [gold]}
      rate_allocation:
        - {policy: errors, percent: 50}
        - {policy: slow, percent: 30}
        - {policy: gold, percent: 20}
"""


def realistic_keeps(trace: CorpusTrace) -> bool:
    return not trace.health_check and (trace.failing or trace.slow or trace.tier == "gold")


def test_a_realistic_composite_with_late_spans(weft_factory, tmp_path):
    server = start(weft_factory, tmp_path, REALISTIC)
    traces = corpus(seed=7)
    traces[41].failing = True  # a failing health check is still dropped
    push(server, export_request(traces))
    wait_until(lambda: decided(server) == len(traces), timeout=20, message="every trace decided")
    want = {trace.hex for trace in traces if realistic_keeps(trace)}
    assert settled(server, traces, want) == want

    # Late spans of a kept and of a dropped trace follow the decisions, with no new one.
    kept = next(trace for trace in traces if realistic_keeps(trace))
    dropped = next(trace for trace in traces if not realistic_keeps(trace))
    for trace in (kept, dropped):
        trace.spans = 2
    push(server, export_request([kept, dropped], first_span=100))
    wait_until(
        lambda: metric_sum(server.metrics_text(), "weft_tail_sampling_late_spans_total") == 4,
        timeout=20,
        message="late spans handled",
    )
    assert decided(server) == len(traces)
    status, trace = native_trace(server.http_url, kept.hex)
    assert status == 200
    span_count = sum(len(scope["spans"]) for rs in trace["resourceSpans"] for scope in rs["scopeSpans"])
    assert span_count == 3 + 2
    wait_until(
        lambda: native_trace(server.http_url, dropped.hex)[0] == 404,
        timeout=10,
        message="late spans of a dropped trace are not stored",
    )

    per_policy = {
        (labels.get("policy"), labels.get("decision")): value
        for name, labels, value in parse_metrics(server.metrics_text())
        if name == "weft_tail_sampling_traces_total"
    }
    assert per_policy.get(("no-health-checks", "dropped")) == sum(t.health_check for t in traces), per_policy


def test_sigkill_during_the_decision_wait_loses_no_decision(weft_factory, tmp_path):
    policies = REALISTIC.replace("decision_wait: 1s", "decision_wait: 4s")
    server = start(weft_factory, tmp_path, policies)
    traces = corpus(seed=11)
    push(server, export_request(traces))
    # The first cuts carry every trace (none has waited 4 s); then a crash.
    wait_until(
        lambda: metric_sum(server.metrics_text(), "weft_tail_sampling_carried_spans_total") > 0,
        timeout=10,
        message="waiting traces carried",
    )
    assert decided(server) == 0
    server.kill()
    server.start()
    wait_until(lambda: decided(server) == len(traces), timeout=30, message="every trace decided after restart")
    want = {trace.hex for trace in traces if realistic_keeps(trace)}
    assert settled(server, traces, want) == want


def test_span_metrics_count_every_span_while_head_sampling_keeps_a_tenth(weft_factory):
    server = weft_factory(["--sampling.head.default-ratio", "0.1"])
    rng = random.Random(5)
    traces = [CorpusTrace(trace_id=rng.randbytes(16), spans=2) for _ in range(2000)]
    for trace in traces[:300]:
        trace.failing = True
    for chunk in range(0, len(traces), 250):
        push(server, export_request(traces[chunk : chunk + 250]))
    text = server.metrics_text()
    calls = {
        (labels["service"], labels["status_code"]): value
        for name, labels, value in parse_metrics(text)
        if name == "traces_spanmetrics_calls_total"
    }
    assert calls == {
        ("frontend", "STATUS_CODE_UNSET"): 2000,
        ("backend", "STATUS_CODE_UNSET"): 1700,
        ("backend", "STATUS_CODE_ERROR"): 300,
    }, calls
    edges = {
        (labels["client"], labels["server"]): value
        for name, labels, value in parse_metrics(text)
        if name == "traces_service_graph_request_total"
    }
    assert edges.get(("user", "frontend")) == 2000, edges

    kept = stored(server, traces)
    assert 150 <= len(kept) <= 250, f"about 10% of 2000 traces kept: {len(kept)}"
    assert metric_sum(text, "weft_head_sampling_spans_total", decision="kept") == 2 * len(kept)
    assert metric_sum(text, "weft_head_sampling_spans_total", decision="dropped") == 2 * (2000 - len(kept))
