"""zipkin-js (Tracer + BatchRecorder) with zipkin-transport-http's HttpLogger (JSON v2 to
/api/v2/spans), both real npm packages (tests/node), records a two-service trace
(tests/node/zipkin_js_trace.js): frontend SERVER root > frontend CLIENT = backend SERVER
(joined: same span id, shared) > backend CLIENT to db, backend local "charge card" with an
error tag. Read back through the Zipkin v2 API and compared field by field with the spans
exactly as HttpLogger encoded them.
"""

from __future__ import annotations

import json

from classic import by_key, run_node_script, wait_received
from helpers import WeftServer, normalize_zipkin_span, now_millis, wait_for_trace, wait_until


def test_zipkin_js_trace_reads_back(weft: WeftServer):
    report = run_node_script("zipkin_js_trace.js", weft.zipkin_url)
    assert report["errors"] == [] and report["responses"] == [202], report
    sent = report["spans"]
    assert len(sent) == 5, json.dumps(sent)[:3000]
    trace_id = sent[0]["traceId"]
    assert len(trace_id) == 32 and all(span["traceId"] == trace_id for span in sent)

    stored = wait_for_trace(weft, trace_id, 5)
    assert len(stored) == 5, json.dumps(stored)[:4000]
    got = sorted(normalize_zipkin_span(span) for span in stored)
    want = sorted(normalize_zipkin_span(span) for span in sent)
    assert got == want, f"read back:\n{json.dumps(got, indent=1)}\nsent:\n{json.dumps(want, indent=1)}"

    # the semantics the encoding carries, spelled out
    t0 = report["t0"]
    spans = by_key(stored)
    by_name = {span["name"]: span for span in stored}
    root = by_name["get /checkout"]
    assert "parentId" not in root and root["kind"] == "SERVER"
    assert (root["timestamp"], root["duration"]) == (t0, 200_000)
    assert root["localEndpoint"] == {"serviceName": "frontend", "ipv4": "10.0.0.1", "port": 8080}
    assert root["annotations"] == [{"timestamp": t0 + 1000, "value": "request.received"}]
    client = spans[(by_name["call backend"]["id"], "CLIENT")]
    server = spans[(by_name["call backend"]["id"], "SERVER")]
    assert client["parentId"] == server["parentId"] == root["id"]
    assert server["shared"] is True and not client.get("shared")
    assert client["remoteEndpoint"] == {"serviceName": "backend", "port": 9000}
    assert (server["timestamp"], server["duration"]) == (t0 + 20_000, 130_000)
    charge = by_name["charge card"]
    assert "kind" not in charge and charge["tags"] == {"error": "card declined"}
    assert charge["parentId"] == server["id"]

    assert weft.zjson("/services") == ["backend", "frontend"]
    assert weft.zjson("/remoteServices", {"serviceName": "backend"}) == ["db"]

    def links():
        answer = weft.zjson("/dependencies", {"endTs": now_millis() + 1000, "lookback": 3_600_000})
        return {(link["parent"], link["child"]): link["callCount"] for link in answer} or None

    assert wait_until(links, message="dependency links") == {("frontend", "backend"): 1, ("backend", "db"): 1}
    assert wait_received(weft, "zipkin_v2_json", 5) == 5
