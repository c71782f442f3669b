use weft_model::{AttributeValue, StatusCode};

use super::encode::{write_span, write_varint};
use super::*;

fn full_span(index: u64, resource: &Arc<Resource>) -> Span {
    let mut span = Span::new(
        TraceId::from_halves(7, index),
        SpanId::from_u64(index + 1),
        format!("op-{index}"),
    );
    span.parent_span_id = Some(SpanId::from_u64(99));
    span.trace_state = String::from("k=v");
    span.kind = SpanKind::Client;
    span.start_unix_nanos = 1_700_000_000_000_000_000 + index;
    span.duration_nanos = 1234;
    span.status = Status {
        code: StatusCode::Error,
        message: String::from("boom"),
    };
    span.attributes = vec![
        KeyValue::new("http.method", "GET"),
        KeyValue::new("n", 3i64),
        KeyValue::new("f", AttributeValue::Double(1.5)),
        KeyValue::new(
            "list",
            AttributeValue::Array(vec![AttributeValue::Bool(true)]),
        ),
    ];
    span.events = vec![Event {
        time_unix_nanos: 5,
        name: String::from("cs"),
        attributes: vec![KeyValue::new("a", AttributeValue::Bytes(vec![1, 2]))],
        dropped_attributes_count: 1,
    }];
    span.links = vec![Link {
        trace_id: TraceId::from_halves(1, 2),
        span_id: SpanId::from_u64(3),
        trace_state: String::new(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        flags: 1,
    }];
    span.resource = resource.clone();
    span.flags = 1;
    span.dropped_attributes_count = 2;
    span.dropped_events_count = 3;
    span.dropped_links_count = 4;
    span.shared = true;
    span.debug = true;
    span
}

/// A span that uses every field, every attribute value variant (nested too), and
/// values at the edges of their varint widths.
fn unusual_span(resource: &Arc<Resource>) -> Span {
    let mut span = full_span(7, resource);
    span.trace_id = TraceId::from_halves(u64::MAX, u64::MAX);
    span.parent_span_id = None;
    span.name = String::from("naïve ✓ span");
    span.kind = SpanKind::Consumer;
    span.start_unix_nanos = u64::MAX;
    span.duration_nanos = 0;
    span.status = Status {
        code: StatusCode::Ok,
        message: String::new(),
    };
    span.attributes = vec![
        KeyValue::new("min", AttributeValue::Int(i64::MIN)),
        KeyValue::new("max", AttributeValue::Int(i64::MAX)),
        KeyValue::new("minus one", AttributeValue::Int(-1)),
        KeyValue::new("nan", AttributeValue::Double(f64::NAN)),
        KeyValue::new("negative", AttributeValue::Double(-0.0)),
        KeyValue::new("false", AttributeValue::Bool(false)),
        KeyValue::new("bytes", AttributeValue::Bytes(vec![0; 200])),
        KeyValue::new("empty", AttributeValue::Empty),
        KeyValue::new(
            "nested",
            AttributeValue::KeyValueList(vec![KeyValue::new(
                "inner",
                AttributeValue::Array(vec![
                    AttributeValue::Empty,
                    AttributeValue::KeyValueList(Vec::new()),
                    AttributeValue::String("x".repeat(300)),
                ]),
            )]),
        ),
    ];
    span.events.push(Event {
        time_unix_nanos: 0,
        name: String::new(),
        attributes: Vec::new(),
        dropped_attributes_count: u32::MAX,
    });
    span.links[0].trace_state = String::from("a=b");
    span.links[0].flags = u32::MAX;
    span.flags = u32::MAX;
    span.dropped_attributes_count = 128;
    span.dropped_events_count = 127;
    span.dropped_links_count = 16_384;
    span.shared = false;
    span
}

#[test]
fn hand_written_encoder_matches_serde_postcard_byte_for_byte() {
    let resource = Arc::new(Resource::for_service("frontend"));
    let mut spans: Vec<Span> = (0..3).map(|i| full_span(i, &resource)).collect();
    spans.push(unusual_span(&resource));
    spans.push(Span::new(
        TraceId::from_halves(0, 1),
        SpanId::from_u64(1),
        "",
    ));
    for kind in [
        SpanKind::Unspecified,
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
    ] {
        let mut span = full_span(9, &resource);
        span.kind = kind;
        span.status.code = StatusCode::Unset;
        spans.push(span);
    }
    let indexes: Vec<(u32, u32)> = (0..spans.len() as u32)
        .map(|i| (i * 1000, u32::MAX - i))
        .collect();
    let reference = postcard::to_allocvec(&StoredSpans {
        spans: &spans,
        indexes: &indexes,
    })
    .expect("serde encodes");
    let mut hand_written = Vec::new();
    write_varint(spans.len() as u64, &mut hand_written);
    for (span, &(resource_index, scope_index)) in spans.iter().zip(&indexes) {
        write_span(span, resource_index, scope_index, &mut hand_written);
    }
    assert_eq!(hand_written, reference);
}

#[test]
fn table_header_matches_serde_postcard_and_writers_can_be_reused() {
    #[derive(Serialize)]
    struct TablesRef<'a> {
        resources: &'a [&'a Resource],
        scopes: &'a [&'a InstrumentationScope],
    }
    let frontend = Arc::new(Resource::for_service("frontend"));
    let backend = Arc::new(Resource::for_service("backend"));
    let scope = Arc::new(InstrumentationScope {
        name: String::from("lib"),
        version: String::from("1.0"),
        attributes: vec![KeyValue::new("k", "v")],
    });
    let mut first = full_span(1, &backend);
    first.scope = scope.clone();
    let second = full_span(2, &frontend);
    let mut reused = SpanTableWriter::new();
    let mut bytes = Vec::new();
    for spans in [vec![first.clone(), second.clone()], vec![second.clone()]] {
        reused.add_group(&spans).expect("encodes");
        bytes.clear();
        reused.finish(&mut bytes).expect("finishes");
        let mut fresh = Vec::new();
        encode_spans(&spans, &mut fresh).expect("encodes");
        assert_eq!(bytes, fresh, "a reused writer writes what a fresh one does");
        assert_eq!(decode_spans(&bytes, "test").expect("decodes"), spans);
    }
    // The last table holds only `second`'s resource and scope.
    let header = postcard::to_allocvec(&TablesRef {
        resources: &[&frontend],
        scopes: &[&InstrumentationScope::default()],
    })
    .expect("serde encodes");
    assert_eq!(&bytes[..4], &(header.len() as u32).to_le_bytes());
    assert_eq!(&bytes[4..4 + header.len()], &header[..]);
}

