"""jaeger-client reports a two-service trace the way it does by default: the Python
library (.venv-classic, classic_drivers/jaeger_client_trace.py) as compact Thrift
`Agent.emitBatch` datagrams to the agent's compact UDP port, the Node library (npm
jaeger-client, tests/node/jaeger_client_trace.js) as binary Thrift datagrams to the binary
UDP port. The trace is read back through the Zipkin v2 API and the native OTLP API and
checked field by field against what the client was given:

frontend "get /checkout" (span.kind=server, log request.received)
  > frontend "call backend" (span.kind=client, peer.service=backend)
    > backend "post /reserve" (span.kind=server, child_of the extracted context)
      > backend "select stock" (span.kind=client, peer.service=db, log cache.miss)
      > backend "charge card" (error=true, log event=error)
      > backend "audit log" (follows_from "post /reserve")
Process tags (deployment.environment, region) are resource attributes: invisible in Zipkin
except the service name, present in the native API's resource.
"""

from __future__ import annotations

import json

import pytest
import requests

from classic import BINARY, COMPACT, jaeger_port, run_classic_driver, run_node_script, wait_received
from helpers import WeftServer, native_trace, wait_for_trace

KIND = {"server": "SERVER", "client": "CLIENT", None: None}


def tag_text(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


@pytest.mark.parametrize("client", ["python-compact", "node-binary"])
def test_jaeger_client_udp_trace_reads_back(weft: WeftServer, client: str):
    if client == "python-compact":
        protocol = "jaeger_thrift_compact"
        report = run_classic_driver("jaeger_client_trace.py", "--agent-port", str(jaeger_port(weft, COMPACT)))
    else:
        protocol = "jaeger_thrift_binary"
        report = run_node_script("jaeger_client_trace.js", str(jaeger_port(weft, BINARY)))
    assert report["flushed"] == [True, True], "jaeger-client did not flush within 10 s"
    trace_id = report["trace_id"]
    assert len(trace_id) == 32 and trace_id[:16] != "0" * 16, "generate_128bit_trace_id"
    client_spans = report["spans"]
    assert len(client_spans) == 6

    stored = wait_for_trace(weft, trace_id, 6)
    assert len(stored) == 6, json.dumps(stored)[:4000]
    spans = {span["id"]: span for span in stored}
    assert len(spans) == 6, "jaeger spans never share ids"
    for want in client_spans:
        got = spans.get(want["span_id"])
        where = f"span {want['name']!r}: {json.dumps(got)[:1500]}"
        assert got is not None, f"{want['name']} ({want['span_id']}) missing from {sorted(spans)}"
        assert got["traceId"] == trace_id, where
        assert got.get("parentId") == want["parent_id"], where
        assert got["name"] == want["name"], where
        assert got.get("kind") == KIND[want["tags"].get("span.kind")], where
        assert got["timestamp"] == want["start_us"], where
        assert got["duration"] == want["duration_us"], where
        assert got["localEndpoint"]["serviceName"] == want["service"], where
        assert not got.get("shared"), where
        tags = got.get("tags", {})
        for key, value in want["tags"].items():
            if key == "span.kind":
                continue
            if key == "peer.service" and key not in tags:
                # OpenTelemetry's Zipkin mapping serves peer.service as the remote service
                assert got.get("remoteEndpoint", {}).get("serviceName") == value, where
                continue
            if key == "error":
                assert "error" in tags, f"error tag lost; {where}"
                continue
            assert tags.get(key) == tag_text(value), f"tag {key}: {tags.get(key)!r} != {value!r}; {where}"
        if "error" not in want["tags"]:
            assert "error" not in tags, where
        annotations = sorted(got.get("annotations", []), key=lambda a: a["timestamp"])
        assert len(annotations) == len(want["logs"]), f"logs -> annotations; {where}"
        for annotation, log in zip(annotations, want["logs"]):
            assert annotation["timestamp"] == log["ts_us"], where
            assert log["event"] in annotation["value"], where
            for field_value in log["fields"].values():
                # the log's other fields survive (as event attributes) next to its name
                assert str(field_value) in annotation["value"], f"log field {field_value!r} lost; {where}"

    by_name = {span["name"]: span for span in client_spans}
    audit = spans[by_name["audit log"]["span_id"]]
    assert audit.get("parentId") == by_name["post /reserve"]["span_id"], "FOLLOWS_FROM as the only reference is the parent"
    root = spans[by_name["get /checkout"]["span_id"]]
    assert "parentId" not in root
    assert weft.zjson("/services") == ["backend", "frontend"]
    assert weft.zjson("/spans", {"serviceName": "backend"}) == ["audit log", "charge card", "post /reserve", "select stock"]

    # process tags -> resource attributes (native API)
    status, native = native_trace(weft.http_url, trace_id)
    assert status == 200, status
    resources = {}
    for resource_span in native["resourceSpans"]:
        attributes = {
            attribute["key"]: next(iter(attribute["value"].values()), None)
            for attribute in resource_span["resource"]["attributes"]
        }
        resources.setdefault(attributes.get("service.name"), {}).update(attributes)
    assert set(resources) == {"frontend", "backend"}, resources
    assert resources["frontend"].get("region") == "eu-1", resources
    assert resources["frontend"].get("deployment.environment") == "blackbox", resources
    assert resources["backend"].get("deployment.environment") == "blackbox", resources
    assert "region" not in resources["backend"], resources
    assert "jaeger.version" in resources["frontend"], f"jaeger-client's own process tags: {resources}"

    assert wait_received(weft, protocol, 6) == 6
