//! Zipkin's dependency-linking behaviours (ITDependencies and DependencyLinkerTest),
//! numbered as in the wire-contract notes (items 28 to 40).

use std::sync::Arc;

use crate::{Event, KeyValue, Resource, Span, SpanId, SpanKind, StatusCode, TraceId};

use super::{DependencyLink, DependencyLinker, LinkSpan, dependency_links};

const TRACE: TraceId = TraceId([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);

fn span(id: u64, parent: Option<u64>, kind: SpanKind, service: Option<&str>) -> Span {
    let mut span = Span::new(TRACE, SpanId::from_u64(id), format!("span-{id}"));
    span.parent_span_id = parent.map(SpanId::from_u64);
    span.kind = kind;
    if let Some(service) = service {
        span.resource = Arc::new(Resource::for_service(service));
    }
    span.start_unix_nanos = 1_700_000_000_000_000_000 + id * 1_000_000;
    span.duration_nanos = 1_000_000;
    span
}

fn remote(mut span: Span, remote_service: &str) -> Span {
    span.attributes
        .push(KeyValue::new("peer.service", remote_service));
    span
}

fn shared(mut span: Span) -> Span {
    span.shared = true;
    span
}

fn errored(mut span: Span) -> Span {
    span.attributes.push(KeyValue::new("error", ""));
    span
}

fn link(parent: &str, child: &str, call_count: u64, error_count: u64) -> DependencyLink {
    DependencyLink {
        parent: parent.to_owned(),
        child: child.to_owned(),
        call_count,
        error_count,
    }
}

fn links_of(spans: &[Span]) -> Vec<DependencyLink> {
    dependency_links([spans])
}

/// frontend (server, root) -> backend (shared server) -> db (uninstrumented).
fn three_tier() -> Vec<Span> {
    vec![
        span(1, None, SpanKind::Server, Some("frontend")),
        remote(
            span(2, Some(1), SpanKind::Client, Some("frontend")),
            "backend",
        ),
        shared(span(2, Some(1), SpanKind::Server, Some("backend"))),
        remote(span(3, Some(2), SpanKind::Client, Some("backend")), "db"),
    ]
}

#[test]
fn item_28_messaging_links_producer_to_broker_to_consumer() {
    let spans = vec![
        remote(span(1, None, SpanKind::Producer, Some("frontend")), "kafka"),
        remote(
            span(2, Some(1), SpanKind::Consumer, Some("backend")),
            "kafka",
        ),
    ];
    assert_eq!(
        links_of(&spans),
        [
            link("frontend", "kafka", 1, 0),
            link("kafka", "backend", 1, 0)
        ]
    );
}

#[test]
fn item_28_messaging_without_a_broker_name_is_skipped() {
    let spans = vec![
        span(1, None, SpanKind::Producer, Some("frontend")),
        span(2, Some(1), SpanKind::Consumer, Some("backend")),
    ];
    assert!(links_of(&spans).is_empty());
}

#[test]
fn item_29_instrumented_services_follow_the_rpc_tree() {
    assert_eq!(
        links_of(&three_tier()),
        [
            link("backend", "db", 1, 0),
            link("frontend", "backend", 1, 0)
        ]
    );
}

#[test]
fn item_30_uninstrumented_client_and_server_come_from_remote_endpoints() {
    let spans = vec![
        remote(span(1, None, SpanKind::Server, Some("frontend")), "browser"),
        remote(
            span(2, Some(1), SpanKind::Client, Some("frontend")),
            "cache",
        ),
    ];
    assert_eq!(
        links_of(&spans),
        [
            link("browser", "frontend", 1, 0),
            link("frontend", "cache", 1, 0)
        ]
    );
}

#[test]
fn item_31_kind_is_not_required_when_both_endpoints_are_present() {
    let spans = vec![remote(
        span(1, None, SpanKind::Unspecified, Some("frontend")),
        "backend",
    )];
    assert_eq!(links_of(&spans), [link("frontend", "backend", 1, 0)]);
    let internal = vec![remote(
        span(1, None, SpanKind::Internal, Some("frontend")),
        "backend",
    )];
    assert_eq!(links_of(&internal), [link("frontend", "backend", 1, 0)]);
    // Without a remote side, a span of unknown kind links nothing.
    assert!(links_of(&[span(1, None, SpanKind::Unspecified, Some("frontend"))]).is_empty());
}

#[test]
fn item_32_loopback_links_a_service_to_itself() {
    let spans = vec![
        span(1, None, SpanKind::Server, Some("frontend")),
        remote(
            span(2, Some(1), SpanKind::Client, Some("frontend")),
            "frontend",
        ),
        shared(span(2, Some(1), SpanKind::Server, Some("frontend"))),
    ];
    assert_eq!(links_of(&spans), [link("frontend", "frontend", 1, 0)]);
}

#[test]
fn item_33_headless_trace_links_the_same() {
    let headless: Vec<Span> = three_tier().into_iter().skip(1).collect();
    assert_eq!(
        links_of(&headless),
        [
            link("backend", "db", 1, 0),
            link("frontend", "backend", 1, 0)
        ]
    );
}

#[test]
fn item_33_missing_intermediate_span_still_links_across_services() {
    // frontend's client span 2 is lost; backend's server span 3 names it as parent.
    let spans = vec![
        span(1, None, SpanKind::Server, Some("frontend")),
        span(3, Some(2), SpanKind::Server, Some("backend")),
    ];
    assert_eq!(links_of(&spans), [link("frontend", "backend", 1, 0)]);
}

#[test]
fn item_34_mixed_64_and_128_bit_trace_ids_link_as_one_trace() {
    let mut spans = three_tier();
    // The backend dropped the high half of the trace id.
    let high = TraceId::from_halves(0xabc, TRACE.low_u64());
    for span in spans.iter_mut().take(2) {
        span.trace_id = high;
    }
    assert_eq!(
        links_of(&spans),
        [
            link("backend", "db", 1, 0),
            link("frontend", "backend", 1, 0)
        ]
    );
}

#[test]
fn item_35_only_an_error_tag_or_status_counts_as_an_error() {
    let mut spans = three_tier();
    spans[3] = errored(spans[3].clone());
    let mut annotated = spans[2].clone();
    annotated.events.push(Event {
        time_unix_nanos: annotated.start_unix_nanos,
        name: "error".to_owned(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
    });
    spans[2] = annotated;
    assert_eq!(
        links_of(&spans),
        [
            link("backend", "db", 1, 1),
            link("frontend", "backend", 1, 0)
        ]
    );
    let mut status_error = three_tier();
    status_error[2].status.code = StatusCode::Error;
    assert_eq!(
        links_of(&status_error),
        [
            link("backend", "db", 1, 0),
            link("frontend", "backend", 1, 1)
        ]
    );
}

#[test]
fn item_35_error_on_the_client_half_of_a_split_rpc_counts() {
    // The server has its own id and names the client span as parent.
    let spans = vec![
        span(1, None, SpanKind::Server, Some("frontend")),
        errored(remote(
            span(2, Some(1), SpanKind::Client, Some("frontend")),
            "backend",
        )),
        span(3, Some(2), SpanKind::Server, Some("backend")),
    ];
    assert_eq!(links_of(&spans), [link("frontend", "backend", 1, 1)]);
    // With a shared id Zipkin's linker only looks at the server half, and so do we.
    let mut shared_ids = three_tier();
    shared_ids[1] = errored(shared_ids[1].clone());
    assert_eq!(
        links_of(&shared_ids),
        [
            link("backend", "db", 1, 0),
            link("frontend", "backend", 1, 0)
        ]
    );
}

#[test]
fn item_36_one_way_rpc_links() {
    let mut client = remote(
        span(2, Some(1), SpanKind::Client, Some("frontend")),
        "backend",
    );
    client.duration_nanos = 0;
    let mut server = span(2, Some(1), SpanKind::Server, Some("backend"));
    server.duration_nanos = 0;
    let spans = vec![
        span(1, None, SpanKind::Server, Some("frontend")),
        client,
        server,
    ];
    assert_eq!(links_of(&spans), [link("frontend", "backend", 1, 0)]);
}

#[test]
fn item_36_one_way_without_client_links_from_the_remote() {
    let spans = vec![remote(
        span(1, None, SpanKind::Server, Some("backend")),
        "kafka",
    )];
    assert_eq!(links_of(&spans), [link("kafka", "backend", 1, 0)]);
}

#[test]
fn item_37_endpoints_without_service_names_are_skipped() {
    let spans = vec![
        span(1, None, SpanKind::Server, None),
        remote(span(2, Some(1), SpanKind::Client, None), "backend"),
        remote(span(3, Some(1), SpanKind::Client, Some("frontend")), ""),
        span(4, Some(1), SpanKind::Producer, Some("frontend")),
    ];
    let links = links_of(&spans);
    assert!(
        links
            .iter()
            .all(|l| !l.parent.is_empty() && !l.child.is_empty()),
        "{links:?}"
    );
    assert!(links.is_empty(), "{links:?}");
}

#[test]
fn item_38_linking_is_idempotent() {
    let trace = three_tier();
    let mut linker = DependencyLinker::new();
    linker.put_trace(&trace);
    let first = linker.links();
    assert_eq!(first, linker.links());
    assert_eq!(first, links_of(&trace));
    // Two traces sum.
    let twice = dependency_links([trace.as_slice(), trace.as_slice()]);
    assert_eq!(
        twice,
        [
            link("backend", "db", 2, 0),
            link("frontend", "backend", 2, 0)
        ]
    );
}

#[test]
fn item_40_duplicate_halves_of_one_rpc_count_once() {
    let mut spans = three_tier();
    // Fragments reported twice: the client and the server halves again, partially.
    let mut late_client = remote(
        span(2, Some(1), SpanKind::Client, Some("frontend")),
        "backend",
    );
    late_client.start_unix_nanos = 0;
    spans.push(late_client);
    spans.push(shared(span(2, Some(1), SpanKind::Server, Some("backend"))));
    assert_eq!(
        links_of(&spans),
        [
            link("backend", "db", 1, 0),
            link("frontend", "backend", 1, 0)
        ]
    );
}

#[test]
fn item_40_intermediate_local_spans_do_not_add_links() {
    let spans = vec![
        span(1, None, SpanKind::Server, Some("frontend")),
        span(2, Some(1), SpanKind::Internal, Some("frontend")),
        remote(
            span(3, Some(2), SpanKind::Client, Some("frontend")),
            "backend",
        ),
        span(4, Some(3), SpanKind::Server, Some("backend")),
    ];
    assert_eq!(links_of(&spans), [link("frontend", "backend", 1, 0)]);
}

#[test]
fn server_missing_shared_flag_is_backfilled_from_its_client() {
    // Client and server share id 2 but the server forgot `shared`.
    let spans = vec![
        span(1, None, SpanKind::Server, Some("frontend")),
        remote(
            span(2, Some(1), SpanKind::Client, Some("frontend")),
            "backend",
        ),
        span(2, Some(1), SpanKind::Server, Some("backend")),
    ];
    assert_eq!(links_of(&spans), [link("frontend", "backend", 1, 0)]);
}

#[test]
fn client_with_a_different_service_than_its_remote_ancestor_backfills_the_hop() {
    let spans = vec![
        span(1, None, SpanKind::Server, Some("frontend")),
        remote(span(2, Some(1), SpanKind::Client, Some("proxy")), "backend"),
    ];
    assert_eq!(
        links_of(&spans),
        [
            link("frontend", "proxy", 1, 0),
            link("proxy", "backend", 1, 0)
        ]
    );
}

#[test]
fn service_names_are_lowercased() {
    let spans = vec![remote(
        span(1, None, SpanKind::Client, Some("FrontEnd")),
        "BackEnd",
    )];
    assert_eq!(links_of(&spans), [link("frontend", "backend", 1, 0)]);
}

#[test]
fn parent_cycles_and_self_parents_do_not_hang() {
    let spans = vec![
        remote(span(1, Some(2), SpanKind::Client, Some("a")), "b"),
        remote(span(2, Some(1), SpanKind::Client, Some("b")), "c"),
        remote(span(3, Some(3), SpanKind::Client, Some("c")), "d"),
    ];
    // Only the self-parented span is reachable (it falls under the synthetic root).
    assert_eq!(links_of(&spans), [link("c", "d", 1, 0)]);
    assert!(links_of(&[]).is_empty());
}

/// `span` with a local endpoint address (`net.host.ip`) and port (0 = none), as the
/// Zipkin decoder stores `localEndpoint.ipv4` and `port`.
fn on_host(mut span: Span, ipv4: Option<&str>, port: i64) -> Span {
    if let Some(ipv4) = ipv4 {
        span.attributes.push(KeyValue::new("net.host.ip", ipv4));
    }
    if port != 0 {
        span.attributes.push(KeyValue::new("net.host.port", port));
    }
    span
}

#[test]
fn shared_servers_of_one_service_on_two_hosts_are_two_calls() {
    // zipkin-smartthings-oauth-authorization.json: bouncer's client 9d2d35b746db84f3 is
    // answered by pusher on 10.0.0.187 (reported in two fragments) and on 10.0.0.79.
    let bouncer = Some("10.0.0.173");
    let spans = vec![
        on_host(
            span(0x19b9, None, SpanKind::Server, Some("bouncer")),
            bouncer,
            8194,
        ),
        on_host(
            remote(
                span(0x9d2d, Some(0x19b9), SpanKind::Client, Some("bouncer")),
                "pusher",
            ),
            bouncer,
            8194,
        ),
        on_host(
            remote(
                shared(span(0x9d2d, Some(0x19b9), SpanKind::Server, Some("pusher"))),
                "bouncer",
            ),
            Some("10.0.0.187"),
            8197,
        ),
        on_host(
            remote(
                shared(span(0x9d2d, Some(0x19b9), SpanKind::Server, Some("pusher"))),
                "bouncer",
            ),
            Some("10.0.0.187"),
            8197,
        ),
        on_host(
            remote(
                shared(span(0x9d2d, Some(0x19b9), SpanKind::Server, Some("pusher"))),
                "bouncer",
            ),
            Some("10.0.0.79"),
            8197,
        ),
        on_host(
            span(0xde67, Some(0x9d2d), SpanKind::Internal, Some("pusher")),
            Some("10.0.0.79"),
            8197,
        ),
    ];
    assert_eq!(links_of(&spans), [link("bouncer", "pusher", 2, 0)]);
}

#[test]
fn a_client_whose_endpoint_differs_from_the_shared_server_hangs_under_the_client_half() {
    // zipkin-yelp.json: mobile_api's client 15fc03927f0f68df has no port, mobile_api's
    // shared server f5f268651b2a2b34 has port 31049, so the client is not the server's
    // child: it hangs under yelp-main's client half, which backfills yelp-main -> mobile_api.
    let spans = vec![
        shared(span(0x2e8c, None, SpanKind::Server, Some("routing"))),
        on_host(
            remote(
                span(0xf5f2, Some(0x2e8c), SpanKind::Client, Some("yelp-main")),
                "mobile_api",
            ),
            None,
            0,
        ),
        on_host(
            shared(span(
                0xf5f2,
                Some(0x2e8c),
                SpanKind::Server,
                Some("mobile_api"),
            )),
            None,
            31049,
        ),
        remote(
            span(0x15fc, Some(0xf5f2), SpanKind::Client, Some("mobile_api")),
            "blt",
        ),
    ];
    assert_eq!(
        links_of(&spans),
        [
            link("mobile_api", "blt", 1, 0),
            link("yelp-main", "mobile_api", 2, 0)
        ]
    );
    // With the server's port on the client, it is the server's child: one call.
    let mut same_endpoint = spans;
    same_endpoint[3] = on_host(same_endpoint[3].clone(), None, 31049);
    assert_eq!(
        links_of(&same_endpoint),
        [
            link("mobile_api", "blt", 1, 0),
            link("yelp-main", "mobile_api", 1, 0)
        ]
    );
}

fn self_contained(spans: &[Span]) -> bool {
    let link_spans: Vec<LinkSpan> = spans.iter().map(LinkSpan::from_span).collect();
    LinkSpan::part_is_self_contained(&link_spans)
}

#[test]
fn a_part_is_self_contained_with_one_root_and_every_parent_inside() {
    let trace = three_tier();
    assert!(self_contained(&trace));
    // Cut anywhere, the part without the root is not, whatever the other part is.
    for cut in 1..trace.len() {
        assert!(!self_contained(&trace[cut..]), "cut at {cut}");
    }
    assert!(!self_contained(&[]));
    // Two roots, a shared root, a self-parent.
    let two_roots = [
        span(1, None, SpanKind::Server, Some("a")),
        span(2, None, SpanKind::Server, Some("b")),
    ];
    assert!(!self_contained(&two_roots));
    assert!(!self_contained(&[shared(span(
        1,
        None,
        SpanKind::Server,
        Some("a")
    ))]));
    assert!(!self_contained(&[span(
        1,
        Some(1),
        SpanKind::Server,
        Some("a")
    )]));
    // A root client whose server half (same id, no parent) may be elsewhere.
    let client = remote(span(1, None, SpanKind::Client, Some("a")), "b");
    assert!(!self_contained(std::slice::from_ref(&client)));
    assert!(self_contained(&[
        client,
        span(1, None, SpanKind::Server, Some("b"))
    ]));
}

#[test]
fn subtracting_links_takes_back_what_a_part_added() {
    let mut linker = DependencyLinker::new();
    linker.put_trace(&three_tier());
    let once = linker.links();
    linker.put_trace(&three_tier());
    linker.subtract_links(&once);
    assert_eq!(linker.links(), once);
    linker.subtract_links(&once);
    assert!(linker.is_empty());
}
