//! The per-block and head indexes through `TraceReader`: dependency links exact for any
//! window (edges, whole buckets, blocks without precomputed links), and the attribute
//! catalog merged over heads and blocks.

mod support;

use support::{TempDir, config, now_unix_nanos, resource, span};
use weft_ingester::Ingester;
use weft_model::{
    DependencyLink, KeyValue, Span, SpanBatch, SpanSink, TenantId, TimeWindow, TraceReader,
    dependency_links,
};
use weft_storage::{BlockMeta, DEPENDENCY_BUCKET_NANOS};

const SECOND_NANOS: u64 = 1_000_000_000;

/// (trace number, service, callee, seconds after the first bucket).
type PlannedTrace = (u64, &'static str, &'static str, u64);

/// Trace `number`: a root server of `service` at `root_start`, calling `callee` (client
/// span without children, so one link `service -> callee`); every third one fails.
fn trace(number: u64, service: &str, callee: &str, root_start: u64) -> Vec<Span> {
    let resource = resource(service);
    let root = span(&resource, number, 1, root_start);
    let mut client = span(&resource, number, 2, root_start + 1_000);
    client
        .attributes
        .push(KeyValue::new("peer.service", callee));
    if number.is_multiple_of(3) {
        client.attributes.push(KeyValue::new("error", "boom"));
    }
    vec![root, client]
}

fn expected(traces: &[(u64, Vec<Span>)], window: TimeWindow) -> Vec<DependencyLink> {
    dependency_links(
        traces
            .iter()
            .filter(|(timestamp, _)| window.contains(*timestamp))
            .map(|(_, spans)| spans.as_slice()),
    )
}

/// Windows whose ends fall on, just before and just after every trace timestamp and
/// bucket boundary, so edges and whole buckets both get tested.
fn windows(traces: &[(u64, Vec<Span>)], first_bucket: u64) -> Vec<TimeWindow> {
    let mut points: Vec<u64> = traces.iter().map(|(timestamp, _)| *timestamp).collect();
    for bucket in 0..6 {
        points.push(first_bucket + bucket * DEPENDENCY_BUCKET_NANOS);
    }
    let mut ends: Vec<u64> = points
        .iter()
        .flat_map(|&point| [point - 1, point, point + 1])
        .collect();
    ends.sort_unstable();
    ends.dedup();
    let mut windows = Vec::new();
    for (index, &start) in ends.iter().enumerate() {
        for &end in ends[index..].iter().step_by(3) {
            windows.push(TimeWindow {
                start_unix_nanos: start,
                end_unix_nanos: end,
            });
        }
    }
    windows
}

/// Pushes `spans` for the single tenant, then cuts the head into a block when `cut`.
async fn push(ingester: &Ingester, spans: Vec<Span>, cut: bool) {
    ingester
        .push(&TenantId::single(), SpanBatch::from(spans))
        .await
        .expect("push");
    if cut {
        ingester.cut_head().await.expect("cut");
    }
}

async fn check_all(ingester: &Ingester, traces: &[(u64, Vec<Span>)], first_bucket: u64) {
    let tenant = TenantId::single();
    let windows = windows(traces, first_bucket);
    assert!(windows.len() > 100);
    for window in windows {
        let links = ingester
            .dependencies(&tenant, window, 1_000)
            .await
            .expect("reads");
        assert_eq!(links, expected(traces, window), "{window:?}");
    }
}

