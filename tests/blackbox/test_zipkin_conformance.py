"""Zipkin's storage conformance suites (ITSpanStore, ITTraces, ITServiceAndSpanNames,
ITAutocompleteTags, ITDependencies), ported to black-box HTTP checks against weft's
Zipkin v2 API. Numbers in the docstrings refer to the items of section 1.3 in
shared/reference/api-contracts.md. Ends with a schemathesis run of the GET endpoints
against the upstream OpenAPI file."""

from __future__ import annotations

import collections
import subprocess
import sys

import pytest

from helpers import (
    SPECS_DIR,
    WeftServer,
    new_span_id,
    new_trace_id,
    normalize_zipkin_span,
    now_millis,
    wait_for_trace,
    wait_until,
    zspan,
)

DAY_MS = 86_400_000


def post(server: WeftServer, spans: list[dict]) -> None:
    """POST spans (202 required) and wait until every trace has all of them by id."""
    response = server.post_zipkin(spans)
    assert response.status_code == 202, f"{response.status_code}: {response.text[:300]}"
    wanted = collections.Counter(span["traceId"] for span in spans)
    for trace_id, count in wanted.items():
        lookup = trace_id.lower().rjust(16, "0") if len(trace_id) <= 16 else trace_id.lower().rjust(32, "0")
        wait_for_trace(server, lookup, count)


def base_millis() -> int:
    """A whole second one hour ago: inside the default 1-day lookback."""
    return (now_millis() - 3_600_000) // 1000 * 1000


def search(server: WeftServer, **params) -> list[list[dict]]:
    params.setdefault("endTs", now_millis() + 1000)
    params.setdefault("lookback", DAY_MS)
    params.setdefault("limit", 100)
    return server.zjson("/traces", params)


def found_ids(server: WeftServer, **params) -> set[str]:
    return {trace[0]["traceId"] for trace in search(server, **params) if trace}


def links(server: WeftServer, **params) -> dict[tuple[str, str], dict]:
    params.setdefault("endTs", now_millis() + 1000)
    answer = server.zjson("/dependencies", params)
    result = {}
    for link in answer:
        key = (link["parent"], link["child"])
        assert key not in result, f"link {key} listed twice: {answer}"
        result[key] = link
    return result


# ------------------------------------------------------------------------------------
# ITSpanStore


def test_empty_store_answers_empty_lists(weft: WeftServer):
    """1: every query works on an empty store and returns []."""
    now = now_millis()
    for path, params in [
        ("/services", None),
        ("/spans", {"serviceName": "frontend"}),
        ("/remoteServices", {"serviceName": "frontend"}),
        ("/traces", None),
        ("/traces", {"serviceName": "frontend", "spanName": "get", "annotationQuery": "foo and bar=baz"}),
        ("/traces", {"minDuration": 1, "maxDuration": 10, "endTs": now, "lookback": DAY_MS}),
        ("/dependencies", {"endTs": now}),
        ("/dependencies", {"endTs": now, "lookback": 7 * DAY_MS}),
        ("/traceMany", {"traceIds": f"{new_trace_id(64)},{new_trace_id()}"}),
        ("/autocompleteValues", {"key": "environment"}),
    ]:
        assert weft.zjson(path, params) == [], f"{path} {params}"
    assert isinstance(weft.zjson("/autocompleteKeys"), list)


def test_spans_of_one_trace_from_separate_posts_are_grouped(weft: WeftServer):
    """2: getTraces_groupsTracesTogether."""
    t = base_millis() * 1000
    trace_id = new_trace_id()
    root = zspan(trace_id, name="get", timestamp=t, duration=100, kind="SERVER")
    child = zspan(trace_id, parent_id=root["id"], name="child", service="backend", timestamp=t + 10, duration=50)
    post(weft, [root])
    post(weft, [child])
    traces = search(weft)
    assert len(traces) == 1
    assert sorted(normalize_zipkin_span(s) for s in traces[0]) == sorted(
        normalize_zipkin_span(s) for s in [root, child]
    )