#[test]
fn every_span_field_round_trips() {
    let resource = Arc::new(Resource::for_service("frontend"));
    let spans: Vec<Span> = (0..3).map(|i| full_span(i, &resource)).collect();
    let mut bytes = Vec::new();
    encode_spans(&spans, &mut bytes).expect("encodes");
    let decoded = decode_spans(&bytes, "test").expect("decodes");
    assert_eq!(decoded, spans);
}

#[test]
fn equal_resources_are_stored_once_and_shared_after_decoding() {
    let first = Arc::new(Resource::for_service("frontend"));
    let second = Arc::new(Resource::for_service("frontend"));
    let other = Arc::new(Resource::for_service("backend"));
    let spans: Vec<Span> = (0..1000)
        .map(|i| full_span(i, [&first, &second, &other][i as usize % 3]))
        .collect();
    let mut bytes = Vec::new();
    encode_spans(&spans.iter().collect::<Vec<_>>(), &mut bytes).expect("encodes");
    let mentions = bytes.windows(8).filter(|w| w == b"frontend").count();
    assert_eq!(mentions, 1, "one stored copy of the frontend resource");
    let decoded = decode_spans(&bytes, "test").expect("decodes");
    assert!(Arc::ptr_eq(&decoded[0].resource, &decoded[1].resource));
    assert!(!Arc::ptr_eq(&decoded[0].resource, &decoded[2].resource));
    assert_eq!(decoded, spans);
}

#[test]
fn groups_share_one_resource_table_and_decode_alone() {
    let resource = Arc::new(Resource::for_service("frontend"));
    let first: Vec<Span> = (0..3).map(|i| full_span(i, &resource)).collect();
    let second: Vec<Span> = (3..5).map(|i| full_span(i, &resource)).collect();
    let mut writer = SpanTableWriter::new();
    let first_range = writer.add_group(&first).expect("encodes");
    let second_range = writer.add_group(&second).expect("encodes");
    assert_eq!(first_range.end, second_range.start);
    let mut bytes = Vec::new();
    writer.finish(&mut bytes).expect("finishes");
    let table = SpanTableReader::open(&bytes, "test").expect("opens");
    assert_eq!(table.group(second_range.clone()).expect("decodes"), second);
    assert_eq!(table.group(first_range).expect("decodes"), first);
    assert_eq!(table.all().expect("decodes").len(), 5);
    assert!(
        table
            .group(second_range.start..second_range.end + 1)
            .is_err()
    );
    assert!(table.group(1..second_range.end).is_err());
}

