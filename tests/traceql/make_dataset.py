#!/usr/bin/env python3
"""Write tests/traceql/dataset.json: the fixed trace set the TraceQL conformance corpus
(corpus.yaml) runs against, as a JSON list of OTLP/JSON ExportTraceServiceRequest
objects, one per trace.

Deterministic: the only randomness is `random.Random(SEED)`, and ids are fixed hex.
Timestamps are unix nanoseconds from a fixed base (BASE_UNIX_NANOS, November 2023);
`corpus.py load` shifts every timestamp so the newest span ends about a minute before
the moment of loading.

Shapes (see `build_traces`): a seven-deep checkout flow over five services, one-span
health checks with the same root name in several services, producer/consumer pairs with
span links, a 50-span batch fan-out, deep chains with siblings, traces whose root span is
missing, login flows with attribute names holding spaces, and mixed-type attributes.

Usage: python3 tests/traceql/make_dataset.py [--out PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from pathlib import Path

SEED = 20231114
BASE_UNIX_NANOS = 1_700_000_000_000_000_000
# Trace i starts at BASE + i * TRACE_SPACING (70 traces: about 6 minutes).
TRACE_SPACING_NANOS = 5_000_000_000
US = 1_000
MS = 1_000_000
S = 1_000_000_000

KIND_UNSPECIFIED, KIND_INTERNAL, KIND_SERVER, KIND_CLIENT, KIND_PRODUCER, KIND_CONSUMER = range(6)
STATUS_UNSET, STATUS_OK, STATUS_ERROR = range(3)

SERVICES: dict[str, dict] = {
    "frontend": {
        "k8s.namespace.name": "web", "deployment.environment": "prod", "host.name": "web-1",
        "host.cores": 8, "canary": False, "load.factor": 0.75, "cloud.region": "eu-west-1",
    },
    "checkout": {
        "k8s.namespace.name": "shop", "deployment.environment": "prod", "host.name": "shop-1",
        "host.cores": 4, "canary": True, "load.factor": 1.5, "cloud.region": "eu-west-1",
    },
    "payments": {
        "k8s.namespace.name": "shop", "deployment.environment": "prod", "host.name": "pay-1",
        "host.cores": 16, "canary": False, "load.factor": 2.25, "service.version": "2.1.0",
    },
    "inventory": {
        "k8s.namespace.name": "shop", "deployment.environment": "staging", "host.name": "inv-1",
        "host.cores": 2, "canary": False, "load.factor": 0.5,
    },
    "db-proxy": {
        "k8s.namespace.name": "data", "deployment.environment": "prod", "host.name": "db-1",
        "host.cores": 32, "canary": False, "load.factor": 3.0, "cloud.region": "us-east-1",
    },
    "auth": {
        "k8s.namespace.name": "security", "deployment.environment": "staging", "host.name": "auth-1",
        "host.cores": 4, "canary": True, "load.factor": 1.0,
    },
    "email worker": {
        "k8s.namespace.name": "jobs", "deployment.environment": "dev", "host.name": "jobs-1",
        "host.cores": 2, "canary": False, "load.factor": 0.25, "team": ["growth", "mail"],
    },
    "batch": {
        "k8s.namespace.name": "jobs", "deployment.environment": "dev", "host.name": "jobs-2",
        "host.cores": 64, "canary": False, "load.factor": 4.5,
    },
}

# Instrumentation scopes: name -> (version, attributes).
SCOPES: dict[str, tuple[str, dict]] = {
    "weft.http": ("1.4.0", {"scope.kind": "http", "scope.stable": True}),
    "weft.db": ("0.9.1", {"scope.kind": "db", "scope.pool.size": 10}),
    "weft.messaging": ("2.0.0", {"scope.kind": "messaging", "scope.sampling": 0.5}),
    "weft.jobs": ("", {}),
}


def any_value(value) -> dict:
    """OTLP/JSON AnyValue for a Python value (bool before int: bool is an int in Python)."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value(item) for item in value]}}
    raise TypeError(f"unsupported attribute value {value!r}")


def key_values(attributes: dict) -> list[dict]:
    return [{"key": key, "value": any_value(value)} for key, value in attributes.items()]


def trace_id_for(index: int) -> str:
    """Fixed 32-hex trace id. Every 7th trace starts with 16 zero digits (a 64-bit id) and
    every 11th with 2 zero digits, so consumers must pad ids Tempo trims."""
    digest = hashlib.sha256(f"weft-traceql-trace-{index}".encode()).hexdigest()[:32]
    if index % 7 == 3:
        return "0" * 16 + digest[16:]
    if index % 11 == 5:
        return "00" + digest[2:]
    return digest