def test_bits_above_64_distinguish_traces(weft: WeftServer):
    """3 and 19: a 64-bit id and two 128-bit ids with the same low half are three traces."""
    t = base_millis() * 1000
    low = new_trace_id(64)
    ids = [low, new_trace_id(64) + low, "0000000000000001" + low]
    post(weft, [zspan(trace_id, timestamp=t + i, duration=10, tags={"which": str(i)}) for i, trace_id in enumerate(ids)])
    for i, trace_id in enumerate(ids):
        assert found_ids(weft, annotationQuery=f"which={i}") == {trace_id}
        by_id = weft.zjson(f"/trace/{trace_id}")
        assert [span["traceId"] for span in by_id] == [trace_id], f"strict trace id: {by_id}"
    assert len(search(weft)) == 3


def test_limit_takes_traces_nearest_to_end_ts(weft: WeftServer):
    """4 and 7: newest first; endTs/lookback pick early or late traces."""
    base = base_millis()
    early = [new_trace_id() for _ in range(10)]
    late = [new_trace_id() for _ in range(10)]
    spans = [zspan(t, timestamp=(base + i) * 1000, duration=5) for i, t in enumerate(early)]
    spans += [zspan(t, timestamp=(base + 10_000 + i) * 1000, duration=5) for i, t in enumerate(late)]
    post(weft, spans)
    newest = search(weft, limit=10)
    assert {trace[0]["traceId"] for trace in newest} == set(late)
    assert [trace[0]["traceId"] for trace in newest] == list(reversed(late)), "newest first"
    assert found_ids(weft, endTs=base + 10_009, lookback=9) == set(late)
    assert found_ids(weft, endTs=base + 9, lookback=DAY_MS) == set(early)
    assert [t[0]["traceId"] for t in search(weft, limit=1)] == [late[-1]]


def test_end_ts_and_lookback_are_inclusive(weft: WeftServer):
    """5: span at T+1 ms is found with endTs=T+1 and with endTs=T+2&lookback=1 only."""
    t = base_millis()
    trace_id = new_trace_id()
    post(weft, [zspan(trace_id, timestamp=(t + 1) * 1000, duration=10)])
    assert found_ids(weft, endTs=t + 1) == {trace_id}
    assert found_ids(weft, endTs=t + 2, lookback=1) == {trace_id}
    assert found_ids(weft, endTs=t) == set()
    assert found_ids(weft, endTs=t + 3, lookback=1) == set()


def test_trace_timestamp_is_root_else_earliest(weft: WeftServer):
    """5: the window applies to the root span's timestamp, else the earliest span."""
    t = base_millis()
    rooted = new_trace_id()
    root = zspan(rooted, timestamp=(t + 100) * 1000, duration=10)
    early_child = zspan(rooted, parent_id=root["id"], timestamp=t * 1000, duration=10, service="backend")
    headless = new_trace_id()
    orphan_a = zspan(headless, parent_id=new_span_id(), timestamp=(t + 5000) * 1000, duration=10)
    orphan_b = zspan(headless, parent_id=new_span_id(), timestamp=(t + 5100) * 1000, duration=10)
    post(weft, [root, early_child, orphan_a, orphan_b])
    assert found_ids(weft, endTs=t + 50, lookback=60) == set(), "root outside the window"
    assert found_ids(weft, endTs=t + 100, lookback=1) == {rooted}
    assert found_ids(weft, endTs=t + 5000, lookback=1) == {headless}
    assert found_ids(weft, endTs=t + 5100, lookback=1) == set(), "earliest span outside the window"


def test_trace_ending_after_end_ts_is_returned_complete(weft: WeftServer):
    """6: getTraces_endTsInsideTheTrace."""
    t = base_millis()
    trace_id = new_trace_id()
    root = zspan(trace_id, timestamp=t * 1000, duration=1_000_000)
    child = zspan(trace_id, parent_id=root["id"], timestamp=(t + 500) * 1000, duration=400_000, service="backend")
    post(weft, [root, child])
    traces = search(weft, endTs=t + 100, lookback=200)
    assert len(traces) == 1 and len(traces[0]) == 2


