//! The analyses over the real traces of `crates/codec/testdata` (byte-identical copies of
//! `shared/fixtures`, as the other crates' tests use them), decoded with weft's decoders.

use std::sync::Arc;

use serde_json::Value;
use weft_analytics::{
    Limits, ServiceMapOptions, TreeOptions, calling_context_tree, critical_path, service_map,
};
use weft_model::{KeyValue, Resource, Span, SpanId, SpanKind, TraceId};

const YELP: &[u8] = include_bytes!("../../codec/testdata/zipkin-yelp.json");
const SMARTTHINGS: &[u8] =
    include_bytes!("../../codec/testdata/zipkin-smartthings-oauth-authorization.json");
const PETCLINIC: &str = include_str!("../../codec/testdata/jaeger-petclinic-trace.json");

fn zipkin(body: &[u8]) -> Vec<Span> {
    weft_codec::zipkin::decode_v2_json(body)
        .expect("fixture decodes")
        .spans
}

/// Model spans from a Jaeger UI trace object by the Jaeger receivers' rules (the codec has
/// no decoder for the query API's JSON): the first `CHILD_OF` reference is the parent,
/// `span.kind` the kind, microseconds to nanoseconds.
fn petclinic() -> Vec<Span> {
    let trace: Value = serde_json::from_str(PETCLINIC).expect("fixture json");
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    trace["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .map(|json| {
            let trace_id = TraceId::from_hex(&text(&json["traceID"])).expect("trace id");
            let span_id = SpanId::from_hex(&text(&json["spanID"])).expect("span id");
            let mut span = Span::new(trace_id, span_id, text(&json["operationName"]));
            let process = &trace["processes"][text(&json["processID"])];
            span.resource = Arc::new(Resource::for_service(text(&process["serviceName"])));
            span.parent_span_id = json["references"]
                .as_array()
                .expect("references")
                .iter()
                .find(|reference| reference["refType"] == "CHILD_OF")
                .map(|reference| SpanId::from_hex(&text(&reference["spanID"])).expect("parent"));
            span.start_unix_nanos = json["startTime"].as_u64().expect("startTime") * 1_000;
            span.duration_nanos = json["duration"].as_u64().expect("duration") * 1_000;
            for tag in json["tags"].as_array().expect("tags") {
                match (text(&tag["key"]).as_str(), text(&tag["value"]).as_str()) {
                    ("span.kind", "client") => span.kind = SpanKind::Client,
                    ("span.kind", "server") => span.kind = SpanKind::Server,
                    (key, value) => span.attributes.push(KeyValue::new(key, value)),
                }
            }
            span
        })
        .collect()
}

fn ids_and_times(path: &weft_analytics::CriticalPath) -> Vec<(String, u64, u64)> {
    path.segments
        .iter()
        .map(|segment| {
            (
                segment.span_id.clone(),
                segment.start_unix_nanos / 1_000 - 1_573_131_432_955_000,
                segment.end_unix_nanos / 1_000 - 1_573_131_432_955_000,
            )
        })
        .collect()
}

/// Worked by hand from the fixture (µs after the root's start): the gateway's server
/// [0, 3720] waits on its client [376, 3353], whose server [1016, 2712] runs 14 queries;
/// walking back from 2712, the queries ending at 2677, 2568, 1937 and 1880 are on the path.
#[test]
fn petclinic_critical_path_is_the_hand_computed_one() {
    let path =
        critical_path(&petclinic(), &TreeOptions::default(), &Limits::default()).expect("path");
    let (gateway, client, server) = ("9afcdf2e24e8d70a", "6962df17f54c3741", "6f9bbe751e5fd944");
    let expected: Vec<(String, u64, u64)> = [
        (gateway, 0, 376),
        (client, 376, 1016),
        (server, 1016, 1849),
        ("d293d7d80690ce74", 1849, 1880),
        (server, 1880, 1897),
        ("0000000000000001", 1897, 1937),
        (server, 1937, 2522),
        ("9f0a544e33b693c2", 2522, 2568),
        (server, 2568, 2658),
        ("c045fb92504eb97f", 2658, 2677),
        (server, 2677, 2712),
        (client, 2712, 3353),
        (gateway, 3353, 3720),
    ]
    .into_iter()
    .map(|(id, start, end)| (id.to_owned(), start, end))
    .collect();
    assert_eq!(ids_and_times(&path), expected);
    let self_times: Vec<(&str, u64)> = path
        .spans
        .iter()
        .map(|span| (span.span_id.as_str(), span.self_time_on_path_nanos / 1_000))
        .collect();
    assert_eq!(
        self_times,
        vec![
            (server, 35 + 90 + 585 + 17 + 833),
            (client, 640 + 641),
            (gateway, 376 + 367),
            ("9f0a544e33b693c2", 46),
            ("0000000000000001", 40),
            ("d293d7d80690ce74", 31),
            ("c045fb92504eb97f", 19),
        ]
    );
    assert_eq!(path.total_nanos, 3_720_000);
    assert_eq!(path.span_count, 17);
    assert_eq!(path.clock_skew.corrected_span_count, 0);
}

