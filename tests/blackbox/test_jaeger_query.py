"""The Jaeger query API on its own port (--jaeger.query.listen): spans sent over OTLP/HTTP
are read back through every endpoint jaeger-ui calls, in the order the UI calls them
(v2.14: services, a service's operations, search, trace page, compare view, dependency
graph, Monitor tab; v2.15+/v2.19+: the api_v3 equivalents), with Jaeger's envelopes,
units, id forms and error shapes."""

from __future__ import annotations

import json
import time

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from helpers import HTTP_TIMEOUT_SECONDS, WeftServer, metric_sum, serve_help, wait_until

# Runs in both black-box passes, local disk and S3 (tests/run.sh: -m storage).
pytestmark = pytest.mark.storage

MS = 1_000_000  # nanoseconds per millisecond
QUERY_FLAG = "--jaeger.query.listen"

TRACE_A = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
TRACE_B = bytes.fromhex("00000000000000000000000000abcdef")  # a 64-bit id


def attribute(key: str, value) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def resource_spans(service: str, resource_tags: dict, spans: list[Span]) -> ResourceSpans:
    attributes = [attribute("service.name", service)] + [attribute(k, v) for k, v in resource_tags.items()]
    return ResourceSpans(
        resource=Resource(attributes=attributes),
        scope_spans=[ScopeSpans(scope=InstrumentationScope(name="blackbox-lib", version="1.2"), spans=spans)],
    )


def sample_request(start: int) -> ExportTraceServiceRequest:
    """Trace A: frontend `GET /owners` (server, 120 ms, host.name=h1) -> backend `SELECT`
    (client to postgres, 40 ms, db.system=postgresql, error, a `retry` event with
    attempt=2). Trace B (a 64-bit id, one second later): frontend `GET /health` (5 ms)."""
    root = Span(
        trace_id=TRACE_A, span_id=bytes.fromhex("00000000000000a1"), name="GET /owners",
        kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=start, end_time_unix_nano=start + 120 * MS,
        attributes=[attribute("http.status_code", 500)],
    )
    client = Span(
        trace_id=TRACE_A, span_id=bytes.fromhex("00000000000000a2"),
        parent_span_id=bytes.fromhex("00000000000000a1"), name="SELECT",
        kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=start + 10 * MS,
        end_time_unix_nano=start + 50 * MS,
        attributes=[attribute("db.system", "postgresql"), attribute("peer.service", "postgres")],
        status=Status(code=Status.STATUS_CODE_ERROR, message="deadlock"),
        events=[Span.Event(time_unix_nano=start + 20 * MS, name="retry", attributes=[attribute("attempt", 2)])],
    )
    health = Span(
        trace_id=TRACE_B, span_id=bytes.fromhex("00000000000000b1"), name="GET /health",
        kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=start + 1_000 * MS,
        end_time_unix_nano=start + 1_005 * MS,
    )
    return ExportTraceServiceRequest(
        resource_spans=[
            resource_spans("frontend", {"host.name": "h1"}, [root, health]),
            resource_spans("backend", {}, [client]),
        ]
    )


@pytest.fixture
def jaeger(weft: WeftServer) -> tuple[WeftServer, str, int]:
    """A server holding the sample traces; returns it, the query base URL and the
    traces' start in epoch nanoseconds."""
    port = weft.jaeger_ports.get(QUERY_FLAG)
    assert port, f"no port chosen for {QUERY_FLAG}: {weft.jaeger_ports}"
    start = time.time_ns() - 60_000 * MS
    response = requests.post(
        f"{weft.otlp_http_url}/v1/traces",
        data=sample_request(start).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=HTTP_TIMEOUT_SECONDS,
    )
    assert response.status_code == 200, response.text
    base = f"http://127.0.0.1:{port}"
    wait_until(
        lambda: requests.get(f"{base}/api/traces/abcdef", timeout=HTTP_TIMEOUT_SECONDS).status_code == 200,
        message="trace B readable through the Jaeger API",
    )
    return weft, base, start


def get(base: str, path: str, params=None) -> requests.Response:
    return requests.get(f"{base}{path}", params=params, timeout=HTTP_TIMEOUT_SECONDS)


def data(base: str, path: str, params=None):
    """The `data` of a v1 answer, after checking the envelope and content type."""
    response = get(base, path, params)
    assert response.status_code == 200, f"{path} {params}: {response.status_code} {response.text[:500]}"
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["limit"] == 0 and body["offset"] == 0, body
    return body