def test_service_remote_service_and_span_name_filters(weft: WeftServer):
    """8 and 9: local service, remote service, span name of that service; query
    parameters are case-insensitive."""
    t = base_millis() * 1000
    trace_id = new_trace_id()
    root = zspan(trace_id, name="get", timestamp=t, duration=300, kind="SERVER")
    call = zspan(trace_id, parent_id=root["id"], name="call", timestamp=t + 10, duration=200, kind="CLIENT",
                 remote_service="backend")
    served = zspan(trace_id, parent_id=call["id"], name="get /api", service="backend", timestamp=t + 20,
                   duration=100, kind="SERVER")
    post(weft, [root, call, served])
    assert found_ids(weft, serviceName="backend") == {trace_id}
    assert found_ids(weft, serviceName="FRONTEND") == {trace_id}
    assert found_ids(weft, serviceName="frontend", remoteServiceName="backend") == {trace_id}
    assert found_ids(weft, serviceName="frontend", remoteServiceName="BACKEND") == {trace_id}
    assert found_ids(weft, serviceName="backend", remoteServiceName="backend") == set()
    assert found_ids(weft, remoteServiceName="frontend") == set(), "remote matches remoteEndpoint only"
    assert found_ids(weft, serviceName="backend", spanName="GET /API") == {trace_id}
    assert found_ids(weft, serviceName="frontend", spanName="get /api") == set()
    assert found_ids(weft, spanName="all") == {trace_id}, "spanName=all means no filter"
    assert found_ids(weft, serviceName="", spanName="") == {trace_id}, "empty means unset"
    assert weft.zjson("/spans", {"serviceName": "FRONTEND"}) == ["call", "get"]
    assert weft.zjson("/remoteServices", {"serviceName": "FRONTEND"}) == ["backend"]
    assert weft.zjson("/remoteServices", {"serviceName": "backend"}) == []


def test_names_are_lowercased_on_ingest(weft: WeftServer):
    """9: the Zipkin model lowercases span and service names."""
    t = base_millis() * 1000
    trace_id = new_trace_id()
    post(weft, [zspan(trace_id, name="GET /Foo", service="FrontEnd", remote_service="BackEnd", timestamp=t,
                      duration=10, kind="CLIENT")])
    assert weft.zjson("/services") == ["frontend"]
    assert weft.zjson("/spans", {"serviceName": "frontend"}) == ["get /foo"]
    assert weft.zjson("/remoteServices", {"serviceName": "frontend"}) == ["backend"]


def test_min_and_max_duration_are_inclusive(weft: WeftServer):
    """10."""
    t = base_millis() * 1000
    trace_id = new_trace_id()
    d = 50_000
    post(weft, [zspan(trace_id, timestamp=t, duration=d)])
    assert found_ids(weft, minDuration=d) == {trace_id}
    assert found_ids(weft, minDuration=d + 1) == set()
    assert found_ids(weft, minDuration=d, maxDuration=d) == {trace_id}
    assert found_ids(weft, minDuration=d - 2, maxDuration=d - 1) == set()