class TraceBuilder:
    """Collects the spans of one trace; times are relative to the trace start."""

    def __init__(self, index: int):
        self.index = index
        self.trace_id = trace_id_for(index)
        self.start = BASE_UNIX_NANOS + index * TRACE_SPACING_NANOS
        self.spans: list[tuple[str, str, dict]] = []  # (service, scope, otlp span)

    def span_id(self, number: int) -> str:
        return f"5{self.index:05x}{number:010x}"

    def add(self, service: str, name: str, kind: int, offset: int, duration: int, parent: str | None = None,
            scope: str = "weft.http", attributes: dict | None = None, status: int = STATUS_UNSET,
            message: str = "", events: list[tuple[str, int, dict]] | None = None,
            links: list[tuple[str, str, dict]] | None = None) -> str:
        span_id = self.span_id(len(self.spans) + 1)
        span = {
            "traceId": self.trace_id,
            "spanId": span_id,
            "name": name,
            "kind": kind,
            "startTimeUnixNano": str(self.start + offset),
            "endTimeUnixNano": str(self.start + offset + duration),
            "attributes": key_values(attributes or {}),
            "status": {"code": status, **({"message": message} if message else {})},
        }
        if parent:
            span["parentSpanId"] = parent
        if events:
            span["events"] = [
                {"name": event_name, "timeUnixNano": str(self.start + offset + at), "attributes": key_values(attrs)}
                for event_name, at, attrs in events
            ]
        if links:
            span["links"] = [
                {"traceId": trace_id, "spanId": linked_span, "attributes": key_values(attrs)}
                for trace_id, linked_span, attrs in links
            ]
        self.spans.append((service, scope, span))
        return span_id

    def request(self) -> dict:
        """One ExportTraceServiceRequest: one ResourceSpans per service, one ScopeSpans per
        scope, in first-seen order."""
        grouped: dict[str, dict[str, list[dict]]] = {}
        for service, scope, span in self.spans:
            grouped.setdefault(service, {}).setdefault(scope, []).append(span)
        resource_spans = []
        for service, scopes in grouped.items():
            resource = key_values({"service.name": service, **SERVICES[service]})
            scope_spans = []
            for scope_name, spans in scopes.items():
                version, attrs = SCOPES[scope_name]
                scope = {"name": scope_name, "attributes": key_values(attrs)}
                if version:
                    scope["version"] = version
                scope_spans.append({"scope": scope, "spans": spans})
            resource_spans.append({"resource": {"attributes": resource}, "scopeSpans": scope_spans})
        return {"resourceSpans": resource_spans}


