"""Loki-compatible logs through the real binary: push JSON and snappy protobuf on
--loki.listen, query them back with LogQL, and keep them across a graceful restart and
a kill -9 after the 204."""

import time

import pytest
import requests

# Runs in both black-box passes, local disk and S3 (tests/run.sh: -m storage).
pytestmark = pytest.mark.storage


def uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def snappy_literals(data: bytes) -> bytes:
    """A valid raw (block format) snappy encoding made only of literal elements."""
    out = bytearray(uvarint(len(data)))
    for start in range(0, len(data), 65536):
        piece = data[start : start + 65536]
        length = len(piece) - 1
        if length < 60:
            out.append(length << 2)
        elif length < 256:
            out += bytes([60 << 2, length])
        else:
            out += bytes([61 << 2]) + length.to_bytes(2, "little")
        out += piece
    return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    return uvarint(number << 3 | 2) + uvarint(len(payload)) + payload


def push_request_proto(labels: str, entries: list[tuple[int, str]]) -> bytes:
    """logproto.PushRequest with one stream, encoded by hand."""
    encoded_entries = b""
    for timestamp_ns, line in entries:
        seconds, nanos = divmod(timestamp_ns, 1_000_000_000)
        timestamp = uvarint(1 << 3) + uvarint(seconds) + uvarint(2 << 3) + uvarint(nanos)
        encoded_entries += field(2, field(1, timestamp) + field(2, line.encode()))
    return field(1, field(1, labels.encode()) + encoded_entries)


