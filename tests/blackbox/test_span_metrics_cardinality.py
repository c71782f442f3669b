"""/metrics stays bounded under a stream of 100,000 distinct span names: span metrics keep
`--span-metrics.max-series` label sets per family and fold the rest into one
`metric_overflow="true"` series, so the totals stay exact."""

from __future__ import annotations

import os
import time

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from helpers import parse_metrics, wait_until

DISTINCT_NAMES = 100_000
PER_REQUEST = 5_000
MAX_SERIES = 10_000


def request_with_names(first: int, count: int) -> bytes:
    start = time.time_ns() - 1_000_000_000
    spans = [
        Span(
            trace_id=os.urandom(16),
            span_id=os.urandom(8),
            name=f"operation-{index}",
            kind=Span.SPAN_KIND_SERVER,
            start_time_unix_nano=start,
            end_time_unix_nano=start + 2_000_000,
        )
        for index in range(first, first + count)
    ]
    resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="names"))])
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    ).SerializeToString()


def test_a_hundred_thousand_span_names_fold_into_an_overflow_series(weft_factory):
    server = weft_factory(["--span-metrics.max-series", str(MAX_SERIES)])
    for first in range(0, DISTINCT_NAMES, PER_REQUEST):
        response = requests.post(
            f"{server.otlp_http_url}/v1/traces",
            data=request_with_names(first, PER_REQUEST),
            headers={"Content-Type": "application/x-protobuf"},
            timeout=60,
        )
        assert response.status_code == 200, response.text

    def calls():
        samples = [
            (labels, value)
            for name, labels, value in parse_metrics(requests.get(f"{server.http_url}/metrics", timeout=60).text)
            if name == "traces_spanmetrics_calls_total"
        ]
        return samples if sum(value for _, value in samples) == DISTINCT_NAMES else None

    samples = wait_until(calls, timeout=30, message="every span counted in traces_spanmetrics_calls_total")
    overflow = [value for labels, value in samples if labels.get("metric_overflow") == "true"]
    named = [labels for labels, _ in samples if labels.get("metric_overflow") != "true"]
    assert len(named) == MAX_SERIES, len(named)
    assert overflow == [DISTINCT_NAMES - MAX_SERIES], overflow
    # The whole exposition stays a bounded size: every span-metrics family is capped alike.
    families = {}
    for name, labels, _ in parse_metrics(requests.get(f"{server.http_url}/metrics", timeout=60).text):
        if name.startswith("traces_spanmetrics_"):
            families[name] = families.get(name, 0) + 1
    for name, count in families.items():
        # Histograms have one series per bucket (plus _sum and _count) for each label set.
        assert count <= (MAX_SERIES + 1) * 20, (name, count)