def test_duration_applies_to_spans_of_the_given_service(weft: WeftServer):
    """11: duration criteria hold per span of the queried service (not just the root);
    like Zipkin's QueryRequest.test(), each criterion may be met by a different span
    of that service."""
    t = base_millis() * 1000
    ms = 1000
    traces = {}
    for name, frontend_ms, backend_ms, db_ms in [
        ("t1", 200, 100, 20),
        ("t2", 180, 50, 10),
        ("t3", 190, 150, 30),
        ("t4", 100, 40, 5),
    ]:
        trace_id = new_trace_id()
        traces[name] = trace_id
        offset = len(traces) * 1000 * ms
        root = zspan(trace_id, name="get", timestamp=t + offset, duration=frontend_ms * ms, kind="SERVER")
        backend = zspan(trace_id, parent_id=root["id"], name="work", service="backend", timestamp=t + offset + 1,
                        duration=backend_ms * ms, kind="SERVER")
        db = zspan(trace_id, parent_id=backend["id"], name="query", service="backend", timestamp=t + offset + 2,
                   duration=db_ms * ms, kind="CLIENT", remote_service="db")
        post(weft, [root, backend, db])
    expect = lambda *names: {traces[n] for n in names}  # noqa: E731
    assert found_ids(weft, serviceName="backend", minDuration=50 * ms, maxDuration=150 * ms) == expect("t1", "t2", "t3")
    assert found_ids(weft, serviceName="frontend", minDuration=200 * ms) == expect("t1")
    assert found_ids(weft, serviceName="backend", minDuration=200 * ms) == set()
    # QueryRequest.test() checks each criterion on any span of the service, independently
    assert found_ids(weft, serviceName="backend", remoteServiceName="db", minDuration=101 * ms) == expect("t3")
    assert found_ids(weft, serviceName="frontend", remoteServiceName="db", minDuration=1) == set()
    assert found_ids(weft, serviceName="backend", spanName="query", minDuration=145 * ms) == expect("t3")
    assert found_ids(weft, serviceName="backend", spanName="work", minDuration=30 * ms, maxDuration=40 * ms) == expect(
        "t3", "t4"
    ), "t3 matches through its 30 ms query span"


def test_late_duration_fragment_is_returned_and_searchable(weft: WeftServer):
    """12: a span stored without duration, then a fragment carrying the duration."""
    t = base_millis() * 1000
    trace_id = new_trace_id()
    span_id = new_span_id()
    first = zspan(trace_id, span_id, name="get", timestamp=t, kind="SERVER")
    post(weft, [first])
    late = zspan(trace_id, span_id, name="get", timestamp=t, duration=5000, kind="SERVER")
    post(weft, [late])
    stored = weft.zjson(f"/trace/{trace_id}")
    assert sorted(normalize_zipkin_span(s) for s in stored) == sorted(normalize_zipkin_span(s) for s in [first, late])
    assert found_ids(weft, serviceName="frontend", minDuration=5000) == {trace_id}


def test_trace_without_timestamps_is_not_searchable_until_one_arrives(weft: WeftServer):
    """13."""
    t = base_millis() * 1000
    trace_id = new_trace_id()
    span_id = new_span_id()
    untimed = zspan(trace_id, span_id, name="get", annotations=None, tags={"phase": "early"})
    post(weft, [untimed])
    assert found_ids(weft, serviceName="frontend") == set()
    assert found_ids(weft) == set()
    timed = zspan(trace_id, span_id, name="get", timestamp=t, duration=10)
    post(weft, [timed])
    traces = wait_until(lambda: search(weft, serviceName="frontend"), message="timestamped fragment searchable")
    assert [trace[0]["traceId"] for trace in traces] == [trace_id]
    assert len(traces[0]) == 2, "both fragments come back"


def test_annotation_query_terms(weft: WeftServer):
    """14: values, key=value tags, bare tag keys, AND-ed with ' and '."""
    t = base_millis() * 1000
    both = new_trace_id()
    only_foo = new_trace_id()
    post(
        weft,
        [
            zspan(both, timestamp=t, duration=10, annotations=[(t + 1, "foo"), (t + 2, "bar")], tags={"baz": "qux"}),
            zspan(only_foo, timestamp=t + 5, duration=10, annotations=[(t + 6, "foo")]),
        ],
    )
    assert found_ids(weft, annotationQuery="foo") == {both, only_foo}
    assert found_ids(weft, annotationQuery="foo and bar") == {both}
    assert found_ids(weft, annotationQuery="foo and bar and baz=qux") == {both}
    assert found_ids(weft, annotationQuery="baz") == {both}
    assert found_ids(weft, annotationQuery="baz=quux") == set()
    assert found_ids(weft, annotationQuery="foo and nope") == set()
    assert found_ids(weft, annotationQuery="qux") == set(), "a tag value alone is not a term"


