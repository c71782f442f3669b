"""An acknowledged span is never lost: load the server from several threads (Zipkin JSON
and OTLP/HTTP protobuf), SIGKILL it mid-load, restart on the same data dir and read
back every span of every acknowledged batch. Also: SIGTERM + restart keeps everything."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from helpers import WeftServer, fsync_args, new_span_id, new_trace_id, now_micros, wait_until

# Runs in both black-box passes, local disk and S3 (tests/run.sh: -m storage).
pytestmark = pytest.mark.storage

TRACES_PER_BATCH = 5
SPANS_PER_TRACE = 20  # 100 spans per batch
LOAD_SECONDS_BEFORE_KILL = 2.0
MAX_LOAD_SECONDS = 30.0  # hard bound on each load thread


def zipkin_batch(thread_index: int) -> tuple[list[str], bytes]:
    trace_ids = [new_trace_id() for _ in range(TRACES_PER_BATCH)]
    start = now_micros()
    spans = []
    for trace_id in trace_ids:
        root = new_span_id()
        for index in range(SPANS_PER_TRACE):
            span = {
                "traceId": trace_id,
                "id": root if index == 0 else new_span_id(),
                "name": f"op-{index}",
                "kind": "SERVER" if index == 0 else "CLIENT",
                "timestamp": start + index,
                "duration": 100 + index,
                "localEndpoint": {"serviceName": f"load-zipkin-{thread_index}"},
                "tags": {"http.method": "GET", "batch.index": str(index)},
            }
            if index:
                span["parentId"] = root
            spans.append(span)
    return trace_ids, json.dumps(spans).encode()


def otlp_batch(thread_index: int) -> tuple[list[str], bytes]:
    trace_ids = [new_trace_id() for _ in range(TRACES_PER_BATCH)]
    start_nanos = time.time_ns()
    spans = []
    for trace_id in trace_ids:
        root = new_span_id()
        for index in range(SPANS_PER_TRACE):
            span = Span(
                trace_id=bytes.fromhex(trace_id),
                span_id=bytes.fromhex(root if index == 0 else new_span_id()),
                name=f"op-{index}",
                kind=Span.SPAN_KIND_SERVER if index == 0 else Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=start_nanos + index * 1000,
                end_time_unix_nano=start_nanos + index * 1000 + 250_000,
                attributes=[KeyValue(key="batch.index", value=AnyValue(int_value=index))],
            )
            if index:
                span.parent_span_id = bytes.fromhex(root)
            spans.append(span)
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(
                    attributes=[KeyValue(key="service.name", value=AnyValue(string_value=f"load-otlp-{thread_index}"))]
                ),
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name="durability-test"), spans=spans)],
            )
        ]
    )
    return trace_ids, request.SerializeToString()


@dataclass
class LoadResult:
    acknowledged_trace_ids: list[str] = field(default_factory=list)
    acknowledged_batches: int = 0
    failed_batches: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def load_thread(server: WeftServer, protocol: str, thread_index: int, stop: threading.Event, result: LoadResult):
    session = requests.Session()
    deadline = time.monotonic() + MAX_LOAD_SECONDS
    while not stop.is_set() and time.monotonic() < deadline:
        if protocol == "zipkin":
            trace_ids, body = zipkin_batch(thread_index)
            url, content_type = f"{server.zipkin_api}/spans", "application/json"
        else:
            trace_ids, body = otlp_batch(thread_index)
            url, content_type = f"{server.otlp_http_url}/v1/traces", "application/x-protobuf"
        try:
            response = session.post(url, data=body, headers={"Content-Type": content_type}, timeout=10)
        except requests.RequestException:
            # the server was killed; an unanswered batch carries no promise
            with result.lock:
                result.failed_batches += 1
            break
        with result.lock:
            if 200 <= response.status_code < 300:
                result.acknowledged_batches += 1
                result.acknowledged_trace_ids.extend(trace_ids)
            else:
                result.failed_batches += 1
                if len(result.errors) < 5:
                    result.errors.append(f"{protocol} {response.status_code}: {response.text[:200]}")


def run_load(server: WeftServer, seconds: float) -> tuple[LoadResult, list[threading.Thread], threading.Event]:
    result = LoadResult()
    stop = threading.Event()
    threads = [
        threading.Thread(target=load_thread, args=(server, protocol, index, stop, result), daemon=True)
        for index, protocol in enumerate(["zipkin", "zipkin", "otlp", "otlp"])
    ]
    for thread in threads:
        thread.start()
    # the load runs for a fixed time on purpose: the kill must land mid-load
    time.sleep(seconds)
    return result, threads, stop


def count_spans(server: WeftServer, trace_ids: list[str]) -> dict[str, int]:
    """Span count per trace id, read with /api/v2/traceMany in chunks."""
    counts: dict[str, int] = {}
    session = requests.Session()
    for offset in range(0, len(trace_ids), 100):
        chunk = trace_ids[offset : offset + 100]
        if len(chunk) == 1:
            response = session.get(f"{server.zipkin_api}/trace/{chunk[0]}", timeout=30)
            traces = [response.json()] if response.status_code == 200 else []
        else:
            response = session.get(f"{server.zipkin_api}/traceMany", params={"traceIds": ",".join(chunk)}, timeout=30)
            assert response.status_code == 200, f"traceMany -> {response.status_code}: {response.text[:300]}"
            traces = response.json()
        for trace in traces:
            for span in trace:
                counts[span["traceId"]] = counts.get(span["traceId"], 0) + 1
    return counts


def verify_all(server: WeftServer, trace_ids: list[str]) -> None:
    counts = count_spans(server, trace_ids)
    missing_traces = [trace_id for trace_id in trace_ids if trace_id not in counts]
    short_traces = [t for t in trace_ids if t in counts and counts[t] < SPANS_PER_TRACE]
    found_spans = sum(min(counts.get(t, 0), SPANS_PER_TRACE) for t in trace_ids)
    print(
        f"acknowledged traces={len(trace_ids)} spans={len(trace_ids) * SPANS_PER_TRACE}; "
        f"read back spans={found_spans}; missing traces={len(missing_traces)}; short traces={len(short_traces)}"
    )
    assert not missing_traces and not short_traces, (
        f"lost acknowledged data: {len(missing_traces)} traces missing (e.g. {missing_traces[:3]}), "
        f"{len(short_traces)} traces incomplete (e.g. {[(t, counts[t]) for t in short_traces[:3]]})"
    )
    too_many = {t: c for t, c in counts.items() if c > SPANS_PER_TRACE}
    assert not too_many, f"spans duplicated after restart: {list(too_many.items())[:3]}"


@pytest.mark.slow
@pytest.mark.parametrize(
    "server_args",
    [[], ["fsync-interval"], ["--ingester.max-block-duration", "1s"]],
    ids=["defaults", "fsync-interval", "short-blocks"],
)
def test_sigkill_mid_load_loses_no_acknowledged_span(weft_factory, server_args):
    if server_args == ["fsync-interval"]:
        server_args = fsync_args("interval")
    server = weft_factory(args=server_args)
    result, threads, stop = run_load(server, LOAD_SECONDS_BEFORE_KILL)
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(timeout=MAX_LOAD_SECONDS)
        assert not thread.is_alive(), "load thread did not stop"
    print(
        f"load: acknowledged batches={result.acknowledged_batches} failed/unanswered={result.failed_batches} "
        f"errors={result.errors}"
    )
    assert result.acknowledged_batches > 0, f"no batch was acknowledged: {result.errors}"
    assert not result.errors, f"server rejected valid batches under load: {result.errors}"

    server.start()
    print(f"restart after SIGKILL ready in {server.last_ready_seconds:.2f}s")
    verify_all(server, result.acknowledged_trace_ids)


@pytest.mark.slow
def test_sigterm_restart_keeps_everything(weft_factory):
    server = weft_factory()
    trace_ids = []
    session = requests.Session()
    for index in range(20):
        ids, body = zipkin_batch(index % 2) if index % 2 else otlp_batch(index % 2)
        url, content_type = (
            (f"{server.zipkin_api}/spans", "application/json")
            if index % 2
            else (f"{server.otlp_http_url}/v1/traces", "application/x-protobuf")
        )
        response = session.post(url, data=body, headers={"Content-Type": content_type}, timeout=10)
        assert 200 <= response.status_code < 300, response.text[:300]
        trace_ids += ids
    services_before = server.zjson("/services")

    started = time.monotonic()
    code = server.stop()
    stop_seconds = time.monotonic() - started
    assert code == 0, f"exit code {code} after SIGTERM"
    server.start()
    print(f"graceful stop took {stop_seconds:.2f}s; restart ready in {server.last_ready_seconds:.2f}s")
    verify_all(server, trace_ids)
    assert server.zjson("/services") == services_before
    # search still finds the data after restart
    found = wait_until(
        lambda: server.zjson("/traces", {"serviceName": "load-zipkin-1", "limit": 1000}),
        message="search after restart",
    )
    assert len(found) == 10 * TRACES_PER_BATCH


def test_sigterm_while_starting_stops_gracefully(weft_factory):
    """A SIGTERM that arrives while weft is still starting (here: as soon as it has logged
    its first line) is kept until startup ends, then stops it gracefully (exit 0), instead
    of killing it: orchestrators send SIGTERM whenever they like, and tests stop a server
    as soon as /ready answers, which can be before the main loop waits for signals."""
    server = weft_factory()
    assert server.stop() == 0
    server.start(wait_ready=False)
    log_path = server.log_paths[-1]
    wait_until(lambda: log_path.exists() and log_path.stat().st_size > 0, timeout=30, interval=0.005,
               message="weft logged its first line")
    code = server.stop()
    assert code == 0, f"exit code {code} after a SIGTERM while starting\n{server.log_tail()}"
    assert "shutting down" in log_path.read_text(errors="replace"), server.log_tail()
