# Writes zipkin-py_zipkin.{v1.thrift,v1.json,v2.json,v2.pb}: one multi-service trace
# encoded by py_zipkin 1.2.1's own encoders (V1_THRIFT with thriftpy2's TBinaryProtocol,
# V1_JSON, V2_JSON, V2_PROTO3 with protobuf 3.20.3), the bodies py_zipkin posts to
# /api/v1/spans and /api/v2/spans. The v1 forms carry what py_zipkin's v2 -> v1 mapping
# makes of the spans (core annotations, ca/sa, no timestamp on shared spans); decoding
# them must give back the v2 spans (src/zipkin_v1/tests.rs checks it).
#   .venv-classic/bin/python crates/codec/testdata/zipkin_seeds.py crates/codec/testdata
import sys
from py_zipkin.encoding._types import Encoding, Kind
from py_zipkin.encoding._encoders import get_encoder
from py_zipkin.encoding._helpers import Endpoint, Span

trace_id = "463ac35c9f6413ad48485a3953bb6124"
frontend = Endpoint(service_name="frontend", ipv4="10.0.0.1", ipv6=None, port=8080)
backend = Endpoint(service_name="backend", ipv4="10.0.0.2", ipv6="2001:db8::2", port=9000)
mysql = Endpoint(service_name="mysql", ipv4="10.0.0.9", ipv6=None, port=3306)
caller = Endpoint(service_name=None, ipv4="192.168.1.7", ipv6=None, port=51234)
# Timestamps and durations are binary fractions so every encoder computes the same µs.
start = 1700000000.0

spans = [
    # The root: a server span that owns its timestamp (not shared).
    Span(trace_id, "GET /dispatch", None, "0102030405060708", Kind.SERVER,
         start, 0.5, local_endpoint=frontend, remote_endpoint=caller,
         tags={"http.method": "GET", "http.path": "/dispatch"},
         annotations={"auth checked": start + 0.0625}),
    # Its call to the backend: client side and the backend's shared server side.
    Span(trace_id, "GET /customer", "0102030405060708", "1112131415161718", Kind.CLIENT,
         start + 0.125, 0.25, local_endpoint=frontend, remote_endpoint=backend,
         tags={"http.method": "GET", "error": "upstream timeout"}),
    Span(trace_id, "GET /customer", "0102030405060708", "1112131415161718", Kind.SERVER,
         start + 0.1875, 0.125, local_endpoint=backend, remote_endpoint=frontend,
         shared=True, tags={"http.status_code": "504", "error": "upstream timeout"},
         annotations={"retry": start + 0.25}),
    # The backend's query, a client span to a remote service.
    Span(trace_id, "SELECT customer", "1112131415161718", "2122232425262728", Kind.CLIENT,
         start + 0.203125, 0.03125, local_endpoint=backend, remote_endpoint=mysql,
         tags={"sql.query": "SELECT * FROM customer WHERE id = ?"}),
    # A local span: its tags carry the endpoint (v1 has nowhere else to put it).
    Span(trace_id, "render", "0102030405060708", "3132333435363738", Kind.LOCAL,
         start + 0.375, 0.0625, local_endpoint=frontend,
         tags={"template": "dispatch.html"}),
    # A producer span (no remote endpoint: py_zipkin's v1 encoders have no key for it).
    Span(trace_id, "publish", "0102030405060708", "4142434445464748", Kind.PRODUCER,
         start + 0.4375, 0.015625, local_endpoint=frontend, debug=False,
         tags={"topic": "dispatch"}),
]

out = sys.argv[1] if len(sys.argv) > 1 else "."
for encoding, name in [(Encoding.V1_THRIFT, "v1.thrift"), (Encoding.V1_JSON, "v1.json"),
                       (Encoding.V2_JSON, "v2.json"), (Encoding.V2_PROTO3, "v2.pb")]:
    encoder = get_encoder(encoding)
    body = encoder.encode_queue([encoder.encode_span(span) for span in spans])
    if isinstance(body, str):
        body = body.encode()
    with open(f"{out}/zipkin-py_zipkin.{name}", "wb") as file:
        file.write(body)
