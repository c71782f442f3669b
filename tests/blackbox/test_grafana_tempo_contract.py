"""Grafana's Tempo data source against weft: the request sequence it makes (health check,
build info, tag names, tag values, TraceQL search, trace by id in protobuf), replayed on
the real weft binary holding tests/traceql/dataset.json, and checked against what Grafana
Tempo answered for the same requests (tests/traceql/tempo-samples/, recorded from a
Tempo built from source, see tests/traceql/TEMPO.md).

Grafana itself cannot run here; the sequence and what Grafana reads from each answer are
in shared/reference/api-contracts.md §3.4."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import requests
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from helpers import REPO_ROOT, WeftServer, wait_until

# Runs in both black-box passes, local disk and S3 (tests/run.sh: -m storage).
pytestmark = pytest.mark.storage

TRACEQL_DIR = REPO_ROOT / "tests" / "traceql"
SAMPLES = TRACEQL_DIR / "tempo-samples"
sys.path.insert(0, str(TRACEQL_DIR))

import corpus  # noqa: E402

PROTOBUF = {"Accept": "application/protobuf"}


def sample_json(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    log_dir: Path = tmp_path_factory.mktemp("grafana-contract")
    server = WeftServer(data_dir=log_dir / "data", log_dir=log_dir)
    server.start()
    try:
        state = corpus.push_dataset(server.otlp_http_url)
        wait_until(
            lambda: len(search(server, state, "{ }", limit=1000)["traces"]) == len(state["trace_ids"]),
            timeout=30,
            message="every dataset trace searchable",
        )
        yield server, state
    finally:
        if server.running:
            assert server.stop() == 0, server.log_tail()


def search(server: WeftServer, state: dict, query: str, limit: int = 20, spss: int = 3) -> dict:
    response = requests.get(
        f"{server.http_url}/api/search",
        params={"q": query, "limit": limit, "spss": spss, "start": state["start"], "end": state["end"]},
        timeout=30,
    )
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def test_health_check_and_build_info(loaded):
    server, _ = loaded
    echo = requests.get(f"{server.http_url}/api/echo", timeout=10)
    assert (echo.status_code, echo.text) == (200, (SAMPLES / "echo.txt").read_text().strip())
    info = requests.get(f"{server.http_url}/api/status/buildinfo", timeout=10)
    assert info.status_code == 200
    assert set(info.json()) == set(sample_json("buildinfo.json")), info.text
    assert info.json()["version"]


def test_query_editor_tags_and_values(loaded):
    server, state = loaded
    window = {"start": state["start"], "end": state["end"]}
    for params, sample in (
        ({"limit": 5000}, "v2-tags.json"),
        ({"limit": 5000, **window}, "v2-tags-windowed.json"),
        ({"scope": "resource", "limit": 5000}, "v2-tags-resource.json"),
        ({"scope": "span", "limit": 5000}, "v2-tags-span.json"),
        ({"scope": "intrinsic", "limit": 5000}, "v2-tags-intrinsic.json"),
    ):
        response = requests.get(f"{server.http_url}/api/v2/search/tags", params=params, timeout=10)
        assert response.status_code == 200, response.text
        got = {scope["name"]: sorted(scope["tags"]) for scope in response.json()["scopes"]}
        want = {scope["name"]: sorted(scope["tags"]) for scope in sample_json(sample)["scopes"]}
        assert got == want, f"{params}: {got} != {want}"

    response = requests.get(f"{server.http_url}/api/search/tags", timeout=10)
    assert sorted(response.json()["tagNames"]) == sorted(sample_json("v1-tags.json")["tagNames"])
    response = requests.get(f"{server.http_url}/api/search/tag/service.name/values", timeout=10)
    assert sorted(response.json()["tagValues"]) == sorted(sample_json("v1-tag-values-service-name.json")["tagValues"])

    def typed(path: str, params: dict) -> list[tuple[str, str]]:
        response = requests.get(f"{server.http_url}{path}", params=params, timeout=30)
        assert response.status_code == 200, response.text
        return sorted((value["type"], value["value"]) for value in response.json()["tagValues"])

    def sample_values(sample: str) -> list[tuple[str, str]]:
        return sorted((value["type"], value["value"]) for value in sample_json(sample)["tagValues"])

    path = "/api/v2/search/tag/resource.service.name/values"
    assert typed(path, {}) == sample_values("v2-tag-values-resource-service-name.json")
    path = "/api/v2/search/tag/kind/values"
    assert typed(path, {}) == sample_values("v2-tag-values-intrinsic-kind.json")
    # Filtered by q. Tempo's sample was asked without start/end, so it only saw its most
    # recent minutes; weft is asked for the whole window, so it must hold every value of
    # the dataset's frontend spans, which include Tempo's.
    filtered = typed("/api/v2/search/tag/span.http.status_code/values",
                     {"q": '{ resource.service.name = "frontend" }', **window})
    in_dataset = sorted({
        ("int", attribute["value"]["intValue"])
        for request in corpus.load_dataset()
        for resource_spans in request["resourceSpans"]
        if {"key": "service.name", "value": {"stringValue": "frontend"}} in resource_spans["resource"]["attributes"]
        for scope_spans in resource_spans["scopeSpans"]
        for span in scope_spans["spans"]
        for attribute in span.get("attributes", [])
        if attribute["key"] == "http.status_code"
    })
    assert filtered == in_dataset
    assert set(sample_values("v2-tag-values-span-http-status-code.json")) <= set(filtered)


def test_traceql_search_answers_like_tempo(loaded):
    server, state = loaded
    offset = sample_json("index.json")["load_state"]["offset_nanos"]
    for query, sample in (
        ('{ resource.service.name = "checkout" && kind = server }', "search.json"),
        ("{ status = error } | by(resource.service.name)", "search-by.json"),
    ):
        got = search(server, state, query)
        want = sample_json(sample)
        # Tempo answers the first `limit` traces it finds, weft the newest: with more
        # matches than the limit the lists hold different traces (the TraceQL corpus
        # compares whole sets, with a limit above the match count).
        assert len(got["traces"]) == len(want["traces"]), query
        by_id = {t["traceID"]: t for t in got["traces"]}
        common = [expected for expected in want["traces"] if expected["traceID"] in by_id]
        assert common, query
        for expected in common:
            actual = by_id[expected["traceID"]]
            for field in ("rootServiceName", "rootTraceName", "durationMs", "serviceStats"):
                assert actual.get(field) == expected.get(field), (query, field, actual, expected)
            # Start times differ by the two loads' time shifts, nothing else.
            assert int(actual["startTimeUnixNano"]) - state["offset_nanos"] == int(
                expected["startTimeUnixNano"]) - offset
            normalise = lambda sets: sorted(  # noqa: E731
                (
                    # Tempo lists a span's attributes in map order: compare them as sets.
                    sorted((span["spanID"], sorted(json.dumps(a, sort_keys=True) for a in span.get("attributes", [])))
                           for span in spanset.get("spans", [])),
                    spanset.get("matched"),
                    json.dumps(spanset.get("attributes", []), sort_keys=True),
                )
                for spanset in sets
            )
            assert normalise(actual["spanSets"]) == normalise(expected["spanSets"]), query
            assert actual["spanSet"] in actual["spanSets"]

    bad = requests.get(f"{server.http_url}/api/search", params={"q": "{ name = }", "start": state["start"],
                                                                "end": state["end"]}, timeout=10)
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("text/plain")
    assert bad.text.strip() == (SAMPLES / "search-bad-query.txt").read_text().strip()


def test_trace_by_id_in_protobuf_and_json(loaded):
    server, state = loaded
    trace_id = "721dd20de6b0db2a63a65e56c68ffe1c"
    span_ids = {span["spanId"] for span in corpus.iter_spans(corpus.load_dataset())
                if corpus.normalise_trace_id(span["traceId"]) == trace_id}
    assert span_ids
    window = {"start": state["start"], "end": state["end"]}
    # Grafana's backend: /api/v2/traces/{id}?start&end with Accept: application/protobuf.
    for path in (f"/api/v2/traces/{trace_id}", f"/api/traces/{trace_id}"):
        response = requests.get(f"{server.http_url}{path}", params=window, headers=PROTOBUF, timeout=10)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/protobuf"
        body = response.content
        if "/v2/" in path:
            body = _field_one(body)  # TraceByIDResponse.trace
        trace = TracesData.FromString(body)
        got = {span.span_id.hex() for rs in trace.resource_spans for ss in rs.scope_spans for span in ss.spans}
        assert got == {corpus.normalise_span_id(span_id) for span_id in span_ids}

    v1 = requests.get(f"{server.http_url}/api/traces/{trace_id}", timeout=10).json()
    v1_sample = sample_json("trace-v1-json.json")
    assert set(v1) == set(v1_sample) == {"batches"}
    v2 = requests.get(f"{server.http_url}/api/v2/traces/{trace_id}", timeout=10).json()
    assert set(v2["trace"]) == set(sample_json("trace-v2-json.json")["trace"])
    first = v2["trace"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert len(first["traceId"]) == 24 and first["traceId"].endswith("=="), "base64 ids as gogo jsonpb writes them"
    assert first["kind"].startswith("SPAN_KIND_")

    unknown = "0123456789abcdef0123456789abcdef"
    missing = requests.get(f"{server.http_url}/api/traces/{unknown}", timeout=10)
    assert (missing.status_code, missing.text) == (404, "")
    missing_v2 = requests.get(f"{server.http_url}/api/v2/traces/{unknown}", timeout=10)
    assert (missing_v2.status_code, missing_v2.json()) == (200, sample_json("trace-v2-not-found.json"))
    bad = requests.get(f"{server.http_url}/api/traces/not-hex", timeout=10)
    assert (bad.status_code, bad.text.strip()) == (400, (SAMPLES / "trace-bad-id.txt").read_text().strip())


def _field_one(message: bytes) -> bytes:
    """The payload of field 1 (length-delimited) of a protobuf message."""
    position = 0
    while position < len(message):
        key, position = _varint(message, position)
        if key & 7 == 2:
            length, position = _varint(message, position)
            if key >> 3 == 1:
                return message[position:position + length]
            position += length
        elif key & 7 == 0:
            _, position = _varint(message, position)
        else:
            raise AssertionError(f"unexpected wire type in {message[:40]!r}")
    raise AssertionError("no field 1")


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position
