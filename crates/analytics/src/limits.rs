//! Bounds on the work and memory of every analysis.

use serde::Serialize;

use crate::error::AnalyticsError;

/// Bounds every analysis honours. A single-trace analysis refuses a trace over
/// `max_spans_per_trace`; an aggregate skips such traces, stops taking traces after
/// `max_traces` or once `max_total_spans` spans were taken, and folds nodes past
/// `max_nodes` away, saying so in [`Coverage`]. Memory is linear in the spans taken
/// (exact quantiles keep one sample per span) and in the nodes kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most spans in one trace (default 1,000,000).
    pub max_spans_per_trace: usize,
    /// Most traces an aggregate takes (default 10,000); later ones are skipped.
    pub max_traces: usize,
    /// Most spans an aggregate takes over all its traces (default 10,000,000); a trace
    /// that would pass it is skipped, as are all after it.
    pub max_total_spans: usize,
    /// Most nodes (services, edges, graph or tree nodes) an aggregate keeps (default
    /// 10,000); spans that would need another node are dropped and counted.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_spans_per_trace: 1_000_000,
            max_traces: 10_000,
            max_total_spans: 10_000_000,
            max_nodes: 10_000,
        }
    }
}

impl Limits {
    /// Errors when a limit is zero.
    pub fn validate(&self) -> Result<(), AnalyticsError> {
        let checks = [
            ("max_spans_per_trace", self.max_spans_per_trace),
            ("max_traces", self.max_traces),
            ("max_total_spans", self.max_total_spans),
            ("max_nodes", self.max_nodes),
        ];
        for (name, value) in checks {
            if value == 0 {
                return Err(AnalyticsError::InvalidLimit {
                    name,
                    reason: "must be at least 1",
                });
            }
        }
        Ok(())
    }
}

/// What an aggregate took and what it left out.
///
/// JSON: `{"traces_seen": 12, "traces_analyzed": 10, "traces_skipped_too_many_spans": 1,
/// "traces_skipped_over_limits": 1, "traces_skipped_other": 0, "spans_analyzed": 311,
/// "spans_dropped_over_max_nodes": 0, "truncated": true}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Traces handed to the analysis.
    pub traces_seen: u64,
    /// Traces that went into the result.
    pub traces_analyzed: u64,
    /// Traces skipped for having more than `max_spans_per_trace` spans.
    pub traces_skipped_too_many_spans: u64,
    /// Traces skipped because `max_traces` or `max_total_spans` was reached.
    pub traces_skipped_over_limits: u64,
    /// Traces skipped for another reason the analysis names (empty traces; for the flow
    /// graph, traces of another workflow).
    pub traces_skipped_other: u64,
    /// Spans that went into the result.
    pub spans_analyzed: u64,
    /// Spans left out because `max_nodes` was reached.
    pub spans_dropped_over_max_nodes: u64,
    /// True when anything was left out for a limit (not for `traces_skipped_other`).
    pub truncated: bool,
}

/// Decides trace by trace what an aggregate may take, and counts what it leaves out.
#[derive(Debug)]
pub(crate) struct Admission {
    limits: Limits,
    pub(crate) coverage: Coverage,
    spans_taken: usize,
    closed: bool,
}

impl Admission {
    pub(crate) fn new(limits: Limits) -> Self {
        Admission {
            limits,
            coverage: Coverage::default(),
            spans_taken: 0,
            closed: false,
        }
    }

    /// True when a trace of `span_count` spans may be taken; counts it either way.
    pub(crate) fn admit(&mut self, span_count: usize) -> bool {
        self.coverage.traces_seen += 1;
        if span_count == 0 {
            self.coverage.traces_skipped_other += 1;
            return false;
        }
        if span_count > self.limits.max_spans_per_trace {
            self.coverage.traces_skipped_too_many_spans += 1;
            self.coverage.truncated = true;
            return false;
        }
        if self.closed
            || self.coverage.traces_analyzed as usize >= self.limits.max_traces
            || self.spans_taken.saturating_add(span_count) > self.limits.max_total_spans
        {
            // Once one trace does not fit, later ones are left out too, so that the
            // traces taken are a prefix of the input.
            self.closed = true;
            self.coverage.traces_skipped_over_limits += 1;
            self.coverage.truncated = true;
            return false;
        }
        self.spans_taken += span_count;
        true
    }

    /// Records that an admitted trace went into the result with `spans` spans.
    pub(crate) fn analyzed(&mut self, spans: usize) {
        self.coverage.traces_analyzed += 1;
        self.coverage.spans_analyzed += spans as u64;
    }

    /// Takes back an admitted trace of `span_count` spans that the analysis could not
    /// use (`traces_skipped_other`).
    pub(crate) fn rejected(&mut self, span_count: usize) {
        self.spans_taken -= span_count;
        self.coverage.traces_skipped_other += 1;
    }

    pub(crate) fn dropped_spans(&mut self, count: u64) {
        if count > 0 {
            self.coverage.spans_dropped_over_max_nodes += count;
            self.coverage.truncated = true;
        }
    }
}
