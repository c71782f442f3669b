//! The per-block indexes a merge recomputes from the merged spans: dependency links
//! (a trace split over two inputs is linked once, whole, before and after the merge)
//! and the attribute catalog.

use std::collections::BTreeSet;
use std::sync::Arc;

use weft_compactor::Compactor;
use weft_model::{
    AttributeScope, DependencyLinker, KeyValue, LinkSpan, Resource, Span, SpanId, SpanKind,
    TimeWindow, TraceId, dependency_links,
};

use crate::support::*;

fn rpc_half(id: u64, parent: Option<u64>, kind: SpanKind, service: &str, start: u64) -> Span {
    let mut span = Span::new(TraceId::from_halves(5, 5), SpanId::from_u64(id), "rpc");
    span.parent_span_id = parent.map(SpanId::from_u64);
    span.kind = kind;
    span.resource = Arc::new(Resource::for_service(service));
    span.start_unix_nanos = start;
    span.duration_nanos = 1_000;
    span
}

/// The links over all time as a reader computes them from the blocks alone: the summed
/// buckets, with each split trace linked once, whole, in place of its counted parts; and
/// how many split traces the blocks name.
async fn links(
    store: &Arc<dyn weft_storage::BlockStore>,
    tenant: &weft_model::TenantId,
) -> (Vec<(String, String, u64)>, usize) {
    let everything = TimeWindow {
        start_unix_nanos: 0,
        end_unix_nanos: u64::MAX,
    };
    let mut linker = DependencyLinker::new();
    let mut blocks = Vec::new();
    let mut split_traces = BTreeSet::new();
    for meta in metas(store, tenant).await {
        let block = store
            .open_block(tenant, meta.block_id)
            .await
            .expect("opens");
        let buckets = block
            .dependencies()
            .await
            .expect("reads")
            .expect("has links");
        buckets.sum_whole_buckets(everything, &mut linker);
        split_traces.extend(buckets.split_traces_in(everything));
        blocks.push(block);
    }
    let split_count = split_traces.len();
    for trace_id in split_traces {
        let mut whole = Vec::new();
        for block in &blocks {
            let part = block.trace(trace_id).await.expect("reads");
            let link_spans: Vec<LinkSpan> = part.iter().map(LinkSpan::from_span).collect();
            if LinkSpan::part_is_self_contained(&link_spans) {
                linker.subtract_links(&dependency_links([part.as_slice()]));
            }
            whole.extend(part);
        }
        linker.put_trace(&whole);
    }
    let links = linker
        .links()
        .into_iter()
        .map(|link| (link.parent, link.child, link.call_count))
        .collect();
    (links, split_count)
}

#[tokio::test]
async fn a_merge_links_a_split_trace_once_and_merges_the_catalog() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let tenant = tenant("indexes");
    let base = settled_day();
    // frontend's client span (with a remote service) and backend's server span of the
    // same RPC, cut into two blocks: each part alone links frontend -> backend, but the
    // server's part is not self-contained, so it names the trace, which readers link
    // once, whole.
    let mut client = rpc_half(2, Some(1), SpanKind::Client, "frontend", base + 10);
    client
        .attributes
        .push(KeyValue::new("peer.service", "backend"));
    client
        .attributes
        .push(KeyValue::new("http.status_code", 200i64));
    let root = rpc_half(1, None, SpanKind::Server, "frontend", base);
    let mut server = rpc_half(3, Some(2), SpanKind::Server, "backend", base + 20);
    server.attributes.push(KeyValue::new("cache.hit", true));
    // The server knows its caller too, so alone it links frontend -> backend as well.
    server
        .attributes
        .push(KeyValue::new("peer.service", "frontend"));
    write(&store, &tenant, &[root, client], 0, base).await;
    write(&store, &tenant, &[server], 0, base + 1).await;
    assert_eq!(
        links(&store, &tenant).await,
        (vec![("frontend".into(), "backend".into(), 1)], 1),
        "the split trace counts the call once before the merge"
    );

    let compactor = Compactor::new(Arc::clone(&store), config()).expect("valid config");
    let report = compactor.run_once().await.expect("pass");
    assert_eq!(report.blocks_compacted, 2);
    assert_eq!(
        links(&store, &tenant).await,
        (vec![("frontend".into(), "backend".into(), 1)], 0),
        "the merged trace is self-contained and counts the call once"
    );
    let metas = metas(&store, &tenant).await;
    assert_eq!(metas.len(), 1);
    let span_keys = &metas[0].names.attributes.scopes[&AttributeScope::Span].keys;
    assert_eq!(span_keys["http.status_code"].ints.len(), 1);
    assert!(span_keys["cache.hit"].bools.contains(&true));
    assert!(span_keys.contains_key("peer.service"));
    let resource_keys = &metas[0].names.attributes.scopes[&AttributeScope::Resource].keys;
    assert_eq!(resource_keys["service.name"].strings.len(), 2);
}
