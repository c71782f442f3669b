#!/usr/bin/env python3
"""LogQL conformance: the dataset of dataset.py loaded into a Loki-compatible backend,
each query of queries.py asked over the Loki HTTP API, answers compared with the ones
Grafana Loki gave (expected.json, recorded as LOKI.md describes).

    corpus.py load   --api http://127.0.0.1:3390 [--state PATH]
    corpus.py record --api http://127.0.0.1:3390 [--state PATH]
    corpus.py check  --api http://127.0.0.1:3100 [--state PATH] [--only ID ...]

`load` pushes the dataset at BASE, a multiple of 37 hours at least two hours before
now, and writes BASE to the state file. Every answer is normalised with times relative to BASE,
so answers recorded once stay valid for any later load.

Metric queries are asked three ways: `range60` (query_range from BASE to BASE+1h at
step 60s), `range37` (from BASE+17.5s to BASE+50m at step 37s) and `instant` (query at
BASE+30m, a whole minute, where entries exactly at that time pin the right-closed
window); queries.STEPS adds `stepN` range queries from BASE+1m to BASE+1h. Log queries
are asked once (`log`: query_range BASE..BASE+1h, direction forward, limit 300).

Python 3 standard library plus `requests`.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dataset  # noqa: E402
from queries import QUERIES, STEPS  # noqa: E402

EXPECTED_PATH = HERE / "expected.json"
KNOWN_FAILURES_PATH = HERE / "known-failures.txt"
DEFAULT_STATE_PATH = HERE / "state.json"
S = 1_000_000_000
LOG_LIMIT = 300


# Loki's frontend aligns a range query's start and end to multiples of the step counted
# from the Unix epoch. BASE is a multiple of every step asked (3600 s x 37 s), so the
# steps fall at the same offsets from BASE on every run.
ALIGN_SECONDS = 3600 * 37


def base_for(now_seconds: float) -> int:
    """The latest multiple of ALIGN_SECONDS at least two hours before now (seconds):
    between 2 and 39 hours ago."""
    return ((int(now_seconds) - 2 * 3600) // ALIGN_SECONDS) * ALIGN_SECONDS


def is_log_query(query: str) -> bool:
    return query.lstrip().startswith("{")


def requests_for(query_id: str, query: str, base: int) -> list[tuple[str, str, dict]]:
    """(mode, path, params) for every way the query is asked."""
    if is_log_query(query):
        return [
            (
                "log",
                "/loki/api/v1/query_range",
                {
                    "query": query,
                    "start": str(base * S),
                    "end": str((base + dataset.WINDOW_SECONDS) * S),
                    "limit": str(LOG_LIMIT),
                    "direction": "forward",
                },
            )
        ]
    asked = [
        (
            "range60",
            "/loki/api/v1/query_range",
            {"query": query, "start": str(base), "end": str(base + 3600), "step": "60"},
        ),
        (
            "range37",
            "/loki/api/v1/query_range",
            {"query": query, "start": f"{base + 17.5}", "end": str(base + 3000), "step": "37"},
        ),
        ("instant", "/loki/api/v1/query", {"query": query, "time": str(base + 1800)}),
    ]
    for step in STEPS.get(query_id, []):
        asked.append(
            (
                f"step{step:g}",
                "/loki/api/v1/query_range",
                {"query": query, "start": str(base + 60), "end": str(base + 3600), "step": f"{step:g}"},
            )
        )
    return asked


def relative_seconds(timestamp: float, base: int) -> float:
    return round(float(timestamp) - base, 3)


def labels_key(labels: dict) -> str:
    return json.dumps(labels, sort_keys=True)


def normalise(body: Any, status: int, base: int, keep_order: bool) -> dict:
    """The comparable part of an answer."""
    if status != 200:
        text = body if isinstance(body, str) else json.dumps(body)
        return {"status": status, "error": text.strip()[:500]}
    data = body["data"]
    kind = data["resultType"]
    result = data["result"]
    if kind == "streams":
        streams = [
            {
                "stream": stream["stream"],
                "values": [[str(int(ts) - base * S), line] for ts, line in stream["values"]],
            }
            for stream in result
        ]
        streams.sort(key=lambda stream: labels_key(stream["stream"]))
        return {"status": 200, "resultType": kind, "result": streams}
    if kind == "matrix":
        series = [
            {
                "metric": item["metric"],
                "values": [[relative_seconds(ts, base), value] for ts, value in item["values"]],
            }
            for item in result
        ]
        series.sort(key=lambda item: labels_key(item["metric"]))
        return {"status": 200, "resultType": kind, "result": series}
    if kind == "vector":
        samples = [
            {"metric": item["metric"], "value": [relative_seconds(item["value"][0], base), item["value"][1]]}
            for item in result
        ]
        if not keep_order:
            samples.sort(key=lambda item: labels_key(item["metric"]))
        return {"status": 200, "resultType": kind, "result": samples}
    if kind == "scalar":
        return {"status": 200, "resultType": kind, "result": [relative_seconds(result[0], base), result[1]]}
    return {"status": 200, "resultType": kind, "result": result}


def ask(session: requests.Session, api: str, path: str, params: dict) -> tuple[int, Any]:
    response = session.get(api + path, params=params, timeout=60)
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return response.status_code, body


def order_matters(query: str, mode: str) -> bool:
    return mode == "instant" and query.lstrip().startswith(("sort(", "sort_desc("))


def run_all(api: str, base: int, only: set[str] | None = None) -> dict:
    session = requests.Session()
    answers: dict[str, dict] = {}
    for query_id, query in QUERIES:
        if only and query_id not in only:
            continue
        for mode, path, params in requests_for(query_id, query, base):
            status, body = ask(session, api, path, params)
            answers[f"{query_id}/{mode}"] = {
                "query": query,
                **normalise(body, status, base, order_matters(query, mode)),
            }
    return answers


def push(api: str, base: int) -> int:
    session = requests.Session()
    count = 0
    for stream in dataset.streams(base * S):
        values = stream["values"]
        for start in range(0, len(values), 500):
            batch = {"streams": [{"stream": stream["stream"], "values": values[start : start + 500]}]}
            response = session.post(f"{api}/loki/api/v1/push", json=batch, timeout=30)
            if response.status_code != 204:
                raise SystemExit(f"push failed: {response.status_code} {response.text}")
            count += len(batch["streams"][0]["values"])
    return count


def wait_loaded(api: str, base: int, timeout: float = 60) -> None:
    """Until a count over the whole window sees every line."""
    expected = dataset.line_count()
    query = 'sum(count_over_time({job=~".+"}[2h]))'
    deadline = time.time() + timeout
    seen = None
    while time.time() < deadline:
        status, body = ask(
            requests.Session(), api, "/loki/api/v1/query", {"query": query, "time": str(base + 7200)}
        )
        if status == 200 and body["data"]["result"]:
            seen = int(float(body["data"]["result"][0]["value"][1]))
            if seen == expected:
                return
        time.sleep(0.5)
    raise SystemExit(f"dataset not visible: {seen} of {expected} lines")


def values_equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        if left == right:
            return True
        try:
            a, b = float(left), float(right)
        except ValueError:
            return False
        if math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(values_equal(a, b) for a, b in zip(left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(values_equal(left[k], right[k]) for k in left)
    if isinstance(left, float) or isinstance(right, float):
        if not (isinstance(left, (int, float)) and isinstance(right, (int, float))):
            return False
        if math.isnan(left) or math.isnan(right):
            return math.isnan(left) and math.isnan(right)
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-6)
    return left == right


def relaxed(answer: dict) -> Any:
    """An answer with labels dropped: per timestamp the sorted values. For answers Loki
    itself gives differently from run to run (topk/bottomk/sort among equal values
    pick series in Go's map order)."""
    result = answer.get("result")
    kind = answer.get("resultType")
    by_time: dict[str, list[float]] = {}
    if kind == "matrix":
        for series in result:
            for timestamp, value in series["values"]:
                by_time.setdefault(str(timestamp), []).append(float(value))
    elif kind == "vector":
        for sample in result:
            by_time.setdefault(str(sample["value"][0]), []).append(float(sample["value"][1]))
    else:
        return result
    return {timestamp: sorted(values) for timestamp, values in sorted(by_time.items())}


def answers_equal(expected: dict, actual: dict) -> bool:
    if expected["status"] != actual["status"]:
        return False
    if expected["status"] != 200:
        # Errors: the status; messages are pinned by unit tests, not here (Loki's
        # include positions and Go error texts only the parser tests pin).
        return True
    if expected.get("unstable"):
        if expected.get("resultType") != actual.get("resultType"):
            return False
        return values_equal(relaxed(expected), relaxed(actual))
    return values_equal(
        {key: expected[key] for key in ("resultType", "result")},
        {key: actual.get(key) for key in ("resultType", "result")},
    )


def is_known(key: str, known: dict[str, str]) -> bool:
    return key in known or key.split("/")[0] in known


def fixed_known(known: dict[str, str], expected: dict, equal: list[str]) -> list[str]:
    """Entries of known-failures.txt whose answers all agree now."""
    agreeing = set(equal)
    fixed = []
    for entry in known:
        keys = [key for key in expected if key == entry or key.split("/")[0] == entry]
        if keys and all(key in agreeing for key in keys):
            fixed.append(entry)
    return sorted(fixed)


def load_known_failures() -> dict[str, str]:
    known: dict[str, str] = {}
    if KNOWN_FAILURES_PATH.exists():
        for line in KNOWN_FAILURES_PATH.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, reason = line.partition(" ")
            known[key] = reason.strip()
    return known


def compare(expected: dict, actual: dict) -> tuple[list[str], list[str]]:
    """(keys equal, keys different)."""
    equal, different = [], []
    for key, answer in expected.items():
        if key in actual and answers_equal(answer, actual[key]):
            equal.append(key)
        else:
            different.append(key)
    return equal, different


def describe(key: str, expected: dict, actual: dict | None) -> str:
    def short(value: Any) -> str:
        text = json.dumps(value)
        return text if len(text) < 600 else text[:600] + "..."

    if actual is None:
        return f"{key}: not asked"
    return f"{key}: {expected['query']}\n  expected {short(expected)}\n  actual   {short(actual)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["load", "record", "check"])
    parser.add_argument("--api", required=True)
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE_PATH)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if args.command == "load":
        base = base_for(time.time())
        count = push(args.api, base)
        # Loki's queriers do not find hours-old entries still in the ingesters (the
        # frontend plans from the index): flush them to the store first.
        requests.post(f"{args.api}/flush", timeout=60)
        args.state.write_text(json.dumps({"base": base}))
        wait_loaded(args.api, base)
        print(f"pushed {count} lines at base {base}")
        return
    base = json.loads(args.state.read_text())["base"]
    only = set(args.only) if args.only else None
    answers = run_all(args.api, base, only)
    if args.command == "record":
        # topk/bottomk/sort pick among equal values in Go's map order: unstable by
        # nature. Ask twice more: other answers Loki gives differently between runs are
        # marked unstable too. Unstable answers are compared without labels.
        for key, answer in answers.items():
            if answer["status"] == 200 and re.search(r"\b(topk|bottomk|sort|sort_desc)\b", answer["query"]):
                answer["unstable"] = True
        for _ in range(2):
            again = run_all(args.api, base, only)
            for key, answer in again.items():
                if json.dumps(answer, sort_keys=True) != json.dumps(answers[key], sort_keys=True):
                    answers[key]["unstable"] = True
        lines = [f"{json.dumps(key)}: {json.dumps(answers[key], sort_keys=True)}" for key in sorted(answers)]
        EXPECTED_PATH.write_text('{"results": {\n' + ",\n".join(lines) + "\n}}\n")
        errors = sum(1 for answer in answers.values() if answer["status"] != 200)
        print(f"recorded {len(answers)} answers ({errors} errors) from {len(QUERIES)} queries")
        return
    expected = json.loads(EXPECTED_PATH.read_text())["results"]
    if only:
        expected = {key: value for key, value in expected.items() if key.split("/")[0] in only}
    equal, different = compare(expected, answers)
    known = load_known_failures()
    unexpected = [key for key in different if not is_known(key, known)]
    for key in different if args.verbose else unexpected:
        print(describe(key, expected[key], answers.get(key)))
    print(f"{len(equal)} of {len(expected)} answers equal; {len(different)} different ({len(unexpected)} not known)")
    fixed = fixed_known(known, expected, equal)
    if fixed:
        print(f"now equal, remove from known-failures.txt: {fixed}")
    sys.exit(1 if unexpected else 0)


if __name__ == "__main__":
    main()
