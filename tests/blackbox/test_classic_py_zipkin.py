"""py_zipkin (the real library, .venv-classic) sends a two-service trace to weft: as v1
Thrift and as v1 JSON to /api/v1/spans, and as v2 JSON to /api/v2/spans. The trace is read back
through the Zipkin v2 API and checked field by field, both against the client's own bytes
(v1 converted as Zipkin's V1SpanConverter does) and against what the driver intended.

The trace (classic_drivers/py_zipkin_trace.py; explicit times on a 15625 µs grid, "tick"):
frontend SERVER "get /checkout" (root, wall clock, annotation at t0+1 tick)
  > frontend CLIENT "call backend" (t0+2 ticks, 10 ticks, sa = backend 10.0.0.2:9000)
  = backend SERVER "post /reserve" (same span id, shared, wall clock)
      > backend CLIENT "select stock" (t0+3, 4 ticks, sa = db 10.0.0.3:5432)
      > backend local "charge card" (t0+8, 2 ticks, annotation "retrying" at t0+9,
        error "ValueError: card declined")
"""

from __future__ import annotations

import json

import pytest

from classic import RECEIVED, by_key, received, run_classic_driver, v1_to_v2, wait_received
from helpers import WeftServer, normalize_zipkin_span, now_millis, wait_for_trace, wait_until

TICK_US = 15_625


PROTOCOL = {"V1_THRIFT": "zipkin_v1_thrift", "V1_JSON": "zipkin_v1_json", "V2_JSON": "zipkin_v2_json"}


@pytest.mark.parametrize("encoding", list(PROTOCOL))
def test_py_zipkin_trace_reads_back(weft: WeftServer, encoding: str):
    report = run_classic_driver("py_zipkin_trace.py", "--zipkin-url", weft.zipkin_url, "--encoding", encoding)
    responses = report["responses"]
    assert responses, "py_zipkin never called the transport"
    assert all(status == 202 for status, _ in responses), f"weft answered {responses} to py_zipkin {encoding}"

    sent = report["sent"]
    expected = [v2 for span in sent for v2 in v1_to_v2(span)] if encoding.startswith("V1") else sent
    assert len(expected) == 5, json.dumps(sent)[:3000]
    trace_id = report["trace_id"]
    assert len(trace_id) == 32, "use_128bit_trace_id: the high half must travel (trace_id_high in thrift)"

    stored = wait_for_trace(weft, trace_id, 5)
    assert len(stored) == 5, json.dumps(stored)[:4000]
    # field by field against the client's own bytes
    got = sorted(normalize_zipkin_span(span) for span in stored)
    want = sorted(normalize_zipkin_span(span) for span in expected)
    assert got == want, f"read back:\n{json.dumps(got, indent=1)}\nsent (as v2):\n{json.dumps(want, indent=1)}"

    # and against the intent, independent of any v1 decoding
    ids, t0 = report["ids"], report["t0_us"]
    spans = by_key(stored)
    root = spans[(ids["get /checkout"], "SERVER")]
    assert "parentId" not in root and not root.get("shared")
    assert root["traceId"] == trace_id
    assert root["localEndpoint"] == {"serviceName": "frontend", "ipv4": "10.0.0.1", "port": 8080}
    assert root["tags"] == {"http.method": "GET", "http.path": "/checkout"}
    assert root["annotations"] == [{"timestamp": t0 + TICK_US, "value": "request.received"}]
    assert root["timestamp"] > 0 and root["duration"] >= 1

    client = spans[(ids["call backend"], "CLIENT")]
    assert client["parentId"] == ids["get /checkout"]
    assert (client["timestamp"], client["duration"]) == (t0 + 2 * TICK_US, 10 * TICK_US)
    assert client["localEndpoint"]["serviceName"] == "frontend"
    assert client["remoteEndpoint"] == {"serviceName": "backend", "ipv4": "10.0.0.2", "port": 9000}
    assert client["tags"] == {"http.url": "http://backend:9000/reserve"}
    assert not client.get("annotations"), "cs/cr are consumed into kind, timestamp and duration"

    server = spans[(ids["call backend"], "SERVER")]
    assert server.get("shared") is True, "the server half of a shared span id is shared"
    assert server["parentId"] == ids["get /checkout"]
    assert server["name"] == "post /reserve"
    assert server["localEndpoint"] == {"serviceName": "backend", "ipv4": "10.0.0.2", "port": 9000}
    assert server["timestamp"] > 0 and server["duration"] >= 1, "timestamp/duration derived from sr/ss"
    assert server["tags"] == {"http.route": "/reserve"}
    assert not server.get("annotations"), "sr/ss are consumed"

    query = spans[(ids["select stock"], "CLIENT")]
    assert query["parentId"] == ids["call backend"]
    assert (query["timestamp"], query["duration"]) == (t0 + 3 * TICK_US, 4 * TICK_US)
    assert query["localEndpoint"]["serviceName"] == "backend"
    assert query["remoteEndpoint"] == {"serviceName": "db", "ipv4": "10.0.0.3", "port": 5432}
    assert query["tags"] == {"db.statement": "SELECT qty FROM stock WHERE sku = $1"}

    charge = spans[(ids["charge card"], "")]
    assert charge["parentId"] == ids["call backend"]
    assert (charge["timestamp"], charge["duration"]) == (t0 + 8 * TICK_US, 2 * TICK_US)
    assert charge["localEndpoint"]["serviceName"] == "backend"
    assert charge["annotations"] == [{"timestamp": t0 + 9 * TICK_US, "value": "retrying"}]
    assert charge["tags"] == {"payment.provider": "acme", "error": "ValueError: card declined"}

    assert weft.zjson("/services") == ["backend", "frontend"]
    assert weft.zjson("/spans", {"serviceName": "backend"}) == ["charge card", "post /reserve", "select stock"]
    assert weft.zjson("/remoteServices", {"serviceName": "frontend"}) == ["backend"]
    assert weft.zjson("/remoteServices", {"serviceName": "backend"}) == ["db"]
    found = wait_until(
        lambda: weft.zjson(
            "/traces",
            {"serviceName": "backend", "annotationQuery": "error", "endTs": now_millis() + 1000, "lookback": 3_600_000},
        ),
        message="search backend spans with an error tag",
    )
    assert [trace[0]["traceId"] for trace in found] == [trace_id]

    def links():
        answer = weft.zjson("/dependencies", {"endTs": now_millis() + 1000, "lookback": 3_600_000})
        return {(link["parent"], link["child"]): link["callCount"] for link in answer} or None

    assert wait_until(links, message="dependency links") == {("frontend", "backend"): 1, ("backend", "db"): 1}

    assert wait_received(weft, PROTOCOL[encoding], 5) == 5, f"{RECEIVED} counts spans, not requests"
    for other in set(PROTOCOL.values()) - {PROTOCOL[encoding]}:
        assert received(weft, other) == 0, other
