#!/usr/bin/env python3
"""TraceQL metrics conformance: the same generated spans loaded into a Tempo-compatible
backend, each query of METRICS_QUERIES asked four ways (range at step 60s, range at step
37s from an unaligned start, range at the default step, instant), answers compared with
the ones Grafana Tempo gave (metrics_expected.json, recorded as TEMPO.md describes).

    metrics_corpus.py load   --otlp-http http://127.0.0.1:4390 [--state PATH]
    metrics_corpus.py record --api http://127.0.0.1:3290 [--state PATH]
    metrics_corpus.py check  --api http://127.0.0.1:3200 [--state PATH]

`load` generates the spans (fixed seed) inside a 10-minute window starting at BASE, a
multiple of ALIGN_SECONDS at least 20 minutes before now, so step alignment relative to
BASE is the same on every run; it pushes them over OTLP/HTTP JSON and writes BASE to the
state file. Answers are normalised with timestamps relative to BASE, so answers recorded
once stay valid for any later load. Python 3 standard library plus `requests`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
EXPECTED_PATH = HERE / "metrics_expected.json"
DEFAULT_STATE_PATH = HERE / "metrics_state.json"
MS = 1_000_000
S = 1_000_000_000
# 60 s x 37 s: BASE is aligned to both steps the corpus asks for (and every default step).
ALIGN_SECONDS = 2220
WINDOW_SECONDS = 600

METRICS_QUERIES = [
    "{ } | rate()",
    "{ } | count_over_time()",
    "{ } | count_over_time() by (resource.service.name)",
    "{ } | rate() by (name)",
    "{ status = error } | rate() by (resource.service.name)",
    "{ } | sum_over_time(duration)",
    "{ } | avg_over_time(duration) by (resource.service.name)",
    "{ } | min_over_time(duration) by (name)",
    "{ } | max_over_time(duration)",
    "{ } | sum_over_time(span.size) by (resource.service.name)",
    "{ } | max_over_time(span.ratio)",
    "{ } | quantile_over_time(duration, 0.5, 0.9, 0.99)",
    "{ } | quantile_over_time(duration, 0.95) by (resource.service.name)",
    "{ } | histogram_over_time(duration)",
    "{ } | histogram_over_time(duration) by (resource.service.name)",
    "{ } | quantile_over_time(span.size, 0.5)",
    "{ } | histogram_over_time(span.size)",
    "{ } | count_over_time() by (resource.service.name, name)",
    "{ } | rate() by (span.missing)",
    "{ } | count_over_time() by (resource.service.name) | topk(1)",
    "{ } | count_over_time() by (resource.service.name, name) | bottomk(2)",
    "{ duration > 100ms } | rate()",
    '{ name = "GET" } | avg_over_time(span.size)',
    "{ } | min_over_time(span.size) by (name)",
    "{ kind = server } | count_over_time() by (status)",
    "{ } | rate() by (kind)",
    "{ status = error } | count_over_time() by (name)",
    '{ resource.service.name = "api" } | quantile_over_time(duration, 0.5) by (name)',
    "{ } | sum_over_time(span.ratio) by (name)",
    "{ } | avg_over_time(span.ratio)",
    "{ } | max_over_time(span.size) by (resource.service.name)",
    "{ span.size > 2500 } | count_over_time() by (resource.service.name)",
    "{ duration < 50ms } | rate() by (name)",
    "{ } | histogram_over_time(duration) by (name)",
    "{ } | quantile_over_time(duration, 0.25, 0.75) by (resource.service.name, name)",
    '{ name =~ "G.*" } | count_over_time()',
    '{ resource.service.name != "db" } | rate() by (resource.service.name)',
    "{ } | avg_over_time(span.size) by (resource.service.name) | topk(2)",
    "{ } | max_over_time(duration) by (name) | bottomk(1)",
    "{ status != error } | min_over_time(duration)",
    "{ } | sum_over_time(duration) by (status)",
    "{ span.ratio > 0.5 && duration > 100ms } | count_over_time() by (resource.service.name)",
    "{ } | quantile_over_time(span.ratio, 0.9)",
    "{ } | histogram_over_time(span.ratio)",
    "{ } | min_over_time(span.ratio) by (resource.service.name)",
]


def dataset(base: int) -> dict[str, Any]:
    """40 traces of 3 services, 1-3 server spans each, inside [base, base + 600 s]."""
    rng = random.Random(7)
    resource_spans = []
    for _ in range(40):
        trace_id = f"{rng.getrandbits(128):032x}"
        for service in ("api", "db", "cache"):
            spans = []
            for _ in range(rng.randint(1, 3)):
                start = base * S + rng.randint(1, 590) * S + rng.randint(0, 999) * MS
                duration = rng.choice([3, 17, 50, 120, 300, 800, 1500, 4000]) * MS + rng.randint(0, 999) * 1000
                span = {
                    "traceId": trace_id,
                    "spanId": f"{rng.getrandbits(64):016x}",
                    "name": rng.choice(["GET", "POST", "query"]),
                    "kind": 2,
                    "startTimeUnixNano": str(start),
                    "endTimeUnixNano": str(start + duration),
                    "attributes": [
                        {"key": "size", "value": {"intValue": str(rng.randint(1, 5000))}},
                        {"key": "ratio", "value": {"doubleValue": rng.random()}},
                    ],
                }
                if rng.random() < 0.2:
                    span["status"] = {"code": 2}
                spans.append(span)
            resource_spans.append(
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                    "scopeSpans": [{"spans": spans}],
                }
            )
    return {"resourceSpans": resource_spans}


def span_count() -> int:
    return sum(len(scope["spans"]) for rs in dataset(0)["resourceSpans"] for scope in rs["scopeSpans"])


def requests_for(query: str, base: int) -> dict[str, dict[str, Any]]:
    """The four ways each query is asked: (endpoint, params) by name."""
    return {
        "step-60s": {"path": "/api/metrics/query_range", "params": {"q": query, "start": base, "end": base + WINDOW_SECONDS, "step": "60s"}},
        "step-37s": {"path": "/api/metrics/query_range", "params": {"q": query, "start": base + 13, "end": base + WINDOW_SECONDS + 1, "step": "37s"}},
        "default-step": {"path": "/api/metrics/query_range", "params": {"q": query, "start": base, "end": base + WINDOW_SECONDS}},
        "instant": {"path": "/api/metrics/query", "params": {"q": query, "start": base, "end": base + WINDOW_SECONDS}},
    }


def normalise(response: requests.Response, base: int) -> Any:
    """Status and, on success, each series' labels with its samples (timestamps relative to
    `base` in ms, values rounded to 9 digits); exemplars are left out."""
    if response.status_code != 200:
        return {"status": response.status_code, "error": response.text.strip()}
    answer = response.json()
    series = {}
    for one in answer.get("series", []):
        key = json.dumps(one.get("labels", []), sort_keys=True)
        if "samples" in one:
            series[key] = [[int(sample["timestampMs"]) - base * 1000, round(sample.get("value", 0), 9)] for sample in one["samples"]]
        else:
            series[key] = round(one.get("value", 0), 9)
    return {"status": 200, "series": dict(sorted(series.items()))}


def ask_all(api: str, base: int) -> dict[str, dict[str, Any]]:
    answers = {}
    for query in METRICS_QUERIES:
        answers[query] = {}
        for name, request in requests_for(query, base).items():
            params = {**request["params"], "exemplars": 0}
            answers[query][name] = normalise(requests.get(api + request["path"], params=params, timeout=60), base)
    return answers


def wait_loaded(api: str, base: int, timeout: float = 120.0) -> None:
    """Until `{ } | count_over_time()` over the window counts every span."""
    wanted = span_count()
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        params = {"q": "{ } | count_over_time()", "start": base, "end": base + WINDOW_SECONDS, "exemplars": 0}
        response = requests.get(api + "/api/metrics/query", params=params, timeout=60)
        if response.ok:
            series = response.json().get("series", [])
            seen = sum(one.get("value", 0) for one in series)
            if seen == wanted:
                return
        time.sleep(1)
    raise SystemExit(f"backend at {api} counts {seen} spans, not {wanted}")


def load(otlp_http: str, state_path: Path) -> int:
    base = (int(time.time()) - 1200) // ALIGN_SECONDS * ALIGN_SECONDS
    response = requests.post(f"{otlp_http}/v1/traces", json=dataset(base), timeout=30)
    response.raise_for_status()
    state_path.write_text(json.dumps({"base": base}))
    return base


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    found = []
    for query in METRICS_QUERIES:
        for name, answer in expected[query].items():
            if actual.get(query, {}).get(name) != answer:
                found.append(f"{query} [{name}]\n  expected {json.dumps(answer)[:800]}\n  actual   {json.dumps(actual.get(query, {}).get(name))[:800]}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["load", "record", "check"])
    parser.add_argument("--otlp-http")
    parser.add_argument("--api")
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE_PATH)
    arguments = parser.parse_args()
    if arguments.command == "load":
        print(load(arguments.otlp_http, arguments.state))
        return 0
    base = json.loads(arguments.state.read_text())["base"]
    wait_loaded(arguments.api, base)
    actual = ask_all(arguments.api, base)
    if arguments.command == "record":
        # One line per query: small enough to keep, and a re-recording diffs per query.
        lines = [f"{json.dumps(query)}: {json.dumps(actual[query], sort_keys=True, separators=(',', ':'))}" for query in METRICS_QUERIES]
        EXPECTED_PATH.write_text("{\n" + ",\n".join(lines) + "\n}\n")
        print(f"recorded {len(actual)} queries x 4 requests to {EXPECTED_PATH}")
        return 0
    found = differences(json.loads(EXPECTED_PATH.read_text()), actual)
    for line in found:
        print(line)
    print(f"{len(METRICS_QUERIES) * 4 - len(found)} of {len(METRICS_QUERIES) * 4} answers equal")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
