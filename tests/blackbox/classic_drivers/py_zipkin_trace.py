"""Records a two-service trace with the real py_zipkin client and sends it to weft.

Runs in .venv-classic (tests/requirements-classic.txt), driven by
tests/blackbox/test_classic_py_zipkin.py:

    python py_zipkin_trace.py --zipkin-url http://127.0.0.1:P --encoding V1_THRIFT|V1_JSON|V2_JSON

V1_THRIFT posts `application/x-thrift` (a TBinaryProtocol list<zipkincore.Span>) to
/api/v1/spans; V1_JSON posts `application/json` to /api/v1/spans; V2_JSON posts
`application/json` to /api/v2/spans. The transport handler is
the small class py_zipkin asks its users to write. Prints one JSON object on stdout:
{"trace_id", "ids": {span name: span id}, "t0_us", "responses": [[status, body]],
 "sent": [every span exactly as encoded: v1 spans (decoded from the thrift bytes, or the
 v1 JSON with a thrift-like "type" per binary annotation: 6 string, 0 bool), or the v2 JSON
 objects]}.
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import struct
import sys
import threading
import time

import requests
from py_zipkin import Encoding, Kind
from py_zipkin.thrift import zipkinCore
from py_zipkin.transport import BaseTransportHandler
from py_zipkin.zipkin import ZipkinAttrs, zipkin_span
from thriftpy2.protocol.binary import TBinaryProtocol, read_list_begin
from thriftpy2.transport import TMemoryBuffer

# Every explicit time is on a 1/64 s grid: exactly representable as a float, so
# py_zipkin's int(seconds * 1e6) gives exact microseconds (multiples of 15625).
TICK_SECONDS = 1 / 64


class RequestsTransport(BaseTransportHandler):
    """POSTs each encoded batch to the collector and keeps what it sent and got."""

    def __init__(self, url: str, content_type: str):
        self.url = url
        self.content_type = content_type
        self.payloads: list[bytes | str] = []
        self.responses: list[list] = []
        self.lock = threading.Lock()

    def get_max_payload_bytes(self):
        return None

    def send(self, payload):
        response = requests.post(
            self.url, data=payload, headers={"Content-Type": self.content_type}, timeout=10
        )
        with self.lock:
            self.payloads.append(payload)
            self.responses.append([response.status_code, response.text[:500]])


def unsigned_hex(value: int | None) -> str | None:
    if value is None:
        return None
    return format(value & 0xFFFFFFFFFFFFFFFF, "016x")


def endpoint_dict(endpoint) -> dict | None:
    if endpoint is None:
        return None
    out = {"serviceName": endpoint.service_name}
    if endpoint.ipv4:
        out["ipv4"] = socket.inet_ntoa(struct.pack(">i", endpoint.ipv4))
    if endpoint.port:
        out["port"] = endpoint.port & 0xFFFF
    return out


def decode_thrift_list(payload: bytes) -> list[dict]:
    """A TBinaryProtocol list<zipkincore.Span> -> v1 span dicts with exact integers."""
    transport = TMemoryBuffer(payload)
    _, size = read_list_begin(transport)
    spans = []
    for _ in range(size):
        span = zipkinCore.Span()
        span.read(TBinaryProtocol(transport))
        trace_id = unsigned_hex(span.trace_id)
        if span.trace_id_high:
            trace_id = unsigned_hex(span.trace_id_high) + trace_id
        spans.append(
            {
                "traceId": trace_id,
                "id": unsigned_hex(span.id),
                "parentId": unsigned_hex(span.parent_id),
                "name": span.name,
                "timestamp": span.timestamp,
                "duration": span.duration,
                "annotations": [
                    {"timestamp": a.timestamp, "value": a.value, "endpoint": endpoint_dict(a.host)}
                    for a in span.annotations or []
                ],
                "binaryAnnotations": [
                    {
                        "key": b.key,
                        "value": b.value.decode() if isinstance(b.value, bytes) else b.value,
                        "type": b.annotation_type,
                        "endpoint": endpoint_dict(b.host),
                    }
                    for b in span.binary_annotations or []
                ],
            }
        )
    return spans


def v1_json_span(span: dict) -> dict:
    """A v1 JSON span in the shape decode_thrift_list gives (absent fields as None)."""
    return {
        "traceId": span["traceId"],
        "id": span["id"],
        "parentId": span.get("parentId"),
        "name": span["name"],
        "timestamp": span.get("timestamp"),
        "duration": span.get("duration"),
        "annotations": span.get("annotations", []),
        "binaryAnnotations": [
            dict(b, type=6 if isinstance(b["value"], str) else 0) for b in span.get("binaryAnnotations", [])
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--zipkin-url", required=True)
    parser.add_argument("--encoding", choices=["V1_THRIFT", "V1_JSON", "V2_JSON"], required=True)
    args = parser.parse_args()

    encoding = Encoding[args.encoding]
    if encoding == Encoding.V1_THRIFT:
        transport = RequestsTransport(f"{args.zipkin_url}/api/v1/spans", "application/x-thrift")
    elif encoding == Encoding.V1_JSON:
        transport = RequestsTransport(f"{args.zipkin_url}/api/v1/spans", "application/json")
    else:
        transport = RequestsTransport(f"{args.zipkin_url}/api/v2/spans", "application/json")

    t0 = math.floor(time.time() * 64) / 64
    ids: dict[str, str] = {}

    def backend(propagated: ZipkinAttrs) -> None:
        # the backend "process": its own thread, so its own py_zipkin tracer (thread local)
        with zipkin_span(
            service_name="backend",
            span_name="post /reserve",
            zipkin_attrs=ZipkinAttrs(
                trace_id=propagated.trace_id,
                span_id=propagated.span_id,
                parent_span_id=propagated.parent_span_id,
                flags=propagated.flags,
                is_sampled=True,
            ),
            transport_handler=transport,
            encoding=encoding,
            kind=Kind.SERVER,
            host="10.0.0.2",
            port=9000,
            binary_annotations={"http.route": "/reserve"},
        ):
            with zipkin_span(
                service_name="backend",
                span_name="select stock",
                kind=Kind.CLIENT,
                timestamp=t0 + 3 * TICK_SECONDS,
                duration=4 * TICK_SECONDS,
                binary_annotations={"db.statement": "SELECT qty FROM stock WHERE sku = $1"},
            ) as query:
                query.add_sa_binary_annotation(port=5432, service_name="db", host="10.0.0.3")
                ids["select stock"] = query.zipkin_attrs.span_id
            try:
                with zipkin_span(
                    service_name="backend",
                    span_name="charge card",
                    timestamp=t0 + 8 * TICK_SECONDS,
                    duration=2 * TICK_SECONDS,
                ) as charge:
                    ids["charge card"] = charge.zipkin_attrs.span_id
                    charge.add_annotation("retrying", t0 + 9 * TICK_SECONDS)
                    charge.update_binary_annotations({"payment.provider": "acme"})
                    raise ValueError("card declined")
            except ValueError:
                pass

    with zipkin_span(
        service_name="frontend",
        span_name="get /checkout",
        transport_handler=transport,
        encoding=encoding,
        sample_rate=100.0,
        use_128bit_trace_id=True,
        kind=Kind.SERVER,
        host="10.0.0.1",
        port=8080,
        binary_annotations={"http.method": "GET", "http.path": "/checkout"},
    ) as root:
        ids["get /checkout"] = root.zipkin_attrs.span_id
        root.add_annotation("request.received", t0 + 1 * TICK_SECONDS)
        with zipkin_span(
            service_name="frontend",
            span_name="call backend",
            kind=Kind.CLIENT,
            timestamp=t0 + 2 * TICK_SECONDS,
            duration=10 * TICK_SECONDS,
            binary_annotations={"http.url": "http://backend:9000/reserve"},
        ) as client:
            client.add_sa_binary_annotation(port=9000, service_name="backend", host="10.0.0.2")
            ids["call backend"] = client.zipkin_attrs.span_id
            worker = threading.Thread(target=backend, args=(client.zipkin_attrs,))
            worker.start()
            worker.join(30)
    trace_id = root.zipkin_attrs.trace_id

    sent = []
    for payload in transport.payloads:
        if encoding == Encoding.V1_THRIFT:
            sent += decode_thrift_list(payload)
        elif encoding == Encoding.V1_JSON:
            sent += [v1_json_span(span) for span in json.loads(payload)]
        else:
            sent += json.loads(payload)
    print(
        json.dumps(
            {
                "trace_id": trace_id,
                "ids": ids,
                "t0_us": int(t0 * 1_000_000),
                "responses": transport.responses,
                "sent": sent,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