def checkout_flow(t: TraceBuilder, rng: random.Random, variant: int) -> None:
    """frontend SERVER > frontend CLIENT > checkout SERVER > {validate, reserve > inventory,
    charge > payments SERVER > payments CLIENT > db-proxy SERVER > db-proxy INTERNAL}: depth 8."""
    fail = variant % 4 == 1
    slow = variant % 5 == 2
    total = (900 if slow else 120) * MS + rng.randrange(0, 40) * MS
    status_code = 502 if fail else 200
    root = t.add("frontend", "GET /checkout", KIND_SERVER, 0, total, attributes={
        "http.method": "GET", "http.status_code": status_code, "http.url": f"https://shop.example/checkout?v={variant}",
        "user id": f"u-{variant % 6}", "retry.ratio": round(0.1 * (variant % 4), 2),
        "cache.hit": variant % 2 == 0, "order.id": f"o-{1000 + variant}",
    }, status=STATUS_ERROR if fail else STATUS_OK, message="upstream failed" if fail else "")
    call = t.add("frontend", "POST /cart", KIND_CLIENT, 2 * MS, total - 4 * MS, parent=root, attributes={
        "http.method": "POST", "http.status_code": status_code, "peer.service": "checkout",
    })
    server = t.add("checkout", "POST /cart", KIND_SERVER, 3 * MS, total - 6 * MS, parent=call, attributes={
        "http.method": "POST", "http.status_code": status_code, "items.count": 1 + variant % 5,
        "order.id": 1000 + variant,
    }, events=[("cart.loaded", 1 * MS, {"items": 1 + variant % 5, "cart.source": "redis"})])
    t.add("checkout", "validate cart", KIND_INTERNAL, 4 * MS, 3 * MS + variant * 10 * US, parent=server, scope="weft.jobs",
          attributes={"validation.rules": ["stock", "price"] if variant % 3 else ["stock"]})
    reserve = t.add("checkout", "reserve stock", KIND_CLIENT, 8 * MS, 20 * MS, parent=server,
                    attributes={"peer.service": "inventory"})
    t.add("inventory", "reserve", KIND_SERVER, 9 * MS, 18 * MS, parent=reserve,
          attributes={"stock.available": variant % 3 != 0, "stock.level": variant * 3},
          status=STATUS_OK, message="reserved" if variant % 3 == 1 else "")
    charge = t.add("checkout", "charge card", KIND_CLIENT, 30 * MS, total - 40 * MS, parent=server,
                   attributes={"payment.amount": 10.5 * (1 + variant % 7), "peer.service": "payments"})
    pay_events = [("exception", 5 * MS, {"exception.type": "CardDeclined", "exception.message": "card declined",
                                         "exception.escaped": True})] if fail else []
    pay = t.add("payments", "charge", KIND_SERVER, 31 * MS, total - 42 * MS, parent=charge, attributes={
        "payment.amount": 10.5 * (1 + variant % 7), "payment.currency": "EUR" if variant % 2 else "USD",
        "http.status_code": 402 if fail else 200,
    }, status=STATUS_ERROR if fail else STATUS_UNSET, message="card declined" if fail else "", events=pay_events)
    query = t.add("payments", "SELECT payments", KIND_CLIENT, 33 * MS, 15 * MS, parent=pay, scope="weft.db",
                  attributes={"db.system": "postgresql", "db.statement": "SELECT * FROM payments WHERE id = $1"})
    proxy = t.add("db-proxy", "query", KIND_SERVER, 34 * MS, 13 * MS, parent=query, scope="weft.db",
                  attributes={"db.system": "postgresql", "db.rows": variant % 4})
    t.add("db-proxy", "exec", KIND_INTERNAL, 35 * MS, 10 * MS + rng.randrange(1, 900) * US, parent=proxy, scope="weft.db",
          attributes={"db.rows": variant % 4, "db.cached": variant % 2 == 1})
    if variant % 3 == 0:
        t.add("db-proxy", "exec", KIND_INTERNAL, 46 * MS, 500 * US, parent=proxy, scope="weft.db",
              attributes={"db.rows": 0}, status=STATUS_ERROR, message="deadlock detected")


def health_check(t: TraceBuilder, rng: random.Random, service: str, variant: int) -> None:
    """One SERVER span named "GET /health" in `service`, microseconds long."""
    t.add(service, "GET /health", KIND_SERVER, 0, (5 + variant * 7) * US + rng.randrange(0, 5) * US, attributes={
        "http.method": "GET", "http.status_code": 200 if variant % 4 else 503, "http.url": "/health",
        "probe": "liveness" if variant % 2 else "readiness",
    }, status=STATUS_OK if variant % 4 else STATUS_ERROR, message="" if variant % 4 else "dependency down")


def producer(t: TraceBuilder, variant: int) -> None:
    """checkout PRODUCER publishing an order event (root), and an internal serialise step."""
    root = t.add("checkout", "orders publish", KIND_PRODUCER, 0, 2 * MS + variant * 100 * US, scope="weft.messaging",
                 attributes={"messaging.system": "kafka", "messaging.destination": "orders",
                             "message.size": 512 * (variant + 1)})
    t.add("checkout", "serialise", KIND_INTERNAL, 100 * US, 300 * US, parent=root, scope="weft.messaging",
          attributes={"codec": "json"})


def consumer(t: TraceBuilder, rng: random.Random, variant: int, linked: list[tuple[str, str]]) -> None:
    """email worker CONSUMER (root) linked to producer spans, then render and smtp send."""
    links = [(trace_id, span_id, {"link.kind": "follows_from", "link.batch.index": n})
             for n, (trace_id, span_id) in enumerate(linked)]
    fail = variant % 3 == 2
    root = t.add("email worker", "orders process", KIND_CONSUMER, 0, 1500 * MS + variant * 250 * MS,
                 scope="weft.messaging", attributes={"messaging.system": "kafka", "messaging.destination": "orders",
                                                     "batch.size": len(linked)}, links=links,
                 status=STATUS_ERROR if fail else STATUS_UNSET, message="smtp timeout" if fail else "")
    render = t.add("email worker", "render template", KIND_INTERNAL, 10 * MS, 40 * MS, parent=root, scope="weft.jobs",
                   attributes={"template": "receipt", "locale": ["en", "de"][variant % 2]})
    t.add("email worker", "load template", KIND_INTERNAL, 11 * MS, 5 * MS, parent=render, scope="weft.jobs",
          attributes={"cache.hit": variant % 2 == 1})
    retries = [("retry", k * 100 * MS, {"attempt": k + 1, "backoff.seconds": 0.5 * (k + 1)}) for k in range(variant % 3)]
    t.add("email worker", "smtp send", KIND_CLIENT, 60 * MS, 1000 * MS + rng.randrange(0, 200) * MS, parent=root,
          attributes={"net.peer.name": "smtp.example", "net.peer.port": 587},
          events=retries + ([("exception", 900 * MS, {"exception.type": "Timeout", "exception.message": "smtp timeout"})]
                            if fail else []),
          status=STATUS_ERROR if fail else STATUS_OK, message="smtp timeout" if fail else "")


