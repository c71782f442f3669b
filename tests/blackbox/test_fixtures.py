"""Real recorded traces (shared/fixtures) go in through Zipkin v2 JSON and come back
through /api/v2/trace/{id} as the same multiset of spans; a hand-built OTLP/JSON body
(upper-case hex ids as in the OTLP spec example) goes in through /v1/traces."""

from __future__ import annotations

import collections
import json
import time

import pytest
import requests

from helpers import FIXTURES_DIR, WeftServer, native_trace, normalize_zipkin_span, wait_for_trace, wait_until

# Runs in both black-box passes, local disk and S3 (tests/run.sh: -m storage).
pytestmark = pytest.mark.storage

ZIPKIN_FIXTURES = ["zipkin-yelp.json", "zipkin-smartthings-oauth-authorization.json"]

# The fixtures are from 2018-2019; keep them through retention.
OLD_DATA_ARGS = ["--storage.retention", "100000d"]


def load_fixture(name: str) -> list[dict]:
    path = FIXTURES_DIR / name
    if not path.is_file():
        pytest.skip(f"fixture {path} missing: shared/ must sit beside the repository (../shared)")
    return json.loads(path.read_text())


@pytest.fixture
def old_data_weft(weft_factory) -> WeftServer:
    return weft_factory(args=OLD_DATA_ARGS)


@pytest.mark.parametrize("fixture_name", ZIPKIN_FIXTURES)
def test_zipkin_fixture_round_trip(old_data_weft: WeftServer, fixture_name: str):
    spans = load_fixture(fixture_name)
    trace_ids = {span["traceId"] for span in spans}
    assert len(trace_ids) == 1
    trace_id = trace_ids.pop()

    response = old_data_weft.post_zipkin(spans)
    assert response.status_code == 202, response.text[:500]

    stored = wait_for_trace(old_data_weft, trace_id, len(spans))
    sent = collections.Counter(normalize_zipkin_span(span) for span in spans)
    got = collections.Counter(normalize_zipkin_span(span) for span in stored)
    missing = sent - got
    extra = got - sent
    assert not missing and not extra, (
        f"{fixture_name}: {sum(missing.values())} sent spans not returned, "
        f"{sum(extra.values())} returned spans not sent\n"
        f"first missing: {next(iter(missing), None)}\nfirst extra: {next(iter(extra), None)}"
    )

    # search with the fixture's own time: endTs/lookback in ms around the root timestamp
    root = next(span for span in spans if not span.get("parentId"))
    root_millis = root["timestamp"] // 1000
    services = sorted({span["localEndpoint"]["serviceName"].lower() for span in spans if span.get("localEndpoint")})
    assert old_data_weft.zjson("/services") == services

    def search(**params):
        params.setdefault("endTs", root_millis + 1)
        params.setdefault("lookback", 60_000)
        return old_data_weft.zjson("/traces", params)

    found = wait_until(lambda: search(), message=f"search for {fixture_name} at endTs={root_millis + 1}")
    assert [t[0]["traceId"] for t in found] == [trace_id]
    assert len(found[0]) == len(spans)
    for service in services:
        assert [t[0]["traceId"] for t in search(serviceName=service)] == [trace_id], service
    # window ends before the root: nothing
    assert search(endTs=root_millis - 1, lookback=1000) == []
    # the default lookback (1 day from now) does not reach 2019
    assert old_data_weft.zjson("/traces", {"serviceName": services[0]}) == []


UPPER_TRACE_ID = "5B8EFFF798038103D269B633813FC60C"
UPPER_PARENT_ID = "EEE19B7EC3C1B173"
UPPER_SPAN_ID = "EEE19B7EC3C1B174"


