"""The OpenTelemetry Python SDK and its real exporters (OTLP gRPC, OTLP HTTP protobuf,
Zipkin JSON) send a three-service trace to weft; the trace is read back through the
Zipkin v2 API and the native API and checked field by field against the SDK's own
record of the spans (an in-memory exporter on the same providers)."""

from __future__ import annotations

import json
import time
from typing import Callable, Sequence

import pytest
import requests
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from helpers import WeftServer, native_trace, now_millis, wait_for_trace, wait_until

MS = 1_000_000  # nanoseconds per millisecond


class RecordingExporter(SpanExporter):
    """Wraps a real exporter and records each export result, so a failed export (which
    the batch processor would only log) fails the test."""

    def __init__(self, delegate: SpanExporter):
        self.delegate = delegate
        self.results: list[SpanExportResult] = []
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.delegate.export(spans)
        self.results.append(result)
        self.exported += len(spans)
        return result

    def shutdown(self) -> None:
        self.delegate.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def make_exporter(path: str, server: WeftServer) -> SpanExporter:
    if path == "otlp-grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=server.otlp_grpc_endpoint, insecure=True, timeout=5)
    if path == "otlp-http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=f"{server.otlp_http_url}/v1/traces", timeout=5)
    if path == "zipkin-json":
        from opentelemetry.exporter.zipkin.json import ZipkinExporter

        return ZipkinExporter(endpoint=f"{server.zipkin_api}/spans", timeout=5)
    raise ValueError(path)


def emit_checkout_trace(exporter_factory: Callable[[], SpanExporter]) -> tuple[int, list[ReadableSpan]]:
    """Record a checkout request across frontend -> backend -> db with explicit times.

    Returns the trace id and the SDK's finished spans. Times are sub-microsecond
    (t0 is an arbitrary ns value) and durations whole milliseconds:
    frontend SERVER 200 ms > frontend CLIENT 150 ms > backend SERVER 130 ms >
    {backend CLIENT db 40 ms, backend INTERNAL 40 ms, backend INTERNAL error 19 ms}.
    """
    t0 = time.time_ns() - 5_000 * MS + 123  # 5 s ago, not on a microsecond boundary
    providers: dict[str, TracerProvider] = {}
    memories: list[InMemorySpanExporter] = []
    recorders: list[RecordingExporter] = []
    for service in ("frontend", "backend"):
        provider = TracerProvider(resource=Resource.create({"service.name": service, "service.version": "1.2.3"}))
        memory = InMemorySpanExporter()
        recorder = RecordingExporter(exporter_factory())
        provider.add_span_processor(SimpleSpanProcessor(memory))
        provider.add_span_processor(BatchSpanProcessor(recorder))
        providers[service] = provider
        memories.append(memory)
        recorders.append(recorder)

    frontend = providers["frontend"].get_tracer("checkout-web", "0.1.0")
    backend = providers["backend"].get_tracer("reservations", "2.0.0")
    propagator = TraceContextTextMapPropagator()

    root = frontend.start_span(
        "get /checkout",
        kind=SpanKind.SERVER,
        start_time=t0,
        attributes={
            "http.request.method": "GET",
            "http.response.status_code": 200,
            "retry.ratio": 12.5,
            "feature.enabled": True,
            "cart.labels": ["gift", "express"],
            "retry.delays_ms": [10, 20],
        },
    )
    root.add_event("request.received", timestamp=t0 + 1 * MS)
    client = frontend.start_span(
        "call backend",
        context=trace.set_span_in_context(root),
        kind=SpanKind.CLIENT,
        start_time=t0 + 10 * MS,
        attributes={"peer.service": "backend", "server.address": "backend.internal", "server.port": 8080},
    )
    headers: dict[str, str] = {}
    propagator.inject(headers, context=trace.set_span_in_context(client))
    assert "traceparent" in headers

    # --- the backend process: only the propagated headers cross over ---
    incoming = propagator.extract(headers)
    handler = backend.start_span(
        "post /reserve",
        context=incoming,
        kind=SpanKind.SERVER,
        start_time=t0 + 20 * MS,
        attributes={"http.request.method": "POST", "http.route": "/reserve"},
    )
    handler_context = trace.set_span_in_context(handler)
    handler.add_event("cache.miss", attributes={"cache.key": "sku-1", "cache.size": 3}, timestamp=t0 + 25 * MS)
    query = backend.start_span(
        "select stock",
        context=handler_context,
        kind=SpanKind.CLIENT,
        start_time=t0 + 30 * MS,
        attributes={
            "peer.service": "db",
            "db.system": "postgresql",
            "db.statement": "SELECT qty FROM stock WHERE sku = $1",
            "db.rows": 3,
        },
    )
    query.end(end_time=t0 + 70 * MS)
    pricing = backend.start_span(
        "compute price",
        context=handler_context,
        kind=SpanKind.INTERNAL,
        start_time=t0 + 80 * MS,
        attributes={"price.cents": 1999, "discount.ratio": 0.125, "price.final": False},
    )
    pricing.add_event("rules.loaded", attributes={"rules": 12}, timestamp=t0 + 85 * MS)
    pricing.end(end_time=t0 + 120 * MS)
    charge = backend.start_span("charge card", context=handler_context, kind=SpanKind.INTERNAL, start_time=t0 + 121 * MS)
    charge.set_attribute("payment.provider", "acme")
    charge.add_event("retrying", timestamp=t0 + 130 * MS)
    charge.set_status(Status(StatusCode.ERROR, "card declined"))
    charge.end(end_time=t0 + 140 * MS)
    handler.end(end_time=t0 + 150 * MS)
    client.end(end_time=t0 + 160 * MS)
    root.end(end_time=t0 + 200 * MS)

    for provider in providers.values():
        assert provider.force_flush(timeout_millis=20_000), "force_flush timed out"
    for provider in providers.values():
        provider.shutdown()
    for recorder in recorders:
        assert recorder.results, "exporter was never called"
        assert all(result == SpanExportResult.SUCCESS for result in recorder.results), (
            f"export failed: {recorder.results}"
        )
    spans = [span for memory in memories for span in memory.get_finished_spans()]
    assert len(spans) == 6
    assert sum(recorder.exported for recorder in recorders) == 6
    return root.get_span_context().trace_id, spans