def batch_fanout(t: TraceBuilder, span_count: int, variant: int) -> None:
    """batch root "nightly job" with chunk children, each with item grandchildren; exactly
    `span_count` spans, lasting seconds."""
    root = t.add("batch", "nightly job", KIND_INTERNAL, 0, 4 * S + variant * S, scope="weft.jobs",
                 attributes={"job.id": 77 + variant, "job.name": "reindex", "tags": ["nightly", "critical"]})
    made = 1
    chunk_number = 0
    while made < span_count:
        chunk = t.add("batch", "process chunk", KIND_INTERNAL, chunk_number * 300 * MS + MS, 280 * MS, parent=root,
                      scope="weft.jobs", attributes={"chunk.index": chunk_number, "chunk.weight": 0.1 * chunk_number})
        made += 1
        for item in range(6):
            if made >= span_count:
                break
            failed = (chunk_number + item) % 9 == 4
            t.add("batch", "process item", KIND_INTERNAL, chunk_number * 300 * MS + (item + 1) * 40 * MS, 30 * MS,
                  parent=chunk, scope="weft.jobs", attributes={"item.index": item, "codes": [item, item * 10]},
                  status=STATUS_ERROR if failed else STATUS_UNSET, message="bad record" if failed else "")
            made += 1
        chunk_number += 1
    # a database client call under the root to mix kinds in a big trace
    if span_count > 20:
        t.spans[-1][2]["kind"] = KIND_CLIENT


def deep_chain(t: TraceBuilder, depth: int, variant: int) -> None:
    """inventory chain "step 1" > "step 2" > ... "step depth" (depth 8-10); each step also
    has a leaf sibling "audit" (so `~` has partners); the last step is an error."""
    parent = None
    for level in range(1, depth + 1):
        service = "inventory" if level % 3 else "db-proxy"
        kind = KIND_SERVER if level == 1 else (KIND_CLIENT if level % 3 == 2 else KIND_INTERNAL)
        last = level == depth
        parent = t.add(service, f"step {level}", kind, level * MS, (depth - level + 1) * 10 * MS, parent=parent,
                       scope="weft.jobs" if service == "inventory" else "weft.db",
                       attributes={"level": level, "level.name": f"L{level}", "even": level % 2 == 0},
                       status=STATUS_ERROR if last else STATUS_UNSET, message=f"failed at level {level}" if last else "")
        if level < depth and level % 2 == variant % 2:
            t.add(service, "audit", KIND_UNSPECIFIED, level * MS + 100 * US, 200 * US, parent=parent,
                  attributes={"level": level, "audit.ok": True})


def missing_root(t: TraceBuilder, variant: int) -> None:
    """Spans whose parent was never received: a checkout SERVER (and in odd variants a
    second disconnected inventory subtree)."""
    ghost = f"dead{t.index:04x}beef{variant:04x}"
    server = t.add("checkout", "POST /cart", KIND_SERVER, 5 * MS, 60 * MS, parent=ghost, attributes={
        "http.method": "POST", "http.status_code": 500 if variant % 2 else 200, "order.id": f"o-{2000 + variant}",
    }, status=STATUS_ERROR if variant % 2 else STATUS_UNSET, message="panic: nil order" if variant % 2 else "")
    t.add("checkout", "validate cart", KIND_INTERNAL, 6 * MS, 2 * MS, parent=server, scope="weft.jobs")
    if variant % 2:
        other = f"feed{t.index:04x}f00d{variant:04x}"
        reserve = t.add("inventory", "reserve", KIND_SERVER, 20 * MS, 10 * MS, parent=other,
                        attributes={"stock.available": False})
        t.add("inventory", "step 1", KIND_INTERNAL, 21 * MS, 3 * MS, parent=reserve, attributes={"level": 1})


