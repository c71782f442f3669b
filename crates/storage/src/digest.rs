//! Mergeable per-trace summaries.
//!
//! A trace's spans can be spread over the head and several blocks. Each part keeps a
//! [`TraceDigest`]; merging the digests of all parts gives the same result as building
//! one digest from all spans, so search can combine parts without reading spans.

use std::cmp::Ordering;

use weft_model::{Span, TraceId, TraceSummary};

/// The root span of a trace part, as far as summaries need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootSpan {
    /// The root's start in nanoseconds since the Unix epoch; 0 when it has none.
    pub start_unix_nanos: u64,
    /// Zipkin's `shared` flag of the root (a server half that reuses its client's id).
    pub shared: bool,
    /// The root's service; empty when it has none.
    pub service_name: String,
    /// The root's name.
    pub span_name: String,
}

impl RootSpan {
    /// The order in which candidate roots win: a timestamped root before one without,
    /// the earliest first, the client half before a shared server half, then by name so
    /// that merging is deterministic whatever the order of the parts.
    fn rank_cmp(&self, other: &RootSpan) -> Ordering {
        root_rank(self.start_unix_nanos, self.shared)
            .cmp(&root_rank(other.start_unix_nanos, other.shared))
            .then_with(|| self.service_name.cmp(&other.service_name))
            .then_with(|| self.span_name.cmp(&other.span_name))
    }
}

fn root_rank(start_unix_nanos: u64, shared: bool) -> (u64, bool) {
    let start = if start_unix_nanos == 0 {
        u64::MAX
    } else {
        start_unix_nanos
    };
    (start, shared)
}

/// What search needs to know about one part (or the whole) of a trace.
///
/// Spans without a timestamp (`start_unix_nanos == 0`) count in `span_count` and may be
/// the root, but do not move `start_unix_nanos` or `end_unix_nanos`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceDigest {
    /// The trace.
    pub trace_id: TraceId,
    /// Earliest non-zero span start; 0 when no span has a timestamp.
    pub start_unix_nanos: u64,
    /// Latest end (start + duration) of timestamped spans; 0 when none.
    pub end_unix_nanos: u64,
    /// Number of spans, saturating at `u32::MAX`.
    pub span_count: u32,
    /// Number of failed spans ([`Span::is_error`]), saturating at `u32::MAX`; merged by
    /// sum.
    pub error_count: u32,
    /// The best root candidate (a span without parent), if any was seen.
    pub root: Option<RootSpan>,
    /// Every service of the spans' own resources, sorted and unique.
    pub services: Vec<String>,
}

impl TraceDigest {
    /// An empty digest for `trace_id`.
    pub fn new(trace_id: TraceId) -> Self {
        TraceDigest {
            trace_id,
            start_unix_nanos: 0,
            end_unix_nanos: 0,
            span_count: 0,
            error_count: 0,
            root: None,
            services: Vec::new(),
        }
    }

    /// Adds one span. The span's trace id is not checked.
    pub fn add_span(&mut self, span: &Span) {
        self.add_span_of_service(span, span.service_name().unwrap_or(""));
    }

    /// Adds one span whose service (`span.service_name()`, `""` when it has none) the
    /// caller already knows, e.g. from a per-resource cache. Same result as
    /// [`TraceDigest::add_span`] when `service` is right.
    pub fn add_span_of_service(&mut self, span: &Span, service: &str) {
        self.span_count = self.span_count.saturating_add(1);
        if span.is_error() {
            self.error_count = self.error_count.saturating_add(1);
        }
        if span.start_unix_nanos != 0 {
            if self.start_unix_nanos == 0 || span.start_unix_nanos < self.start_unix_nanos {
                self.start_unix_nanos = span.start_unix_nanos;
            }
            self.end_unix_nanos = self.end_unix_nanos.max(span.end_unix_nanos());
        }
        if !service.is_empty() {
            self.add_service(service);
        }
        if span.parent_span_id.is_none() {
            let better = match &self.root {
                None => true,
                Some(current) => {
                    root_rank(span.start_unix_nanos, span.shared)
                        .cmp(&root_rank(current.start_unix_nanos, current.shared))
                        .then_with(|| service.cmp(&current.service_name))
                        .then_with(|| span.name.as_str().cmp(&current.span_name))
                        == Ordering::Less
                }
            };
            if better {
                self.root = Some(RootSpan {
                    start_unix_nanos: span.start_unix_nanos,
                    shared: span.shared,
                    service_name: service.to_owned(),
                    span_name: span.name.clone(),
                });
            }
        }
    }

    fn add_service(&mut self, service: &str) {
        if let Err(position) = self
            .services
            .binary_search_by(|known| known.as_str().cmp(service))
        {
            self.services.insert(position, service.to_owned());
        }
    }

    /// Adds another part of the same trace. Merging is commutative and associative.
    pub fn merge(&mut self, other: &TraceDigest) {
        self.span_count = self.span_count.saturating_add(other.span_count);
        self.error_count = self.error_count.saturating_add(other.error_count);
        if other.start_unix_nanos != 0
            && (self.start_unix_nanos == 0 || other.start_unix_nanos < self.start_unix_nanos)
        {
            self.start_unix_nanos = other.start_unix_nanos;
        }
        self.end_unix_nanos = self.end_unix_nanos.max(other.end_unix_nanos);
        for service in &other.services {
            self.add_service(service);
        }
        if let Some(other_root) = &other.root {
            let better = match &self.root {
                None => true,
                Some(current) => other_root.rank_cmp(current) == Ordering::Less,
            };
            if better {
                self.root = Some(other_root.clone());
            }
        }
    }

