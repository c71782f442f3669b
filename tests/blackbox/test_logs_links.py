"""Logs tied to traces through the real binary: a trace sent to the Zipkin port, log lines
pushed to the Loki port (the trace id in structured metadata, in a traceparent in the
line, and in neither), then the trace's logs from /api/traces/{id}/logs, a LogQL query
on /api/logs with each entry's trace, and `weft logs` printing both."""

from __future__ import annotations

import subprocess
import time

import pytest
import requests

from helpers import clean_env, new_span_id, new_trace_id, now_micros, wait_for_trace, weft_binary, zspan

pytestmark = pytest.mark.storage


def push(server, streams: list[dict]) -> None:
    response = requests.post(f"{server.loki_url}/loki/api/v1/push", json={"streams": streams}, timeout=10)
    assert response.status_code == 204, response.text


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(weft_binary()), *args],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        env=clean_env(),
    )


def test_a_trace_s_logs_and_each_log_line_s_trace(weft_factory):
    server = weft_factory()
    trace_id = new_trace_id()
    other_trace = new_trace_id()
    root, child = new_span_id(), new_span_id()
    start_us = now_micros() - 2_000_000
    spans = [
        zspan(trace_id, root, name="GET /checkout", service="checkout", timestamp=start_us, duration=300_000, kind="SERVER"),
        zspan(trace_id, child, parent_id=root, name="charge", service="payment", timestamp=start_us + 50_000, duration=200_000),
    ]
    assert server.post_zipkin(spans).status_code == 202
    wait_for_trace(server, trace_id, 2)

    in_trace_ns = (start_us + 100_000) * 1000
    push(
        server,
        [
            {
                "stream": {"service_name": "payment", "level": "info"},
                "values": [
                    [str(in_trace_ns), "charging card", {"trace_id": trace_id}],
                    [str(in_trace_ns + 1_000), "card charged"],
                ],
            },
            {
                "stream": {"job": "nginx"},
                "values": [
                    [str(in_trace_ns + 2_000), f"GET /checkout 200 traceparent=00-{trace_id}-{root}-01"],
                    [str(in_trace_ns + 3_000), f"GET /other 200 traceparent=00-{other_trace}-{root}-01"],
                ],
            },
        ],
    )

    response = requests.get(f"{server.http_url}/api/traces/{trace_id}/logs", timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["traceId"] == trace_id
    assert body["services"] == ["checkout", "payment"]
    assert [(e["line"], e["matchedBy"]) for e in body["entries"]] == [
        ("charging card", "metadata"),
        (f"GET /checkout 200 traceparent=00-{trace_id}-{root}-01", "line"),
    ]
    assert body["entries"][0]["labels"]["service_name"] == "payment"
    assert body["truncated"] is False
    # The window is the trace's, widened by slack: with none, a line 5 s later is out.
    push(server, [{"stream": {"job": "late"}, "values": [[str(in_trace_ns + 5_000_000_000), f"late {trace_id}"]]}])
    late = requests.get(f"{server.http_url}/api/traces/{trace_id}/logs", params={"slack": "0s"}, timeout=10).json()
    assert [e["line"] for e in late["entries"]] == ["charging card", f"GET /checkout 200 traceparent=00-{trace_id}-{root}-01"]
    wide = requests.get(f"{server.http_url}/api/traces/{trace_id}/logs", params={"slack": "10s"}, timeout=10).json()
    assert wide["entries"][-1]["line"] == f"late {trace_id}"

    missing = requests.get(f"{server.http_url}/api/traces/{new_trace_id()}/logs", timeout=10)
    assert missing.status_code == 404
    bad = requests.get(f"{server.http_url}/api/traces/{trace_id}/logs", params={"slack": "soon"}, timeout=10)
    assert bad.status_code == 400 and "slack" in bad.text

    # A LogQL query: each entry carries its trace and whether it is stored.
    query = requests.get(
        f"{server.http_url}/api/logs",
        params={"query": '{job="nginx"}', "start": str(time.time_ns() - 3_600_000_000_000), "checkTraces": "true", "direction": "forward"},
        timeout=10,
    )
    assert query.status_code == 200, query.text
    entries = query.json()["entries"]
    assert [(e["traceId"], e["traceFound"]) for e in entries] == [(trace_id, True), (other_trace, False)]
    not_logql = requests.get(f"{server.http_url}/api/logs", params={"query": "{job="}, timeout=10)
    assert not_logql.status_code == 400 and "parse error" in not_logql.text

    # The CLI prints both.
    printed = run_cli("logs", "--server", server.http_url, "--trace", trace_id, "--slack", "1s")
    assert printed.returncode == 0, printed.stderr
    assert "charging card" in printed.stdout and f"trace={trace_id}" in printed.stdout
    assert "2 entries of trace" in printed.stdout and "checkout, payment" in printed.stdout
    printed = run_cli("logs", "--server", server.http_url, '{job="nginx"}')
    assert printed.returncode == 0, printed.stderr
    rows = printed.stdout.splitlines()
    assert rows[0].endswith(f"trace={trace_id}"), printed.stdout
    assert rows[1].endswith(f"trace={other_trace} (not stored)"), printed.stdout
    failed = run_cli("logs", "--server", server.http_url, "{job=")
    assert failed.returncode != 0 and "parse error" in failed.stderr