def login_flow(t: TraceBuilder, rng: random.Random, variant: int) -> None:
    """frontend SERVER "POST /login" > auth SERVER "authenticate" > {auth CLIENT "redis GET",
    auth INTERNAL "hash password"}; attribute names with spaces and mixed types."""
    denied = variant % 4 == 3
    root = t.add("frontend", "POST /login", KIND_SERVER, 0, 60 * MS + rng.randrange(0, 30) * MS, attributes={
        "http.method": "POST", "http.status_code": 401 if denied else 200, "user id": f"u-{variant % 6}",
        "login method": ["password", "sso", "token"][variant % 3], "attempt number": 1 + variant % 3,
        "risk score": 0.25 * (variant % 5),
    }, status=STATUS_UNSET)
    auth = t.add("auth", "authenticate", KIND_SERVER, 2 * MS, 50 * MS, parent=root, attributes={
        "user id": f"u-{variant % 6}", "auth.mfa": variant % 2 == 0, "http.status_code": "401" if denied else "200",
    }, status=STATUS_ERROR if denied else STATUS_UNSET, message="invalid credentials" if denied else "",
        events=[("audit", 1 * MS, {"outcome": "deny" if denied else "allow", "attempt": 1 + variant % 3})])
    t.add("auth", "redis GET", KIND_CLIENT, 3 * MS, 800 * US + variant * 10 * US, parent=auth, scope="weft.db",
          attributes={"db.system": "redis", "cache.hit": variant % 3 != 0},
          events=[] if variant % 3 else [("cache.miss", 100 * US, {"key": f"session:{variant}"})])
    t.add("auth", "hash password", KIND_INTERNAL, 5 * MS, 30 * MS, parent=auth, scope="weft.jobs",
          attributes={"hash.algorithm": "argon2", "hash.cost": 3 + variant % 2})


def items_api(t: TraceBuilder, service: str, variant: int) -> None:
    """"GET /api/items/{id}" rooted in frontend or directly in inventory (same root name in
    two services), with an UNSPECIFIED-kind child and an int/string mixed "order.id"."""
    root = t.add(service, "GET /api/items/{id}", KIND_SERVER, 0, 15 * MS + variant * MS, attributes={
        "http.method": "GET", "http.status_code": 404 if variant % 3 == 0 else 200,
        "http.url": f"/api/items/{variant}", "order.id": variant,
    }, status=STATUS_OK, message="all good" if variant == 1 else "")
    t.add(service, "lookup", KIND_UNSPECIFIED, 1 * MS, 5 * MS, parent=root,
          attributes={"item.id": variant, "cache.hit": variant % 2 == 0})


def build_traces() -> list[dict]:
    rng = random.Random(SEED)
    builders: list[TraceBuilder] = []

    def new() -> TraceBuilder:
        builder = TraceBuilder(len(builders))
        builders.append(builder)
        return builder

    for variant in range(16):
        checkout_flow(new(), rng, variant)
    for variant, service in enumerate(["frontend", "checkout", "payments", "inventory", "auth", "db-proxy",
                                       "frontend", "batch"]):
        health_check(new(), rng, service, variant)
    producers = []
    for variant in range(8):
        t = new()
        producer(t, variant)
        producers.append((t.trace_id, t.span_id(1)))
    for variant in range(6):
        linked = [producers[variant], producers[(variant + 3) % 8]] if variant % 2 else [producers[variant]]
        consumer(new(), rng, variant, linked)
    batch_fanout(new(), 50, 0)
    batch_fanout(new(), 23, 1)
    for variant, depth in enumerate([8, 9, 10, 6]):
        deep_chain(new(), depth, variant)
    for variant in range(6):
        missing_root(new(), variant)
    for variant in range(12):
        login_flow(new(), rng, variant)
    for variant in range(8):
        items_api(new(), "frontend" if variant % 2 else "inventory", variant)
    return [builder.request() for builder in builders]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "dataset.json")
    args = parser.parse_args()
    requests = build_traces()
    # one trace per line: small, and diffs show which trace changed
    args.out.write_text("[\n" + ",\n".join(json.dumps(request, separators=(",", ":")) for request in requests) + "\n]\n")
    spans = sum(len(scope["spans"]) for request in requests for rs in request["resourceSpans"]
                for scope in rs["scopeSpans"])
    print(f"wrote {args.out}: {len(requests)} traces, {spans} spans")


if __name__ == "__main__":
    main()