    /// The trace timestamp as Zipkin defines it: the root's start when a root with a
    /// timestamp is known, else the earliest span start; 0 when nothing has a timestamp.
    pub fn timestamp_unix_nanos(&self) -> u64 {
        match &self.root {
            Some(root) if root.start_unix_nanos != 0 => root.start_unix_nanos,
            _ => self.start_unix_nanos,
        }
    }

    /// True when one of the trace's services equals `service_name`, ignoring case
    /// (Unicode lowercase on both sides, as Zipkin lowercases names).
    pub fn has_service(&self, service_name: &str) -> bool {
        self.services
            .iter()
            .any(|service| eq_ignore_case(service, service_name))
    }

    /// The public summary.
    pub fn to_summary(&self) -> TraceSummary {
        TraceSummary {
            trace_id: self.trace_id,
            timestamp_unix_nanos: self.timestamp_unix_nanos(),
            start_unix_nanos: self.start_unix_nanos,
            end_unix_nanos: self.end_unix_nanos,
            span_count: self.span_count,
            root_service_name: self
                .root
                .as_ref()
                .map(|root| root.service_name.clone())
                .unwrap_or_default(),
            root_span_name: self
                .root
                .as_ref()
                .map(|root| root.span_name.clone())
                .unwrap_or_default(),
        }
    }
}

/// Compares two strings after Unicode lowercasing, without allocating.
pub fn eq_ignore_case(left: &str, right: &str) -> bool {
    if left.is_ascii() && right.is_ascii() {
        return left.eq_ignore_ascii_case(right);
    }
    left.chars()
        .flat_map(char::to_lowercase)
        .eq(right.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use weft_model::{Resource, SpanId};

    use super::*;

    fn span(id: u64, parent: Option<u64>, service: &str, start: u64) -> Span {
        let mut span = Span::new(
            TraceId::from_halves(0, 1),
            SpanId::from_u64(id),
            format!("op{id}"),
        );
        span.parent_span_id = parent.map(SpanId::from_u64);
        span.resource = Arc::new(Resource::for_service(service));
        span.start_unix_nanos = start;
        span.duration_nanos = 10;
        span
    }

    #[test]
    fn timestamp_is_the_root_start_even_when_a_child_started_earlier() {
        let mut digest = TraceDigest::new(TraceId::from_halves(0, 1));
        digest.add_span(&span(2, Some(1), "backend", 50));
        assert_eq!(digest.timestamp_unix_nanos(), 50);
        digest.add_span(&span(1, None, "frontend", 100));
        assert_eq!(digest.timestamp_unix_nanos(), 100);
        assert_eq!(digest.start_unix_nanos, 50);
        assert_eq!(digest.end_unix_nanos, 110);
        let summary = digest.to_summary();
        assert_eq!(summary.root_service_name, "frontend");
        assert_eq!(summary.root_span_name, "op1");
        assert_eq!(summary.span_count, 2);
    }

    #[test]
    fn spans_without_timestamp_do_not_move_the_time_range() {
        let mut digest = TraceDigest::new(TraceId::from_halves(0, 1));
        digest.add_span(&span(1, None, "frontend", 0));
        assert_eq!(digest.timestamp_unix_nanos(), 0);
        assert_eq!(digest.end_unix_nanos, 0);
        digest.add_span(&span(2, Some(1), "backend", 70));
        assert_eq!(digest.timestamp_unix_nanos(), 70);
    }

    #[test]
    fn merging_parts_equals_digesting_all_spans_in_any_order() {
        let mut failed = span(3, Some(1), "db", 120);
        failed.status.code = weft_model::StatusCode::Error;
        let spans = [
            failed,
            span(1, None, "frontend", 100),
            span(2, Some(1), "backend", 90),
            span(1, None, "backend", 100),
        ];
        let mut whole = TraceDigest::new(TraceId::from_halves(0, 1));
        spans.iter().for_each(|s| whole.add_span(s));
        for split in 0..=spans.len() {
            let (left, right) = spans.split_at(split);
            let mut first = TraceDigest::new(whole.trace_id);
            left.iter().for_each(|s| first.add_span(s));
            let mut second = TraceDigest::new(whole.trace_id);
            right.iter().for_each(|s| second.add_span(s));
            let mut forward = first.clone();
            forward.merge(&second);
            let mut backward = second.clone();
            backward.merge(&first);
            assert_eq!(forward, whole, "split at {split}");
            assert_eq!(backward, whole, "split at {split}");
        }
        assert_eq!(whole.services, ["backend", "db", "frontend"]);
        assert_eq!(whole.error_count, 1, "error counts add up over parts");
    }

    #[test]
    fn service_match_ignores_case() {
        let mut digest = TraceDigest::new(TraceId::from_halves(0, 1));
        digest.add_span(&span(1, None, "Frontend", 1));
        assert!(digest.has_service("frontend"));
        assert!(digest.has_service("FRONTEND"));
        assert!(!digest.has_service("front"));
        assert!(eq_ignore_case("ÄPFEL", "äpfel"));
    }
}
