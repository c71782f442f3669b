"""What Grafana's Logs Drilldown asks of the Loki API, through the real binary:
/detected_labels (label cardinalities, id-only labels left out), /detected_fields and
/detected_field/{name}/values (JSON and logfmt lines, structured metadata, types,
JSON paths, limits and errors), and /index/volume_range (bytes per step bucket)."""

from __future__ import annotations

import time

import pytest
import requests

pytestmark = pytest.mark.storage

SECOND_NS = 1_000_000_000


def push(server, streams: list[dict]) -> None:
    response = requests.post(f"{server.loki_url}/loki/api/v1/push", json={"streams": streams}, timeout=10)
    assert response.status_code == 204, response.text


def get(server, path: str, **params) -> requests.Response:
    return requests.get(f"{server.loki_url}/loki/api/v1/{path}", params=params, timeout=10)


def seed(server) -> int:
    now = time.time_ns()
    streams = []
    for pod in ("api-1", "api-2"):
        streams.append(
            {
                "stream": {"service_name": "api", "pod": pod, "request_id": f"{len(streams) + 7}", "level": "info"},
                "values": [
                    [str(now - (10 - i) * SECOND_NS), f'{{"status":{200 + i},"took":"{i}ms","user":{{"id":"u{i % 3}"}}}}', {"trace_id": f"{i:032x}"}]
                    for i in range(6)
                ],
            }
        )
    streams.append(
        {
            "stream": {"service_name": "worker", "pod": "worker-1", "request_id": "9", "level": "warn"},
            "values": [[str(now - (5 - i) * SECOND_NS), f"job=resize size={i + 1}KB ok=true attempt={i}"] for i in range(4)],
        }
    )
    push(server, streams)
    return now


def test_detected_labels_count_values_and_leave_out_ids(weft_factory):
    server = weft_factory()
    seed(server)
    response = get(server, "detected_labels")
    assert response.status_code == 200, response.text
    labels = {label["label"]: label["cardinality"] for label in response.json()["detectedLabels"]}
    # request_id holds only numbers: an id, left out; pod is a static label, kept.
    assert labels == {"level": 2, "pod": 3, "service_name": 2}, labels
    narrowed = get(server, "detected_labels", query='{service_name="api"}').json()["detectedLabels"]
    assert {label["label"]: label["cardinality"] for label in narrowed} == {"level": 1, "pod": 2, "service_name": 1}
    bad = get(server, "detected_labels", query='{service_name="api"')
    assert bad.status_code == 400 and "parse error" in bad.text, bad.text


def test_detected_fields_of_json_logfmt_and_metadata(weft_factory):
    server = weft_factory()
    seed(server)
    response = get(server, "detected_fields", query='{service_name=~".+"}', line_limit="1000")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["limit"] == 1000
    fields = {field["label"]: field for field in body["fields"]}
    assert set(fields) == {"status", "took", "user_id", "trace_id", "job", "size", "ok", "attempt"}, sorted(fields)
    assert fields["status"] == {"label": "status", "type": "int", "cardinality": 6, "parsers": ["json"], "jsonPath": ["status"]}
    assert fields["user_id"]["jsonPath"] == ["user", "id"] and fields["user_id"]["cardinality"] == 3
    assert fields["took"]["type"] == "duration"
    assert fields["trace_id"]["parsers"] is None and fields["trace_id"]["cardinality"] == 6
    assert fields["size"]["type"] == "bytes" and fields["size"]["parsers"] == ["logfmt"]
    assert fields["ok"]["type"] == "boolean"
    # A line filter narrows the lines read; line_limit bounds them.
    worker = get(server, "detected_fields", query='{service_name=~".+"} |= "resize"').json()
    assert {field["label"] for field in worker["fields"]} == {"job", "size", "ok", "attempt"}
    one_line = get(server, "detected_fields", query='{service_name="api"}', line_limit="1").json()
    status = next(field for field in one_line["fields"] if field["label"] == "status")
    assert status["cardinality"] == 1
    limited = get(server, "detected_fields", query='{service_name=~".+"}', limit="2").json()
    assert len(limited["fields"]) == 2 and limited["limit"] == 2
    values = get(server, "detected_field/user_id/values", query='{service_name="api"}').json()
    assert values == {"values": ["u0", "u1", "u2"], "limit": 1000}, values
    assert get(server, "detected_field/nothing/values", query='{service_name="api"}').json() == {"values": []}
    for params, wanted in [
        ({}, "query parameter is required"),
        ({"query": 'sum(count_over_time({service_name="api"}[1m]))'}, "log query"),
        ({"query": '{service_name="api"}', "line_limit": "0"}, "line_limit must be a positive integer"),
        ({"query": '{service_name="api"}', "line_limit": "100000"}, "max entries limit per query exceeded"),
    ]:
        refused = get(server, "detected_fields", **params)
        assert refused.status_code == 400 and wanted in refused.text, (params, refused.text)


