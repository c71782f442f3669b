//! Target labels onto scraped spans.
//!
//! Every public target label (after relabeling, without `__` labels: `job`,
//! `instance`, and whatever relabeling added) becomes a **resource attribute** of
//! every scraped span, as a string. What the application set wins: a label whose name
//! is already a resource attribute is not added, and span attributes are never touched
//! (they live in another map, so a label cannot shadow them at query time either).
//! `service.name` is set to the target's `job` label when the resource has no
//! non-empty string `service.name` (an empty or non-string one is replaced).
//!
//! A target sends the same few resources at every scrape (an application has one per
//! process), so each target's loop keeps them in a [`LabelledResources`]: the body's
//! resources arrive still encoded ([`weft_codec::otlp::decode_proto_resolving`]), and
//! an encoding seen before gets the resource decoded and labelled the first time, the
//! very same `Arc`, at no cost. A push receiver cannot do this: it does not know which
//! requests come from one source.

use std::sync::Arc;

use foldhash::HashMap;
use weft_codec::DecodeError;
use weft_model::span::SERVICE_NAME;
use weft_model::{KeyValue, Resource};
use weft_scrape_config::Labels;
use weft_scrape_config::labels::JOB_LABEL;

/// Most distinct resources one target's cache holds; past it the cache starts afresh.
const MAX_CACHED_RESOURCES: usize = 64;
/// Most bytes of encoded resources (the keys) one target's cache holds.
const MAX_CACHED_ENCODED_BYTES: usize = 256 * 1024;

/// One target's public labels and the resources it sent, labelled, by their encoding.
#[derive(Debug)]
pub(crate) struct LabelledResources {
    labels: Labels,
    by_encoding: HashMap<Box<[u8]>, Arc<Resource>>,
    encoded_bytes: usize,
}

impl LabelledResources {
    /// An empty cache for a target with `labels` (its public labels).
    pub(crate) fn new(labels: Labels) -> Self {
        LabelledResources {
            labels,
            by_encoding: HashMap::default(),
            encoded_bytes: 0,
        }
    }

    /// The target's public labels.
    pub(crate) fn labels(&self) -> &Labels {
        &self.labels
    }

    /// The labelled resource of an encoded OTLP `Resource` (empty: none was sent).
    pub(crate) fn resolve(&mut self, encoded: &[u8]) -> Result<Arc<Resource>, DecodeError> {
        if let Some(resource) = self.by_encoding.get(encoded) {
            return Ok(Arc::clone(resource));
        }
        let resource = Arc::new(with_target_labels(
            weft_codec::otlp::decode_resource(encoded)?,
            &self.labels,
        ));
        if encoded.len() <= MAX_CACHED_ENCODED_BYTES {
            if self.by_encoding.len() >= MAX_CACHED_RESOURCES
                || self.encoded_bytes + encoded.len() > MAX_CACHED_ENCODED_BYTES
            {
                self.by_encoding.clear();
                self.encoded_bytes = 0;
            }
            self.encoded_bytes += encoded.len();
            self.by_encoding
                .insert(encoded.into(), Arc::clone(&resource));
        }
        Ok(resource)
    }
}

