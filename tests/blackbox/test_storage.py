"""The columnar block engine seen from outside: blocks are plain Parquet that pyarrow
opens with the documented schema, tenants never see each other's spans (head and
blocks), span-level search criteria find traces in blocks, and kill -9 during block
cuts and compactions loses nothing, shows nothing twice and leaves no orphan files."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import requests

from helpers import (
    WeftServer,
    new_span_id,
    new_trace_id,
    now_micros,
    wait_until,
    zspan,
)
from test_durability import SPANS_PER_TRACE, run_load, verify_all

# Runs in both black-box passes, local disk and S3 (tests/run.sh: -m storage).
pytestmark = pytest.mark.storage

S3_MODE = bool(os.environ.get("WEFT_TEST_S3_ENDPOINT"))
local_only = pytest.mark.skipif(S3_MODE, reason="inspects block files on the local disk")

# Small heads and an eager compactor, so a few seconds of load make many cuts and merges.
EAGER_COMPACTION = [
    "--ingester.max-head-bytes", "300000",
    "--ingester.max-unflushed-bytes", "40000000",
    "--ingester.block-list-poll-interval", "1s",
    "--compactor.interval", "1s",
    "--compactor.level-windows", "4s,20s",
    "--compactor.window-settle-delay", "0s",
    "--compactor.min-inputs", "2",
    "--compactor.orphan-grace", "3s",
]


def block_dirs(data_dir: Path) -> list[Path]:
    root = data_dir / "blocks"
    if not root.exists():
        return []
    return sorted(p for tenant in root.iterdir() if tenant.is_dir() for p in tenant.iterdir() if p.is_dir())


def stop_gracefully(server: WeftServer) -> None:
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=60)


@local_only
def test_blocks_open_in_pyarrow_with_the_documented_schema(weft_factory):
    pq = pytest.importorskip("pyarrow.parquet")
    server = weft_factory()
    trace_id = new_trace_id()
    root = new_span_id()
    start = now_micros()
    spans = [
        zspan(trace_id, root, name="get /cart", service="frontend", timestamp=start, duration=5000,
              kind="SERVER", tags={"http.method": "GET", "http.status_code": "200"}),
        zspan(trace_id, new_span_id(), name="select", service="db-proxy", timestamp=start + 10, duration=300,
              parent_id=root, kind="CLIENT", tags={"db.system": "postgresql"}, annotations=[(start + 20, "sent")]),
    ]
    assert server.post_zipkin(spans).status_code == 202
    stop_gracefully(server)  # shutdown writes the head as a block

    blocks = block_dirs(server.data_dir)
    assert len(blocks) == 1, blocks
    names = sorted(p.name for p in blocks[0].iterdir())
    assert {"data.parquet", "traces.parquet", "meta.json"} <= set(names), names
    data = pq.read_table(blocks[0] / "data.parquet")
    assert data.num_rows == 2
    for column in ("trace_id", "span_id", "parent_span_id", "name", "kind", "service_name"):
        assert column in data.column_names, (column, data.column_names)
    rows = data.to_pylist()
    assert {row["name"] for row in rows} == {"get /cart", "select"}
    assert {row["service_name"] for row in rows} == {"frontend", "db-proxy"}
    assert all(bytes(row["trace_id"]).hex() == trace_id for row in rows)
    traces = pq.read_table(blocks[0] / "traces.parquet").to_pylist()
    assert len(traces) == 1 and traces[0]["span_count"] == 2, traces

    # And weft reads the block back after a restart.
    server.start()
    returned = server.zjson(f"/trace/{trace_id}")
    assert sorted(span["name"] for span in returned) == ["get /cart", "select"]


def test_tenants_never_see_each_other(weft_factory):
    server = weft_factory(args=["--multitenancy-enabled", "true"])
    traces = {}
    for tenant in ("team-a", "team-b"):
        trace_id = new_trace_id()
        traces[tenant] = trace_id
        response = server.post_zipkin(
            [zspan(trace_id, name=f"op-{tenant}", service=f"svc-{tenant}", timestamp=now_micros(), duration=10)],
            headers={"Content-Type": "application/json", "X-Scope-OrgID": tenant},
        )
        assert response.status_code == 202, response.text

    def check():
        for tenant, trace_id in traces.items():
            other = "team-b" if tenant == "team-a" else "team-a"
            own = requests.get(f"{server.zipkin_api}/trace/{trace_id}", headers={"X-Scope-OrgID": tenant}, timeout=10)
            assert own.status_code == 200, (tenant, own.status_code, own.text[:200])
            foreign = requests.get(f"{server.zipkin_api}/trace/{trace_id}", headers={"X-Scope-OrgID": other}, timeout=10)
            assert foreign.status_code == 404, (tenant, foreign.status_code)
            services = requests.get(f"{server.zipkin_api}/services", headers={"X-Scope-OrgID": tenant}, timeout=10).json()
            assert services == [f"svc-{tenant}"], services
            native = requests.get(f"{server.http_url}/api/traces/{trace_id}", headers={"X-Scope-OrgID": other}, timeout=10)
            assert native.status_code == 404

    check()  # in the head
    missing = requests.get(f"{server.zipkin_api}/services", timeout=10)
    assert missing.status_code == 401, missing.status_code
    bad = requests.get(f"{server.zipkin_api}/services", headers={"X-Scope-OrgID": "../etc"}, timeout=10)
    assert bad.status_code == 400, bad.status_code
    stop_gracefully(server)
    server.start()
    check()  # in blocks


def test_search_pushes_tags_and_durations_down_to_blocks(weft_factory):
    server = weft_factory()
    start = now_micros() - 5_000_000
    wanted, others = new_trace_id(), [new_trace_id() for _ in range(20)]
    root = new_span_id()
    spans = [
        zspan(wanted, root, name="checkout", service="shop", timestamp=start, duration=900_000, kind="SERVER"),
        zspan(wanted, new_span_id(), name="charge", service="payments", timestamp=start + 100, duration=400_000,
              parent_id=root, kind="SERVER", tags={"payment.provider": "acme"}),
    ]
    for index, trace_id in enumerate(others):
        spans.append(zspan(trace_id, name="checkout", service="shop", timestamp=start + index, duration=1_000))
        spans.append(zspan(trace_id, name="charge", service="payments", timestamp=start + index + 1, duration=500,
                           tags={"payment.provider": "acme" if index % 2 else "other"}))
    assert server.post_zipkin(spans).status_code == 202
    stop_gracefully(server)
    server.start()

    def zipkin_ids(**params):
        params.setdefault("endTs", str(now_micros() // 1000 + 1000))
        params.setdefault("lookback", "600000")
        return {span[0]["traceId"] for span in server.zjson("/traces", params)}

    assert zipkin_ids(serviceName="payments", annotationQuery="payment.provider=acme", minDuration="100000") == {wanted}
    assert len(zipkin_ids(serviceName="payments", annotationQuery="payment.provider=acme", limit="100")) == 11
    assert zipkin_ids(serviceName="shop", annotationQuery="payment.provider=acme") == set(), (
        "criteria count only on spans of the named service"
    )
    end = now_micros() // 1_000_000 + 1
    response = requests.get(
        f"{server.http_url}/api/search",
        params={"start": end - 600, "end": end, "tags": "payment.provider=acme", "minDuration": "800ms"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert [trace["traceID"] for trace in response.json()["traces"]] == [wanted.lstrip("0")]


@pytest.mark.slow
def test_kill_during_cuts_and_compactions_loses_and_duplicates_nothing(weft_factory):
    server = weft_factory(args=EAGER_COMPACTION)
    acknowledged: list[str] = []
    for round_index in range(3):
        result, threads, stop = run_load(server, 2.5 + round_index)
        server.kill()
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert not result.errors, result.errors
        assert result.acknowledged_batches > 0
        acknowledged.extend(result.acknowledged_trace_ids)
        server.start()
    # Every acknowledged span is there exactly once (verify_all fails on a surplus too).
    verify_all(server, acknowledged)

    metrics = server.metrics_text()
    assert "weft_compactor_runs_total" in metrics
    if not S3_MODE:
        # After the next compaction pass every block directory is complete (no orphans
        # from the kills) and no replaced input is left behind.
        def settled():
            dirs = block_dirs(server.data_dir)
            return dirs and all((d / "meta.json").exists() for d in dirs)

        wait_until(settled, timeout=30, interval=0.5, message="orphan block directories removed")
    verify_all(server, acknowledged)