def test_annotation_query_is_scoped_to_the_recording_service(weft: WeftServer):
    """15."""
    t = base_millis() * 1000
    trace_id = new_trace_id()
    root = zspan(trace_id, timestamp=t, duration=100, annotations=[(t + 1, "web")], tags={"http.path": "/api"})
    child = zspan(trace_id, parent_id=root["id"], service="backend", timestamp=t + 2, duration=10,
                  annotations=[(t + 3, "db")])
    post(weft, [root, child])
    assert found_ids(weft, serviceName="frontend", annotationQuery="web") == {trace_id}
    assert found_ids(weft, serviceName="backend", annotationQuery="web") == set()
    assert found_ids(weft, serviceName="backend", annotationQuery="db") == {trace_id}
    assert found_ids(weft, serviceName="backend", annotationQuery="http.path=/api") == set()
    assert found_ids(weft, serviceName="frontend", annotationQuery="http.path=/api") == {trace_id}


def test_debug_and_shared_flags_round_trip(weft: WeftServer):
    """16: getTraces_differentiatesDebugFromShared; client and server halves of one id."""
    t = base_millis() * 1000
    trace_id = new_trace_id()
    span_id = new_span_id()
    client = zspan(trace_id, span_id, name="call", kind="CLIENT", timestamp=t, duration=100, debug=True)
    server = zspan(trace_id, span_id, name="call", kind="SERVER", service="backend", timestamp=t + 5, duration=50,
                   shared=True)
    post(weft, [client, server])
    stored = weft.zjson(f"/trace/{trace_id}")
    assert sorted(normalize_zipkin_span(s) for s in stored) == sorted(normalize_zipkin_span(s) for s in [client, server])
    by_kind = {span["kind"]: span for span in stored}
    assert by_kind["CLIENT"].get("debug") is True and "shared" not in by_kind["CLIENT"]
    assert by_kind["SERVER"].get("shared") is True and "debug" not in by_kind["SERVER"]


def test_awkward_and_large_values_round_trip(weft: WeftServer):
    """17 and 18: JSON in a name, nested-dot tag keys, a 2 KiB value, unicode, an empty
    error tag."""
    t = base_millis() * 1000
    trace_id = new_trace_id()
    spans = [
        zspan(trace_id, name='{"foo":"bar"}', timestamp=t, duration=10,
              tags={"a.b": "1", "a.b.c": "2", "big": "x" * 2048, "unicode": "日本語 ✓ \u00e9"}),
        zspan(trace_id, name="failed", timestamp=t + 1, duration=5, tags={"error": ""}),
    ]
    post(weft, spans)
    stored = weft.zjson(f"/trace/{trace_id}")
    assert sorted(normalize_zipkin_span(s) for s in stored) == sorted(normalize_zipkin_span(s) for s in spans)
    assert found_ids(weft, annotationQuery="error") == {trace_id}
    assert found_ids(weft, annotationQuery="a.b.c=2") == {trace_id}


# ------------------------------------------------------------------------------------
# ITTraces


def test_unknown_trace_is_404_with_text(weft: WeftServer):
    """19: unknown ids, and the lower 64 bits of a 128-bit trace in strict mode."""
    unknown = new_trace_id()
    response = weft.zget(f"/trace/{unknown}")
    assert response.status_code == 404
    assert unknown in response.text and "not found" in response.text.lower(), response.text
    full = new_trace_id()
    post(weft, [zspan(full, timestamp=base_millis() * 1000, duration=1)])
    assert weft.zget(f"/trace/{full[16:]}").status_code == 404


