"""Logs retention through the real binary: a global period, a per-stream rule that keeps
one stream longer, a tenant override; expired chunks leave queries, the chunk store and
the counters say so; a bad rule stops startup naming the key."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from helpers import metric_sum, s3_storage_args, wait_until
from test_config import serve_expecting_failure

pytestmark = pytest.mark.storage

HOUR_NS = 3_600_000_000_000

CONFIG = """
multitenancy_enabled: true
logs:
  retention_period: 2h
  retention_check_period: 300ms
  chunk_idle_period: 200ms
  flush_check_period: 200ms
  query_timeout: 1s
  retention_stream:
    - selector: '{app="audit"}'
      priority: 2
      period: 0s
    - selector: '{app=~"audit|debug"}'
      priority: 1
      period: 1h
  retention_overrides:
    short:
      retention_period: 30m
"""


def push(server, tenant: str, streams: list[tuple[str, int, str]]) -> None:
    body = {
        "streams": [
            # One stream per line: retention deletes whole chunks, judged by their newest
            # entry (as Loki does), so lines of different ages share no chunk here.
            {"stream": {"app": app, "n": str(index)}, "values": [[str(timestamp), line]]}
            for index, (app, timestamp, line) in enumerate(streams)
        ]
    }
    response = requests.post(
        f"{server.loki_url}/loki/api/v1/push", json=body, headers={"X-Scope-OrgID": tenant}, timeout=10
    )
    assert response.status_code == 204, response.text


def lines(server, tenant: str) -> list[str]:
    response = requests.get(
        f"{server.loki_url}/loki/api/v1/query_range",
        params={
            "query": '{app=~".+"}',
            "start": str(time.time_ns() - 6 * HOUR_NS),
            "end": str(time.time_ns() + 1),
            "limit": "100",
        },
        headers={"X-Scope-OrgID": tenant},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return sorted(value[1] for stream in response.json()["data"]["result"] for value in stream["values"])


def test_expired_chunks_leave_queries_by_stream_rule_and_tenant(weft_factory, tmp_path: Path):
    config = tmp_path / "weft.yaml"
    config.write_text(CONFIG)
    server = weft_factory(args=["--config", str(config)])
    now = time.time_ns()
    # audit matches both rules: the higher priority (0s, forever) wins over the 1h one.
    push(
        server,
        "acme",
        [
            ("api", now - 3 * HOUR_NS, "api 3h old: past 2h"),
            ("api", now - HOUR_NS // 2, "api 30m old: kept"),
            ("debug", now - 90 * 60 * 1_000_000_000, "debug 90m old: past its 1h rule"),
            ("audit", now - 5 * HOUR_NS, "audit 5h old: kept forever"),
        ],
    )
    push(
        server,
        "short",
        [
            ("api", now - HOUR_NS, "short tenant 1h old: past its 30m"),
            ("api", now - 10 * 60 * 1_000_000_000, "short tenant 10m old: kept"),
        ],
    )
    expected_acme = ["api 30m old: kept", "audit 5h old: kept forever"]
    wait_until(lambda: lines(server, "acme") == expected_acme, 20, 0.2, "acme's expired lines gone")
    wait_until(
        lambda: lines(server, "short") == ["short tenant 10m old: kept"], 20, 0.2, "short's expired line gone"
    )
    deleted = metric_sum(server.metrics_text(), "weft_logs_retention_deleted_chunks_total")
    assert deleted >= 3, deleted
    chunks = server.data_dir / "blocks" / "logs" / "chunks"

    def chunk_files() -> int:
        return len(list(chunks.rglob("*.chunk"))) if chunks.is_dir() else -1

    def stored_chunks() -> int:
        # What the index holds (meta files may have been folded into day indexes).
        total = 0
        for tenant in ("acme", "short"):
            response = requests.get(
                f"{server.loki_url}/loki/api/v1/index/stats",
                params={"start": str(now - 6 * HOUR_NS), "end": str(time.time_ns() + 1)},
                headers={"X-Scope-OrgID": tenant},
                timeout=10,
            )
            assert response.status_code == 200, response.text
            total += response.json()["chunks"]
        return total

    if not s3_storage_args(server.data_dir):
        # The files go once queries that may read them have had query_timeout (1 s).
        wait_until(lambda: chunk_files() == stored_chunks(), 20, 0.2, "files deleted")
    # And nothing comes back after a restart.
    server.restart()
    assert lines(server, "acme") == expected_acme
    assert lines(server, "short") == ["short tenant 10m old: kept"]


def test_a_bad_retention_selector_stops_startup_naming_the_key(tmp_path: Path):
    config = tmp_path / "weft.yaml"
    config.write_text("logs:\n  retention_stream:\n    - selector: '{app=\"x\"'\n      period: 1h\n")
    completed = serve_expecting_failure(["--config", str(config)], tmp_path)
    assert "logs.retention_stream[0].selector" in completed.stderr, completed.stderr


def test_past_days_are_compacted_into_day_indexes_and_still_queried(weft_factory, tmp_path: Path):
    config = tmp_path / "weft.yaml"
    config.write_text(
        "logs:\n  retention_check_period: 300ms\n  chunk_idle_period: 200ms\n  flush_check_period: 200ms\n"
    )
    server = weft_factory(args=["--config", str(config)])
    now = time.time_ns()
    day_ns = 24 * HOUR_NS
    two_days_back = now - now % day_ns - day_ns - HOUR_NS
    push(
        server,
        "single-tenant",
        [("api", two_days_back, "from two days back"), ("api", two_days_back + 1, "also two days back")],
    )
    push(server, "single-tenant", [("web", now - 1_000_000, "from today")])
    if not s3_storage_args(server.data_dir):
        logs = server.data_dir / "blocks" / "logs"
        wait_until(lambda: len(list(logs.glob("index/*/*.json.zst"))) == 1, 20, 0.2, "a day index written")
        # Two chunks of two days back folded; today's keeps its meta file.
        wait_until(lambda: len(list(logs.glob("chunks/*/*.meta.json"))) == 1, 20, 0.2, "metas folded")
    wait_until(
        lambda: requests.get(
            f"{server.loki_url}/loki/api/v1/query_range",
            params={"query": '{app=~"api|web"}', "start": str(two_days_back - 1), "end": str(now + 1), "limit": "10"},
            timeout=10,
        ).json()["data"]["result"].__len__()
        == 3,
        20,
        0.2,
        "three streams answered",
    )
    server.restart()
    response = requests.get(
        f"{server.loki_url}/loki/api/v1/query_range",
        params={"query": '{app=~"api|web"}', "start": str(two_days_back - 1), "end": str(now + 1), "limit": "10"},
        timeout=10,
    )
    found = sorted(value[1] for stream in response.json()["data"]["result"] for value in stream["values"])
    assert found == ["also two days back", "from today", "from two days back"], found
