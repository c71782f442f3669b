"""Loki's /tail (WebSocket) and /index/stats, /index/volume through the real binary: the
newest entries first, then lines pushed while tailing arrive once each; the tenant's
tail limit; stats and volume of a selector, before and after the heads are cut into
chunks by a restart."""

from __future__ import annotations

import json
import time

import pytest
import requests
import websocket

pytestmark = pytest.mark.storage


def push(server, labels: dict, values: list[list]) -> None:
    response = requests.post(
        f"{server.loki_url}/loki/api/v1/push", json={"streams": [{"stream": labels, "values": values}]}, timeout=10
    )
    assert response.status_code == 204, response.text


def received(socket, want: int, timeout: float = 10.0) -> list[tuple[str, str, str]]:
    """(job, ns, line) of the tail messages until `want` entries arrived."""
    entries: list[tuple[str, str, str]] = []
    deadline = time.monotonic() + timeout
    while len(entries) < want:
        socket.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            message = json.loads(socket.recv())
        except websocket.WebSocketTimeoutException:
            break
        for stream in message["streams"]:
            for value in stream["values"]:
                entries.append((stream["stream"]["job"], value[0], value[1]))
    return entries


def test_tail_sends_recent_lines_then_new_ones_once(weft_factory):
    server = weft_factory()
    now = time.time_ns()
    push(server, {"job": "tail-a"}, [[str(now - 3_000_000_000 + i), f"old {i}"] for i in range(5)])
    ws_url = server.loki_url.replace("http://", "ws://")
    socket = websocket.create_connection(f"{ws_url}/loki/api/v1/tail?query=%7Bjob%3D~%22tail-.%2A%22%7D&limit=3", timeout=10)
    try:
        first = received(socket, 3)
        assert [line for _, _, line in first] == ["old 2", "old 3", "old 4"], first
        sent = []
        for round_index in range(3):
            at = time.time_ns()
            push(server, {"job": "tail-a"}, [[str(at), f"new a {round_index}"]])
            push(server, {"job": "tail-b"}, [[str(at + 1), f"new b {round_index}"]])
            sent += [f"new a {round_index}", f"new b {round_index}"]
            time.sleep(0.4)
        later = received(socket, len(sent), timeout=15)
        assert sorted(line for _, _, line in later) == sorted(sent), later
        # Nothing is sent twice: a quiet second brings no message.
        assert received(socket, 1, timeout=2.5) == []
    finally:
        socket.close()

    bad = requests.get(f"{server.loki_url}/loki/api/v1/tail", params={"query": '{job="x"}', "delay_for": "6"}, timeout=10)
    assert bad.status_code == 400 and "delay_for can't be greater than 5" in bad.text
    metric = requests.get(
        f"{server.loki_url}/loki/api/v1/tail", params={"query": 'rate({job="x"}[1m])'}, timeout=10
    )
    assert metric.status_code == 400 and "log queries" in metric.text

    # Ten tails per tenant; the eleventh is refused with Loki's message.
    sockets = [
        websocket.create_connection(f"{ws_url}/loki/api/v1/tail?query=%7Bjob%3D%22none%22%7D", timeout=10)
        for _ in range(10)
    ]
    try:
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(f"{ws_url}/loki/api/v1/tail?query=%7Bjob%3D%22none%22%7D", timeout=10)
        assert refused.value.status_code == 400
        assert b"max concurrent tail requests limit exceeded" in (refused.value.resp_body or b"")
    finally:
        for open_socket in sockets:
            open_socket.close()


def test_index_stats_and_volume(weft_factory):
    server = weft_factory()
    now = time.time_ns()
    push(server, {"job": "api", "level": "info"}, [[str(now - 10_000 + i), "x" * 10] for i in range(4)])
    push(server, {"job": "api", "level": "error"}, [[str(now - 5_000), "y" * 100]])
    push(server, {"job": "db", "level": "info"}, [[str(now - 5_000), "z" * 7]])
    window = {"start": str(now - 60_000_000_000), "end": str(now + 1)}

    def stats(query: str) -> dict:
        response = requests.get(f"{server.loki_url}/loki/api/v1/index/stats", params={"query": query, **window}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def volume(query: str, **extra) -> list[tuple[dict, str]]:
        response = requests.get(
            f"{server.loki_url}/loki/api/v1/index/volume", params={"query": query, **window, **extra}, timeout=10
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "success" and body["data"]["resultType"] == "vector"
        return [(row["metric"], row["value"][1]) for row in body["data"]["result"]]

    assert stats('{job="api"}') == {"streams": 2, "chunks": 2, "entries": 5, "bytes": 140}
    assert stats('{job=~".+"}') == {"streams": 3, "chunks": 3, "entries": 6, "bytes": 147}
    assert volume('{job=~".+"}') == [({"job": "api"}, "140"), ({"job": "db"}, "7")]
    assert volume('{job=~".+"}', targetLabels="level") == [({"level": "error"}, "100"), ({"level": "info"}, "47")]
    assert volume('{job=~".+"}', limit="1") == [({"job": "api"}, "140")]
    bad = requests.get(f"{server.loki_url}/loki/api/v1/index/volume", params={"query": '{job="api"', **window}, timeout=10)
    assert bad.status_code == 400 and "parse error" in bad.text

    # After a restart the heads are chunks: the same totals from the chunk index.
    server.stop()
    server.start()
    assert stats('{job="api"}') == {"streams": 2, "chunks": 2, "entries": 5, "bytes": 140}
    assert volume('{job=~".+"}') == [({"job": "api"}, "140"), ({"job": "db"}, "7")]