#[tokio::test]
async fn dependencies_are_exact_over_blocks_heads_and_bucket_edges() {
    let directory = TempDir::new("dependencies");
    let tenant = TenantId::single();
    let first_bucket = {
        let past = now_unix_nanos() - 1_800 * SECOND_NANOS;
        past - past % DEPENDENCY_BUCKET_NANOS
    };
    let at = |seconds: u64| first_bucket + seconds * SECOND_NANOS + 17;
    let mut traces: Vec<(u64, Vec<Span>)> = Vec::new();
    let ingester = Ingester::open_local(config(directory.path()))
        .await
        .expect("opens");
    // Two blocks and a head, each with traces in several buckets.
    let plan: [(&[PlannedTrace], bool); 3] = [
        (
            &[
                (1, "a", "b", 10),
                (2, "a", "b", 59),
                (3, "a", "c", 61),
                (4, "b", "c", 200),
            ],
            true,
        ),
        (
            &[(5, "a", "b", 11), (6, "c", "d", 120), (7, "a", "b", 179)],
            true,
        ),
        (
            &[(8, "a", "b", 62), (9, "d", "e", 240), (10, "a", "c", 5)],
            false,
        ),
    ];
    for (batch, cut) in plan {
        let mut spans = Vec::new();
        for &(number, service, callee, seconds) in batch {
            let spans_of_trace = trace(number, service, callee, at(seconds));
            spans.extend(spans_of_trace.iter().cloned());
            traces.push((at(seconds), spans_of_trace));
        }
        push(&ingester, spans, cut).await;
    }
    check_all(&ingester, &traces, first_bucket).await;
    ingester.cut_head().await.expect("cut");
    check_all(&ingester, &traces, first_bucket).await;
    ingester.shutdown().await.expect("shuts down");
    drop(ingester);

    // Blocks written before dependencies.json existed: their parts are linked one by one.
    let tenant_directory = directory.path().join("blocks").join(tenant.to_string());
    let mut rewritten = 0;
    for entry in std::fs::read_dir(&tenant_directory).expect("blocks") {
        let block = entry.expect("entry").path();
        let meta_path = block.join("meta.json");
        let Ok(bytes) = std::fs::read(&meta_path) else {
            continue;
        };
        let mut meta = BlockMeta::from_json(&bytes, "meta").expect("parses");
        meta.dependencies_bytes = None;
        std::fs::write(&meta_path, meta.to_json().expect("encodes")).expect("writes");
        std::fs::remove_file(block.join("dependencies.json")).expect("removes");
        rewritten += 1;
    }
    assert_eq!(rewritten, 3);
    let reopened = Ingester::open_local(config(directory.path()))
        .await
        .expect("reopens");
    check_all(&reopened, &traces, first_bucket).await;
    let everything = TimeWindow {
        start_unix_nanos: first_bucket,
        end_unix_nanos: first_bucket + 10 * DEPENDENCY_BUCKET_NANOS,
    };
    let links = reopened
        .dependencies(&tenant, everything, 1_000)
        .await
        .expect("reads");
    let a_b = links
        .iter()
        .find(|link| link.parent == "a" && link.child == "b")
        .expect("a -> b");
    assert_eq!((a_b.call_count, a_b.error_count), (5, 0));
}

/// Trace `number` split over two parts, each linking differently alone than the whole:
/// `a`'s root server at `root_start` and its client calling `b` (alone: `a -> b`), and
/// `b`'s server half of that call, which knows its caller (alone: `a -> b` again; whole:
/// one call); and `a`'s root server with `c`'s server child 70 s later, in another
/// minute (alone: nothing, as the child's caller is unknown; whole: `a -> c`).
fn split_trace(number: u64, root_start: u64) -> (Vec<Span>, Vec<Span>) {
    let a = resource("a");
    let root = span(&a, number, 1, root_start);
    let mut client = span(&a, number, 2, root_start + 1_000);
    client.attributes.push(KeyValue::new("peer.service", "b"));
    let mut server = span(&resource("b"), number, 3, root_start + 2_000);
    server.parent_span_id = Some(client.span_id);
    server.kind = weft_model::SpanKind::Server;
    server.attributes.push(KeyValue::new("peer.service", "a"));
    let mut child = span(&resource("c"), number, 4, root_start + 70 * SECOND_NANOS);
    child.kind = weft_model::SpanKind::Server;
    (vec![root, client, child], vec![server])
}

