"""The OpenTelemetry Python SDK with its classic-protocol exporters (.venv-classic):
the Jaeger Thrift exporter (last release, 1.21.0) to the agent UDP port and to the
collector's HTTP endpoint, the Jaeger gRPC exporter (1.21.0) to the collector's gRPC
port, and the Zipkin proto exporter (application/x-protobuf to /api/v2/spans). Each sends
a two-service trace (classic_drivers/otel_classic_trace.py); it is read back through the
Zipkin v2 API and checked field by field against the SDK's own record of the spans.
"""

from __future__ import annotations

import json

import pytest
import requests

from classic import COMPACT, JAEGER_GRPC, JAEGER_HTTP, by_key, jaeger_port, run_classic_driver, wait_received
from helpers import WeftServer, native_trace, wait_for_trace

KIND_TO_ZIPKIN = {"SERVER": "SERVER", "CLIENT": "CLIENT", "PRODUCER": "PRODUCER", "CONSUMER": "CONSUMER", "INTERNAL": None}

# exporter -> (listener flag or None for the Zipkin port, weft_receiver protocol label)
EXPORTERS = {
    "jaeger-agent": (COMPACT, "jaeger_thrift_compact"),
    "jaeger-collector": (JAEGER_HTTP, "jaeger_http_thrift"),
    "jaeger-grpc": (JAEGER_GRPC, "jaeger_grpc"),
    "zipkin-proto": (None, "zipkin_v2_proto"),
}


def tag_matches(tag: str | None, value) -> bool:
    """A Zipkin tag carries an attribute as text: bools lower-case, numbers decimal,
    arrays as a JSON array."""
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
    return isinstance(decoded, list) and [str(v).lower() for v in decoded] == [str(v).lower() for v in value]


def emit(weft: WeftServer, exporter: str, *extra: str) -> dict:
    flag, _ = EXPORTERS[exporter]
    args = ["--exporter", exporter]
    if flag is None:
        args += ["--zipkin-url", weft.zipkin_url]
    else:
        args += ["--port", str(jaeger_port(weft, flag))]
    report = run_classic_driver("otel_classic_trace.py", *args, *extra)
    assert report["flushed"] == [True, True], report
    assert report["errors"] == [], f"exporter {exporter} reported errors: {report['errors']}"
    assert report["results"] and set(report["results"]) == {"SUCCESS"}, report["results"]
    assert len(report["spans"]) == 5
    return report


def check_span(got: dict, want: dict, exporter: str) -> None:
    where = f"span {want['name']!r} via {exporter}: {json.dumps(got)[:1500]}"
    assert got["traceId"] == want["trace_id"], where
    assert got["id"] == want["span_id"], where
    assert got.get("parentId") == want["parent_id"], where
    assert got.get("name") == want["name"], where
    assert got.get("kind") == KIND_TO_ZIPKIN[want["kind"]], where
    assert abs(got["timestamp"] - want["start_ns"] // 1000) <= 1, where
    assert abs(got["duration"] - (want["end_ns"] - want["start_ns"]) // 1000) <= 1, where
    assert got["localEndpoint"]["serviceName"] == want["resource"]["service.name"], where
    assert not got.get("shared"), where
    tags = got.get("tags", {})
    remote_service = got.get("remoteEndpoint", {}).get("serviceName")
    for key, value in want["attributes"].items():
        if key == "peer.service" and key not in tags:
            assert remote_service == value, where
            continue
        assert tag_matches(tags.get(key), value), f"tag {key}={tags.get(key)!r}, attribute {value!r}; {where}"
    if want["status_code"] == "ERROR":
        assert "error" in tags, where
        assert want["status_description"] in tags.values(), f"status description lost; {where}"
    else:
        assert "error" not in tags, where
    annotations = sorted(got.get("annotations", []), key=lambda a: a["timestamp"])
    events = sorted(want["events"], key=lambda e: e["ts_ns"])
    assert len(annotations) == len(events), where
    for annotation, event in zip(annotations, events):
        assert abs(annotation["timestamp"] - event["ts_ns"] // 1000) <= 1, where
        assert event["name"] in annotation["value"], where
        for attribute_value in event["attributes"].values():
            assert str(attribute_value) in annotation["value"], f"event attribute lost; {where}"


@pytest.mark.parametrize("exporter", list(EXPORTERS))
def test_otel_classic_exporter_trace_reads_back(weft: WeftServer, exporter: str):
    report = emit(weft, exporter)
    trace_id = report["trace_id"]
    stored = wait_for_trace(weft, trace_id, 5)
    assert len(stored) == 5, json.dumps(stored)[:4000]
    spans = by_key(stored)
    for want in report["spans"]:
        matches = [span for (span_id, _), span in spans.items() if span_id == want["span_id"]]
        assert len(matches) == 1, f"{want['name']} ({want['span_id']}): {matches} in {sorted(spans)}"
        check_span(matches[0], want, exporter)

    assert weft.zjson("/services") == ["backend", "frontend"]
    assert weft.zjson("/spans", {"serviceName": "backend"}) == ["charge card", "post /reserve", "select stock"]
    assert weft.zjson("/remoteServices", {"serviceName": "backend"}) == ["db"]

    if exporter in ("jaeger-agent", "jaeger-collector"):
        # the Thrift exporter sends resource attributes as span tags (its Process carries
        # only the service name), so they are ordinary tags
        for span in stored:
            assert span.get("tags", {}).get("service.version") == "1.2.3", span
            assert span["tags"].get("host.name") == f"{span['localEndpoint']['serviceName']}-1", span
    if exporter == "jaeger-grpc":
        # the gRPC exporter sends them as Process tags -> resource attributes (native API)
        status, native = native_trace(weft.http_url, trace_id)
        assert status == 200, status
        resources = {}
        for resource_span in native["resourceSpans"]:
            attributes = {
                a["key"]: next(iter(a["value"].values()), None) for a in resource_span["resource"]["attributes"]
            }
            resources[attributes.get("service.name")] = attributes
        for service in ("frontend", "backend"):
            assert resources.get(service, {}).get("service.version") == "1.2.3", resources
            assert resources.get(service, {}).get("host.name") == f"{service}-1", resources

    _, protocol = EXPORTERS[exporter]
    assert wait_received(weft, protocol, 5) == 5


def test_large_udp_datagram_through_compact_agent_port(weft: WeftServer):
    """A ~60 KB compact-Thrift datagram (near the UDP limit; the exporter's own cap is
    65000 bytes) arrives whole: the big tag reads back byte for byte."""
    big = 58_000
    report = emit(weft, "jaeger-agent", "--big-tag-bytes", str(big))
    stored = wait_for_trace(weft, report["trace_id"], 5)
    root = next(span for span in stored if span["name"] == "get /checkout")
    value = root.get("tags", {}).get("big.value")
    assert value is not None, f"big tag missing: {json.dumps(root)[:500]}"
    assert len(value) == big, f"big tag is {len(value)} bytes, sent {big}"
    assert value == "".join(chr(ord("a") + i % 26) for i in range(big))
    assert wait_received(weft, "jaeger_thrift_compact", 5) == 5
