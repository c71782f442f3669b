use std::sync::Arc;

use weft_model::{CatalogLimits, Resource, SpanId};

use super::*;
use crate::wal::encode_record;

fn span(trace: u64, id: u64, parent: Option<u64>, start: u64) -> Span {
    let mut span = Span::new(TraceId::from_halves(0, trace), SpanId::from_u64(id), "op");
    span.parent_span_id = parent.map(SpanId::from_u64);
    span.start_unix_nanos = start;
    span.resource = Arc::new(Resource::for_service("svc"));
    span
}

fn insert(head: &Head, tenant: &TenantId, spans: &[Span]) -> InsertStats {
    let record = Arc::new(encode_record(tenant, spans).expect("encodes"));
    head.insert(tenant, spans, record, &[], CatalogLimits::default())
        .expect("inserts")
}

#[test]
fn inserts_are_indexed_by_trace_with_running_digests() {
    let head = Head::new(3);
    assert!(head.is_empty());
    let tenant = TenantId::single();
    let stats = insert(
        &head,
        &tenant,
        &[
            span(1, 2, Some(1), 50),
            span(2, 1, None, 70),
            span(1, 1, None, 100),
        ],
    );
    assert_eq!(stats.spans, 3);
    assert_eq!(stats.new_traces, 2);
    assert!(stats.bytes > 0);
    assert_eq!(head.bytes(), stats.bytes);
    assert!(head.first_insert().is_some());
    let tenant_head = head.tenant(&tenant).expect("tenant");
    assert_eq!(tenant_head.span_count(TraceId::from_halves(0, 1)), 2);
    assert_eq!(tenant_head.largest_trace_spans(), 2);
    let digest = tenant_head
        .digest(TraceId::from_halves(0, 1))
        .expect("digest");
    assert_eq!(
        digest.timestamp_unix_nanos(),
        100,
        "root start wins over the earlier child"
    );
    let window = TimeWindow {
        start_unix_nanos: 60,
        end_unix_nanos: 100,
    };
    let mut ids = tenant_head.trace_ids_in_window(window);
    ids.sort();
    assert_eq!(
        ids,
        vec![TraceId::from_halves(0, 1), TraceId::from_halves(0, 2)]
    );
    assert!(
        head.tenant(&TenantId::parse("other").expect("tenant"))
            .is_none()
    );
}

#[test]
fn traces_decode_from_the_kept_records_with_shared_resources() {
    let head = Head::new(1);
    let tenant = TenantId::single();
    let first = [span(1, 2, Some(1), 50), span(2, 1, None, 70)];
    let second = [span(1, 1, None, 100), span(1, 3, Some(1), 60)];
    insert(&head, &tenant, &first);
    let before = head.bytes();
    insert(&head, &tenant, &second);
    assert!(head.bytes() > before);
    let tenant_head = head.tenant(&tenant).expect("tenant");
    let trace = tenant_head
        .trace(TraceId::from_halves(0, 1))
        .expect("decodes");
    assert_eq!(
        trace,
        vec![first[0].clone(), second[0].clone(), second[1].clone()],
        "arrival order"
    );
    assert!(
        Arc::ptr_eq(&trace[0].resource, &trace[2].resource),
        "equal resources of two records are one value"
    );
    assert!(
        tenant_head
            .trace(TraceId::from_halves(0, 9))
            .expect("empty")
            .is_empty()
    );
}

#[test]
fn trace_ids_come_sorted_and_traces_decode_whole() {
    let head = Head::new(1);
    let tenant = TenantId::single();
    insert(
        &head,
        &tenant,
        &[span(2, 1, None, 70), span(1, 2, Some(1), 50)],
    );
    insert(
        &head,
        &tenant,
        &[span(1, 1, None, 100), span(1, 3, Some(1), 40)],
    );
    let tenant_head = head.tenant(&tenant).expect("tenant");
    assert_eq!(
        tenant_head.sorted_trace_ids(),
        vec![TraceId::from_halves(0, 1), TraceId::from_halves(0, 2)]
    );
    let mut starts: Vec<u64> = tenant_head
        .trace(TraceId::from_halves(0, 1))
        .expect("decodes")
        .iter()
        .map(|span| span.start_unix_nanos)
        .collect();
    starts.sort_unstable();
    assert_eq!(starts, vec![40, 50, 100]);
    assert!(tenant_head.names().services.contains("svc"));
}

