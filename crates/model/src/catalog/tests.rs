use std::sync::Arc;

use super::*;
use crate::{Event, InstrumentationScope, Link, Resource, SpanId, TraceId};

fn limits(keys: usize, values: usize, bytes: usize) -> CatalogLimits {
    CatalogLimits {
        max_keys_per_scope: keys,
        max_values_per_key: values,
        max_string_value_bytes: bytes,
    }
}

fn span_with(attributes: Vec<KeyValue>) -> Span {
    let mut span = Span::new(TraceId::from_halves(0, 1), SpanId::from_u64(1), "op");
    span.attributes = attributes;
    span
}

fn values<'a>(catalog: &'a AttributeCatalog, scope: AttributeScope, key: &str) -> &'a KeyValues {
    &catalog.scopes[&scope].keys[key]
}

#[test]
fn every_scope_is_collected_with_typed_values() {
    let mut span = span_with(vec![
        KeyValue::new("http.route", "/a"),
        KeyValue::new("http.status_code", 200i64),
        KeyValue::new("ratio", AttributeValue::Double(0.5)),
        KeyValue::new("cached", true),
        KeyValue::new("blob", AttributeValue::Bytes(vec![1, 2])),
        KeyValue::new("nan", AttributeValue::Double(f64::NAN)),
    ]);
    let mut resource = Resource::for_service("frontend");
    resource.attributes.push(KeyValue::new("host.name", "h1"));
    span.resource = Arc::new(resource);
    span.scope = Arc::new(InstrumentationScope {
        name: String::from("lib"),
        version: String::new(),
        attributes: vec![KeyValue::new("scope.flag", false)],
    });
    span.events.push(Event {
        time_unix_nanos: 0,
        name: String::from("exception"),
        attributes: vec![KeyValue::new("exception.type", "IOError")],
        dropped_attributes_count: 0,
    });
    span.links.push(Link {
        trace_id: TraceId::from_halves(0, 2),
        span_id: SpanId::from_u64(2),
        trace_state: String::new(),
        flags: 0,
        attributes: vec![KeyValue::new("link.kind", 3i64)],
        dropped_attributes_count: 0,
    });
    let mut catalog = AttributeCatalog::default();
    catalog.add_span(&span);

    let resource = values(&catalog, AttributeScope::Resource, "service.name");
    assert_eq!(resource.strings, BTreeSet::from([String::from("frontend")]));
    assert!(
        values(&catalog, AttributeScope::Resource, "host.name")
            .strings
            .contains("h1")
    );
    assert_eq!(
        values(&catalog, AttributeScope::Instrumentation, "scope.flag").bools,
        BTreeSet::from([false])
    );
    assert!(
        values(&catalog, AttributeScope::Event, "exception.type")
            .strings
            .contains("IOError")
    );
    assert_eq!(
        values(&catalog, AttributeScope::Link, "link.kind").ints,
        BTreeSet::from([3])
    );
    assert_eq!(
        values(&catalog, AttributeScope::Span, "http.status_code").ints,
        BTreeSet::from([200])
    );
    assert_eq!(
        values(&catalog, AttributeScope::Span, "ratio").floats,
        BTreeSet::from([CatalogFloat(0.5)])
    );
    assert_eq!(
        values(&catalog, AttributeScope::Span, "cached").bools,
        BTreeSet::from([true])
    );
    // Keys of untyped values are listed without values and without a truncation flag.
    for key in ["blob", "nan"] {
        let untyped = values(&catalog, AttributeScope::Span, key);
        assert!(untyped.is_empty() && !untyped.truncated, "{key}");
    }
    let types: Vec<&str> = ["http.route", "http.status_code", "ratio", "cached"]
        .iter()
        .map(|key| values(&catalog, AttributeScope::Span, key).iter().next())
        .map(|value| match value {
            Some(CatalogValueRef::String(_)) => "string",
            Some(CatalogValueRef::Int(_)) => "int",
            Some(CatalogValueRef::FloatBits(_)) => "float",
            Some(CatalogValueRef::Bool(_)) => "bool",
            _ => "none",
        })
        .collect();
    assert_eq!(types, ["string", "int", "float", "bool"]);
    assert_eq!(
        AttributeScope::parse("instrumentation"),
        Some(AttributeScope::Instrumentation)
    );
    assert_eq!(AttributeScope::parse("intrinsic"), None);
}