def test_volume_range_gives_bytes_per_step_bucket(weft_factory):
    server = weft_factory()
    now = seed(server)
    old_line = "an older api line"
    push(server, [{"stream": {"service_name": "api", "pod": "api-3"}, "values": [[str(now - 45 * SECOND_NS), old_line]]}])
    start = (now // SECOND_NS - 60) * SECOND_NS
    end = (now // SECOND_NS + 1) * SECOND_NS
    response = get(
        server, "index/volume_range", query='{service_name=~".+"}', start=str(start), end=str(end), step="30s"
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["resultType"] == "matrix", data
    by_service = {series["metric"]["service_name"]: series["values"] for series in data["result"]}
    assert set(by_service) == {"api", "worker"}
    api_bytes = sum(len(f'{{"status":{200 + i},"took":"{i}ms","user":{{"id":"u{i % 3}"}}}}') for i in range(6)) * 2
    # The older line is 45 s back: with 30 s buckets api has two samples at least.
    assert len(by_service["api"]) >= 2, by_service
    for values in by_service.values():
        times = [value[0] for value in values]
        assert times == sorted(times) and times[-1] <= end / SECOND_NS, values
    # Buckets do not overlap and heads count their entries exactly.
    assert sum(int(value[1]) for value in by_service["api"]) == api_bytes + len(old_line)
    # Ordered as Loki's frontend orders them: by the first sample, largest first.
    firsts = [int(series["values"][0][1]) for series in data["result"]]
    assert firsts == sorted(firsts, reverse=True), data["result"]
    # One entry in the middle of a 100 s bucket: one sample, a vector.
    middle = ((now // SECOND_NS) // 100 * 100 - 50) * SECOND_NS
    push(server, [{"stream": {"service_name": "single"}, "values": [[str(middle), "one line"]]}])
    instant = get(
        server,
        "index/volume_range",
        query='{service_name="single"}',
        start=str(middle - 10 * SECOND_NS),
        end=str(middle + 10 * SECOND_NS),
        step="100s",
    )
    assert instant.json()["data"]["resultType"] == "vector", instant.text
    assert instant.json()["data"]["result"][0]["value"][1] == str(len("one line")), instant.text
    assert get(server, "index/volume_range", query='{service_name="api"}', step="0").status_code == 400


def test_patterns_cluster_lines_and_work_as_pattern_filters(weft_factory):
    server = weft_factory()
    now = time.time_ns()
    values = [[str(now - (60 - i) * SECOND_NS), f"request {i} served in {i * 3}ms from 10.0.{i}.1"] for i in range(40)]
    values += [[str(now - (30 - i) * SECOND_NS), f"cache miss for key k{i}"] for i in range(5)]
    push(server, [{"stream": {"service_name": "api", "level": "info"}, "values": values}])
    response = get(server, "patterns", query='{service_name="api"}', start=str(now - 120 * SECOND_NS), end=str(now + 1), step="60s")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    by_pattern = {series["pattern"]: series for series in body["data"]}
    served = by_pattern["request <_> served in <_> from <_>"]
    assert served["level"] == "info"
    assert sum(count for _, count in served["samples"]) == 40
    assert all(at % 60 == 0 for at, _ in served["samples"]), served["samples"]
    assert body["data"][0]["pattern"] == "request <_> served in <_> from <_>", "most lines first"
    # A pattern is a LogQL pattern filter that selects its lines.
    matched = get(
        server,
        "query_range",
        query='{service_name="api"} |> "request <_> served in <_> from <_>"',
        start=str(now - 120 * SECOND_NS),
        end=str(now + 1),
        limit="1000",
    ).json()
    assert sum(len(stream["values"]) for stream in matched["data"]["result"]) == 40
    assert get(server, "patterns").status_code == 400
    assert get(server, "patterns", query='{service_name="api"}', step="0").status_code == 400
