#!/usr/bin/env python3
"""TraceQL conformance harness: load dataset.json into a Tempo-compatible backend, record
the answers of every corpus.yaml query, or check a backend against recorded answers.

    corpus.py load   --otlp-http http://127.0.0.1:4390 [--state PATH]
    corpus.py record --api http://127.0.0.1:3290 --out tests/traceql/expected.json
    corpus.py check  --api http://127.0.0.1:3290 --expected tests/traceql/expected.json
                     [--ignore-span-attributes] [--ignore-trace-metadata] [--only ID ...]

`load` shifts every timestamp of the dataset so the newest span ends LOAD_LAG_SECONDS
before now, pushes one OTLP/HTTP JSON request per trace, and writes the shift and the
search window (unix seconds) to the state file; `record` and `check` read it for the
`start`/`end` of every search, and first wait until `{ }` finds every dataset trace.

A query's result is normalised (see `normalise_response`) so two backends compare
exactly on: the HTTP status; for errors, the message; otherwise the set of trace ids
(lowercase 32-hex, zero-padded), per trace the spansets (matched span ids, `matched`,
spanset attributes such as by() keys and aggregate values), per matched span its
returned attributes, `name` (present only when the query referenced it) and
`durationNanos`, plus the trace's root service, root name and duration.

Python 3 standard library plus `requests` (tests/requirements.txt).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
DATASET_PATH = HERE / "dataset.json"
CORPUS_PATH = HERE / "corpus.yaml"
DEFAULT_STATE_PATH = HERE / "state.json"

# The newest span of the dataset ends this long before the moment of loading.
LOAD_LAG_SECONDS = 60
# Seconds added on both sides of the dataset's time range for search start/end.
WINDOW_MARGIN_SECONDS = 60
SEARCH_LIMIT = 1000
SPANS_PER_SPANSET = 1000
HTTP_TIMEOUT_SECONDS = 30
NANOS_PER_SECOND = 1_000_000_000


# -- corpus ---------------------------------------------------------------------------
def parse_corpus(text: str) -> list[dict[str, str]]:
    """Entries of corpus.yaml: a strict YAML subset (see the file's header) so no YAML
    library is needed. Each entry has id, category and query; note is optional."""
    entries: list[dict[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("- "):
            entries.append({})
            line = "  " + line[2:]
        if not line.startswith("  ") or not entries:
            raise ValueError(f"corpus line {number}: expected '- key: value' or '  key: value', got {line!r}")
        key, separator, raw = line.strip().partition(": ")
        if not separator or key not in ("id", "category", "query", "note"):
            raise ValueError(f"corpus line {number}: unknown or malformed key in {line!r}")
        entries[-1][key] = _parse_scalar(raw, number)
    ids = set()
    for entry in entries:
        for required in ("id", "category", "query"):
            if required not in entry:
                raise ValueError(f"corpus entry {entry} has no {required}")
        if entry["id"] in ids:
            raise ValueError(f"corpus id {entry['id']} appears twice")
        ids.add(entry["id"])
    return entries


def _parse_scalar(raw: str, number: int) -> str:
    if raw.startswith("'") and raw.endswith("'") and len(raw) >= 2:
        inner = raw[1:-1]
        if "'" in inner.replace("''", ""):
            raise ValueError(f"corpus line {number}: unescaped ' inside a single-quoted value")
        return inner.replace("''", "'")
    if raw.startswith('"'):
        return json.loads(raw)
    if raw and not any(ch in raw for ch in "'\":#{}[]"):
        return raw
    raise ValueError(f"corpus line {number}: value {raw!r} must be single-quoted")


def load_corpus(path: Path = CORPUS_PATH) -> list[dict[str, str]]:
    return parse_corpus(path.read_text())


# -- dataset --------------------------------------------------------------------------
def load_dataset(path: Path = DATASET_PATH) -> list[dict]:
    return json.loads(path.read_text())


def iter_spans(requests_: list[dict]):
    for request in requests_:
        for resource_spans in request["resourceSpans"]:
            for scope_spans in resource_spans["scopeSpans"]:
                yield from scope_spans["spans"]


def dataset_trace_ids(requests_: list[dict]) -> list[str]:
    return sorted({normalise_trace_id(span["traceId"]) for span in iter_spans(requests_)})


def rebase(requests_: list[dict], now_nanos: int) -> tuple[list[dict], int]:
    """A copy of the dataset with every timestamp shifted so the newest span ends
    LOAD_LAG_SECONDS before `now_nanos`, and the shift in nanoseconds."""
    newest_end = max(int(span["endTimeUnixNano"]) for span in iter_spans(requests_))
    offset = now_nanos - LOAD_LAG_SECONDS * NANOS_PER_SECOND - newest_end
    shifted = copy.deepcopy(requests_)
    for span in iter_spans(shifted):
        for key in ("startTimeUnixNano", "endTimeUnixNano"):
            span[key] = str(int(span[key]) + offset)
        for event in span.get("events", []):
            event["timeUnixNano"] = str(int(event["timeUnixNano"]) + offset)
    return shifted, offset


def search_window(requests_: list[dict]) -> tuple[int, int]:
    """Unix-second `start`/`end` covering every span of (rebased) requests, with margin."""
    starts = [int(span["startTimeUnixNano"]) for span in iter_spans(requests_)]
    ends = [int(span["endTimeUnixNano"]) for span in iter_spans(requests_)]
    start = min(starts) // NANOS_PER_SECOND - WINDOW_MARGIN_SECONDS
    end = math.ceil(max(ends) / NANOS_PER_SECOND) + WINDOW_MARGIN_SECONDS
    return start, end


def push_dataset(otlp_http_url: str, dataset_path: Path = DATASET_PATH, now_nanos: int | None = None) -> dict:
    """Push the rebased dataset to `{otlp_http_url}/v1/traces` (OTLP/HTTP JSON, one
    request per trace) and return the state: offset, window and trace ids."""
    original = load_dataset(dataset_path)
    shifted, offset = rebase(original, now_nanos if now_nanos is not None else time.time_ns())
    session = requests.Session()
    for index, request in enumerate(shifted):
        response = session.post(f"{otlp_http_url.rstrip('/')}/v1/traces", data=json.dumps(request),
                                headers={"Content-Type": "application/json"}, timeout=HTTP_TIMEOUT_SECONDS)
        if response.status_code != 200:
            raise RuntimeError(f"push of trace {index} answered {response.status_code}: {response.text[:500]}")
    start, end = search_window(shifted)
    return {"offset_nanos": offset, "start": start, "end": end, "trace_ids": dataset_trace_ids(original)}


# -- querying and normalising ---------------------------------------------------------
def normalise_trace_id(value: str) -> str:
    """Lowercase 32-hex with the leading zeros Tempo trims put back."""
    return value.lower().rjust(32, "0")


def normalise_span_id(value: str) -> str:
    return value.lower().rjust(16, "0")


def _attribute_map(attributes: list[dict] | None) -> dict[str, Any]:
    return {attribute["key"]: attribute.get("value", {}) for attribute in attributes or []}


def normalise_response(status: int, body: str) -> dict:
    """The comparable form of one /api/search answer (see the module doc)."""
    if status != 200:
        return {"status": status, "error": body.strip()}
    document = json.loads(body)
    traces: dict[str, dict] = {}
    for trace in document.get("traces") or []:
        spansets = trace.get("spanSets")
        if spansets is None:
            spansets = [trace["spanSet"]] if trace.get("spanSet") else []
        normalised_sets = []
        span_attributes: dict[str, dict] = {}
        span_fields: dict[str, dict] = {}
        for spanset in spansets:
            span_ids = []
            for span in spanset.get("spans") or []:
                span_id = normalise_span_id(span["spanID"])
                span_ids.append(span_id)
                span_attributes.setdefault(span_id, {}).update(_attribute_map(span.get("attributes")))
                # `name` is present only when the query referenced it; start times depend on the load shift
                span_fields[span_id] = {key: span[key] for key in ("name", "durationNanos") if key in span}
            normalised_sets.append({
                "span_ids": sorted(span_ids),
                "matched": spanset.get("matched", 0),
                "attributes": _attribute_map(spanset.get("attributes")),
            })
        normalised_sets.sort(key=lambda item: json.dumps(item, sort_keys=True))
        traces[normalise_trace_id(trace["traceID"])] = {
            "root_service_name": trace.get("rootServiceName"),
            "root_trace_name": trace.get("rootTraceName"),
            "duration_ms": trace.get("durationMs"),
            "span_ids": sorted({span_id for spanset in normalised_sets for span_id in spanset["span_ids"]}),
            "spansets": normalised_sets,
            "span_attributes": {span_id: span_attributes[span_id] for span_id in sorted(span_attributes)},
            "span_fields": {span_id: span_fields[span_id] for span_id in sorted(span_fields)},
        }
    return {"status": status, "trace_ids": sorted(traces), "traces": {key: traces[key] for key in sorted(traces)}}


def search(api_url: str, query: str, start: int, end: int, session: requests.Session | None = None) -> tuple[int, str]:
    params = {"q": query, "start": start, "end": end, "limit": SEARCH_LIMIT, "spss": SPANS_PER_SPANSET}
    response = (session or requests).get(f"{api_url.rstrip('/')}/api/search", params=params,
                                         timeout=HTTP_TIMEOUT_SECONDS)
    return response.status_code, response.text


def wait_searchable(api_url: str, state: dict, timeout_seconds: float = 180) -> None:
    """Wait until `{ }` finds every dataset trace; raise with what is missing otherwise."""
    deadline = time.monotonic() + timeout_seconds
    wanted = set(state["trace_ids"])
    missing: set[str] = wanted
    last = ""
    while time.monotonic() < deadline:
        try:
            status, body = search(api_url, "{ }", state["start"], state["end"])
            last = f"{status}: {body[:300]}"
            if status == 200:
                found = set(normalise_response(status, body)["trace_ids"])
                missing = wanted - found
                if not missing:
                    return
        except requests.RequestException as error:
            last = repr(error)
        time.sleep(1)
    raise RuntimeError(f"{len(missing)} of {len(wanted)} dataset traces still not searchable after "
                       f"{timeout_seconds}s (last answer {last})")


def run_corpus(api_url: str, state: dict, entries: list[dict[str, str]]) -> dict[str, dict]:
    session = requests.Session()
    results = {}
    for entry in entries:
        status, body = search(api_url, entry["query"], state["start"], state["end"], session)
        results[entry["id"]] = {"query": entry["query"], **normalise_response(status, body)}
    return results


def strip_result(result: dict, ignore_span_attributes: bool, ignore_trace_metadata: bool) -> dict:
    """`result` without the parts the caller chose not to compare."""
    result = copy.deepcopy(result)
    for trace in result.get("traces", {}).values():
        if ignore_span_attributes:
            trace.pop("span_attributes", None)
            trace.pop("span_fields", None)
        if ignore_trace_metadata:
            for key in ("root_service_name", "root_trace_name", "duration_ms"):
                trace.pop(key, None)
    return result


def diff_result(expected: dict, actual: dict) -> list[str]:
    """Human-readable differences between two normalised results (empty when equal)."""
    problems = []
    if expected.get("status") != actual.get("status"):
        problems.append(f"status: expected {expected.get('status')}, got {actual.get('status')}")
    if "error" in expected or "error" in actual:
        if expected.get("error") != actual.get("error"):
            problems.append(f"error: expected {expected.get('error')!r}, got {actual.get('error')!r}")
        return problems
    expected_ids, actual_ids = set(expected.get("trace_ids", [])), set(actual.get("trace_ids", []))
    if expected_ids - actual_ids:
        problems.append(f"missing traces: {sorted(expected_ids - actual_ids)}")
    if actual_ids - expected_ids:
        problems.append(f"unexpected traces: {sorted(actual_ids - expected_ids)}")
    for trace_id in sorted(expected_ids & actual_ids):
        want, got = expected["traces"][trace_id], actual["traces"][trace_id]
        for key in sorted(set(want) | set(got)):
            if want.get(key) != got.get(key):
                problems.append(f"trace {trace_id} {key}: expected {json.dumps(want.get(key), sort_keys=True)}, "
                                f"got {json.dumps(got.get(key), sort_keys=True)}")
    return problems


# -- commands -------------------------------------------------------------------------
def read_state(path: Path) -> dict:
    if not path.is_file():
        raise SystemExit(f"state file {path} not found: run `corpus.py load` first")
    return json.loads(path.read_text())


def command_load(args: argparse.Namespace) -> int:
    state = push_dataset(args.otlp_http, args.dataset)
    args.state.write_text(json.dumps(state, indent=1) + "\n")
    print(f"pushed {len(state['trace_ids'])} traces; offset {state['offset_nanos']} ns; "
          f"window {state['start']}..{state['end']}; state in {args.state}")
    return 0


def select_entries(args: argparse.Namespace) -> list[dict[str, str]]:
    entries = load_corpus(args.corpus)
    if args.only:
        entries = [entry for entry in entries if entry["id"] in set(args.only)]
    return entries


def dump_expected(document: dict) -> str:
    """JSON with one line per query result: compact, and a diff shows which queries changed."""
    header = {key: value for key, value in document.items() if key != "results"}
    lines = [json.dumps(header, sort_keys=True)[:-1] + ', "results": {']
    items = list(document["results"].items())
    for index, (query_id, result) in enumerate(items):
        comma = "," if index < len(items) - 1 else ""
        lines.append(f"{json.dumps(query_id)}: {json.dumps(result, sort_keys=True, separators=(',', ':'))}{comma}")
    lines.append("}}")
    return "\n".join(lines) + "\n"


def command_record(args: argparse.Namespace) -> int:
    state = read_state(args.state)
    wait_searchable(args.api, state)
    entries = select_entries(args)
    results = run_corpus(args.api, state, entries)
    buildinfo = requests.get(f"{args.api.rstrip('/')}/api/status/buildinfo", timeout=HTTP_TIMEOUT_SECONDS)
    document = {
        "recorded_from": buildinfo.json() if buildinfo.status_code == 200 else None,
        "about": "Answers of Grafana Tempo to tests/traceql/corpus.yaml over tests/traceql/dataset.json, "
                 "normalised by corpus.py (see TEMPO.md)",
        "search_params": {"limit": SEARCH_LIMIT, "spss": SPANS_PER_SPANSET},
        "results": results,
    }
    args.out.write_text(dump_expected(document))
    errors = sum(1 for result in results.values() if result["status"] != 200)
    print(f"recorded {len(results)} queries ({errors} errors) into {args.out}")
    return 0


def command_check(args: argparse.Namespace) -> int:
    state = read_state(args.state)
    wait_searchable(args.api, state)
    expected = json.loads(args.expected.read_text())["results"]
    entries = select_entries(args)
    actual = run_corpus(args.api, state, entries)
    failures = 0
    for entry in entries:
        want = expected.get(entry["id"])
        if want is None:
            print(f"SKIP {entry['id']}: no expected result recorded")
            continue
        problems = diff_result(strip_result(want, args.ignore_span_attributes, args.ignore_trace_metadata),
                               strip_result(actual[entry["id"]], args.ignore_span_attributes,
                                            args.ignore_trace_metadata))
        if problems:
            failures += 1
            print(f"FAIL {entry['id']}: {entry['query']}")
            for problem in problems:
                print(f"    {problem}")
    print(f"{len(entries) - failures} of {len(entries)} queries match")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="TraceQL conformance corpus harness")
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE_PATH, help="load state file (offset, window)")
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load", help="push dataset.json rebased to now via OTLP/HTTP JSON")
    load.add_argument("--otlp-http", required=True, help="OTLP/HTTP base URL, e.g. http://127.0.0.1:4390")
    load.add_argument("--dataset", type=Path, default=DATASET_PATH)
    for name, help_text in (("record", "record the answers of every query"), ("check", "compare with expected")):
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--api", required=True, help="search API base URL, e.g. http://127.0.0.1:3290")
        command.add_argument("--corpus", type=Path, default=CORPUS_PATH)
        command.add_argument("--only", nargs="*", help="run only these corpus ids")
        if name == "record":
            command.add_argument("--out", type=Path, required=True)
        else:
            command.add_argument("--expected", type=Path, required=True)
            command.add_argument("--ignore-span-attributes", action="store_true",
                                 help="do not compare the attributes, name and duration returned on matched spans")
            command.add_argument("--ignore-trace-metadata", action="store_true",
                                 help="do not compare rootServiceName, rootTraceName and durationMs")
    args = parser.parse_args(argv)
    handlers = {"load": command_load, "record": command_record, "check": command_check}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