def query_range(server, query: str, start_ns: int, **params) -> dict:
    response = requests.get(
        f"{server.loki_url}/loki/api/v1/query_range",
        params={"query": query, "start": str(start_ns), "end": str(time.time_ns() + 1), **params},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    assert body["data"]["resultType"] == "streams"
    return body


def lines_of(body: dict) -> list[tuple[str, str, str]]:
    return sorted(
        (stream["stream"]["job"], value[0], value[1])
        for stream in body["data"]["result"]
        for value in stream["values"]
    )


def test_push_query_restart_and_crash(weft_factory):
    server = weft_factory()
    start = time.time_ns() - 60_000_000_000
    now = time.time_ns()
    json_values = [[str(now - 3_000_000_000), "GET /a 200"], [str(now - 2_000_000_000), "GET /b 500 needle"]]
    response = requests.post(
        f"{server.loki_url}/loki/api/v1/push",
        json={"streams": [{"stream": {"job": "bb-json", "level": "info"}, "values": json_values}]},
        timeout=10,
    )
    assert response.status_code == 204, response.text
    proto_entries = [(now - 2_500_000_000, "proto needle one"), (now - 1_000_000_000, "proto two")]
    body = snappy_literals(push_request_proto('{job="bb-proto", level="warn"}', proto_entries))
    response = requests.post(
        f"{server.loki_url}/loki/api/v1/push",
        data=body,
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert response.status_code == 204, response.text

    expected_needles = [
        ("bb-json", str(now - 2_000_000_000), "GET /b 500 needle"),
        ("bb-proto", str(now - 2_500_000_000), "proto needle one"),
    ]
    everything = [
        ("bb-json", value[0], value[1]) for value in json_values
    ] + [("bb-proto", str(ts), line) for ts, line in proto_entries]

    def check(server):
        assert lines_of(query_range(server, '{job=~"bb-.+"} |= "needle"', start)) == expected_needles
        assert lines_of(query_range(server, '{job=~"bb-.+"}', start)) == sorted(everything)
        newest = query_range(server, '{job=~"bb-.+"}', start, limit="1")
        assert lines_of(newest) == [("bb-proto", str(now - 1_000_000_000), "proto two")]
        oldest = query_range(server, '{level=~"info|warn"} != "needle"', start, limit="1", direction="forward")
        assert lines_of(oldest) == [("bb-json", str(now - 3_000_000_000), "GET /a 200")]
        labels = requests.get(f"{server.loki_url}/loki/api/v1/labels", params={"start": str(start)}, timeout=10)
        assert labels.json()["data"] == ["job", "level"]
        values = requests.get(
            f"{server.loki_url}/loki/api/v1/label/job/values", params={"start": str(start)}, timeout=10
        )
        assert values.json()["data"] == ["bb-json", "bb-proto"]
        series = requests.get(
            f"{server.loki_url}/loki/api/v1/series",
            params={"match[]": '{level="warn"}', "start": str(start)},
            timeout=10,
        )
        assert series.json()["data"] == [{"job": "bb-proto", "level": "warn"}]

    check(server)

    # Errors as Loki reports them.
    bad = requests.get(f"{server.loki_url}/loki/api/v1/query_range", params={"query": '{job="x"'}, timeout=10)
    assert bad.status_code == 400
    assert bad.text.startswith("parse error at line 1, col 9: syntax error"), bad.text
    old = requests.post(
        f"{server.loki_url}/loki/api/v1/push",
        json={"streams": [{"stream": {"job": "bb-json"}, "values": [["1000", "ancient"]]}]},
        timeout=10,
    )
    assert old.status_code == 400 and "timestamp too old" in old.text, old.text
    numeric = requests.post(
        f"{server.loki_url}/loki/api/v1/push",
        json={"streams": [{"stream": {"job": "bb-json"}, "values": [[1000, "x"]]}]},
        timeout=10,
    )
    assert numeric.status_code == 400

    # A graceful restart flushes heads into chunks; the index is reloaded from them.
    server.restart()
    check(server)
    if (server.data_dir / "blocks" / "logs" / "chunks").exists():
        chunk_files = list((server.data_dir / "blocks" / "logs" / "chunks").rglob("*.chunk"))
        assert len(chunk_files) >= 2, chunk_files

    # kill -9 right after the 204: the WAL replay brings the entry back.
    crash_ts = time.time_ns()
    response = requests.post(
        f"{server.loki_url}/loki/api/v1/push",
        json={"streams": [{"stream": {"job": "bb-json", "level": "info"}, "values": [[str(crash_ts), "after crash needle"]]}]},
        timeout=10,
    )
    assert response.status_code == 204, response.text
    server.kill()
    server.start()
    expected_needles.append(("bb-json", str(crash_ts), "after crash needle"))
    expected_needles.sort()
    everything.append(("bb-json", str(crash_ts), "after crash needle"))
    assert lines_of(query_range(server, '{job=~"bb-.+"} |= "needle"', start)) == expected_needles
    assert lines_of(query_range(server, '{job=~"bb-.+"}', start, limit="100")) == sorted(everything)


def test_logql_pipeline_through_the_http_api(weft_factory):
    """json + label filter + line_format + label_format over the HTTP API: the streams
    come back grouped by the labels after the pipeline, as Loki returns them."""
    server = weft_factory()
    now = time.time_ns()
    values = [
        [str(now - 4_000_000_000), '{"level":"error","status":500,"path":"/a","latency":"1.5s"}', {"trace_id": "t1"}],
        [str(now - 3_000_000_000), '{"level":"info","status":200,"path":"/b","latency":"20ms"}'],
        [str(now - 2_000_000_000), '{"level":"error","status":503,"path":"/c","latency":"300ms"}'],
        [str(now - 1_000_000_000), "not json at all"],
    ]
    response = requests.post(
        f"{server.loki_url}/loki/api/v1/push",
        json={"streams": [{"stream": {"job": "bb-pipeline"}, "values": values}]},
        timeout=10,
    )
    assert response.status_code == 204, response.text
    start = now - 60_000_000_000
    body = query_range(
        server,
        '{job="bb-pipeline"} | json | __error__="" | status >= 500 and latency > 250ms'
        ' | line_format "{{.path}} {{ .level | ToUpper }}" | drop path, latency',
        start,
        direction="forward",
    )
    streams = sorted(
        (tuple(sorted(stream["stream"].items())), [value[1] for value in stream["values"]])
        for stream in body["data"]["result"]
    )
    assert streams == [
        ((("job", "bb-pipeline"), ("level", "error"), ("status", "500"), ("trace_id", "t1")), ["/a ERROR"]),
        ((("job", "bb-pipeline"), ("level", "error"), ("status", "503")), ["/c ERROR"]),
    ]
    # A line that is not JSON is kept with JSONParserErr unless filtered.
    body = query_range(server, '{job="bb-pipeline"} |= "not json" | json', start)
    [stream] = body["data"]["result"]
    assert stream["stream"]["__error__"] == "JSONParserErr"
    # label_format renames and templates; keep trims the labels.
    body = query_range(
        server,
        '{job="bb-pipeline"} | json | level="info" | label_format code=status, route="{{ TrimPrefix .path \\"/\\" }}" | keep code, route',
        start,
    )
    assert [stream["stream"] for stream in body["data"]["result"]] == [{"code": "200", "route": "b"}]
    # Syntax errors say where and what was expected, as Loki's do.
    response = requests.get(
        f"{server.loki_url}/loki/api/v1/query_range",
        params={"query": '{job="bb-pipeline"} | json | status >', "start": str(start)},
        timeout=10,
    )
    assert response.status_code == 400
    assert "parse error at line 1, col 38" in response.text, response.text
