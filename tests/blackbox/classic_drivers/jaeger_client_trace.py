"""Records a two-service trace with the real jaeger-client (Python) and sends it, as the
library does by default, in compact Thrift `Agent.emitBatch` UDP datagrams to an agent port.

Runs in .venv-classic (tests/requirements-classic.txt), driven by
tests/blackbox/test_classic_jaeger_client.py:

    python jaeger_client_trace.py --agent-port P

Prints one JSON object on stdout: {"trace_id", "flushed", "spans": [what each span was
given: name, service, span_id, parent_id, references, start_us, duration_us, tags, logs]}.
Every explicit time is on a 1/64 s grid so jaeger-client's int(seconds * 1e6) is exact.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import opentracing
from jaeger_client import Config
from opentracing.propagation import Format

TICK_SECONDS = 1 / 64


def new_tracer(service: str, agent_port: int, process_tags: dict):
    config = Config(
        config={
            "sampler": {"type": "const", "param": 1},
            "local_agent": {"reporting_host": "127.0.0.1", "reporting_port": agent_port},
            "generate_128bit_trace_id": True,
            "reporter_flush_interval": 0.05,
            "tags": process_tags,
            "logging": False,
        },
        service_name=service,
        validate=True,
    )
    return config.new_tracer()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agent-port", type=int, required=True)
    args = parser.parse_args()

    frontend = new_tracer("frontend", args.agent_port, {"deployment.environment": "blackbox", "region": "eu-1"})
    backend = new_tracer("backend", args.agent_port, {"deployment.environment": "blackbox"})
    t0 = math.floor(time.time() * 64) / 64 - 1  # a second ago, on the grid
    record: list[dict] = []

    def finish(span, service, end, tags, logs, references=()):
        span.finish(finish_time=end)
        context = span.context
        record.append(
            {
                "name": span.operation_name,
                "service": service,
                "trace_id": format(context.trace_id, "032x"),
                "span_id": format(context.span_id, "016x"),
                "parent_id": format(context.parent_id, "016x") if context.parent_id else None,
                "references": list(references),
                "start_us": int(span.start_time * 1_000_000),
                "duration_us": int(end * 1_000_000) - int(span.start_time * 1_000_000),
                "tags": tags,
                "logs": logs,
            }
        )

    def t(ticks: int) -> float:
        return t0 + ticks * TICK_SECONDS

    root_tags = {"span.kind": "server", "http.method": "GET", "http.status_code": 200, "retry.ratio": 12.5, "feature.enabled": True}
    root = frontend.start_span("get /checkout", start_time=t(0), tags=root_tags)
    root.log_kv({"event": "request.received"}, timestamp=t(1))
    client_tags = {"span.kind": "client", "peer.service": "backend", "http.url": "http://backend:9000/reserve"}
    client = frontend.start_span("call backend", child_of=root, start_time=t(2), tags=client_tags)
    headers: dict[str, str] = {}
    frontend.inject(client.context, Format.HTTP_HEADERS, headers)

    # --- the backend process: only the propagated headers cross over ---
    incoming = backend.extract(Format.HTTP_HEADERS, headers)
    server_tags = {"span.kind": "server", "http.route": "/reserve"}
    server = backend.start_span("post /reserve", child_of=incoming, start_time=t(3), tags=server_tags)
    query_tags = {"span.kind": "client", "peer.service": "db", "db.statement": "SELECT qty FROM stock WHERE sku = $1", "db.rows": 3}
    query = backend.start_span("select stock", child_of=server, start_time=t(4), tags=query_tags)
    query.log_kv({"event": "cache.miss", "cache.key": "sku-1", "cache.size": 3}, timestamp=t(5))
    finish(query, "backend", t(8), query_tags, [{"ts_us": int(t(5) * 1e6), "event": "cache.miss", "fields": {"cache.key": "sku-1", "cache.size": 3}}])
    charge = backend.start_span("charge card", child_of=server, start_time=t(9))
    charge.set_tag("error", True)
    charge.set_tag("payment.provider", "acme")
    charge.log_kv({"event": "error", "message": "card declined"}, timestamp=t(10))
    finish(charge, "backend", t(11), {"error": True, "payment.provider": "acme"}, [{"ts_us": int(t(10) * 1e6), "event": "error", "fields": {"message": "card declined"}}])
    audit = backend.start_span("audit log", references=[opentracing.follows_from(server.context)], start_time=t(12))
    finish(audit, "backend", t(13), {}, [], references=[["FOLLOWS_FROM", format(server.context.span_id, "016x")]])
    finish(server, "backend", t(14), server_tags, [])
    finish(client, "frontend", t(15), client_tags, [])
    finish(root, "frontend", t(16), root_tags, [{"ts_us": int(t(1) * 1e6), "event": "request.received", "fields": {}}])

    # close() flushes the reporter's queue on its IO loop thread and returns a Future
    flushed = []
    for tracer in (frontend, backend):
        future = tracer.close()
        deadline = time.monotonic() + 10
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        flushed.append(future.done())
    print(json.dumps({"trace_id": record[0]["trace_id"], "flushed": flushed, "spans": record}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
