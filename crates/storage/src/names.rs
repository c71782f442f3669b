//! Collecting the names of many spans cheaply.
//!
//! [`NameIndex::add_span`] allocates and walks B-trees for every span. Block writing and
//! the ingester's push path see the same few names over and over, so [`NameCollector`]
//! gathers them as borrowed strings in hash sets first (a span whose names were already
//! seen costs a few hash lookups and no allocation) and copies each distinct name once,
//! when the names are merged into or turned into a [`NameIndex`].

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use foldhash::{HashMap, HashSet};
use weft_model::{NameIndex, Span};

/// The names of a set of spans, borrowed from them. Gives the same result as calling
/// [`NameIndex::add_span`] for every span: spans without a service add nothing; names
/// are the span name (when not empty), the remote service, and the values of
/// `indexed_keys` (rendered with `AttributeValue::to_text`).
pub struct NameCollector<'a, 'k> {
    indexed_keys: &'k [String],
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
}

impl<'a, 'k> NameCollector<'a, 'k> {
    /// An empty collector that keeps the values of `indexed_keys`.
    pub fn new(indexed_keys: &'k [String]) -> Self {
        NameCollector {
            indexed_keys,
            service_of_resource: HashMap::default(),
            last_resource: None,
            services: HashSet::default(),
            span_names: HashSet::default(),
            remote_services: HashSet::default(),
            attribute_values: HashSet::default(),
        }
    }

    /// Adds the span's names and returns its service (`span.service_name()`), which is
    /// looked up once per distinct resource.
    pub fn add_span(&mut self, span: &'a Span) -> Option<&'a str> {
        let resource = Arc::as_ptr(&span.resource) as usize;
        let service = match self.last_resource {
            Some((last, service)) if last == resource => service,
            _ => {
                let service = *self
                    .service_of_resource
                    .entry(resource)
                    .or_insert_with(|| span.resource.service_name());
                self.last_resource = Some((resource, service));
                service
            }
        };
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

    /// True when no span with a service was added.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
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
        let mut collector = NameCollector::new(&keys);
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