def test_trace_many_returns_only_requested_traces(weft: WeftServer):
    """20."""
    t = base_millis() * 1000
    a, b, c = new_trace_id(), new_trace_id(64), new_trace_id()
    post(weft, [zspan(trace_id, timestamp=t, duration=1) for trace_id in (a, b, c)])
    answer = weft.zjson("/traceMany", {"traceIds": f"{a},{b}"})
    assert sorted(trace[0]["traceId"] for trace in answer) == sorted([a, b])
    answer = weft.zjson("/traceMany", {"traceIds": f"{c[16:]},{b}"})
    assert [trace[0]["traceId"] for trace in answer] == [b], "truncated 128-bit id must not match"


@pytest.mark.parametrize(
    "trace_ids,words",
    [("", ("empty",)), ("{a},{a}", ("redundant",)), ("{a}", ())],
    ids=["empty", "duplicate", "single"],
)
def test_trace_many_rejects_bad_id_lists(weft: WeftServer, trace_ids: str, words):
    a = new_trace_id()
    response = weft.zget("/traceMany", {"traceIds": trace_ids.format(a=a)})
    assert response.status_code == 400, f"{response.status_code}: {response.text[:200]}"
    for word in words:
        assert word in response.text.lower(), response.text


def test_trace_id_normalization(weft: WeftServer):
    """23: padding to 16/32, an all-zero high half drops, bad ids are 400."""
    t = base_millis() * 1000
    low = "0" + new_trace_id(64)[1:]
    post(weft, [zspan("0" * 16 + low, timestamp=t, duration=1)])
    for lookup in (low, "0" * 16 + low, low.lstrip("0")):
        stored = weft.zjson(f"/trace/{lookup}")
        assert [span["traceId"] for span in stored] == [low], lookup
    for bad in ("a" * 33, "zzzzzzzzzzzzzzzz", "0" * 16):
        response = weft.zget(f"/trace/{bad}")
        assert response.status_code == 400, f"/trace/{bad} -> {response.status_code}: {response.text[:200]}"


@pytest.mark.parametrize(
    "params,words",
    [
        ({"limit": 0}, ("limit",)),
        ({"endTs": 0}, ("endts",)),
        ({"lookback": 0}, ("lookback",)),
        ({"minDuration": 0}, ("minduration",)),
        ({"maxDuration": 10}, ("maxduration",)),
        ({"minDuration": 10, "maxDuration": 5}, ("maxduration",)),
        ({"limit": "ten"}, ("limit",)),
    ],
)
def test_search_parameter_validation(weft: WeftServer, params, words):
    response = weft.zget("/traces", params)
    assert response.status_code == 400, f"{params} -> {response.status_code}: {response.text[:200]}"
    for word in words:
        assert word in response.text.lower(), response.text


# ------------------------------------------------------------------------------------
# ITServiceAndSpanNames, ITAutocompleteTags


def test_names_are_distinct_complete_and_skip_missing(weft: WeftServer):
    """24."""
    t = base_millis() * 1000
    trace_id = new_trace_id()
    spans = [
        zspan(trace_id, name=f"op-{i:02d}", service="many", remote_service=f"peer-{i:02d}", kind="CLIENT",
              timestamp=t + i, duration=1)
        for i in range(60)
    ]
    spans += [dict(span, id=new_span_id()) for span in spans[:10]]  # repeats
    spans.append(zspan(trace_id, name="nameless-service", service=None, timestamp=t, duration=1))
    spans.append(dict(zspan(trace_id, name="empty-service", timestamp=t, duration=1), localEndpoint={"ipv4": "10.0.0.1"}))
    spans.append(zspan(trace_id, name=None, service="many", timestamp=t, duration=1))
    post(weft, spans)
    assert weft.zjson("/services") == ["many"]
    assert weft.zjson("/spans", {"serviceName": "many"}) == [f"op-{i:02d}" for i in range(60)]
    assert weft.zjson("/remoteServices", {"serviceName": "many"}) == [f"peer-{i:02d}" for i in range(60)]


