//! Spans encoded once, at push, to their OTLP protobuf bytes, and the assembly of those
//! bytes into an `ExportTraceServiceRequest` body without decoding or re-encoding them.
//!
//! Protobuf lets the fields of a message come in any order and concatenated encodings of
//! a message merge, so a `ScopeSpans` is its pre-encoded header (scope and schema URL,
//! encoded with no spans) followed by one length-delimited field 2 per span, and a
//! `ResourceSpans` is its header (resource and schema URL) followed by one field 2 per
//! `ScopeSpans`. Building a response is then length arithmetic and memory copies.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

/// Field number of `ExportTraceServiceRequest.resource_spans`.
const REQUEST_RESOURCE_SPANS_FIELD: u32 = 1;
/// Field number of `ResourceSpans.scope_spans`.
const RESOURCE_SCOPE_SPANS_FIELD: u32 = 2;
/// Field number of `ScopeSpans.spans`.
const SCOPE_SPANS_FIELD: u32 = 2;
/// Bytes of a field key for field numbers below 16.
const FIELD_KEY_BYTES: usize = 1;
/// The longest a length varint can be: used where the length is not known yet.
const MAX_LENGTH_VARINT_BYTES: usize = 10;

/// A resource (its attributes and schema URL) encoded once as the fields of an OTLP
/// `ResourceSpans` other than `scope_spans`. Spans sharing one `Arc<EncodedResource>`
/// are grouped under one `ResourceSpans` in a response.
#[derive(Debug)]
pub struct EncodedResource {
    header: Bytes,
}

impl EncodedResource {
    /// Encodes `resource` (absent: no resource field) and its `schema_url` (empty: none).
    pub fn new(resource: Option<Resource>, schema_url: String) -> Self {
        let header = ResourceSpans {
            resource,
            scope_spans: Vec::new(),
            schema_url,
        }
        .encode_to_vec();
        Self {
            header: Bytes::from(header),
        }
    }

    /// A resource with no attributes and no schema URL.
    pub fn empty() -> Self {
        Self::new(None, String::new())
    }
}

/// An instrumentation scope encoded once as the fields of an OTLP `ScopeSpans` other than
/// `spans`, tied to the resource its spans belong to. Spans sharing one
/// `Arc<EncodedScope>` are grouped under one `ScopeSpans` in a response.
#[derive(Debug)]
pub struct EncodedScope {
    resource: Arc<EncodedResource>,
    header: Bytes,
}

impl EncodedScope {
    /// Encodes `scope` (absent: no scope field) and its `schema_url` (empty: none) for
    /// spans of `resource`.
    pub fn new(
        resource: Arc<EncodedResource>,
        scope: Option<InstrumentationScope>,
        schema_url: String,
    ) -> Self {
        let header = ScopeSpans {
            scope,
            spans: Vec::new(),
            schema_url,
        }
        .encode_to_vec();
        Self {
            resource,
            header: Bytes::from(header),
        }
    }

    /// The resource this scope's spans belong to.
    pub fn resource(&self) -> &Arc<EncodedResource> {
        &self.resource
    }
}

/// One span as its OTLP protobuf `Span` encoding plus the scope (and through it the
/// resource) it was recorded under. Cloning is cheap: two reference-count increments.
#[derive(Debug, Clone)]
pub struct EncodedSpan {
    scope: Arc<EncodedScope>,
    span_bytes: Bytes,
}

impl EncodedSpan {
    /// Encodes `span` for `scope`.
    pub fn new(scope: Arc<EncodedScope>, span: &Span) -> Self {
        Self {
            scope,
            span_bytes: Bytes::from(span.encode_to_vec()),
        }
    }

    /// Wraps bytes that already are the protobuf encoding of one OTLP `Span`. They are
    /// not checked here; bytes that are not a valid `Span` make the whole response body
    /// undecodable for the scraper.
    pub fn from_encoded(scope: Arc<EncodedScope>, span_bytes: Bytes) -> Self {
        Self { scope, span_bytes }
    }

    /// The span's protobuf encoding.
    pub fn span_bytes(&self) -> &Bytes {
        &self.span_bytes
    }

    /// The scope the span was recorded under.
    pub fn scope(&self) -> &Arc<EncodedScope> {
        &self.scope
    }
}

fn length_delimited_len(payload_bytes: usize) -> usize {
    FIELD_KEY_BYTES + encoded_len_varint(payload_bytes as u64) + payload_bytes
}

/// Writes the key and length of a length-delimited field whose payload follows.
fn put_field_prefix(field: u32, payload_bytes: usize, body: &mut BytesMut) {
    encode_key(field, WireType::LengthDelimited, body);
    encode_varint(payload_bytes as u64, body);
}

