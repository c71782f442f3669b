"""Bad input is rejected with the right status and a message naming the problem, is
counted in /metrics, and leaves the server up. Covers Zipkin v2 HTTP, OTLP/HTTP
(protobuf and JSON), OTLP/gRPC and request size limits (plain and gzip-inflated)."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass

import grpc
import pytest
import requests
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from helpers import WeftServer, metric_sum, otlp_request, new_span_id, new_trace_id, now_micros, parse_metrics, wait_until

REJECTED_REQUESTS = "weft_receiver_requests_rejected_total"
MAX_REQUEST_BYTES = 1_048_576


def valid_zipkin_span(**overrides) -> dict:
    span = {
        "traceId": new_trace_id(),
        "id": new_span_id(),
        "name": "op",
        "timestamp": now_micros(),
        "duration": 10,
        "localEndpoint": {"serviceName": "bad-input"},
    }
    span.update(overrides)
    return span


@dataclass
class Case:
    """One bad request: where it goes, what it sends, what must come back."""

    name: str
    port: str  # "zipkin" or "otlp_http"
    path: str
    body: bytes
    headers: dict
    status: int
    # every word must appear (case-insensitive) in the message the server returns
    message_words: tuple[str, ...] = ()
    response_type: str | None = None  # expected Content-Type prefix of the error answer


V1_SPAN = [
    {
        "traceId": "a03ee8fff1dcd9b9",
        "id": "a03ee8fff1dcd9b9",
        "name": "get",
        "annotations": [{"timestamp": 1, "value": "sr", "endpoint": {"serviceName": "a"}}],
        "binaryAnnotations": [{"key": "lc", "value": "x", "endpoint": {"serviceName": "a"}}],
    }
]

JSON = {"Content-Type": "application/json"}
PROTO = {"Content-Type": "application/x-protobuf"}

CASES = [
    # --- Zipkin v2 POST /api/v2/spans: 400 with a text/plain message naming the field ---
    Case("zipkin-truncated-json", "zipkin", "/api/v2/spans", b'[{"traceId": "abc', JSON, 400, (), "text/plain"),
    Case("zipkin-not-a-list", "zipkin", "/api/v2/spans", json.dumps(valid_zipkin_span()).encode(), JSON, 400, (), "text/plain"),
    Case(
        "zipkin-trace-id-not-hex",
        "zipkin",
        "/api/v2/spans",
        json.dumps([valid_zipkin_span(traceId="xyz")]).encode(),
        JSON,
        400,
        ("traceid",),
        "text/plain",
    ),
    Case(
        "zipkin-trace-id-too-long",
        "zipkin",
        "/api/v2/spans",
        json.dumps([valid_zipkin_span(traceId="a" * 33)]).encode(),
        JSON,
        400,
        ("traceid",),
        "text/plain",
    ),
    Case(
        "zipkin-span-id-not-hex",
        "zipkin",
        "/api/v2/spans",
        json.dumps([valid_zipkin_span(id="zz")]).encode(),
        JSON,
        400,
        ("id",),
        "text/plain",
    ),
    Case(
        "zipkin-missing-trace-id",
        "zipkin",
        "/api/v2/spans",
        json.dumps([{"id": new_span_id(), "name": "x"}]).encode(),
        JSON,
        400,
        ("traceid",),
        "text/plain",
    ),
    Case("zipkin-v1-json-on-v2", "zipkin", "/api/v2/spans", json.dumps(V1_SPAN).encode(), JSON, 400, (), "text/plain"),
    Case(
        "zipkin-gzip-garbage",
        "zipkin",
        "/api/v2/spans",
        b"this is not gzip",
        {**JSON, "Content-Encoding": "gzip"},
        400,
        ("gzip",),
        "text/plain",
    ),
    # Zipkin proto3 ingest (ListOfSpans): undecodable bytes are a 400 naming the encoding
    Case("zipkin-protobuf-garbage", "zipkin", "/api/v2/spans", b"\xff\xff\xff\xff\x0f\x01", PROTO, 400, ("protobuf",), "text/plain"),
    # --- OTLP/HTTP POST /v1/traces: 400 with google.rpc.Status in the request's encoding ---
    Case("otlp-protobuf-garbage", "otlp_http", "/v1/traces", b"\xff\xff\xff\xff\x0f\x01\x02", PROTO, 400, (), "application/x-protobuf"),
    Case("otlp-json-truncated", "otlp_http", "/v1/traces", b'{"resourceSpans": [', JSON, 400, (), "application/json"),
    Case(
        "otlp-json-trace-id-not-hex",
        "otlp_http",
        "/v1/traces",
        json.dumps(
            {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz", "spanId": "eee19b7ec3c1b174", "name": "x"}]}]}]}
        ).encode(),
        JSON,
        400,
        ("traceid",),
        "application/json",
    ),
    Case(
        "otlp-protobuf-trace-id-5-bytes",
        "otlp_http",
        "/v1/traces",
        otlp_request(b"\x01\x02\x03\x04\x05", bytes.fromhex(new_span_id())).SerializeToString(),
        PROTO,
        400,
        ("trace",),
        "application/x-protobuf",
    ),
    Case(
        "otlp-protobuf-all-zero-trace-id",
        "otlp_http",
        "/v1/traces",
        otlp_request(bytes(16), bytes.fromhex(new_span_id())).SerializeToString(),
        PROTO,
        400,
        ("trace",),
        "application/x-protobuf",
    ),
    Case("otlp-wrong-content-type", "otlp_http", "/v1/traces", b"hello", {"Content-Type": "text/plain"}, 415),
    Case(
        "otlp-gzip-garbage",
        "otlp_http",
        "/v1/traces",
        b"this is not gzip",
        {**PROTO, "Content-Encoding": "gzip"},
        400,
        ("gzip",),
    ),
]


def error_message(response: requests.Response) -> str:
    """The message of an error answer: google.rpc.Status (protobuf or JSON) or plain text."""
    content_type = response.headers.get("Content-Type", "")
    if content_type.startswith("application/x-protobuf"):
        status = status_pb2.Status()
        status.ParseFromString(response.content)
        return status.message
    if content_type.startswith("application/json"):
        return str(response.json().get("message", ""))
    return response.text


def rejected_total(server: WeftServer) -> float:
    return metric_sum(server.metrics_text(), REJECTED_REQUESTS)


def assert_still_up_and_counted(server: WeftServer, before: float) -> None:
    assert requests.get(f"{server.http_url}/ready", timeout=5).status_code == 200, "server not ready after bad input"
    after = wait_until(
        lambda: (value := rejected_total(server)) > before and value,
        timeout=5,
        message=f"{REJECTED_REQUESTS} did not increase from {before}",
    )
    labelled = [labels for name, labels, value in parse_metrics(server.metrics_text()) if name == REJECTED_REQUESTS and value]
    assert all(labels.get("protocol") and labels.get("reason") for labels in labelled), labelled
    assert after >= before + 1


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_request_rejected_and_counted(weft: WeftServer, case: Case):
    before = rejected_total(weft)
    base = weft.zipkin_url if case.port == "zipkin" else weft.otlp_http_url
    response = requests.post(f"{base}{case.path}", data=case.body, headers=case.headers, timeout=10)
    assert response.status_code == case.status, (
        f"{case.name}: expected {case.status}, got {response.status_code} "
        f"({response.headers.get('Content-Type')}): {response.content[:300]!r}"
    )
    if case.response_type:
        assert response.headers.get("Content-Type", "").startswith(case.response_type), response.headers
    message = error_message(response)
    assert message.strip(), f"{case.name}: empty error message"
    for word in case.message_words:
        assert word in message.lower(), f"{case.name}: message {message!r} does not mention {word!r}"
    assert_still_up_and_counted(weft, before)


def test_empty_batches_are_accepted(weft: WeftServer):
    assert weft.post_zipkin(b"[]").status_code == 202
    assert weft.post_zipkin(b"").status_code == 202
    response = requests.post(
        f"{weft.otlp_http_url}/v1/traces", data=ExportTraceServiceRequest().SerializeToString(), headers=PROTO, timeout=10
    )
    assert response.status_code == 200, response.content[:300]
    assert response.headers.get("Content-Type", "").startswith("application/x-protobuf")
    response = requests.post(f"{weft.otlp_http_url}/v1/traces", data=b"{}", headers=JSON, timeout=10)
    assert response.status_code == 200, response.content[:300]
    assert rejected_total(weft) == 0


def test_grpc_invalid_trace_id_is_invalid_argument(weft: WeftServer):
    before = rejected_total(weft)
    with grpc.insecure_channel(weft.otlp_grpc_endpoint) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.Export(otlp_request(b"\x01\x02\x03", bytes.fromhex(new_span_id())), timeout=10)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, raised.value
        assert "trace" in (raised.value.details() or "").lower(), raised.value.details()
        # the channel still works for a valid request
        answer = stub.Export(otlp_request(bytes.fromhex(new_trace_id()), bytes.fromhex(new_span_id())), timeout=10)
        assert not answer.HasField("partial_success") or answer.partial_success.rejected_spans == 0
    assert_still_up_and_counted(weft, before)


@pytest.fixture
def small_limit_weft(weft_factory) -> WeftServer:
    return weft_factory(args=["--receiver.max-request-bytes", str(MAX_REQUEST_BYTES)])


def big_zipkin_body() -> bytes:
    span = valid_zipkin_span(tags={"payload": "x" * 4000})
    return json.dumps([dict(span, id=new_span_id()) for _ in range(600)]).encode()  # ~2.5 MB


def big_otlp_body() -> bytes:
    request = otlp_request(bytes.fromhex(new_trace_id()), bytes.fromhex(new_span_id()))
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.append(KeyValue(key="payload", value=AnyValue(string_value="x" * (2 * MAX_REQUEST_BYTES))))
    return request.SerializeToString()


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip-inflates-past-limit"])
@pytest.mark.parametrize("target", ["zipkin", "otlp_http"])
def test_oversize_request_is_413(small_limit_weft: WeftServer, target: str, gzipped: bool):
    before = rejected_total(small_limit_weft)
    if target == "zipkin":
        url, body, headers = f"{small_limit_weft.zipkin_api}/spans", big_zipkin_body(), dict(JSON)
    else:
        url, body, headers = f"{small_limit_weft.otlp_http_url}/v1/traces", big_otlp_body(), dict(PROTO)
    assert len(body) > MAX_REQUEST_BYTES
    if gzipped:
        body = gzip.compress(body)
        assert len(body) < MAX_REQUEST_BYTES, "the compressed body itself must be under the limit"
        headers["Content-Encoding"] = "gzip"
    try:
        response = requests.post(url, data=body, headers=headers, timeout=20)
    except requests.ConnectionError as error:
        pytest.fail(f"server closed the connection instead of answering 413: {error}")
    assert response.status_code == 413, f"{response.status_code}: {response.content[:300]!r}"
    assert_still_up_and_counted(small_limit_weft, before)
    # a request under the limit still goes through
    assert small_limit_weft.post_zipkin([valid_zipkin_span()]).status_code == 202


def test_grpc_oversize_message_is_rejected_not_retryable(small_limit_weft: WeftServer):
    with grpc.insecure_channel(
        small_limit_weft.otlp_grpc_endpoint, options=[("grpc.max_send_message_length", 16 * MAX_REQUEST_BYTES)]
    ) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        request = ExportTraceServiceRequest()
        request.ParseFromString(big_otlp_body())
        with pytest.raises(grpc.RpcError) as raised:
            stub.Export(request, timeout=20)
    # OTLP: RESOURCE_EXHAUSTED without RetryInfo is not retried; OUT_OF_RANGE would be
    assert raised.value.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INVALID_ARGUMENT), raised.value
    assert requests.get(f"{small_limit_weft.http_url}/ready", timeout=5).status_code == 200