def test_autocomplete_values_of_unconfigured_key_are_empty(weft: WeftServer):
    """25."""
    post(weft, [zspan(new_trace_id(), timestamp=base_millis() * 1000, duration=1, tags={"not.configured": "x"})])
    keys = weft.zjson("/autocompleteKeys")
    assert "not.configured" not in keys
    assert weft.zjson("/autocompleteValues", {"key": "not.configured"}) == []


# ------------------------------------------------------------------------------------
# ITDependencies


def test_dependencies_follow_rpc_tree_and_infer_uninstrumented_peers(weft: WeftServer):
    """28-30, 35: client->server, uninstrumented caller of the root, db leaf; only an
    `error` tag counts as an error; errorCount omitted when 0."""
    t = base_millis() * 1000
    trace_id = new_trace_id()
    root = zspan(trace_id, name="get", kind="SERVER", timestamp=t, duration=1000, remote_service="mobile")
    call = zspan(trace_id, parent_id=root["id"], name="call", kind="CLIENT", timestamp=t + 10, duration=500,
                 remote_service="backend", annotations=[(t + 20, "error")])
    served = zspan(trace_id, parent_id=call["id"], name="serve", kind="SERVER", service="backend",
                   timestamp=t + 20, duration=400)
    query = zspan(trace_id, parent_id=served["id"], name="query", kind="CLIENT", service="backend",
                  timestamp=t + 30, duration=100, remote_service="db", tags={"error": "timeout"})
    post(weft, [root, call, served, query])
    found = links(weft)
    assert set(found) == {("mobile", "frontend"), ("frontend", "backend"), ("backend", "db")}, found
    assert all(link["callCount"] == 1 for link in found.values()), found
    assert found[("backend", "db")].get("errorCount") == 1
    assert "errorCount" not in found[("frontend", "backend")], "annotation 'error' is not an error"
    assert "errorCount" not in found[("mobile", "frontend")]


def test_dependencies_messaging(weft: WeftServer):
    """28 and 36: producer -> broker -> consumer."""
    t = base_millis() * 1000
    trace_id = new_trace_id()
    produce = zspan(trace_id, name="send", kind="PRODUCER", timestamp=t, duration=10, remote_service="kafka")
    consume = zspan(trace_id, parent_id=produce["id"], name="receive", kind="CONSUMER", service="backend",
                    timestamp=t + 100, duration=10, remote_service="kafka")
    post(weft, [produce, consume])
    found = links(weft)
    assert set(found) == {("frontend", "kafka"), ("kafka", "backend")}, found


def test_dependencies_loopback_headless_kindless_and_shared(weft: WeftServer):
    """31-33, 37, 40."""
    t = base_millis() * 1000
    # loopback: frontend calls itself
    loop = new_trace_id()
    loop_client = zspan(loop, name="self", kind="CLIENT", timestamp=t, duration=100)
    loop_server = zspan(loop, parent_id=loop_client["id"], name="self", kind="SERVER", timestamp=t + 1, duration=50)
    # headless: the root is missing
    headless = new_trace_id()
    orphan_client = zspan(headless, parent_id=new_span_id(), name="call", kind="CLIENT", service="web",
                          timestamp=t + 10, duration=100)
    orphan_server = zspan(headless, parent_id=orphan_client["id"], name="serve", kind="SERVER", service="api",
                          timestamp=t + 11, duration=50)
    # no kind, both endpoints
    kindless = zspan(new_trace_id(), name="rpc", service="cron", remote_service="mailer", timestamp=t + 20, duration=5)
    # shared span id: client and server halves of one RPC count once
    shared = new_trace_id()
    shared_id = new_span_id()
    shared_client = zspan(shared, shared_id, name="rpc", kind="CLIENT", service="gateway", timestamp=t + 30, duration=80)
    shared_server = zspan(shared, shared_id, name="rpc", kind="SERVER", service="auth", timestamp=t + 31,
                          duration=60, shared=True)
    # remote endpoint without a service name: no link, no empty name
    nameless = zspan(new_trace_id(), name="ip-only", kind="CLIENT", service="scanner", timestamp=t + 40, duration=5)
    nameless["remoteEndpoint"] = {"ipv4": "10.0.0.9", "port": 80}
    post(weft, [loop_client, loop_server, orphan_client, orphan_server, kindless, shared_client, shared_server, nameless])
    found = links(weft)
    assert set(found) == {
        ("frontend", "frontend"),
        ("web", "api"),
        ("cron", "mailer"),
        ("gateway", "auth"),
    }, found
    assert all(link["callCount"] == 1 for link in found.values()), found