#[tokio::test]
async fn dependencies_link_a_trace_split_across_a_cut_once_whole() {
    let directory = TempDir::new("split-dependencies");
    let first_bucket = {
        let past = now_unix_nanos() - 1_800 * SECOND_NANOS;
        past - past % DEPENDENCY_BUCKET_NANOS
    };
    let at = |seconds: u64| first_bucket + seconds * SECOND_NANOS + 17;
    let ingester = Ingester::open_local(config(directory.path()))
        .await
        .expect("opens");
    let mut traces: Vec<(u64, Vec<Span>)> = Vec::new();
    // Trace 31: root part first, then the cut, the server half after it. Trace 32: the
    // server half first, the root part after the cut, and the child alone in a third
    // part. Trace 33 is whole in one part.
    let (root_31, server_31) = split_trace(31, at(20));
    let (mut root_32, server_32) = split_trace(32, at(100));
    let child_32 = root_32.pop().expect("child");
    let whole_33 = trace(33, "a", "b", at(30));
    push(
        &ingester,
        [root_31.clone(), server_32.clone(), whole_33.clone()].concat(),
        true,
    )
    .await;
    push(
        &ingester,
        [server_31.clone(), root_32.clone()].concat(),
        true,
    )
    .await;
    push(&ingester, vec![child_32.clone()], false).await;
    traces.push((at(20), [root_31, server_31].concat()));
    traces.push((at(100), [root_32, server_32, vec![child_32]].concat()));
    traces.push((at(30), whole_33));
    check_all(&ingester, &traces, first_bucket).await;
    let everything = TimeWindow {
        start_unix_nanos: first_bucket,
        end_unix_nanos: first_bucket + 5 * DEPENDENCY_BUCKET_NANOS - 1,
    };
    let links = ingester
        .dependencies(&TenantId::single(), everything, 1_000)
        .await
        .expect("reads");
    let calls: Vec<(&str, &str, u64)> = links
        .iter()
        .map(|link| (link.parent.as_str(), link.child.as_str(), link.call_count))
        .collect();
    assert_eq!(calls, [("a", "b", 3), ("a", "c", 2)]);
    ingester.cut_head().await.expect("cut");
    check_all(&ingester, &traces, first_bucket).await;
    ingester.shutdown().await.expect("shuts down");
}

#[tokio::test]
async fn names_merge_the_attribute_catalog_of_heads_and_blocks_within_the_limits() {
    use weft_model::{AttributeScope, CatalogLimits};
    let directory = TempDir::new("catalog");
    let tenant = TenantId::single();
    let mut settings = config(directory.path());
    settings.attribute_catalog = CatalogLimits {
        max_keys_per_scope: 100,
        max_values_per_key: 3,
        max_string_value_bytes: 12,
    };
    let ingester = Ingester::open_local(settings).await.expect("opens");
    let start = now_unix_nanos() - 600 * SECOND_NANOS;
    // Two values of `tier` in a block, two more in the head: over the bound of 3.
    for (tiers, cut) in [(["a", "b"], true), (["c", "d"], false)] {
        let mut spans = Vec::new();
        for (index, tier) in tiers.iter().enumerate() {
            let mut spans_of_trace = trace(20 + index as u64, "svc", "db", start);
            spans_of_trace[0]
                .attributes
                .push(KeyValue::new("tier", *tier));
            spans_of_trace[0]
                .attributes
                .push(KeyValue::new("note", "a string over twelve bytes"));
            spans.extend(spans_of_trace);
        }
        push(&ingester, spans, cut).await;
    }
    let names = ingester.names(&tenant).await.expect("names");
    let span_keys = &names.attributes.scopes[&AttributeScope::Span].keys;
    assert_eq!(span_keys["tier"].strings.len(), 3);
    assert!(
        span_keys["tier"].truncated,
        "the fourth value is over the bound"
    );
    assert!(span_keys["note"].strings.is_empty() && span_keys["note"].truncated);
    assert_eq!(
        span_keys["http.response.status_code"]
            .ints
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![200]
    );
    let resource_keys = &names.attributes.scopes[&AttributeScope::Resource].keys;
    assert!(resource_keys["host.name"].strings.contains("host-1"));
}