def v1_error(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    body = json.loads(response.text)
    assert body["data"] is None and body["total"] == 0, body
    assert body["errors"][0]["code"] == status, body
    return body["errors"][0]["msg"]


def v3_error(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["httpCode"] == status, error
    return error["message"]


def test_serve_help_lists_the_jaeger_query_listener():
    help_text = serve_help()
    assert QUERY_FLAG in help_text
    assert "16686" in help_text


def test_jaeger_ui_v2_14_sequence(jaeger):
    server, base, start = jaeger
    trace_a_hex = TRACE_A.hex()
    start_micros = start // 1000

    # 1. Search page: services, then the chosen service's operations.
    services = data(base, "/api/services")
    assert services["data"] == ["backend", "frontend"]
    assert services["total"] == 2 and services["errors"] is None
    operations = data(base, "/api/services/frontend/operations")
    assert operations["data"] == ["GET /health", "GET /owners"]

    # 2. Search, exactly as the UI builds it (lookback is sent and ignored).
    now_micros = time.time_ns() // 1000
    search = data(base, "/api/traces", {
        "service": "backend", "operation": "SELECT", "limit": "20", "lookback": "1h",
        "start": str(now_micros - 3_600_000_000), "end": str(now_micros),
        "tags": json.dumps({"db.system": "postgresql", "error": "true"}),
        "minDuration": "30ms", "maxDuration": "1s",
    })["data"]
    assert [trace["traceID"] for trace in search] == [trace_a_hex]
    # A process tag and a log field are searchable too; one span must hold all criteria.
    by_process_tag = data(base, "/api/traces", {"service": "frontend", "tags": '{"host.name":"h1"}'})["data"]
    assert sorted(trace["traceID"] for trace in by_process_tag) == sorted([trace_a_hex, "0000000000abcdef"])
    by_log_field = data(base, "/api/traces", {"service": "backend", "tag": "attempt:2"})["data"]
    assert [trace["traceID"] for trace in by_log_field] == [trace_a_hex]
    assert data(base, "/api/traces", {"service": "frontend", "tag": "db.system:postgresql"})["data"] == []
    newest = data(base, "/api/traces", {"service": "frontend", "limit": "1"})["data"]
    assert [trace["traceID"] for trace in newest] == ["0000000000abcdef"]

    # 3. Trace page.
    trace = data(base, f"/api/traces/{trace_a_hex}")["data"][0]
    assert trace["traceID"] == trace_a_hex and trace["warnings"] is None
    spans = {span["spanID"]: span for span in trace["spans"]}
    assert set(spans) == {"00000000000000a1", "00000000000000a2"}
    client = spans["00000000000000a2"]
    assert client["operationName"] == "SELECT"
    assert client["startTime"] == start_micros + 10_000
    assert client["duration"] == 40_000
    assert client["references"] == [{"refType": "CHILD_OF", "traceID": trace_a_hex, "spanID": "00000000000000a1"}]
    tags = {tag["key"]: (tag["type"], tag["value"]) for tag in client["tags"]}
    assert tags["db.system"] == ("string", "postgresql")
    assert tags["span.kind"] == ("string", "client")
    assert tags["error"] == ("bool", True)
    assert tags["otel.status_code"] == ("string", "ERROR")
    assert tags["otel.status_description"] == ("string", "deadlock")
    assert tags["otel.scope.name"] == ("string", "blackbox-lib")
    assert client["logs"] == [{"timestamp": start_micros + 20_000, "fields": [
        {"key": "event", "type": "string", "value": "retry"},
        {"key": "attempt", "type": "int64", "value": 2},
    ]}]
    root_tags = {tag["key"]: (tag["type"], tag["value"]) for tag in spans["00000000000000a1"]["tags"]}
    assert root_tags["http.status_code"] == ("int64", 500)
    processes = trace["processes"]
    assert processes[spans["00000000000000a1"]["processID"]] == {
        "serviceName": "frontend", "tags": [{"key": "host.name", "type": "string", "value": "h1"}],
    }
    assert processes[client["processID"]]["serviceName"] == "backend"
    assert len(processes) == 2

    # 4. Compare view: repeated traceID, in any Jaeger id form, one unknown.
    compare = data(base, "/api/traces", [("traceID", trace_a_hex.upper()), ("traceID", "abcdef"), ("traceID", "1234")])
    assert [t["traceID"] for t in compare["data"]] == [trace_a_hex, "0000000000abcdef"]
    assert compare["errors"] == [{"msg": "trace not found", "traceID": "0000000000001234"}]

    # 5. System Architecture: one week back from now.
    links = data(base, "/api/dependencies", {"endTs": str(time.time_ns() // MS), "lookback": str(7 * 86_400_000)})["data"]
    assert {"parent": "backend", "child": "postgres", "callCount": 1} in links

    # 6. Monitor tab: server operations of a service.
    monitor = data(base, "/api/operations", {"service": "frontend", "spanKind": "server"})
    assert monitor["data"] == [{"name": "GET /health", "spanKind": "server"}, {"name": "GET /owners", "spanKind": "server"}]
    assert monitor["total"] == 2

    # 7. Unknown trace.
    assert v1_error(get(base, "/api/traces/1234"), 404) == "trace not found"


def test_jaeger_ui_api_v3_sequence(jaeger):
    server, base, start = jaeger
    assert get(base, "/api/v3/services").json() == {"services": ["backend", "frontend"]}
    operations = get(base, "/api/v3/operations", {"service": "backend", "spanKind": "client"}).json()
    assert operations == {"operations": [{"name": "SELECT", "spanKind": "client"}]}

    def rfc3339(nanos: int) -> str:
        seconds, fraction = divmod(nanos, 1_000_000_000)
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"

    window = {
        "query.serviceName": "frontend",
        "query.startTimeMin": rfc3339(start - 60_000 * MS),
        "query.startTimeMax": rfc3339(time.time_ns()),
    }
    summaries = get(base, "/api/v3/trace-summaries", window)
    assert summaries.status_code == 200, summaries.text
    listed = summaries.json()["summaries"]
    assert [summary["traceId"] for summary in listed] == ["00000000000000000000000000abcdef", TRACE_A.hex()]
    trace_a = listed[1]
    assert trace_a["rootServiceName"] == "frontend" and trace_a["rootOperationName"] == "GET /owners"
    assert trace_a["minStartTimeUnixNano"] == str(start)
    assert trace_a["maxEndTimeUnixNano"] == str(start + 120 * MS)
    assert trace_a["spanCount"] == 2 and trace_a["errorSpanCount"] == 1

    search = get(base, "/api/v3/traces", {**window, "query.durationMin": "100ms"})
    assert search.status_code == 200, search.text
    span_ids = [
        span["spanId"]
        for resource in search.json()["result"]["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]
    assert sorted(span_ids) == ["00000000000000a1", "00000000000000a2"]

    trace = get(base, f"/api/v3/traces/{TRACE_A.hex()}")
    assert trace.status_code == 200, trace.text
    first = trace.json()["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert first["traceId"] == TRACE_A.hex()
    assert first["startTimeUnixNano"] == str(start)

    none = get(base, "/api/v3/traces", {**window, "query.serviceName": "nobody"})
    assert v3_error(none, 404) == "No traces found"
    missing = get(base, "/api/v3/traces", {"query.serviceName": "frontend"})
    assert v3_error(missing, 400) == "query.startTimeMin and query.startTimeMax are required"
    assert v3_error(get(base, "/api/v3/traces/xyz"), 400) == "malformed parameter trace_id: TraceID is not hex: xyz"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "parameter 'service' is required"),
        ({"service": "s", "start": "yesterday"}, "unable to parse param 'start': invalid digit found in string"),
        ({"service": "s", "end": "1.5"}, "unable to parse param 'end': invalid digit found in string"),
        ({"service": "s", "limit": "many"}, "unable to parse param 'limit': invalid digit found in string"),
        ({"service": "s", "minDuration": "5"}, 'unable to parse param \'minDuration\': time: missing unit in duration "5"'),
        ({"service": "s", "maxDuration": "5d"}, 'unable to parse param \'maxDuration\': time: unknown unit "d" in duration "5d"'),
        ({"service": "s", "minDuration": "2s", "maxDuration": "1s"}, "'maxDuration' should be greater than 'minDuration'"),
        ({"service": "s", "tag": "nocolon"}, "malformed 'tag' parameter, expecting key:value, received: nocolon"),
        ({"traceID": "not-hex"}, "cannot parse traceID param: TraceID is not hex: not-hex"),
    ],
)
def test_bad_search_parameters_get_jaegers_errors(jaeger, params, message):
    server, base, _ = jaeger
    assert v1_error(get(base, "/api/traces", params), 400) == message


def test_bad_parameters_of_other_endpoints(jaeger):
    server, base, _ = jaeger
    assert v1_error(get(base, "/api/operations"), 400) == "parameter 'service' is required"
    assert "longer than 32" in v1_error(get(base, "/api/traces/" + "1" * 33), 400)
    assert v1_error(get(base, "/api/dependencies", {"endTs": "now"}), 400).startswith("unable to parse param 'endTs'")
    tags = v1_error(get(base, "/api/traces", {"service": "s", "tags": "{"}), 400)
    assert tags.startswith("malformed 'tags' parameter, cannot unmarshal JSON:")


def test_requests_are_counted_as_jaeger_api(jaeger):
    server, base, _ = jaeger
    data(base, "/api/services")
    get(base, "/api/traces")
    text = server.metrics_text()
    assert metric_sum(text, "weft_api_requests_total", api="jaeger", route="/api/services", status="200") >= 1
    assert metric_sum(text, "weft_api_requests_total", api="jaeger", route="/api/traces", status="400") >= 1


def test_the_listener_can_be_switched_off(weft_factory):
    server = weft_factory(listen_overrides={QUERY_FLAG: "off"})
    port = server.jaeger_ports[QUERY_FLAG]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/api/services", timeout=2)