/// Segments of any trace tile the root's extent and lie within their spans.
fn assert_path_is_consistent(spans: &[Span], path: &weft_analytics::CriticalPath) {
    let mut cursor = path.start_unix_nanos;
    for segment in &path.segments {
        assert_eq!(segment.start_unix_nanos, cursor, "segments are contiguous");
        assert!(segment.end_unix_nanos > segment.start_unix_nanos);
        assert!(
            spans
                .iter()
                .any(|span| span.span_id.to_hex() == segment.span_id)
        );
        cursor = segment.end_unix_nanos;
    }
    assert_eq!(cursor, path.end_unix_nanos);
}

#[test]
fn zipkin_fixtures_have_consistent_critical_paths() {
    let yelp = zipkin(YELP);
    let path = critical_path(&yelp, &TreeOptions::default(), &Limits::default()).expect("path");
    assert_path_is_consistent(&yelp, &path);
    // The root: routing's server, 131848 µs in the fixture.
    assert_eq!(path.root_span_id, "2e8cfb154b59a41f");
    assert_eq!(path.total_nanos, 131_848_000);
    // 16 spans, no fragments (each has its own id, shared flag and endpoint).
    assert_eq!(path.span_count, 16);
    assert_eq!(path.clock_skew.corrected_span_count, 0);

    let smartthings = zipkin(SMARTTHINGS);
    let path =
        critical_path(&smartthings, &TreeOptions::default(), &Limits::default()).expect("path");
    assert_path_is_consistent(&smartthings, &path);
    // The flow leaves the system with a redirect right after the 1429 µs root: the rest
    // of the trace happens after the root ended and is not on its path.
    assert_eq!(path.total_nanos, 1_429_000);
    assert_eq!(path.segments.len(), 1);
    // 175 spans; pusher's consumer id 9d2d35b746db84f3 was reported 3 times by one host
    // and twice by another: 2 nodes from 5 fragments.
    assert_eq!(path.span_count, 175 - 3);
    // Servers outside their clients: auth 61d0055f29150e03 ends 1.03 ms after its client
    // and is centred (client 624147 µs, server 621748 µs: shift -2230.5 µs).
    let auth = path
        .clock_skew
        .corrections
        .iter()
        .find(|correction| correction.span_id == "61d0055f29150e03")
        .expect("auth corrected");
    assert_eq!(auth.shift_nanos, -2_230_500);
    assert_eq!(path.clock_skew.corrected_span_count, 3);
}

/// (caller, callee, calls, errors), sorted.
type Calls = Vec<(String, String, u64, u64)>;

/// Calls per (caller, callee), connections added up, against Zipkin's dependency linker
/// (weft_model::dependency_links), which counts them its own way from the raw spans.
fn calls_by_pair(traces: &[&[Span]]) -> (Calls, Calls) {
    let map = service_map(
        traces.iter().copied(),
        &ServiceMapOptions::default(),
        &Limits::default(),
    )
    .expect("map");
    let mut ours: std::collections::BTreeMap<(String, String), (u64, u64)> = Default::default();
    for edge in &map.edges {
        let entry = ours
            .entry((edge.caller.clone(), edge.callee.clone()))
            .or_default();
        entry.0 += edge.stats.call_count;
        entry.1 += edge.stats.error_count;
    }
    let ours = ours
        .into_iter()
        .map(|((caller, callee), (calls, errors))| (caller, callee, calls, errors))
        .collect();
    let zipkin = weft_model::dependency_links(traces.iter().copied())
        .into_iter()
        .map(|link| (link.parent, link.child, link.call_count, link.error_count))
        .collect();
    (ours, zipkin)
}

