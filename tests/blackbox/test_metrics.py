"""/metrics exposes the contract's counters with the right values after real traffic
through each receiver (Zipkin JSON, OTLP/HTTP, OTLP/gRPC)."""

from __future__ import annotations

import grpc
import requests
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from helpers import (
    WeftServer,
    metric_sum,
    new_span_id,
    new_trace_id,
    now_micros,
    otlp_request,
    parse_metrics,
    wait_for_trace,
    wait_until,
    zspan,
)


def test_received_spans_wal_bytes_and_head_spans_are_counted(weft: WeftServer):
    zipkin_trace = new_trace_id()
    spans = [zspan(zipkin_trace, timestamp=now_micros(), duration=10) for _ in range(3)]
    assert weft.post_zipkin(spans).status_code == 202

    http_trace = new_trace_id()
    for _ in range(2):
        body = otlp_request(bytes.fromhex(http_trace), bytes.fromhex(new_span_id())).SerializeToString()
        response = requests.post(
            f"{weft.otlp_http_url}/v1/traces", data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=10
        )
        assert response.status_code == 200, response.content[:300]

    grpc_trace = new_trace_id()
    with grpc.insecure_channel(weft.otlp_grpc_endpoint) as channel:
        trace_service_pb2_grpc.TraceServiceStub(channel).Export(
            otlp_request(bytes.fromhex(grpc_trace), bytes.fromhex(new_span_id())), timeout=10
        )
    for trace_id, count in ((zipkin_trace, 3), (http_trace, 2), (grpc_trace, 1)):
        wait_for_trace(weft, trace_id, count)

    response = requests.get(f"{weft.http_url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers.get("Content-Type", "").startswith("text/plain"), response.headers
    text = response.text

    received = {
        labels.get("protocol"): value
        for name, labels, value in parse_metrics(text)
        if name == "weft_receiver_spans_received_total" and value
    }
    assert sorted(received.values()) == [1, 2, 3], f"spans received per protocol: {received}"
    assert all(received), f"every series needs a protocol label: {received}"
    assert metric_sum(text, "weft_wal_bytes_written_total") > 0
    assert metric_sum(text, "weft_receiver_requests_rejected_total") == 0
    wait_until(
        lambda: metric_sum(weft.metrics_text(), "weft_head_spans") == 6,
        timeout=5,
        message="weft_head_spans == 6",
    )
