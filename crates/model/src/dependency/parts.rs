//! Which trace parts can be linked alone.
//!
//! A trace is often stored in parts (a head cut in the middle of it, late spans). Linking
//! the parts one by one and adding the links up is exact only when no other part changes
//! what a part links: other spans can become children of its spans (a client with a child
//! is no longer linked to its remote service), parents of its spans (a server then links
//! from the parent's service), or other fragments of its spans (merged with them).

use std::collections::HashSet;

use crate::id::SpanId;
use crate::span::SpanKind;

use super::tree::LinkSpan;

impl LinkSpan {
    /// True when the trace part `spans` is self-contained: it has one root (every span
    /// without a parent has the same id, none of them shared, and a client or producer
    /// root has its server half in the part), and every other span's parent is in the
    /// part. Another part of the same trace then has a span whose parent is elsewhere,
    /// or a root of its own: so when a trace has several parts, at least one of them is
    /// not self-contained unless every part has its own root (a trace with two root
    /// spans, or a root span sent twice). Empty input is not self-contained.
    pub fn part_is_self_contained(spans: &[LinkSpan]) -> bool {
        let span_ids: HashSet<SpanId> = spans.iter().map(|span| span.span_id).collect();
        let mut root: Option<SpanId> = None;
        let mut root_is_client = false;
        for span in spans {
            match span.parent_id {
                Some(parent_id) => {
                    if parent_id == span.span_id || !span_ids.contains(&parent_id) {
                        return false;
                    }
                }
                None => {
                    if span.shared || root.is_some_and(|root| root != span.span_id) {
                        return false;
                    }
                    root = Some(span.span_id);
                    // A root client's server half reuses its id and has no parent either;
                    // it may be in another part.
                    root_is_client |=
                        matches!(span.kind, Some(SpanKind::Client) | Some(SpanKind::Producer))
                            || (span.kind.is_none() && span.remote_service.is_some());
                }
            }
        }
        let Some(root) = root else {
            return false;
        };
        !root_is_client
            || spans.iter().any(|span| {
                span.span_id == root
                    && matches!(span.kind, Some(SpanKind::Server) | Some(SpanKind::Consumer))
            })
    }
}
