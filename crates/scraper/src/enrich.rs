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
//! Spans of one `ResourceSpans` share their resource; the rewrite keeps that sharing
//! (one new resource per distinct resource in the batch, not per span).

use std::sync::Arc;

use weft_model::span::SERVICE_NAME;
use weft_model::{KeyValue, Resource, SpanBatch};
use weft_scrape_config::Labels;
use weft_scrape_config::labels::JOB_LABEL;

/// Adds `target_labels` (the target's public labels) to the resource of every span in
/// `batch`, as described in the module documentation.
pub fn add_target_labels(batch: &mut SpanBatch, target_labels: &Labels) {
    let job = target_labels.get(JOB_LABEL);
    let mut rewritten: Vec<(Arc<Resource>, Arc<Resource>)> = Vec::new();
    for span in &mut batch.spans {
        if let Some((_, replacement)) = rewritten
            .iter()
            .find(|(original, _)| Arc::ptr_eq(original, &span.resource))
        {
            span.resource = Arc::clone(replacement);
            continue;
        }
        let replacement = Arc::new(with_target_labels(&span.resource, target_labels, job));
        rewritten.push((
            std::mem::replace(&mut span.resource, Arc::clone(&replacement)),
            replacement,
        ));
    }
}

fn with_target_labels(resource: &Resource, target_labels: &Labels, job: &str) -> Resource {
    let mut resource = resource.clone();
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
    use weft_model::{AttributeValue, Span, SpanId, TraceId};

    use super::*;

    fn attribute<'a>(resource: &'a Resource, key: &str) -> Option<&'a AttributeValue> {
        weft_model::attribute::find(&resource.attributes, key)
    }

    #[test]
    fn labels_fill_gaps_and_never_overwrite() {
        let mut own = Resource::for_service("checkout");
        own.attributes.push(KeyValue::new("instance", "set-by-app"));
        let own = Arc::new(own);
        let bare = Arc::new(Resource::default());
        let mut spans = Vec::new();
        for (index, resource) in [&own, &own, &bare].into_iter().enumerate() {
            let mut span = Span::new(
                TraceId::from_halves(0, 1),
                SpanId::from_u64(index as u64 + 1),
                "op",
            );
            span.resource = Arc::clone(resource);
            span.attributes.push(KeyValue::new("job", "span-level"));
            spans.push(span);
        }
        let mut batch = SpanBatch::from(spans);
        let labels =
            Labels::from_pairs([("job", "shop"), ("instance", "10.0.0.1:80"), ("zone", "a")]);
        add_target_labels(&mut batch, &labels);

        let first = &batch.spans[0].resource;
        assert_eq!(first.service_name(), Some("checkout"));
        assert_eq!(
            attribute(first, "instance"),
            Some(&AttributeValue::from("set-by-app"))
        );
        assert_eq!(attribute(first, "job"), Some(&AttributeValue::from("shop")));
        assert_eq!(attribute(first, "zone"), Some(&AttributeValue::from("a")));
        assert!(Arc::ptr_eq(first, &batch.spans[1].resource), "sharing kept");

        let third = &batch.spans[2].resource;
        assert_eq!(third.service_name(), Some("shop"));
        assert_eq!(
            attribute(third, "instance"),
            Some(&AttributeValue::from("10.0.0.1:80"))
        );
        for span in &batch.spans {
            assert_eq!(span.attributes, vec![KeyValue::new("job", "span-level")]);
        }
    }

    #[test]
    fn empty_service_name_is_replaced_by_job() {
        let mut resource = Resource::default();
        resource.attributes.push(KeyValue::new(SERVICE_NAME, ""));
        let mut span = Span::new(TraceId::from_halves(0, 1), SpanId::from_u64(1), "op");
        span.resource = Arc::new(resource);
        let mut batch = SpanBatch::from(vec![span]);
        add_target_labels(&mut batch, &Labels::from_pairs([("job", "shop")]));
        let resource = &batch.spans[0].resource;
        assert_eq!(resource.service_name(), Some("shop"));
        let count = resource
            .attributes
            .iter()
            .filter(|attribute| attribute.key == SERVICE_NAME)
            .count();
        assert_eq!(count, 1);
    }
}