#[test]
fn bounds_leave_out_keys_values_and_long_strings_and_flag_them() {
    let mut catalog = AttributeCatalog::with_limits(limits(2, 3, 4));
    let mut growth = CatalogGrowth::default();
    for value in ["a", "b", "a", "c", "d"] {
        catalog.insert(
            AttributeScope::Span,
            "k",
            CatalogValueRef::String(value),
            &mut growth,
        );
    }
    let k = values(&catalog, AttributeScope::Span, "k");
    assert_eq!(k.len(), 3);
    assert!(k.truncated, "the fourth distinct value is over the bound");
    assert_eq!((growth.strings, growth.bytes), (4, 4), "key k and a, b, c");

    let long = AttributeValue::String(String::from("12345"));
    let short = AttributeValue::String(String::from("1234"));
    let bounds = catalog.limits;
    catalog.insert(
        AttributeScope::Span,
        "s",
        CatalogValueRef::of(&short, &bounds),
        &mut growth,
    );
    catalog.insert(
        AttributeScope::Span,
        "s",
        CatalogValueRef::of(&long, &bounds),
        &mut growth,
    );
    let s = values(&catalog, AttributeScope::Span, "s");
    assert_eq!(s.strings, BTreeSet::from([String::from("1234")]));
    assert!(
        s.truncated,
        "a string over the length bound is left out and flagged"
    );

    catalog.insert(
        AttributeScope::Span,
        "third",
        CatalogValueRef::Int(1),
        &mut growth,
    );
    let span_scope = &catalog.scopes[&AttributeScope::Span];
    assert_eq!(span_scope.keys.len(), 2);
    assert!(span_scope.keys_truncated);
    assert!(!catalog.scopes.contains_key(&AttributeScope::Resource));

    // A known value costs nothing.
    let before = growth;
    catalog.insert(
        AttributeScope::Span,
        "k",
        CatalogValueRef::String("a"),
        &mut growth,
    );
    assert_eq!(growth, before);
}

#[test]
fn merges_stay_within_the_receiving_bounds_and_keep_flags() {
    let mut left = AttributeCatalog::with_limits(limits(10, 3, 256));
    let mut right = AttributeCatalog::with_limits(limits(10, 10, 256));
    let mut growth = CatalogGrowth::default();
    for number in 0..2 {
        left.insert(
            AttributeScope::Span,
            "n",
            CatalogValueRef::Int(number),
            &mut growth,
        );
    }
    for number in 1..5 {
        right.insert(
            AttributeScope::Span,
            "n",
            CatalogValueRef::Int(number),
            &mut growth,
        );
    }
    right.insert(
        AttributeScope::Resource,
        "r",
        CatalogValueRef::TooLong,
        &mut growth,
    );
    right
        .scopes
        .entry(AttributeScope::Link)
        .or_default()
        .keys_truncated = true;
    let copied = left.merge(&right);
    let n = values(&left, AttributeScope::Span, "n");
    assert_eq!(n.ints, BTreeSet::from([0, 1, 2]));
    assert!(n.truncated);
    assert!(values(&left, AttributeScope::Resource, "r").truncated);
    assert!(left.scopes[&AttributeScope::Link].keys_truncated);
    assert_eq!(
        (copied.strings, copied.values),
        (1, 1),
        "key r and the value 2"
    );
    assert!(!left.is_empty());
    assert!(AttributeCatalog::default().is_empty());
}
