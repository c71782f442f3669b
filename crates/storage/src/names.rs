//! Collecting the names of many spans cheaply.
//!
//! [`NameIndex::add_span`] allocates and walks B-trees for every span. Block writing and
//! the ingester's push path see the same few names over and over, so [`NameCollector`]
//! gathers them as borrowed strings in hash sets first (a span whose names were already
//! seen costs a few hash lookups and no allocation) and copies each distinct name once,
//! when the names are merged into or turned into a [`NameIndex`]. The attribute catalog
//! ([`weft_model::AttributeCatalog`]) is gathered the same way: span, event and link
//! attributes per span, resource and instrumentation-scope attributes once per distinct
//! resource and scope.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use foldhash::{HashMap, HashSet};
use weft_model::{
    AttributeScope, CatalogGrowth, CatalogLimits, CatalogValueRef, KeyValue, NameIndex, Span,
};

/// The names of a set of spans, borrowed from them. Gives the same result as calling
/// [`NameIndex::add_span`] for every span: spans without a service add nothing; names
/// are the span name (when not empty), the remote service, and the values of
/// `indexed_keys` (rendered with `AttributeValue::to_text`); every span (with a service
/// or not) adds its attributes to the catalog.
pub struct NameCollector<'a, 'k> {
    indexed_keys: &'k [String],
    catalog_limits: CatalogLimits,
    /// Resource address -> its service name. Spans are borrowed for `'a`, so their
    /// resources stay alive and no address is reused by another resource meanwhile.
    service_of_resource: HashMap<usize, Option<&'a str>>,
    /// The most recent entry of `service_of_resource` (neighbouring spans share one).
    last_resource: Option<(usize, Option<&'a str>)>,
    services: HashSet<&'a str>,
    span_names: HashSet<(&'a str, &'a str)>,
    remote_services: HashSet<(&'a str, &'a str)>,
    /// (index into `indexed_keys`, value text).
    attribute_values: HashSet<(usize, Cow<'a, str>)>,
    /// Addresses of the instrumentation scopes whose attributes were added.
    seen_scopes: HashSet<usize>,
    last_scope: Option<usize>,
    /// Attributes for the catalog, as (scope, key, value).
    catalog_entries: HashSet<(AttributeScope, &'a str, CatalogValueRef<'a>)>,
    /// The previous span's attributes: neighbouring spans mostly repeat them, and
    /// comparing with them is cheaper than hashing.
    previous_span_attributes: &'a [KeyValue],
}

impl<'a, 'k> NameCollector<'a, 'k> {
    /// An empty collector that keeps the values of `indexed_keys`, and string values of
    /// the catalog up to `catalog_limits.max_string_value_bytes` (the other bounds apply
    /// when merging into an index, with the index's limits).
    pub fn new(indexed_keys: &'k [String], catalog_limits: CatalogLimits) -> Self {
        NameCollector {
            indexed_keys,
            catalog_limits,
            service_of_resource: HashMap::default(),
            last_resource: None,
            services: HashSet::default(),
            span_names: HashSet::default(),
            remote_services: HashSet::default(),
            attribute_values: HashSet::default(),
            seen_scopes: HashSet::default(),
            last_scope: None,
            catalog_entries: HashSet::default(),
            previous_span_attributes: &[],
        }
    }

    fn add_catalog_entries(&mut self, scope: AttributeScope, attributes: &'a [KeyValue]) {
        for attribute in attributes {
            let value = CatalogValueRef::of(&attribute.value, &self.catalog_limits);
            self.catalog_entries.insert((scope, &attribute.key, value));
        }
    }

    /// Adds the span's names and returns its service (`span.service_name()`), which is
    /// looked up once per distinct resource.
    pub fn add_span(&mut self, span: &'a Span) -> Option<&'a str> {
        let catalog_on = self.catalog_limits.max_keys_per_scope > 0;
        let resource = Arc::as_ptr(&span.resource) as usize;
        let service = match self.last_resource {
            Some((last, service)) if last == resource => service,
            _ => {
                let service = match self.service_of_resource.get(&resource) {
                    Some(service) => *service,
                    None => {
                        let service = span.resource.service_name();
                        self.service_of_resource.insert(resource, service);
                        if catalog_on {
                            self.add_catalog_entries(
                                AttributeScope::Resource,
                                &span.resource.attributes,
                            );
                        }
                        service
                    }
                };
                self.last_resource = Some((resource, service));
                service
            }
        };
        if catalog_on {
            self.add_span_attributes(span);
        }
        let service = service?;
        self.services.insert(service);
        if !span.name.is_empty() {
            self.span_names.insert((service, &span.name));
        }
        if let Some(remote) = span.remote_service_name() {
            self.remote_services.insert((service, remote));
        }
        for (key_index, key) in self.indexed_keys.iter().enumerate() {
            if let Some(value) = span.attribute(key) {
                let text = match value.as_str() {
                    Some(text) => Cow::Borrowed(text),
                    None => Cow::Owned(value.to_text()),
                };
                self.attribute_values.insert((key_index, text));
            }
        }
        Some(service)
    }

    /// Adds the span's catalog entries: span, event and link attributes, and those of
    /// its instrumentation scope when the scope is new.
    fn add_span_attributes(&mut self, span: &'a Span) {
        let scope = Arc::as_ptr(&span.scope) as usize;
        if self.last_scope != Some(scope) {
            if self.seen_scopes.insert(scope) {
                self.add_catalog_entries(AttributeScope::Instrumentation, &span.scope.attributes);
            }
            self.last_scope = Some(scope);
        }
        for (index, attribute) in span.attributes.iter().enumerate() {
            if self.previous_span_attributes.get(index) == Some(attribute) {
                continue;
            }
            let value = CatalogValueRef::of(&attribute.value, &self.catalog_limits);
            self.catalog_entries
                .insert((AttributeScope::Span, &attribute.key, value));
        }
        self.previous_span_attributes = &span.attributes;
        for event in &span.events {
            self.add_catalog_entries(AttributeScope::Event, &event.attributes);
        }
        for link in &span.links {
            self.add_catalog_entries(AttributeScope::Link, &link.attributes);
        }
    }

    /// True when no span with a service and no attribute was added.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.catalog_entries.is_empty()
    }

    /// Adds the names `names` lacks, copying only those. Returns what was copied.
    pub fn merge_into(&self, names: &mut NameIndex) -> CopiedNames {
        let mut copied = CopiedNames::default();
        for &service in &self.services {
            if !names.services.contains(service) {
                names.services.insert(service.to_owned());
                copied.add(service);
            }
        }
        for &(service, name) in &self.span_names {
            insert_nested(&mut names.span_names, service, name, &mut copied);
        }
        for &(service, remote) in &self.remote_services {
            insert_nested(&mut names.remote_services, service, remote, &mut copied);
        }
        for (key_index, value) in &self.attribute_values {
            insert_nested(
                &mut names.attribute_values,
                &self.indexed_keys[*key_index],
                value,
                &mut copied,
            );
        }
        let mut growth = CatalogGrowth::default();
        for &(scope, key, value) in &self.catalog_entries {
            names.attributes.insert(scope, key, value, &mut growth);
        }
        copied.strings += growth.strings;
        copied.bytes += growth.bytes;
        copied.values += growth.values;
        copied
    }

    /// The collected names as a [`NameIndex`].
    pub fn into_name_index(self) -> NameIndex {
        let mut names = NameIndex::default();
        self.merge_into(&mut names);
        names
    }
}

/// What [`NameCollector::merge_into`] copied into an index.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CopiedNames {
    /// Strings allocated (names and new map keys).
    pub strings: usize,
    /// Their total length in bytes.
    pub bytes: usize,
    /// Non-string catalog values added (integers, floats, booleans).
    pub values: usize,
}

impl CopiedNames {
    fn add(&mut self, text: &str) {
        self.strings += 1;
        self.bytes += text.len();
    }
}

fn insert_nested(
    map: &mut BTreeMap<String, BTreeSet<String>>,
    key: &str,
    value: &str,
    copied: &mut CopiedNames,
) {
    match map.get_mut(key) {
        Some(values) => {
            if !values.contains(value) {
                values.insert(value.to_owned());
                copied.add(value);
            }
        }
        None => {
            map.insert(key.to_owned(), BTreeSet::from([value.to_owned()]));
            copied.add(key);
            copied.add(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use weft_model::{AttributeValue, KeyValue, Resource, SpanId, SpanKind, TraceId};

    use super::*;

    fn span(service: Option<&str>, name: &str, kind: SpanKind, attributes: Vec<KeyValue>) -> Span {
        let mut span = Span::new(TraceId::from_halves(0, 1), SpanId::from_u64(1), name);
        span.kind = kind;
        span.attributes = attributes;
        span.resource = Arc::new(service.map(Resource::for_service).unwrap_or_default());
        span
    }

    #[test]
    fn collects_what_name_index_add_span_collects() {
        let keys = vec![String::from("http.request.method"), String::from("code")];
        let spans = vec![
            span(
                Some("frontend"),
                "GET /",
                SpanKind::Server,
                vec![KeyValue::new("http.request.method", "GET")],
            ),
            span(
                Some("frontend"),
                "call",
                SpanKind::Client,
                vec![
                    KeyValue::new("server.address", "db-host"),
                    KeyValue::new("code", AttributeValue::Int(7)),
                ],
            ),
            span(
                Some("backend"),
                "",
                SpanKind::Internal,
                vec![KeyValue::new("peer.service", "cache")],
            ),
            span(
                None,
                "orphan",
                SpanKind::Server,
                vec![KeyValue::new("http.request.method", "PUT")],
            ),
            span(Some("frontend"), "GET /", SpanKind::Server, Vec::new()),
        ];
        let mut expected = NameIndex::default();
        let mut collector = NameCollector::new(&keys, CatalogLimits::default());
        for span in &spans {
            expected.add_span(span, &keys);
            assert_eq!(collector.add_span(span), span.service_name());
        }
        let mut merged = NameIndex::default();
        merged.services.insert(String::from("already-there"));
        let copied = collector.merge_into(&mut merged);
        assert!(copied.strings > 5 && copied.bytes > copied.strings);
        assert_eq!(
            collector.merge_into(&mut merged),
            CopiedNames::default(),
            "nothing new the second time"
        );
        assert_eq!(collector.into_name_index(), expected);
        assert!(merged.services.contains("already-there"));
        assert!(merged.services.contains("backend"));
        assert_eq!(
            merged.attribute_values["code"],
            BTreeSet::from([String::from("7")])
        );
    }
}