def tag_matches(tag: str | None, value) -> bool:
    """A Zipkin tag carries an OTel attribute as the OTel Zipkin mapping renders it:
    strings as-is, bools lower-case, numbers as decimal text, arrays as a JSON array
    (elements compared by their text, since exporters differ on quoting numbers)."""
    if tag is None:
        return False
    if isinstance(value, bool):
        return tag == str(value).lower()
    if isinstance(value, (int, float, str)):
        return tag == str(value)
    try:
        decoded = json.loads(tag)
    except ValueError:
        return False
    if not isinstance(decoded, list) or len(decoded) != len(value):
        return False
    return all(str(got).lower() == str(want).lower() for got, want in zip(decoded, value))


KIND_TO_ZIPKIN = {
    SpanKind.SERVER: "SERVER",
    SpanKind.CLIENT: "CLIENT",
    SpanKind.PRODUCER: "PRODUCER",
    SpanKind.CONSUMER: "CONSUMER",
    SpanKind.INTERNAL: None,
}


def check_span(zipkin_span: dict, sdk_span: ReadableSpan, path: str) -> None:
    context = sdk_span.get_span_context()
    where = f"span {sdk_span.name!r} via {path}: {json.dumps(zipkin_span)[:1500]}"
    assert zipkin_span["traceId"] == format(context.trace_id, "032x"), where
    assert zipkin_span["id"] == format(context.span_id, "016x"), where
    if sdk_span.parent is None:
        assert "parentId" not in zipkin_span, where
    else:
        assert zipkin_span.get("parentId") == format(sdk_span.parent.span_id, "016x"), where
    assert zipkin_span.get("name") == sdk_span.name, where
    assert zipkin_span.get("kind") == KIND_TO_ZIPKIN[sdk_span.kind], where
    assert abs(zipkin_span["timestamp"] - sdk_span.start_time // 1000) <= 1, where
    assert abs(zipkin_span["duration"] - (sdk_span.end_time - sdk_span.start_time) // 1000) <= 1, where
    assert zipkin_span["localEndpoint"]["serviceName"] == sdk_span.resource.attributes["service.name"], where

    tags = zipkin_span.get("tags", {})
    remote_service = zipkin_span.get("remoteEndpoint", {}).get("serviceName")
    for key, value in sdk_span.attributes.items():
        if key == "peer.service" and key not in tags:
            # OpenTelemetry's Zipkin mapping: peer.service is the remote service, so it is
            # served as remoteEndpoint.serviceName (docs/normalisation.md), whichever
            # protocol brought it in
            assert remote_service == value, where
            continue
        assert tag_matches(tags.get(key), value), f"tag {key}={tags.get(key)!r}, attribute {value!r}; {where}"
    if sdk_span.status.status_code == StatusCode.ERROR:
        assert tags.get("error") == sdk_span.status.description, where
        assert tags.get("otel.status_code") == "ERROR", where
    else:
        assert "error" not in tags, where

    annotations = sorted(zipkin_span.get("annotations", []), key=lambda a: a["timestamp"])
    events = sorted(sdk_span.events, key=lambda e: e.timestamp)
    assert len(annotations) == len(events), where
    for annotation, event in zip(annotations, events):
        assert abs(annotation["timestamp"] - event.timestamp // 1000) <= 1, where
        assert event.name in annotation["value"], where
        if path != "zipkin-json" and not event.attributes:
            # OTel Zipkin mapping: an event without attributes becomes its bare name
            assert annotation["value"] == event.name, where

    peer = sdk_span.attributes.get("peer.service")
    if peer:
        # OTel Zipkin mapping: peer.service becomes remoteEndpoint.serviceName
        assert remote_service == peer, where


def traces_query(server: WeftServer, **params) -> list[list[dict]]:
    params.setdefault("endTs", now_millis() + 1000)
    params.setdefault("lookback", 3_600_000)
    params.setdefault("limit", 10)
    return server.zjson("/traces", params)


@pytest.mark.parametrize("path", ["otlp-grpc", "otlp-http", "zipkin-json"])
def test_sdk_trace_reads_back_through_zipkin_api(weft: WeftServer, path: str):
    trace_id, sdk_spans = emit_checkout_trace(lambda: make_exporter(path, weft))
    trace_hex = format(trace_id, "032x")

    stored = wait_for_trace(weft, trace_hex, 6)
    assert len(stored) == 6, json.dumps(stored)[:3000]
    by_id = {span["id"]: span for span in stored}
    assert len(by_id) == 6, "span ids repeat"
    for sdk_span in sdk_spans:
        span_hex = format(sdk_span.get_span_context().span_id, "016x")
        assert span_hex in by_id, f"span {sdk_span.name} ({span_hex}) missing from {sorted(by_id)}"
        check_span(by_id[span_hex], sdk_span, path)


    # names
    assert weft.zjson("/services") == ["backend", "frontend"]
    assert weft.zjson("/spans", {"serviceName": "backend"}) == [
        "charge card",
        "compute price",
        "post /reserve",
        "select stock",
    ]
    assert weft.zjson("/spans", {"serviceName": "frontend"}) == ["call backend", "get /checkout"]
    # every path carries peer.service (the Zipkin exporter as a tag, which weft serves as
    # the remote endpoint per OpenTelemetry's Zipkin mapping)
    assert weft.zjson("/remoteServices", {"serviceName": "frontend"}) == ["backend"]
    assert weft.zjson("/remoteServices", {"serviceName": "backend"}) == ["db"]

    # search (poll: an index may trail the trace-by-id path)
    found = wait_until(
        lambda: traces_query(weft, serviceName="frontend"), message="search by serviceName=frontend"
    )
    assert [t[0]["traceId"] for t in found] == [trace_hex]
    assert len(found[0]) == 6, "search must return every span of a matching trace"

    def ids(**params) -> list[str]:
        return sorted({span["traceId"] for t in traces_query(weft, **params) for span in t})

    assert ids(serviceName="backend", spanName="compute price") == [trace_hex]
    assert ids(serviceName="frontend", spanName="compute price") == [], "spanName must belong to the service"
    assert ids(spanName="select stock") == [trace_hex]
    assert ids(serviceName="frontend", annotationQuery="http.request.method=GET") == [trace_hex]
    assert ids(serviceName="backend", annotationQuery="http.request.method=GET") == []
    assert ids(serviceName="backend", annotationQuery="http.request.method=POST") == [trace_hex]
    assert ids(serviceName="backend", annotationQuery="error") == [trace_hex], "bare term matches tag key"
    assert ids(serviceName="frontend", annotationQuery="error") == []
    received = next(span for span in stored if span["name"] == "get /checkout")["annotations"][0]["value"]
    assert ids(serviceName="frontend", annotationQuery=received) == [trace_hex], "annotation value query"
    assert ids(serviceName="backend", annotationQuery=received) == []
    assert ids(serviceName="frontend", minDuration=200_000) == [trace_hex]
    assert ids(serviceName="frontend", minDuration=200_001) == []
    assert ids(serviceName="backend", minDuration=40_000, maxDuration=40_000) == [trace_hex]
    assert ids(serviceName="backend", minDuration=39_998, maxDuration=39_999) == []
    assert ids(serviceName="nosuchservice") == []

    # dependencies: frontend -> backend from the client/server pair; backend -> db from
    # the client span's remote service (peer.service)
    def links() -> dict[tuple[str, str], dict]:
        answer = weft.zjson("/dependencies", {"endTs": now_millis() + 1000, "lookback": 3_600_000})
        return {(link["parent"], link["child"]): link for link in answer}

    dependency_links = wait_until(lambda: links() or None, message="dependency links")
    assert ("frontend", "backend") in dependency_links, dependency_links
    assert dependency_links[("frontend", "backend")]["callCount"] == 1
    assert dependency_links[("frontend", "backend")].get("errorCount", 0) == 0
    assert dependency_links.get(("backend", "db"), {}).get("callCount") == 1, dependency_links
    assert set(dependency_links) == {("frontend", "backend"), ("backend", "db")}

    # native API: Tempo-style search and OTLP JSON by id
    search = requests.get(f"{weft.http_url}/api/search", params={"limit": 20}, timeout=10)
    assert search.status_code == 200, search.text[:500]
    listed = [entry["traceID"].lower().lstrip("0") for entry in search.json()["traces"]]
    assert trace_hex.lstrip("0") in listed, search.text[:1000]
    status, native = native_trace(weft.http_url, trace_hex)
    assert status == 200, status
    resource_spans = native["resourceSpans"]
    services = set()
    names = []
    for resource_span in resource_spans:
        for attribute in resource_span["resource"]["attributes"]:
            if attribute["key"] == "service.name":
                services.add(attribute["value"]["stringValue"])
        for scope_span in resource_span["scopeSpans"]:
            names += [span["name"] for span in scope_span["spans"]]
    assert services == {"frontend", "backend"}
    assert sorted(names) == sorted(span.name for span in sdk_spans)
