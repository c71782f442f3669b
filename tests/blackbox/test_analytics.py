"""The analytics API and CLI against the real binary: hand-built checkout traces sent as
OTLP JSON over HTTP, then the critical path, service map, flow graph, calling-context
tree and comparisons read from /api/analytics/* and checked against values worked out
by hand (segments in milliseconds) and counted independently from the spans sent.
`weft graph` prints the same service map as DOT and SVG; `weft trace` marks the
critical path."""

from __future__ import annotations

import subprocess
import time
import xml.etree.ElementTree as ElementTree
from collections import Counter

import pytest
import requests

from helpers import WeftServer, clean_env, new_trace_id, wait_for_trace, weft_binary

# Runs in both black-box passes, local disk and S3 (tests/run.sh: -m storage).
pytestmark = pytest.mark.storage

MS = 1_000_000  # nanoseconds per millisecond


def otlp_span(trace_id: str, span_id: str, parent: str | None, name: str, kind: int, start_ns: int, duration_ms: int) -> dict:
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + duration_ms * MS),
    }
    if parent:
        span["parentSpanId"] = parent
    return span


SERVER, CLIENT = 2, 3


def checkout(base_ns: int, charge_ms: int) -> tuple[str, dict[str, list[dict]], list[tuple[str, str, int, int]]]:
    """One checkout trace: spans by service, and its critical path worked out by hand as
    (service, name, start ms, end ms). frontend calls inventory at 10-50 ms, then payment
    at 55 ms for charge_ms + 4 ms; the root ends 5 ms after that."""
    trace_id = new_trace_id()
    ids = {name: f"{index:016x}" for index, name in enumerate(["root", "inv_call", "reserve", "pay_call", "charge"], start=1)}
    pay_end = 55 + charge_ms + 4
    spans = {
        "frontend": [
            otlp_span(trace_id, ids["root"], None, "GET /checkout", SERVER, base_ns, pay_end + 5),
            otlp_span(trace_id, ids["inv_call"], ids["root"], "call inventory", CLIENT, base_ns + 10 * MS, 40),
            otlp_span(trace_id, ids["pay_call"], ids["root"], "call payment", CLIENT, base_ns + 55 * MS, charge_ms + 4),
        ],
        "inventory": [otlp_span(trace_id, ids["reserve"], ids["inv_call"], "reserve", SERVER, base_ns + 12 * MS, 36)],
        "payment": [otlp_span(trace_id, ids["charge"], ids["pay_call"], "charge", SERVER, base_ns + 57 * MS, charge_ms)],
    }
    path = [
        ("frontend", "GET /checkout", 0, 10),
        ("frontend", "call inventory", 10, 12),
        ("inventory", "reserve", 12, 48),
        ("frontend", "call inventory", 48, 50),
        ("frontend", "GET /checkout", 50, 55),
        ("frontend", "call payment", 55, 57),
        ("payment", "charge", 57, 57 + charge_ms),
        ("frontend", "call payment", 57 + charge_ms, pay_end),
        ("frontend", "GET /checkout", pay_end, pay_end + 5),
    ]
    return trace_id, spans, path


def send(server: WeftServer, traces: list[dict[str, list[dict]]]) -> None:
    resource_spans = []
    for by_service in traces:
        for service, spans in by_service.items():
            resource_spans.append(
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                    "scopeSpans": [{"spans": spans}],
                }
            )
    response = requests.post(
        f"{server.otlp_http_url}/v1/traces",
        json={"resourceSpans": resource_spans},
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def get(server: WeftServer, path: str, **params) -> requests.Response:
    return requests.get(f"{server.http_url}/api/analytics/{path}", params=params, timeout=30)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(weft_binary()), *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, env=clean_env()
    )


