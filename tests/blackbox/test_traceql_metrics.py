"""TraceQL metrics through the real binary: spans with known timings sent over OTLP/HTTP,
exact series from /api/metrics/query_range and /api/metrics/query (Tempo's JSON)."""

from __future__ import annotations

import time

import requests

from helpers import WeftServer, new_trace_id, wait_for_trace

MS = 1_000_000
SECOND = 1_000_000_000


def otlp_span(trace_id: str, span_id: int, start_ns: int, duration_ms: int) -> dict:
    return {
        "traceId": trace_id,
        "spanId": f"{span_id:016x}",
        "name": "op",
        "kind": 2,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + duration_ms * MS),
    }


def load(server: WeftServer, base_s: int) -> list[str]:
    """api: +5 s (100 ms), +15 s (300 ms), +35 s (1 s); db: +25 s (50 ms), +45 s (2 s)."""
    base_ns = base_s * SECOND
    api, db = new_trace_id(), new_trace_id()
    spans = {
        "api": [otlp_span(api, 1, base_ns + 5 * SECOND, 100), otlp_span(api, 2, base_ns + 15 * SECOND, 300),
                otlp_span(api, 3, base_ns + 35 * SECOND, 1000)],
        "db": [otlp_span(db, 4, base_ns + 25 * SECOND, 50), otlp_span(db, 5, base_ns + 45 * SECOND, 2000)],
    }
    body = {
        "resourceSpans": [
            {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
             "scopeSpans": [{"spans": list_}]}
            for service, list_ in spans.items()
        ]
    }
    response = requests.post(f"{server.otlp_http_url}/v1/traces", json=body, timeout=10)
    assert response.status_code == 200, response.text
    wait_for_trace(server, api, 3)
    wait_for_trace(server, db, 2)
    return [api, db]


def series_table(answer: dict) -> dict[str, list[tuple[int, float]]]:
    table = {}
    for series in answer.get("series", []):
        labels = ",".join(f"{label['key']}={next(iter(label['value'].values()))}" for label in series["labels"])
        table[labels] = [(int(sample["timestampMs"]), sample.get("value", 0.0)) for sample in series["samples"]]
    return table


def query_range(server: WeftServer, q: str, **params) -> dict:
    response = requests.get(f"{server.http_url}/api/metrics/query_range", params={"q": q, **params}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_metrics_series_equal_counts_from_the_spans_sent(weft: WeftServer):
    base_s = (int(time.time()) - 600) // 60 * 60
    load(weft, base_s)
    window = {"start": base_s, "end": base_s + 60, "step": "20s"}
    at = lambda seconds: (base_s + seconds) * 1000  # noqa: E731

    # Aligned: one extra interval before start; intervals (t-20 s, t] stamped with t.
    answer = query_range(weft, "{ } | count_over_time() by (resource.service.name)", **window)
    assert series_table(answer) == {
        "resource.service.name=api": [(at(0), 0.0), (at(20), 2.0), (at(40), 1.0), (at(60), 0.0)],
        "resource.service.name=db": [(at(0), 0.0), (at(20), 0.0), (at(40), 1.0), (at(60), 1.0)],
    }
    assert answer["metrics"]["inspectedTraces"] == 2

    answer = query_range(weft, "{ } | rate()", **window, exemplars=10)
    assert series_table(answer) == {"__name__=rate": [(at(0), 0.0), (at(20), 0.1), (at(40), 0.1), (at(60), 0.05)]}
    exemplars = answer["series"][0]["exemplars"]
    assert 1 <= len(exemplars) <= 10
    assert all(label["key"] in ("trace:id", "span:id") for e in exemplars for label in e["labels"])

    answer = query_range(weft, "{ } | quantile_over_time(duration, 0.5)", **window)
    assert series_table(answer) == {
        "p=0.5": [(at(0), 0.0), (at(20), 0.134217728), (at(40), 0.067108864), (at(60), 2.147483648)]
    }

    answer = query_range(weft, "{ } | max_over_time(duration) by (resource.service.name) | topk(1)", **window)
    assert series_table(answer) == {
        "resource.service.name=api": [(at(20), 0.3), (at(40), 1.0)],
        "resource.service.name=db": [(at(60), 2.0)],
    }

    response = requests.get(
        f"{weft.http_url}/api/metrics/query",
        params={"q": "{ resource.service.name = \"api\" } | rate()", "start": base_s, "end": base_s + 60},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["series"] == [
        {"labels": [{"key": "__name__", "value": {"stringValue": "rate"}}], "value": 3 / 60}
    ]

    response = requests.get(
        f"{weft.http_url}/api/metrics/query_range",
        params={"q": "{ } | rate()", "start": base_s, "end": base_s + 3600, "step": "100ms"},
        timeout=30,
    )
    assert response.status_code == 400
    assert "step of 100ms is too small" in response.text
