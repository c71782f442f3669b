"""The recorded Jaeger trace in shared/fixtures (Spring PetClinic, two services, a 31-digit
trace id because Jaeger does not zero-pad the high half) goes in through the Jaeger
collector's HTTP Thrift endpoint, built with jaeger-client's own Thrift types, and comes back
through the Zipkin v2 API with every span's ids, parent, name, kind, times, service and tags."""

from __future__ import annotations

import json

import pytest

from classic import jaeger_port, run_classic_driver, wait_received
from helpers import FIXTURES_DIR, WeftServer, wait_for_trace

FIXTURE = FIXTURES_DIR / "jaeger-petclinic-trace.json"


def test_jaeger_fixture_round_trips_through_the_collector(weft: WeftServer):
    if not FIXTURE.exists():
        pytest.skip(f"{FIXTURE} is missing (shared/ is not beside the repository)")

    trace = json.loads(FIXTURE.read_text())
    port = jaeger_port(weft, "--jaeger.http.listen")
    report = run_classic_driver(
        "jaeger_fixture_thrift.py", str(FIXTURE), f"http://127.0.0.1:{port}/api/traces"
    )
    assert report == {"batches": len(trace["processes"]), "spans": len(trace["spans"])}
    wait_received(weft, "jaeger_http_thrift", len(trace["spans"]))

    trace_id = trace["traceID"].rjust(32, "0")
    stored = wait_for_trace(weft, trace_id, len(trace["spans"]))
    by_id = {span["id"]: span for span in stored}
    assert len(stored) == len(trace["spans"]) == len(by_id)
    for original in trace["spans"]:
        where = f"span {original['spanID']} {original['operationName']}"
        got = by_id[original["spanID"].rjust(16, "0")]
        assert got["traceId"] == trace_id, where
        parents = [ref["spanID"] for ref in original["references"] if ref["refType"] == "CHILD_OF"]
        assert got.get("parentId") == (parents[0].rjust(16, "0") if parents else None), where
        assert got["name"] == original["operationName"].lower(), where
        assert got["timestamp"] == original["startTime"], where
        assert got["duration"] == original["duration"], where
        service = trace["processes"][original["processID"]]["serviceName"]
        assert got["localEndpoint"]["serviceName"] == service, where
        tags = {entry["key"]: str(entry["value"]) for entry in original["tags"]}
        kind = tags.pop("span.kind", None)
        assert got.get("kind") == (kind.upper() if kind else None), where
        for key, value in tags.items():
            if key == "error":
                continue
            assert got.get("tags", {}).get(key) == value, f"tag {key}; {where}"
