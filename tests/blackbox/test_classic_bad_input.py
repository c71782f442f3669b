"""Garbage on every classic-protocol port leaves the server up and moves
weft_receiver_requests_rejected_total: UDP datagrams to both Jaeger agent ports, bad Thrift
to /api/v1/spans and /api/traces, bad protobuf to /api/v2/spans, and gRPC PostSpans with
undecodable bytes or invalid ids. After the garbage each listener still takes real data."""

from __future__ import annotations

import grpc
import pytest
import requests

from classic import (
    BINARY,
    COMPACT,
    JAEGER_GRPC,
    JAEGER_HTTP,
    REJECTED,
    jaeger_port,
    run_classic_driver,
    run_node_script,
    send_udp,
    wait_received,
)
from helpers import HTTP_TIMEOUT_SECONDS, WeftServer, metric_sum, new_span_id, new_trace_id, now_micros, wait_for_trace, wait_until, zspan


# -- tiny protobuf / thrift writers for hand-made bad messages ----------------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def pb_bytes(field: int, payload: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(payload)) + payload


# compact Thrift: emitBatch(Batch{process{serviceName:"x"}, spans: list<Span> claiming 2^31-1
# elements}) and then nothing: the decoder must fail, not allocate
COMPACT_HUGE_LIST = (
    b"\x82\x81\x01\x09emitBatch"  # protocol id, oneway|version 1, seqid 1, name
    + b"\x1c"  # field 1 (batch): struct
    + b"\x1c\x18\x01x\x00"  # Batch.process {serviceName: "x"}
    + b"\x19\xfc"
    + varint(0x7FFFFFFF)  # Batch.spans: list<struct> of 2^31-1
)
BINARY_HUGE_LIST = (
    b"\x80\x01\x00\x04" + (9).to_bytes(4, "big") + b"emitBatch" + (1).to_bytes(4, "big")
    + b"\x0c\x00\x01"  # field 1 (batch): struct
    + b"\x0c\x00\x01\x0b\x00\x01" + (1).to_bytes(4, "big") + b"x\x00"  # process
    + b"\x0f\x00\x02\x0c" + (0x7FFFFFFF).to_bytes(4, "big")  # spans: list<struct> 2^31-1
)

UDP_GARBAGE = [
    b"",
    b"\x00",
    b"garbage, not thrift at all \xff\xfe",
    bytes(range(256)) * 4,
    COMPACT_HUGE_LIST,
    BINARY_HUGE_LIST,
    COMPACT_HUGE_LIST[:7],
]


def rejected(server: WeftServer, protocol: str, **labels: str) -> float:
    return metric_sum(server.metrics_text(), REJECTED, protocol=protocol, **labels)


def wait_rejected(server: WeftServer, protocol: str, above: float, **labels: str) -> float:
    return wait_until(
        lambda: (value := rejected(server, protocol, **labels)) > above and value,
        message=f"{REJECTED}{{protocol={protocol!r}, {labels}}} > {above}; samples: "
        + str([line for line in server.metrics_text().splitlines() if REJECTED in line]),
    )


def assert_alive(server: WeftServer) -> None:
    assert server.running, f"weft died\n{server.log_tail()}"
    assert requests.get(f"{server.http_url}/ready", timeout=5).status_code == 200
    trace_id = new_trace_id()
    answer = server.post_zipkin([zspan(trace_id, timestamp=now_micros(), duration=5)])
    assert answer.status_code == 202, answer.text
    wait_for_trace(server, trace_id, 1)


@pytest.mark.parametrize(
    ("flag", "protocol"), [(COMPACT, "jaeger_thrift_compact"), (BINARY, "jaeger_thrift_binary")]
)
def test_udp_garbage_is_counted_and_dropped(weft: WeftServer, flag: str, protocol: str):
    port = jaeger_port(weft, flag)
    for payload in UDP_GARBAGE:
        send_udp(port, payload)
    # the empty datagram may be ignored rather than counted; every other one is bad
    wait_until(
        lambda: rejected(weft, protocol, reason="decode_error") >= len(UDP_GARBAGE) - 1,
        message=f"{REJECTED}{{protocol={protocol},reason=decode_error}} >= {len(UDP_GARBAGE) - 1}; samples: "
        + str([line for line in weft.metrics_text().splitlines() if REJECTED in line]),
    )
    assert_alive(weft)
    # the listener still takes real data: the OpenTelemetry Jaeger exporter (compact) or
    # the Node jaeger-client (binary)
    if flag == COMPACT:
        report = run_classic_driver("otel_classic_trace.py", "--exporter", "jaeger-agent", "--port", str(port))
        wait_for_trace(weft, report["trace_id"], 5)
        wait_received(weft, protocol, 5)
    else:
        report = run_node_script("jaeger_client_trace.js", str(port))
        wait_for_trace(weft, report["trace_id"], 6)
        wait_received(weft, protocol, 6)