def otlp_json_body(start_unix_nanos: int) -> dict:
    """An OTLP/JSON ExportTraceServiceRequest shaped like the spec's examples/trace.json:
    upper-case hex ids, int64 as strings, integer enums, plus an unknown field that
    must be ignored."""
    end_unix_nanos = start_unix_nanos + 1_500_000_000
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "my.service"}},
                        {"key": "host.name", "value": {"stringValue": "node-7"}},
                    ]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "my.library", "version": "1.0.0"},
                        "spans": [
                            {
                                "traceId": UPPER_TRACE_ID,
                                "spanId": UPPER_SPAN_ID,
                                "parentSpanId": UPPER_PARENT_ID,
                                "name": "I'm a server span",
                                "startTimeUnixNano": str(start_unix_nanos),
                                "endTimeUnixNano": str(end_unix_nanos),
                                "kind": 2,
                                "attributes": [
                                    {"key": "my.span.attr", "value": {"stringValue": "some value"}},
                                    {"key": "http.response.status_code", "value": {"intValue": "503"}},
                                    {"key": "sample.rate", "value": {"doubleValue": 0.25}},
                                    {"key": "cache.hit", "value": {"boolValue": False}},
                                    {
                                        "key": "regions",
                                        "value": {"arrayValue": {"values": [{"stringValue": "eu"}, {"stringValue": "us"}]}},
                                    },
                                ],
                                "events": [
                                    {"timeUnixNano": str(start_unix_nanos + 1_000_000), "name": "request.received"}
                                ],
                                "status": {"code": 2, "message": "upstream unavailable"},
                                "someFutureField": {"ignored": True},
                            }
                        ],
                    }
                ],
            }
        ]
    }


def test_otlp_json_upper_case_ids_round_trip(weft: WeftServer):
    start_unix_nanos = time.time_ns() - 10_000_000_000 + 789
    response = requests.post(
        f"{weft.otlp_http_url}/v1/traces",
        data=json.dumps(otlp_json_body(start_unix_nanos)),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text[:500]
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    answer = response.json() if response.content else {}
    assert isinstance(answer, dict)
    assert not answer.get("partialSuccess"), f"partial_success must be unset on full success: {answer}"

    trace_hex = UPPER_TRACE_ID.lower()
    [span] = wait_for_trace(weft, trace_hex, 1)
    assert span["traceId"] == trace_hex
    assert span["id"] == UPPER_SPAN_ID.lower()
    assert span["parentId"] == UPPER_PARENT_ID.lower()
    assert span["name"].lower() == "i'm a server span"
    assert span["kind"] == "SERVER"
    assert span["timestamp"] == start_unix_nanos // 1000
    assert span["duration"] == 1_500_000
    assert span["localEndpoint"]["serviceName"] == "my.service"
    tags = span["tags"]
    assert tags["my.span.attr"] == "some value"
    assert tags["http.response.status_code"] == "503"
    assert tags["sample.rate"] == "0.25"
    assert tags["cache.hit"] == "false"
    assert json.loads(tags["regions"]) == ["eu", "us"]
    assert tags["error"] == "upstream unavailable"
    assert tags["otel.status_code"] == "ERROR"
    assert span["annotations"] == [{"timestamp": (start_unix_nanos + 1_000_000) // 1000, "value": "request.received"}]

    # native API: OTLP JSON back, ids in hex; lookup is case-insensitive
    for lookup in (trace_hex, UPPER_TRACE_ID):
        status, native = native_trace(weft.http_url, lookup)
        assert status == 200, f"/api/v2/traces/{lookup} -> {status}"
    [resource_span] = native["resourceSpans"]
    [scope_span] = resource_span["scopeSpans"]
    [native_span] = scope_span["spans"]
    assert scope_span["scope"]["name"] == "my.library"
    assert native_span["traceId"].lower() == trace_hex
    assert native_span["spanId"].lower() == UPPER_SPAN_ID.lower()
    assert native_span["parentSpanId"].lower() == UPPER_PARENT_ID.lower()
    assert int(native_span["startTimeUnixNano"]) == start_unix_nanos
    assert int(native_span["endTimeUnixNano"]) == start_unix_nanos + 1_500_000_000
    assert native_span["kind"] == "SPAN_KIND_SERVER"  # Tempo's jsonpb writes enum names
    assert native_span["status"]["code"] == "STATUS_CODE_ERROR"
    attributes = {attribute["key"]: attribute["value"] for attribute in native_span["attributes"]}
    assert attributes["my.span.attr"] == {"stringValue": "some value"}
    assert int(attributes["http.response.status_code"]["intValue"]) == 503
    assert attributes["sample.rate"] == {"doubleValue": 0.25}
    assert attributes["cache.hit"] == {"boolValue": False}