fn pointer_key<T>(value: &Arc<T>) -> usize {
    Arc::as_ptr(value) as usize
}

/// Tracks an upper bound of the body that [`encode_export_request`] would produce for the
/// spans offered so far, so a reader can stop before a byte budget is exceeded.
///
/// The bound counts each span exactly and each new scope or resource group with the
/// longest possible length prefix, so the real body is never larger than the bound.
#[derive(Debug, Default)]
pub(crate) struct BodySizeBound {
    bound_bytes: u64,
    scopes_seen: std::collections::HashSet<usize>,
    resources_seen: std::collections::HashSet<usize>,
}

impl BodySizeBound {
    /// The bound after adding `span`, without adding it.
    pub(crate) fn bound_with(&self, span: &EncodedSpan) -> u64 {
        let mut added = length_delimited_len(span.span_bytes.len());
        if !self.scopes_seen.contains(&pointer_key(&span.scope)) {
            added += FIELD_KEY_BYTES + MAX_LENGTH_VARINT_BYTES + span.scope.header.len();
            if !self
                .resources_seen
                .contains(&pointer_key(&span.scope.resource))
            {
                added +=
                    FIELD_KEY_BYTES + MAX_LENGTH_VARINT_BYTES + span.scope.resource.header.len();
            }
        }
        self.bound_bytes.saturating_add(added as u64)
    }

    /// Adds `span`; returns the new bound.
    pub(crate) fn add(&mut self, span: &EncodedSpan) -> u64 {
        self.bound_bytes = self.bound_with(span);
        self.scopes_seen.insert(pointer_key(&span.scope));
        self.resources_seen
            .insert(pointer_key(&span.scope.resource));
        self.bound_bytes
    }
}

struct ScopeGroup<'a> {
    scope: &'a EncodedScope,
    spans: Vec<&'a Bytes>,
    encoded_len: usize,
}

struct ResourceGroup<'a> {
    resource: &'a EncodedResource,
    scopes: Vec<ScopeGroup<'a>>,
    encoded_len: usize,
}