#[test]
fn service_map_calls_agree_with_zipkins_linker_on_instrumented_traces() {
    let smartthings = zipkin(SMARTTHINGS);
    let petclinic = petclinic();
    let (ours, zipkin_links) = calls_by_pair(&[&smartthings, &petclinic]);
    assert_eq!(ours, zipkin_links);
    assert_eq!(ours.len(), 13);
    // Yelp differs where Zipkin re-attributes calls of its literal `unknown` client
    // service; ours follows the tree: routing's server calls into `unknown` (a client
    // span of another service) and into yelp-main.
    let yelp = zipkin(YELP);
    let (ours, _) = calls_by_pair(&[&yelp]);
    let into_yelp_main: u64 = ours
        .iter()
        .filter(|(_, callee, _, _)| callee == "yelp-main")
        .map(|(_, _, calls, _)| calls)
        .sum();
    // routing -> yelp-main once, yelp_main/api_proxy -> yelp-main twice.
    assert_eq!(into_yelp_main, 3);
}

#[test]
fn petclinic_service_map_and_flow_graph() {
    let spans = petclinic();
    let map =
        service_map([&spans], &ServiceMapOptions::default(), &Limits::default()).expect("map");
    let nodes: Vec<(&str, u64, u64)> = map
        .nodes
        .iter()
        .map(|node| {
            (
                node.service.as_str(),
                node.span_count,
                node.server.call_count,
            )
        })
        .collect();
    assert_eq!(
        nodes,
        vec![("api-gateway", 2, 1), ("customers-service", 15, 1)]
    );
    assert_eq!(map.edges.len(), 1);
    // The client's duration: 2977 µs.
    assert_eq!(map.edges[0].stats.latency.p50_nanos, 2_977_000);

    let graph = weft_analytics::flow_graph(
        [&spans],
        &weft_analytics::Workflow {
            root_service: "api-gateway".to_owned(),
            root_operation: "GET /api/customer/owners".to_owned(),
        },
        &weft_analytics::FlowOptions::default(),
        &Limits::default(),
    )
    .expect("flow");
    let counts: Vec<u64> = graph.nodes.iter().map(|node| node.span_count).collect();
    assert_eq!(counts, vec![1, 1, 1, 14]);
    let common = graph.common_path.expect("common path");
    assert_eq!(common.nodes, vec![0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 1, 0]);
    // 14 queries of 14, 14, 15, 15, 15, 17, 19, 19, 20, 31, 40, 40, 40, 46 µs: the
    // nearest-rank median is the 7th smallest.
    assert_eq!(graph.nodes[3].latency.p50_nanos, 19_000);
}

#[test]
fn fixtures_merge_into_one_calling_context_tree_and_compare_to_themselves() {
    let traces = [zipkin(YELP), zipkin(SMARTTHINGS), petclinic()];
    let tree =
        calling_context_tree(&traces, &TreeOptions::default(), &Limits::default()).expect("cct");
    assert_eq!(tree.trace_count, 3);
    assert_eq!(tree.roots.len(), 3);
    let spans: u64 = tree.nodes.iter().map(|node| node.span_count).sum();
    assert_eq!(spans, 16 + 172 + 17);
    let comparison = weft_analytics::compare_traces(
        &traces[1],
        &traces[1],
        &TreeOptions::default(),
        &Limits::default(),
    )
    .expect("diff");
    assert!(comparison.only_in_a.is_empty() && comparison.only_in_b.is_empty());
    assert!(
        comparison
            .nodes
            .iter()
            .all(|node| node.exclusive_delta_nanos == 0 && node.count_delta == 0)
    );
}