HTTP_CASES = [
    # (name, path on the zipkin port or None for the jaeger http port, content type, body, protocol)
    ("v1-thrift-random", "/api/v1/spans", "application/x-thrift", b"\xff\x00garbage\x01\x02", "zipkin_v1_thrift"),
    ("v1-thrift-huge-list", "/api/v1/spans", "application/x-thrift", b"\x0c\x7f\xff\xff\xff", "zipkin_v1_thrift"),
    (
        "v1-thrift-truncated-span",
        "/api/v1/spans",
        "application/x-thrift",
        b"\x0c\x00\x00\x00\x01\x0a\x00\x01\x00\x00",
        "zipkin_v1_thrift",
    ),
    ("jaeger-batch-random", None, "application/x-thrift", b"\xff\x00garbage\x01\x02", "jaeger_http_thrift"),
    ("jaeger-batch-truncated", None, "application/x-thrift", BINARY_HUGE_LIST[21:], "jaeger_http_thrift"),
    ("v2-proto-huge-length", "/api/v2/spans", "application/x-protobuf", b"\x0a\xff\xff\xff\xff\x0f", "zipkin_v2_proto"),
    (
        "v2-proto-bad-trace-id",
        "/api/v2/spans",
        "application/x-protobuf",
        pb_bytes(1, pb_bytes(1, b"\x01\x02\x03") + pb_bytes(3, b"\x01" * 8) + pb_bytes(5, b"op")),
        "zipkin_v2_proto",
    ),
]


@pytest.mark.parametrize("case", HTTP_CASES, ids=[case[0] for case in HTTP_CASES])
def test_http_garbage_is_rejected_and_counted(weft: WeftServer, case):
    _, path, content_type, body, protocol = case
    if path is None:
        url = f"http://127.0.0.1:{jaeger_port(weft, JAEGER_HTTP)}/api/traces"
    else:
        url = f"{weft.zipkin_url}{path}"
    before = rejected(weft, protocol)
    answer = requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=HTTP_TIMEOUT_SECONDS)
    assert answer.status_code == 400, f"POST {url} -> {answer.status_code}: {answer.text[:300]}"
    assert answer.text.strip(), "a 400 names the problem"
    wait_rejected(weft, protocol, before)
    assert_alive(weft)


def post_spans_raw(server: WeftServer, body: bytes) -> grpc.RpcError | None:
    channel = grpc.insecure_channel(f"127.0.0.1:{jaeger_port(server, JAEGER_GRPC)}")
    try:
        call = channel.unary_unary(
            "/jaeger.api_v2.CollectorService/PostSpans",
            request_serializer=lambda raw: raw,
            response_deserializer=lambda raw: raw,
        )
        call(body, timeout=10)
        return None
    except grpc.RpcError as error:
        return error
    finally:
        channel.close()


def jaeger_proto_request(trace_id: bytes, span_id: bytes) -> bytes:
    """PostSpansRequest{batch{spans[{trace_id, span_id, operation_name}], process{service_name}}}."""
    seconds = now_micros() // 1_000_000
    span = (
        pb_bytes(1, trace_id)
        + pb_bytes(2, span_id)
        + pb_bytes(3, b"op")
        + pb_bytes(6, varint(1 << 3 | 0) + varint(seconds))  # start_time
        + pb_bytes(7, varint(2 << 3 | 0) + varint(1000))  # duration 1 µs
    )
    batch = pb_bytes(1, span) + pb_bytes(2, pb_bytes(1, b"grpc-garbage"))
    return pb_bytes(1, batch)


@pytest.mark.parametrize(
    ("name", "body"),
    [
        pytest.param("not-protobuf", b"\xff\xff\xff\xff", id="not-protobuf"),
        pytest.param("short-trace-id", jaeger_proto_request(b"\x01\x02\x03", b"\x01" * 8), id="short-trace-id"),
        pytest.param("long-span-id", jaeger_proto_request(b"\x01" * 16, b"\x01" * 12), id="long-span-id"),
        pytest.param("zero-trace-id", jaeger_proto_request(b"\x00" * 16, b"\x01" * 8), id="zero-trace-id"),
    ],
)
def test_grpc_post_spans_garbage_is_rejected_and_counted(weft: WeftServer, name: str, body: bytes):
    before = rejected(weft, "jaeger_grpc")
    error = post_spans_raw(weft, body)
    assert error is not None, f"PostSpans accepted {name}"
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, f"{name}: {error.code()} {error.details()}"
    wait_rejected(weft, "jaeger_grpc", before)
    assert_alive(weft)
    # a valid request on the same port still goes through
    trace_id, span_id = bytes.fromhex(new_trace_id()), bytes.fromhex(new_span_id())
    assert post_spans_raw(weft, jaeger_proto_request(trace_id, span_id)) is None
    wait_for_trace(weft, trace_id.hex(), 1)