#[test]
fn a_record_that_does_not_match_its_spans_is_refused() {
    let head = Head::new(1);
    let tenant = TenantId::single();
    let spans = [span(1, 1, None, 10), span(1, 2, Some(1), 20)];
    let record = Arc::new(encode_record(&tenant, &spans[..1]).expect("encodes"));
    assert_eq!(
        head.insert(&tenant, &spans, record, &[], CatalogLimits::default()),
        Err(InsertError::RecordMismatch(2))
    );
}

#[test]
fn copies_of_spans_already_in_the_head_are_not_added_again() {
    let head = Head::new(0);
    let tenant = TenantId::single();
    let first = [span(1, 1, None, 100), span(1, 2, Some(1), 110)];
    assert_eq!(insert(&head, &tenant, &first).spans, 2);

    // Another scraper's copy of the same spans, in a record with other spans first (so
    // the resource and scope indexes and positions differ), plus a span that differs
    // from span 2 only in its start.
    let moved = span(1, 2, Some(1), 111);
    let second = [
        span(7, 1, None, 5),
        span(1, 2, Some(1), 110),
        span(1, 1, None, 100),
        moved,
    ];
    let tenant_head = head.tenant(&tenant).expect("tenant");
    let record = encode_record(&tenant, &second).expect("encodes");
    assert_eq!(tenant_head.duplicates(&second, &record), vec![1, 2]);
    let stats = insert(&head, &tenant, &second);
    assert_eq!(stats.duplicates, 2);
    assert_eq!(stats.spans, 2);
    assert_eq!(tenant_head.span_count(TraceId::from_halves(0, 1)), 3);
    assert_eq!(tenant_head.span_total(), 4);
    let starts: Vec<u64> = tenant_head
        .trace(TraceId::from_halves(0, 1))
        .expect("reads")
        .iter()
        .map(|span| span.start_unix_nanos)
        .collect();
    assert_eq!(starts, vec![100, 110, 111]);
}

#[test]
fn a_span_with_another_resource_or_a_copy_within_one_record_is_told_apart() {
    let head = Head::new(0);
    let tenant = TenantId::single();
    insert(&head, &tenant, &[span(1, 1, None, 100)]);
    let mut elsewhere = span(1, 1, None, 100);
    elsewhere.resource = Arc::new(Resource::for_service("other"));
    let tenant_head = head.tenant(&tenant).expect("tenant");
    let record = encode_record(&tenant, &[elsewhere.clone()]).expect("encodes");
    assert!(
        tenant_head
            .duplicates(std::slice::from_ref(&elsewhere), &record)
            .is_empty(),
        "same bytes under another resource are another span"
    );
    let stats = insert(&head, &tenant, &[elsewhere.clone(), elsewhere]);
    assert_eq!((stats.spans, stats.duplicates), (1, 1));
    assert_eq!(tenant_head.span_count(TraceId::from_halves(0, 1)), 2);
}

#[test]
fn traces_past_the_dedupe_bound_are_not_checked() {
    let head = Head::new(0);
    let tenant = TenantId::single();
    let spans: Vec<Span> = (1..=DEDUPE_MAX_TRACE_SPANS as u64 + 1)
        .map(|id| span(1, id, None, id))
        .collect();
    insert(&head, &tenant, &spans);
    let again = [span(1, 1, None, 1)];
    let tenant_head = head.tenant(&tenant).expect("tenant");
    let record = encode_record(&tenant, &again).expect("encodes");
    assert!(tenant_head.duplicates(&again, &record).is_empty());
    assert_eq!(insert(&head, &tenant, &again).duplicates, 0);
}
