"""Real log clients against the real binary: python-logging-loki (JSON push),
winston-loki (snappy protobuf push, node), and the OpenTelemetry Python SDK's OTLP log
exporters over HTTP and gRPC. Each pushes known lines; the test reads them back through
/loki/api/v1/query_range and compares lines, stream labels and structured metadata
exactly. Then Loki's limits: the tenant rate, a stream's rate and the active stream
limit answer 429 with Loki's messages and count the refused entries in /metrics, and
/v1/logs names --loki.listen when logs are off."""

import json
import logging
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import logging_loki
import pytest
import requests
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
CATEGORIZE = {"X-Loki-Response-Encoding-Flags": "categorize-labels"}


def read_back(server, query: str, start_ns: int, headers=None) -> list[dict]:
    """Every entry of `query` oldest first as {labels, ts, line, metadata}. With Loki's
    categorize-labels answer the metadata is the third element of a value; in the plain
    answer it is merged into the stream's labels (metadata is None then)."""
    response = requests.get(
        f"{server.loki_url}/loki/api/v1/query_range",
        params={"query": query, "start": str(start_ns), "end": str(time.time_ns() + 1), "direction": "forward"},
        headers={**CATEGORIZE, **(headers or {})},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success" and body["data"]["resultType"] == "streams", body
    entries = []
    for stream in body["data"]["result"]:
        for value in stream["values"]:
            metadata = None
            if len(value) > 2:
                metadata = dict(value[2].get("structuredMetadata") or {})
            entries.append({"labels": stream["stream"], "ts": value[0], "line": value[1], "metadata": metadata})
    return sorted(entries, key=lambda entry: (int(entry["ts"]), entry["line"]))


def assert_entry(entry: dict, line: str, labels: dict, metadata: dict):
    assert entry["line"] == line, entry
    if entry["metadata"] is None:
        assert entry["labels"] == {**labels, **metadata}, entry
    else:
        assert (entry["labels"], entry["metadata"]) == (labels, metadata), entry


def metric_values(server, name: str) -> dict[tuple, float]:
    text = requests.get(f"{server.http_url}/metrics", timeout=10).text
    values = {}
    for found in re.finditer(rf"^{name}\{{([^}}]*)\}} (\S+)$", text, re.MULTILINE):
        labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', found.group(1))))
        values[labels] = float(found.group(2))
    return values


def test_python_logging_loki_json_push(weft):
    run = uuid.uuid4().hex[:8]
    start = time.time_ns() - 1_000_000_000
    handler = logging_loki.LokiHandler(
        url=f"{weft.loki_url}/loki/api/v1/push", tags={"app": "py-loki", "run": run}, version="1"
    )
    errors = []
    handler.handleError = lambda record: errors.append(record.getMessage())
    logger = logging.getLogger(f"bb.loki.{run}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        logger.info("checkout started %s", run)
        time.sleep(0.002)
        logger.warning("stock low", extra={"tags": {"sku": "A-17"}})
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert errors == []
    entries = read_back(weft, f'{{app="py-loki", run="{run}"}}', start)
    assert len(entries) == 2, entries
    base = {"app": "py-loki", "run": run, "logger": f"bb.loki.{run}"}
    assert_entry(entries[0], f"checkout started {run}", {**base, "severity": "info"}, {})
    assert_entry(entries[1], "stock low", {**base, "severity": "warning", "sku": "A-17"}, {})


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_winston_loki_snappy_protobuf_push(weft):
    assert (NODE_DIR / "node_modules" / "winston-loki").is_dir(), "run npm ci in tests/node (tests/run.sh does)"
    run = uuid.uuid4().hex[:8]
    start = time.time_ns() - 1_000_000_000
    done = subprocess.run(
        ["node", "winston_loki_push.js", weft.loki_url, run],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sent = json.loads(done.stdout)
    assert sent["errors"] == []
    entries = read_back(weft, f'{{app="winston", run="{run}"}}', start)
    # winston-loki writes the message, a space and the rest of winston's info object as JSON.
    expected = [f'{line["message"]} {{"level":"{line["level"]}"}}' for line in sent["lines"]]
    assert [entry["line"] for entry in entries] == expected
    for entry, line, text in zip(entries, sent["lines"], expected):
        assert_entry(entry, text, {"app": "winston", "run": run, "level": line["level"]}, {})


def otel_export(exporter, run: str, scope: str) -> tuple[Resource, list[dict]]:
    """Emits two records through the SDK's LoggerProvider and a SimpleLogRecordProcessor;
    returns the resource and what was sent."""
    resource = Resource.create(
        {"service.name": f"bb-otel-{run}", "deployment.environment": "test", "host.name": "node-7"}
    )
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger(scope, "1.0")
    now = time.time_ns()
    trace_id, span_id = int(uuid.uuid4().hex, 16), int(uuid.uuid4().hex[:16], 16)
    context = trace.set_span_in_context(
        NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(1)))
    )
    sent = [
        {
            "timestamp": now - 2_000_000,
            "observed_timestamp": now - 1_000_000,
            "context": context,
            "severity_number": SeverityNumber.INFO,
            "severity_text": "INFO",
            "body": f"order placed {run}",
            "attributes": {"http.method": "POST", "attempt": 2},
        },
        {
            "timestamp": now - 1_000_000,
            "observed_timestamp": now,
            "severity_number": SeverityNumber.ERROR,
            "severity_text": "ERROR",
            "body": {"event": "payment", "ok": False},
        },
    ]
    for record in sent:
        logger.emit(**record)
    provider.shutdown()
    sent[0]["trace_id"] = f"{trace_id:032x}"
    sent[0]["span_id"] = f"{span_id:016x}"
    return resource, sent


def check_otel_records(server, run: str, scope: str, resource: Resource, sent: list[dict], start: int):
    labels = {"service_name": f"bb-otel-{run}", "deployment_environment": "test"}
    resource_metadata = {
        re.sub(r"[^a-zA-Z0-9_]", "_", key): str(value)
        for key, value in resource.attributes.items()
        if key not in ("service.name", "deployment.environment")
    }
    assert resource_metadata["host_name"] == "node-7"
    assert "telemetry_sdk_language" in resource_metadata
    scope_metadata = {"scope_name": scope, "scope_version": "1.0"}
    entries = read_back(server, f'{{service_name="bb-otel-{run}"}}', start)
    assert len(entries) == 2, entries
    first, second = sent
    assert entries[0]["ts"] == str(first["timestamp"])
    assert_entry(
        entries[0],
        f"order placed {run}",
        labels,
        {
            "http_method": "POST",
            "attempt": "2",
            "observed_timestamp": str(first["observed_timestamp"]),
            "severity_number": "9",
            "severity_text": "INFO",
            "flags": "1",
            "trace_id": first["trace_id"],
            "span_id": first["span_id"],
            **resource_metadata,
            **scope_metadata,
            "detected_level": "info",
        },
    )
    assert entries[1]["ts"] == str(second["timestamp"])
    assert_entry(
        entries[1],
        '{"event":"payment","ok":false}',
        labels,
        {
            "observed_timestamp": str(second["observed_timestamp"]),
            "severity_number": "17",
            "severity_text": "ERROR",
            **resource_metadata,
            **scope_metadata,
            "detected_level": "error",
        },
    )


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_opentelemetry_sdk_otlp_log_exporter(weft, transport):
    run = uuid.uuid4().hex[:8]
    start = time.time_ns() - 1_000_000_000
    if transport == "http":
        exporter = HttpLogExporter(endpoint=f"{weft.otlp_http_url}/v1/logs", timeout=10)
    else:
        exporter = GrpcLogExporter(endpoint=weft.otlp_grpc_endpoint, insecure=True, timeout=10)
    scope = f"bb.{transport}"
    resource, sent = otel_export(exporter, run, scope)
    check_otel_records(weft, run, scope, resource, sent, start)
    # The same records, trace id and all, are found by their structured metadata.
    trace_id = sent[0]["trace_id"]
    entries = read_back(weft, f'{{service_name="bb-otel-{run}"}} | trace_id="{trace_id}"', start)
    assert [entry["line"] for entry in entries] == [f"order placed {run}"]


def push(server, tenant: str, streams: list[dict]) -> requests.Response:
    return requests.post(
        f"{server.loki_url}/loki/api/v1/push",
        json={"streams": streams},
        headers={"X-Scope-OrgID": tenant},
        timeout=10,
    )


def test_limits_answer_429_with_lokis_messages_and_count(weft_factory):
    server = weft_factory(
        [
            "--multitenancy-enabled",
            "true",
            "--logs.ingestion-rate-mb",
            "0.001",
            "--logs.ingestion-burst-size-mb",
            "0.001",
            "--logs.per-stream-rate-limit-bytes",
            "100",
            "--logs.per-stream-rate-limit-burst-bytes",
            "100",
            "--logs.max-streams-per-user",
            "2",
        ]
    )
    now = time.time_ns()
    # A stream's own rate: the first 60-byte line fits its 100-byte burst, the rest not.
    lines = [[str(now + index), f"{index}" * 60] for index in range(3)]
    response = push(server, "team-a", [{"stream": {"app": "x"}, "values": lines}])
    assert response.status_code == 429, response.text
    assert response.text.strip() == (
        "Per stream rate limit exceeded (limit: 100B/sec) while attempting to ingest for stream "
        "'{app=\"x\"}' totaling 120B, consider splitting a stream via additional labels or contact "
        "your Loki administrator to see if the limit can be increased"
    )
    stored = read_back(server, '{app="x"}', now - 1, headers={"X-Scope-OrgID": "team-a"})
    assert [entry["line"] for entry in stored] == ["0" * 60]

    # The tenant's rate: 1048 bytes/s with a burst as large; a bigger push is refused whole.
    response = push(server, "team-b", [{"stream": {"app": "y"}, "values": [[str(now), "z" * 1100]]}])
    assert response.status_code == 429, response.text
    assert response.text.strip() == (
        "Ingestion rate limit exceeded for user team-b (limit: 1048 bytes/sec) while attempting to "
        "ingest '1' lines totaling '1100' bytes, reduce log volume or contact your Loki administrator "
        "to see if the limit can be increased"
    )

    # Active streams: a third stream of the tenant is refused, the first two are kept.
    streams = [{"stream": {"app": f"s{index}"}, "values": [[str(now), "ok"]]} for index in range(3)]
    response = push(server, "team-c", streams)
    assert response.status_code == 429, response.text
    assert response.text.strip() == (
        "Maximum active stream limit exceeded when trying to create stream {app=\"s2\"}, reduce the "
        "number of active streams (reduce labels or reduce label values), or contact your Loki "
        "administrator to see if the limit can be increased, user: 'team-c'"
    )

    discarded = metric_values(server, "weft_logs_discarded_samples_total")
    assert discarded[(("reason", "per_stream_rate_limit"), ("tenant", "team-a"))] == 2
    assert discarded[(("reason", "rate_limited"), ("tenant", "team-b"))] == 1
    assert discarded[(("reason", "stream_limit"), ("tenant", "team-c"))] == 1
    discarded_bytes = metric_values(server, "weft_logs_discarded_bytes_total")
    assert discarded_bytes[(("reason", "rate_limited"), ("tenant", "team-b"))] == 1100


def test_otlp_logs_name_the_flag_when_logs_are_off(weft_factory):
    server = weft_factory(listen_overrides={"--loki.listen": "off"})
    response = requests.post(
        f"{server.otlp_http_url}/v1/logs",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 404, response.text
    assert "--loki.listen" in response.json()["message"]