/// Encodes `spans` as one OTLP `ExportTraceServiceRequest`.
///
/// Spans are grouped by resource, then by scope (grouping is by `Arc` identity of
/// [`EncodedResource`] and [`EncodedScope`]); groups appear in the order of their first
/// span and, within a `ScopeSpans`, spans keep the order of `spans`. An empty slice gives
/// an empty body (the encoding of an empty request).
pub fn encode_export_request(spans: &[EncodedSpan]) -> Bytes {
    let mut resource_groups: Vec<ResourceGroup<'_>> = Vec::new();
    let mut resource_index: HashMap<usize, usize> = HashMap::new();
    // (resource group, scope group) of each scope seen.
    let mut scope_index: HashMap<usize, (usize, usize)> = HashMap::new();
    for span in spans {
        let (resource_at, scope_at) = match scope_index.get(&pointer_key(&span.scope)) {
            Some(&position) => position,
            None => {
                let resource_at = *resource_index
                    .entry(pointer_key(&span.scope.resource))
                    .or_insert_with(|| {
                        resource_groups.push(ResourceGroup {
                            resource: &span.scope.resource,
                            scopes: Vec::new(),
                            encoded_len: 0,
                        });
                        resource_groups.len() - 1
                    });
                let scopes = &mut resource_groups[resource_at].scopes;
                scopes.push(ScopeGroup {
                    scope: &span.scope,
                    spans: Vec::new(),
                    encoded_len: 0,
                });
                let position = (resource_at, scopes.len() - 1);
                scope_index.insert(pointer_key(&span.scope), position);
                position
            }
        };
        resource_groups[resource_at].scopes[scope_at]
            .spans
            .push(&span.span_bytes);
    }

    let mut body_len = 0;
    for resource_group in &mut resource_groups {
        let mut resource_len = resource_group.resource.header.len();
        for scope_group in &mut resource_group.scopes {
            scope_group.encoded_len = scope_group.scope.header.len()
                + scope_group
                    .spans
                    .iter()
                    .map(|span_bytes| length_delimited_len(span_bytes.len()))
                    .sum::<usize>();
            resource_len += length_delimited_len(scope_group.encoded_len);
        }
        resource_group.encoded_len = resource_len;
        body_len += length_delimited_len(resource_len);
    }

    let mut body = BytesMut::with_capacity(body_len);
    for resource_group in &resource_groups {
        put_field_prefix(
            REQUEST_RESOURCE_SPANS_FIELD,
            resource_group.encoded_len,
            &mut body,
        );
        body.put_slice(&resource_group.resource.header);
        for scope_group in &resource_group.scopes {
            put_field_prefix(
                RESOURCE_SCOPE_SPANS_FIELD,
                scope_group.encoded_len,
                &mut body,
            );
            body.put_slice(&scope_group.scope.header);
            for span_bytes in &scope_group.spans {
                put_field_prefix(SCOPE_SPANS_FIELD, span_bytes.len(), &mut body);
                body.put_slice(span_bytes);
            }
        }
    }
    debug_assert_eq!(body.len(), body_len);
    body.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};

    fn resource(service_name: &str) -> Arc<EncodedResource> {
        Arc::new(EncodedResource::new(
            Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".to_owned(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(service_name.to_owned())),
                    }),
                    key_strindex: 0,
                }],
                ..Default::default()
            }),
            "https://opentelemetry.io/schemas/1.24.0".to_owned(),
        ))
    }

    fn scope(resource: &Arc<EncodedResource>, name: &str) -> Arc<EncodedScope> {
        Arc::new(EncodedScope::new(
            Arc::clone(resource),
            Some(InstrumentationScope {
                name: name.to_owned(),
                version: "1.0".to_owned(),
                ..Default::default()
            }),
            String::new(),
        ))
    }

    fn span(name: &str, filler_bytes: usize) -> Span {
        Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: name.to_owned(),
            trace_state: "x".repeat(filler_bytes),
            ..Default::default()
        }
    }

    #[test]
    fn empty_input_encodes_an_empty_request() {
        let body = encode_export_request(&[]);
        assert!(body.is_empty());
        let decoded = ExportTraceServiceRequest::decode(body).expect("decodes");
        assert!(decoded.resource_spans.is_empty());
    }

    #[test]
    fn assembled_body_equals_prost_encoding_of_the_grouped_request() {
        let resource_a = resource("a");
        let resource_b = resource("b");
        let scope_a1 = scope(&resource_a, "one");
        let scope_a2 = scope(&resource_a, "two");
        let scope_b1 = scope(&resource_b, "one");
        // Interleaved scopes; lengths crossing the one/two-byte varint boundary.
        let inputs = [
            (&scope_a1, span("s0", 10)),
            (&scope_b1, span("s1", 200)),
            (&scope_a2, span("s2", 0)),
            (&scope_a1, span("s3", 20_000)),
            (&scope_b1, span("s4", 5)),
        ];
        let encoded: Vec<EncodedSpan> = inputs
            .iter()
            .map(|(scope, span)| EncodedSpan::new(Arc::clone(scope), span))
            .collect();
        let body = encode_export_request(&encoded);
        let decoded = ExportTraceServiceRequest::decode(body.clone()).expect("decodes");

        let names: Vec<Vec<Vec<&str>>> = decoded
            .resource_spans
            .iter()
            .map(|resource_spans| {
                resource_spans
                    .scope_spans
                    .iter()
                    .map(|scope_spans| {
                        scope_spans
                            .spans
                            .iter()
                            .map(|span| span.name.as_str())
                            .collect()
                    })
                    .collect()
            })
            .collect();
        assert_eq!(
            names,
            vec![vec![vec!["s0", "s3"], vec!["s2"]], vec![vec!["s1", "s4"]]]
        );
        // Apart from field order (headers come before the repeated field), the body is
        // what prost would encode for the same grouped request.
        let reencoded = ExportTraceServiceRequest::decode(Bytes::from(decoded.encode_to_vec()))
            .expect("re-encoded request decodes");
        assert_eq!(reencoded, decoded);
        assert_eq!(decoded.encode_to_vec().len(), body.len());
        assert_eq!(
            decoded.resource_spans[0].schema_url,
            "https://opentelemetry.io/schemas/1.24.0"
        );
        assert_eq!(
            decoded.resource_spans[0].scope_spans[0].spans[1]
                .trace_state
                .len(),
            20_000
        );
        assert_eq!(
            decoded.resource_spans[0].scope_spans[1]
                .scope
                .as_ref()
                .map(|scope| scope.name.as_str()),
            Some("two")
        );
    }

    #[test]
    fn size_bound_is_never_below_the_real_body() {
        let resource_a = resource("a");
        let scopes = [scope(&resource_a, "one"), scope(&resource_a, "two")];
        let mut bound = BodySizeBound::default();
        let mut spans = Vec::new();
        for index in 0..300 {
            let span = EncodedSpan::new(Arc::clone(&scopes[index % 2]), &span("s", index * 7));
            let bound_bytes = bound.add(&span);
            spans.push(span);
            let real_bytes = encode_export_request(&spans).len() as u64;
            assert!(real_bytes <= bound_bytes, "{real_bytes} > {bound_bytes}");
            // The slack is only the unknown length prefixes of the two groups.
            assert!(bound_bytes - real_bytes <= 2 * 2 * MAX_LENGTH_VARINT_BYTES as u64);
        }
    }
}