def test_analytics_endpoints_and_cli_on_hand_built_checkouts(weft: WeftServer):
    now_s = int(time.time())
    base_ns = (now_s - 120) * 1_000_000_000
    charges = [36, 36, 136]
    built = [checkout(base_ns + index * 1_000_000_000, charge) for index, charge in enumerate(charges)]
    send(weft, [spans for _, spans, _ in built])
    for trace_id, _, _ in built:
        wait_for_trace(weft, trace_id, 5)
    window = {"start": now_s - 300, "end": now_s + 60}

    # Critical path of the slow checkout, segment by segment.
    slow_id, _, slow_path = built[2]
    answer = get(weft, f"critical-path/{slow_id}").json()
    segments = [
        (s["service"], s["name"], (s["start_unix_nanos"] - base_ns - 2_000_000_000) // MS, (s["end_unix_nanos"] - base_ns - 2_000_000_000) // MS)
        for s in answer["segments"]
    ]
    assert segments == slow_path, answer
    assert answer["total_nanos"] == 200 * MS and answer["truncated"] is False
    assert answer["spans"][0]["name"] == "charge" and answer["spans"][0]["self_time_on_path_nanos"] == 136 * MS

    # Service map: edge counts equal those counted from the spans sent.
    sent_calls: Counter = Counter()
    for _, by_service, _ in built:
        owner = {span["spanId"]: service for service, spans in by_service.items() for span in spans}
        for service, spans in by_service.items():
            for span in spans:
                parent = span.get("parentSpanId")
                if parent and owner[parent] != service:
                    sent_calls[(owner[parent], service)] += 1
    service_map = get(weft, "service-map", **window).json()
    got_calls = {(e["caller"], e["callee"]): e["stats"]["call_count"] for e in service_map["edges"]}
    assert got_calls == dict(sent_calls) == {("frontend", "inventory"): 3, ("frontend", "payment"): 3}
    assert service_map["selection"]["traces_selected"] == 3 and service_map["truncated"] is False
    payment_edge = next(e for e in service_map["edges"] if e["callee"] == "payment")
    assert payment_edge["stats"]["latency"]["max_nanos"] == 140 * MS

    # A TraceQL filter and a limit narrow the selection; the limit is flagged.
    only_slow = get(weft, "service-map", q="{ duration > 120ms }", **window).json()
    assert only_slow["selection"]["traces_selected"] == 1
    limited = get(weft, "service-map", limit=2, **window).json()
    assert limited["selection"]["traces_selected"] == 2 and limited["truncated"] is True

    # Flow graph of the one workflow and the calling-context tree.
    flow = get(weft, "flow", **window).json()
    assert flow["workflow"] == {"root_service": "frontend", "root_operation": "GET /checkout"}
    assert flow["trace_count"] == 3 and len(flow["nodes"]) == 5
    assert all(node["on_common_path"] for node in flow["nodes"])
    cct = get(weft, "cct", **window).json()
    charge = next(node for node in cct["nodes"] if node["operation"] == "charge")
    assert charge["span_count"] == 3 and charge["inclusive"]["total_nanos"] == sum(charges) * MS

    # Comparisons: two traces, and fast vs slow split at 120 ms.
    fast_id = built[0][0]
    pair = get(weft, "compare", a=fast_id, b=slow_id).json()
    assert pair["nodes"][0]["path"][-1]["operation"] == "charge"
    assert pair["nodes"][0]["exclusive_delta_nanos"] == 100 * MS
    split = get(weft, "compare", threshold="120ms", **window).json()
    assert (split["a"]["trace_count"], split["b"]["trace_count"]) == (2, 1)

    # Errors name the parameter; unknown traces are 404.
    bad = get(weft, "service-map", limit=0, **window)
    assert bad.status_code == 400 and bad.text.startswith("invalid limit"), bad.text
    bad = get(weft, "cct", q="{ nonsense", **window)
    assert bad.status_code == 400 and bad.text.startswith("invalid q"), bad.text
    missing = get(weft, f"critical-path/{new_trace_id()}")
    assert missing.status_code == 404, missing.text

    # weft graph: DOT and SVG of the same map.
    lookback = ["--lookback", "10m", "--server", weft.http_url]
    dot = run_cli("graph", *lookback)
    assert dot.returncode == 0, dot.stderr
    assert dot.stdout.startswith("digraph weft {"), dot.stdout
    assert dot.stdout.count(" -> ") == 2 and "3 calls" in dot.stdout, dot.stdout
    svg = run_cli("graph", "--format", "svg", *lookback)
    assert svg.returncode == 0, svg.stderr
    root = ElementTree.fromstring(svg.stdout)
    namespace = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{namespace}svg"
    assert len(root.findall(f".//{namespace}rect")) == 3
    assert len([p for p in root.iter(f"{namespace}path") if p.get("class") == "edge"]) == 2
    flow_dot = run_cli("graph", "--flow", *lookback)
    assert flow_dot.returncode == 0 and flow_dot.stdout.count("penwidth=2") >= 5, flow_dot.stdout

    # weft trace marks exactly the spans on the critical path (all five here).
    waterfall = run_cli("trace", fast_id, "--server", weft.http_url)
    assert waterfall.returncode == 0, waterfall.stderr
    marked = [line for line in waterfall.stdout.splitlines() if line.startswith("*|")]
    assert len(marked) == 5, waterfall.stdout
    assert "on the critical path" in waterfall.stdout
    assert "\x1b[" not in waterfall.stdout, "no colour when stdout is not a terminal"

    # weft compare: the two traces, then fast against slow, as ranked tables.
    pair_table = run_cli("compare", fast_id, slow_id, "--server", weft.http_url)
    assert pair_table.returncode == 0, pair_table.stderr
    rows = pair_table.stdout.splitlines()
    assert rows[0].startswith(f"A {fast_id} (5 spans") and f"B {slow_id} (5 spans" in rows[0], pair_table.stdout
    assert "charge" in rows[2] and rows[2].endswith("+100.0ms"), pair_table.stdout
    split_table = run_cli("compare", "--threshold", "120ms", *lookback)
    assert split_table.returncode == 0, split_table.stderr
    assert split_table.stdout.startswith("A: 2 traces") and "B: 1 traces" in split_table.stdout, split_table.stdout
    neither = run_cli("compare", "--server", weft.http_url)
    assert neither.returncode != 0 and "give two trace ids" in neither.stderr, neither.stderr
