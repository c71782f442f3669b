//! Why an analysis refused its input.

/// Why an analysis of one trace could not run. Aggregates over many traces never fail on
/// one bad trace: they skip it and count it in [`crate::Coverage`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalyticsError {
    /// The trace had no spans.
    #[error("trace has no spans")]
    EmptyTrace,
    /// The trace had more spans than `max_spans_per_trace` allows.
    #[error("trace has {span_count} spans, more than max_spans_per_trace {limit}")]
    TooManySpans {
        /// Spans in the trace.
        span_count: usize,
        /// The limit.
        limit: usize,
    },
    /// The root span has no timestamp or no duration, so the trace has no extent.
    #[error("root span {span_id} has no timestamp or duration")]
    UntimedRoot {
        /// The root span's id, hex.
        span_id: String,
    },
    /// A limit was zero or otherwise unusable.
    #[error("invalid limit {name}: {reason}")]
    InvalidLimit {
        /// The limit's field name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}