fn with_target_labels(mut resource: Resource, target_labels: &Labels) -> Resource {
    let job = target_labels.get(JOB_LABEL);
    if resource.service_name().is_none() && !job.is_empty() {
        resource
            .attributes
            .retain(|attribute| attribute.key != SERVICE_NAME);
        resource.attributes.push(KeyValue::new(SERVICE_NAME, job));
    }
    for (name, value) in target_labels.iter() {
        let already_set = resource
            .attributes
            .iter()
            .any(|attribute| attribute.key == name);
        if !already_set {
            resource.attributes.push(KeyValue::new(name, value));
        }
    }
    resource
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue as ProtoKeyValue, any_value};
    use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
    use prost::Message;
    use weft_model::AttributeValue;

    use super::*;

    fn attribute<'a>(resource: &'a Resource, key: &str) -> Option<&'a AttributeValue> {
        weft_model::attribute::find(&resource.attributes, key)
    }

    fn encoded(attributes: &[(&str, &str)]) -> Vec<u8> {
        ProtoResource {
            attributes: attributes
                .iter()
                .map(|(key, value)| ProtoKeyValue {
                    key: (*key).to_owned(),
                    key_strindex: 0,
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue((*value).to_owned())),
                    }),
                })
                .collect(),
            dropped_attributes_count: 0,
            entity_refs: Vec::new(),
        }
        .encode_to_vec()
    }

    fn shop() -> LabelledResources {
        LabelledResources::new(Labels::from_pairs([
            ("job", "shop"),
            ("instance", "10.0.0.1:80"),
            ("zone", "a"),
        ]))
    }

    #[test]
    fn labels_fill_gaps_and_never_overwrite() {
        let mut resources = shop();
        let own = encoded(&[("service.name", "checkout"), ("instance", "set-by-app")]);
        let first = resources.resolve(&own).expect("valid");
        assert_eq!(first.service_name(), Some("checkout"));
        assert_eq!(
            attribute(&first, "instance"),
            Some(&AttributeValue::from("set-by-app"))
        );
        assert_eq!(
            attribute(&first, "job"),
            Some(&AttributeValue::from("shop"))
        );
        assert_eq!(attribute(&first, "zone"), Some(&AttributeValue::from("a")));

        let bare = resources.resolve(&[]).expect("no resource");
        assert_eq!(bare.service_name(), Some("shop"));
        assert_eq!(
            attribute(&bare, "instance"),
            Some(&AttributeValue::from("10.0.0.1:80"))
        );
    }

    #[test]
    fn an_encoding_seen_before_gets_the_same_resource() {
        let mut resources = shop();
        let checkout = encoded(&[("service.name", "checkout")]);
        let cart = encoded(&[("service.name", "cart")]);
        let first = resources.resolve(&checkout).expect("valid");
        let other = resources.resolve(&cart).expect("valid");
        assert!(!Arc::ptr_eq(&first, &other));
        assert!(Arc::ptr_eq(
            &first,
            &resources.resolve(&checkout).expect("valid")
        ));
        assert_eq!(other.service_name(), Some("cart"));
    }

    #[test]
    fn the_cache_is_bounded_and_starts_afresh() {
        let mut resources = shop();
        let first_encoding = encoded(&[("service.name", "s0")]);
        let first = resources.resolve(&first_encoding).expect("valid");
        for index in 1..=MAX_CACHED_RESOURCES {
            resources
                .resolve(&encoded(&[("service.name", &format!("s{index}"))]))
                .expect("valid");
            assert!(resources.by_encoding.len() <= MAX_CACHED_RESOURCES);
        }
        let again = resources.resolve(&first_encoding).expect("valid");
        assert!(!Arc::ptr_eq(&first, &again), "evicted, decoded again");
        assert_eq!(*first, *again);
        let huge = encoded(&[("blob", &"x".repeat(MAX_CACHED_ENCODED_BYTES))]);
        resources.resolve(&huge).expect("valid");
        assert!(resources.encoded_bytes <= MAX_CACHED_ENCODED_BYTES);
    }

    #[test]
    fn empty_service_name_is_replaced_by_job() {
        let mut resources = LabelledResources::new(Labels::from_pairs([("job", "shop")]));
        let resource = resources
            .resolve(&encoded(&[("service.name", "")]))
            .expect("valid");
        assert_eq!(resource.service_name(), Some("shop"));
        let count = resource
            .attributes
            .iter()
            .filter(|attribute| attribute.key == SERVICE_NAME)
            .count();
        assert_eq!(count, 1);
    }

    #[test]
    fn a_resource_that_does_not_decode_is_an_error() {
        let mut resources = shop();
        let error = resources.resolve(&[0x0a, 0xff]).expect_err("truncated");
        assert!(error.message.starts_with("invalid protobuf"), "{error}");
    }
}
