#!/usr/bin/env python3
"""Record the requests the Grafana Tempo data source makes (and a few error answers)
against a Tempo holding dataset.json, into tests/traceql/tempo-samples/: one body file
per sample plus index.json with each request, status and content type.

    python3 tests/traceql/corpus.py load --otlp-http http://127.0.0.1:4390
    python3 tests/traceql/tempo_samples.py --api http://127.0.0.1:3290

Uses the search window written by `corpus.py load` (state.json) for start/end.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import requests

import corpus

OUT_DIR = corpus.HERE / "tempo-samples"
# the consumer trace with two span links, events and three instrumentation scopes
TRACE_ID = "721dd20de6b0db2a63a65e56c68ffe1c"
MISSING_TRACE_ID = "0123456789abcdef0123456789abcdef"


def samples(state: dict) -> list[tuple[str, str, dict, dict]]:
    """(name, path, query params, request headers) for every sample, in the order Grafana's
    data source uses them (health check, tag and value lookups, search, trace view)."""
    window = {"start": state["start"], "end": state["end"]}
    protobuf = {"Accept": "application/protobuf"}
    return [
        ("echo", "/api/echo", {}, {}),
        ("buildinfo", "/api/status/buildinfo", {}, {}),
        ("v2-tags", "/api/v2/search/tags", {"limit": 5000}, {}),
        ("v2-tags-windowed", "/api/v2/search/tags", {"limit": 5000, **window}, {}),
        ("v2-tags-resource", "/api/v2/search/tags", {"scope": "resource", "limit": 5000}, {}),
        ("v2-tags-span", "/api/v2/search/tags", {"scope": "span", "limit": 5000}, {}),
        ("v2-tags-intrinsic", "/api/v2/search/tags", {"scope": "intrinsic", "limit": 5000}, {}),
        ("v1-tags", "/api/search/tags", {}, {}),
        ("v1-tag-values-service-name", "/api/search/tag/service.name/values", {}, {}),
        ("v2-tag-values-resource-service-name", "/api/v2/search/tag/resource.service.name/values", {}, {}),
        ("v2-tag-values-span-http-status-code", "/api/v2/search/tag/span.http.status_code/values",
         {"q": '{ resource.service.name = "frontend" }'}, {}),
        ("v2-tag-values-intrinsic-kind", "/api/v2/search/tag/kind/values", {}, {}),
        ("search", "/api/search",
         {"q": '{ resource.service.name = "checkout" && kind = server }', "limit": 20, "spss": 3, **window}, {}),
        ("search-by", "/api/search", {"q": "{ status = error } | by(resource.service.name)", "limit": 20,
                                      "spss": 3, **window}, {}),
        ("search-bad-query", "/api/search", {"q": "{ name = }", "limit": 20, "spss": 3, **window}, {}),
        ("trace-v1-json", f"/api/traces/{TRACE_ID}", {}, {}),
        ("trace-v1-protobuf", f"/api/traces/{TRACE_ID}", {}, protobuf),
        ("trace-v2-json", f"/api/v2/traces/{TRACE_ID}", {}, {}),
        ("trace-v2-protobuf", f"/api/v2/traces/{TRACE_ID}", {}, protobuf),
        ("trace-v1-not-found", f"/api/traces/{MISSING_TRACE_ID}", {}, {}),
        ("trace-v2-not-found", f"/api/v2/traces/{MISSING_TRACE_ID}", {}, {}),
        ("trace-bad-id", "/api/traces/not-hex", {}, {}),
    ]


def body_suffix(content_type: str) -> str:
    if "protobuf" in content_type:
        return ".pb"
    if "json" in content_type:
        return ".json"
    return ".txt"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="Tempo HTTP base URL, e.g. http://127.0.0.1:3290")
    parser.add_argument("--state", type=Path, default=corpus.DEFAULT_STATE_PATH)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    state = corpus.read_state(args.state)
    corpus.wait_searchable(args.api, state)
    args.out.mkdir(exist_ok=True)
    index = []
    for name, path, params, headers in samples(state):
        response = requests.get(f"{args.api.rstrip('/')}{path}", params=params, headers=headers,
                                timeout=corpus.HTTP_TIMEOUT_SECONDS)
        content_type = response.headers.get("Content-Type", "")
        body_file = name + body_suffix(content_type)
        (args.out / body_file).write_bytes(response.content)
        index.append({
            "name": name,
            "request": {"method": "GET", "path": path, "params": params, "headers": headers,
                        "url": response.request.path_url},
            "status": response.status_code,
            "content_type": content_type,
            "body_file": body_file,
        })
        print(f"{response.status_code} {content_type:32} {name}")
    document = {"load_state": state, "samples": index}
    (args.out / "index.json").write_text(json.dumps(document, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