def test_dependencies_window_and_validation(weft: WeftServer):
    """39."""
    t = base_millis()
    trace_id = new_trace_id()
    client = zspan(trace_id, name="call", kind="CLIENT", timestamp=t * 1000, duration=100, remote_service="backend")
    post(weft, [client])
    assert set(links(weft, endTs=t + 10)) == {("frontend", "backend")}
    assert links(weft, endTs=t - 2 * DAY_MS, lookback=3_600_000) == {}
    assert links(weft, endTs=t + 3 * DAY_MS, lookback=3_600_000) == {}
    for params, word in [({"endTs": 0}, "endts"), ({"endTs": t, "lookback": 0}, "lookback"), ({}, "endts")]:
        response = weft.zget("/dependencies", params)
        assert response.status_code == 400, f"{params} -> {response.status_code}: {response.text[:200]}"
        assert word in response.text.lower(), response.text


# ------------------------------------------------------------------------------------
# schemathesis against the upstream OpenAPI (Swagger 2.0) file

SPEC = SPECS_DIR / "zipkin2-api.yaml"


def run_schemathesis(server: WeftServer, extra: list[str]) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", str(SPEC),
        "--url", server.zipkin_api,
        "--mode", "positive",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", "25",
        "--seed", "20240117",
        "--request-timeout", "5",
        "--workers", "1",
        "--suppress-health-check", "all",
        *extra,
    ]  # fmt: skip
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=str(server.log_dir)
    )


@pytest.mark.slow
def test_schemathesis_get_endpoints(weft: WeftServer):
    """Generated GET requests against the spec. Checks and why some are left out:
    - not_a_server_error everywhere: no 5xx on any generated input;
    - content_type_conformance everywhere;
    - response_schema_conformance except /spans: the spec says /spans returns
      ListOfSpans, but Zipkin (and every client) uses a list of strings;
    - status_code_conformance is off: the spec documents only 200 (and 404 for
      /trace) while Zipkin answers 400 to out-of-range values the schema allows
      (limit<=0, endTs<=0, lookback<=0, an all-zero trace id, ...)."""
    if not SPEC.is_file():
        pytest.skip(f"spec {SPEC} missing: shared/ must sit beside the repository (../shared)")
    t = base_millis() * 1000
    trace_id = new_trace_id()
    post(weft, [zspan(trace_id, name="get", timestamp=t, duration=10, kind="CLIENT", remote_service="backend")])

    # include filters are OR-ed by schemathesis; exclusions narrow the selection
    runs = [
        (7, ["--include-method", "GET", "--exclude-path", "/spans",
             "--checks", "not_a_server_error,content_type_conformance,response_schema_conformance"]),
        (1, ["--include-path", "/spans", "--exclude-method", "POST",
             "--checks", "not_a_server_error,content_type_conformance"]),
    ]  # fmt: skip
    failures = []
    for operations, extra in runs:
        completed = run_schemathesis(weft, extra)
        output = completed.stdout + completed.stderr
        print(output[-4000:])
        assert f"{operations} selected" in output, f"expected {operations} GET operations selected:\n{output[-2000:]}"
        if completed.returncode != 0:
            failures.append(f"schemathesis {' '.join(extra)} exited {completed.returncode}:\n{output[-6000:]}")
    assert not failures, "\n\n".join(failures)