#[test]
fn damaged_tables_are_errors_not_panics() {
    let resource = Arc::new(Resource::for_service("frontend"));
    let spans: Vec<Span> = (0..20).map(|i| full_span(i, &resource)).collect();
    let mut bytes = Vec::new();
    encode_spans(&spans, &mut bytes).expect("encodes");
    for cut in 0..bytes.len() {
        assert!(
            decode_spans(&bytes[..cut], "test").is_err(),
            "truncated at {cut}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(decode_spans(&longer, "test").is_err());
    // Flipping bytes must never panic; it may or may not still decode.
    for position in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[position] ^= 0xff;
        let _ = decode_spans(&flipped, "test");
    }
}

#[test]
fn located_spans_are_the_plain_table_after_the_prefix_and_decode_one_by_one() {
    let frontend = Arc::new(Resource::for_service("frontend"));
    let backend = Arc::new(Resource::for_service("backend"));
    let mut spans: Vec<Span> = (0..6)
        .map(|i| full_span(i, if i % 2 == 0 { &frontend } else { &backend }))
        .collect();
    spans.push(unusual_span(&frontend));
    let located = encode_spans_located(&spans, b"prefix").expect("encodes");
    let mut plain = Vec::new();
    encode_spans(&spans, &mut plain).expect("encodes");
    assert_eq!(&located.bytes[..6], b"prefix");
    assert_eq!(&located.bytes[6..], &plain[..]);
    assert_eq!(located.spans.len(), spans.len());
    assert_eq!(located.resources.len(), 2);
    for (location, span) in located.spans.iter().zip(&spans) {
        assert_eq!(location.start_unix_nanos, span.start_unix_nanos);
        let resource: Resource =
            postcard::from_bytes(located.resource_bytes(location.resource).expect("in range"))
                .expect("decodes");
        assert_eq!(&resource, span.resource.as_ref());
        let bytes = location.span_bytes(&located.bytes).expect("in range");
        let decoded = decode_stored_span(bytes, span.resource.clone(), span.scope.clone(), "test")
            .expect("decodes");
        // Debug text, because the unusual span holds a NaN (never equal to itself).
        assert_eq!(format!("{decoded:?}"), format!("{span:?}"));
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(
            decode_stored_span(&longer, span.resource.clone(), span.scope.clone(), "test").is_err()
        );
    }
}

#[test]
fn stored_spans_copy_into_a_new_table_with_remapped_resources() {
    let frontend = Arc::new(Resource::for_service("frontend"));
    let backend = Arc::new(Resource::for_service("backend"));
    let scope = Arc::new(InstrumentationScope {
        name: String::from("lib"),
        ..InstrumentationScope::default()
    });
    // Two records that list their resources in different orders.
    let mut first: Vec<Span> = vec![full_span(1, &frontend), full_span(2, &backend)];
    first[1].scope = scope.clone();
    let second: Vec<Span> = vec![full_span(3, &backend), unusual_span(&frontend)];
    let records = [
        encode_spans_located(&first, &[]).expect("encodes"),
        encode_spans_located(&second, &[]).expect("encodes"),
    ];
    // The caller's canonical tables: frontend = 0, backend = 1; scopes by value.
    let encoded = |resource: &Resource| postcard::to_allocvec(resource).expect("encodes");
    let resources = [encoded(&frontend), encoded(&backend)];
    let scopes = [
        postcard::to_allocvec(&InstrumentationScope::default()).expect("encodes"),
        postcard::to_allocvec(scope.as_ref()).expect("encodes"),
    ];
    let resource_refs: Vec<&[u8]> = resources.iter().map(Vec::as_slice).collect();
    let scope_refs: Vec<&[u8]> = scopes.iter().map(Vec::as_slice).collect();
    let values = StoredValues {
        resources: &resource_refs,
        scopes: &scope_refs,
    };
    fn stored<'a>(
        record: &'a LocatedSpans,
        index: usize,
        resources: &[Vec<u8>],
        scopes: &[Vec<u8>],
    ) -> StoredSpanBytes<'a> {
        let location = record.spans[index];
        let resource = record.resource_bytes(location.resource).expect("in range");
        let scope = record.scope_bytes(location.scope).expect("in range");
        StoredSpanBytes {
            bytes: location.span_bytes(&record.bytes).expect("in range"),
            indexes_at: location.indexes_at as usize,
            resource_id: resources.iter().position(|r| r == resource).expect("known") as u32,
            scope_id: scopes.iter().position(|s| s == scope).expect("known") as u32,
        }
    }
    let stored = |record, index| stored(record, index, &resources, &scopes);
    let mut writer = SpanTableWriter::new();
    // Trace groups: backend spans first so that the new table's order differs again.
    let group_one = writer
        .add_stored_group(&[stored(&records[1], 0), stored(&records[0], 1)], values)
        .expect("copies");
    let group_two = writer
        .add_stored_group(&[stored(&records[0], 0), stored(&records[1], 1)], values)
        .expect("copies");
    let mut bytes = Vec::new();
    writer.finish(&mut bytes).expect("finishes");
    let table = SpanTableReader::open(&bytes, "test").expect("opens");
    let debug = |spans: Vec<Span>| format!("{spans:?}");
    assert_eq!(
        debug(table.group(group_one).expect("decodes")),
        debug(vec![second[0].clone(), first[1].clone()])
    );
    assert_eq!(
        debug(table.group(group_two).expect("decodes")),
        debug(vec![first[0].clone(), second[1].clone()])
    );

    let mut bad = stored(&records[0], 0);
    bad.resource_id = 7;
    assert!(
        SpanTableWriter::new()
            .add_stored_group(&[bad], values)
            .is_err()
    );
    let mut bad = stored(&records[0], 0);
    bad.indexes_at = bad.bytes.len() + 1;
    assert!(
        SpanTableWriter::new()
            .add_stored_group(&[bad], values)
            .is_err()
    );
    let mut mixed = SpanTableWriter::new();
    mixed.add_group(&first).expect("encodes");
    assert!(
        mixed
            .add_stored_group(&[stored(&records[0], 0)], values)
            .is_err()
    );
}
