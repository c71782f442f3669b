"""Records a two-service trace with the OpenTelemetry Python SDK and sends it with one of
the classic-protocol exporters:

- `jaeger-agent`: opentelemetry-exporter-jaeger-thrift, compact Thrift over UDP to an agent
  port (`--port`);
- `jaeger-collector`: the same exporter's collector mode, binary Thrift `Batch` posted to
  `http://127.0.0.1:<port>/api/traces`;
- `jaeger-grpc`: opentelemetry-exporter-jaeger-proto-grpc, `jaeger.api_v2.CollectorService/
  PostSpans` to `127.0.0.1:<port>`;
- `zipkin-proto`: opentelemetry-exporter-zipkin-proto-http, `application/x-protobuf`
  `ListOfSpans` posted to `<zipkin-url>/api/v2/spans`.

Runs in .venv-classic (tests/requirements-classic.txt), driven by
tests/blackbox/test_classic_opentelemetry.py. `--big-tag-bytes N` adds a tag of N bytes to
the first span (the large-datagram test). Prints one JSON object on stdout:
{"trace_id", "results": [export results], "errors": [exporter log records at WARNING+],
 "spans": [the SDK's own record of every finished span]}.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Sequence

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

MS = 1_000_000  # nanoseconds per millisecond


class LogCollector(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = f"{record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            message += f" ({record.exc_info[1]!r})"
        self.messages.append(message)


class RecordingExporter(SpanExporter):
    def __init__(self, delegate: SpanExporter):
        self.delegate = delegate
        self.results: list[str] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.delegate.export(spans)
        self.results.append(result.name)
        return result

    def shutdown(self) -> None:
        self.delegate.shutdown()


def make_exporter(kind: str, port: int, zipkin_url: str) -> SpanExporter:
    if kind == "jaeger-agent":
        from opentelemetry.exporter.jaeger.thrift import JaegerExporter

        return JaegerExporter(agent_host_name="127.0.0.1", agent_port=port)
    if kind == "jaeger-collector":
        from opentelemetry.exporter.jaeger.thrift import JaegerExporter

        return JaegerExporter(collector_endpoint=f"http://127.0.0.1:{port}/api/traces", timeout=5)
    if kind == "jaeger-grpc":
        from opentelemetry.exporter.jaeger.proto.grpc import JaegerExporter as JaegerGrpcExporter

        return JaegerGrpcExporter(collector_endpoint=f"127.0.0.1:{port}", insecure=True, timeout=5)
    if kind == "zipkin-proto":
        from opentelemetry.exporter.zipkin.proto.http import ZipkinExporter

        return ZipkinExporter(endpoint=f"{zipkin_url}/api/v2/spans", timeout=5)
    raise ValueError(kind)


def span_record(span: ReadableSpan) -> dict:
    def plain(value):
        return list(value) if isinstance(value, tuple) else value

    context = span.get_span_context()
    return {
        "name": span.name,
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_id": format(span.parent.span_id, "016x") if span.parent else None,
        "kind": span.kind.name,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "attributes": {key: plain(value) for key, value in span.attributes.items()},
        "events": [
            {"name": e.name, "ts_ns": e.timestamp, "attributes": {k: plain(v) for k, v in e.attributes.items()}}
            for e in span.events
        ],
        "links": [format(link.context.span_id, "016x") for link in span.links],
        "status_code": span.status.status_code.name,
        "status_description": span.status.description,
        "resource": {key: plain(value) for key, value in span.resource.attributes.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exporter", choices=["jaeger-agent", "jaeger-collector", "jaeger-grpc", "zipkin-proto"], required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--zipkin-url", default="")
    parser.add_argument("--big-tag-bytes", type=int, default=0)
    args = parser.parse_args()

    collector = LogCollector()
    logging.getLogger().addHandler(collector)

    t0 = time.time_ns() - 5_000 * MS + 123_456  # 5 s ago; ns part not on a µs boundary
    providers: dict[str, TracerProvider] = {}
    memories: list[InMemorySpanExporter] = []
    recorders: list[RecordingExporter] = []
    for service in ("frontend", "backend"):
        provider = TracerProvider(
            resource=Resource.create({"service.name": service, "service.version": "1.2.3", "host.name": f"{service}-1"})
        )
        memory = InMemorySpanExporter()
        recorder = RecordingExporter(make_exporter(args.exporter, args.port, args.zipkin_url))
        provider.add_span_processor(SimpleSpanProcessor(memory))
        provider.add_span_processor(BatchSpanProcessor(recorder))
        providers[service] = provider
        memories.append(memory)
        recorders.append(recorder)

    frontend = providers["frontend"].get_tracer("checkout-web", "0.1.0")
    backend = providers["backend"].get_tracer("reservations", "2.0.0")
    propagator = TraceContextTextMapPropagator()

    root_attributes = {
        "http.method": "GET",
        "http.status_code": 200,
        "retry.ratio": 12.5,
        "feature.enabled": True,
    }
    if args.big_tag_bytes:
        root_attributes["big.value"] = "".join(chr(ord("a") + i % 26) for i in range(args.big_tag_bytes))
    root = frontend.start_span("get /checkout", kind=SpanKind.SERVER, start_time=t0, attributes=root_attributes)
    root.add_event("request.received", timestamp=t0 + 1 * MS)
    client = frontend.start_span(
        "call backend",
        context=trace.set_span_in_context(root),
        kind=SpanKind.CLIENT,
        start_time=t0 + 10 * MS,
        attributes={"peer.service": "backend", "http.url": "http://backend:9000/reserve"},
    )
    headers: dict[str, str] = {}
    propagator.inject(headers, context=trace.set_span_in_context(client))

    incoming = propagator.extract(headers)
    handler = backend.start_span(
        "post /reserve", context=incoming, kind=SpanKind.SERVER, start_time=t0 + 20 * MS,
        attributes={"http.route": "/reserve"},
    )
    handler_context = trace.set_span_in_context(handler)
    handler.add_event("cache.miss", attributes={"cache.key": "sku-1", "cache.size": 3}, timestamp=t0 + 25 * MS)
    query = backend.start_span(
        "select stock", context=handler_context, kind=SpanKind.CLIENT, start_time=t0 + 30 * MS,
        attributes={"peer.service": "db", "db.statement": "SELECT qty FROM stock WHERE sku = $1", "db.rows": 3},
    )
    query.end(end_time=t0 + 70 * MS)
    charge = backend.start_span("charge card", context=handler_context, kind=SpanKind.INTERNAL, start_time=t0 + 80 * MS)
    charge.set_attribute("payment.provider", "acme")
    charge.add_event("retrying", timestamp=t0 + 90 * MS)
    charge.set_status(Status(StatusCode.ERROR, "card declined"))
    charge.end(end_time=t0 + 120 * MS)
    handler.end(end_time=t0 + 150 * MS)
    client.end(end_time=t0 + 160 * MS)
    root.end(end_time=t0 + 200 * MS)

    flushed = [provider.force_flush(timeout_millis=20_000) for provider in providers.values()]
    for provider in providers.values():
        provider.shutdown()
    spans = [span_record(span) for memory in memories for span in memory.get_finished_spans()]
    print(
        json.dumps(
            {
                "trace_id": format(root.get_span_context().trace_id, "032x"),
                "flushed": flushed,
                "results": [result for recorder in recorders for result in recorder.results],
                "errors": collector.messages,
                "spans": spans,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
