//! What every ingest listener of a process shares.

use std::sync::Arc;

use weft_model::SpanSink;

use crate::config::ReceiverConfig;
use crate::inflight::{self, InflightBudget};
use crate::otlp_logs::LogsSink;

/// The sink, settings and in-flight budget shared by the HTTP and gRPC listeners of one
/// process. Build it once and pass it to every listener constructor
/// ([`crate::otlp_http_router`], [`crate::otlp_grpc_service`], ...): they all draw from
/// its one [`InflightBudget`]. Cloning is cheap and shares the budget; two contexts built
/// separately have separate budgets (tests rely on that).
#[derive(Clone)]
pub struct ReceiverContext {
    sink: Arc<dyn SpanSink>,
    config: ReceiverConfig,
    max_spans_per_request: u64,
    budget: InflightBudget,
    logs: Option<Arc<dyn LogsSink>>,
}

impl std::fmt::Debug for ReceiverContext {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ReceiverContext")
            .field("config", &self.config)
            .field("max_spans_per_request", &self.max_spans_per_request)
            .field("budget", &self.budget)
            .field("logs", &self.logs.is_some())
            .finish_non_exhaustive()
    }
}

impl ReceiverContext {
    /// Listeners that hand batches to `sink` under `config`, with a fresh in-flight budget
    /// of `config.max_inflight_bytes` (a charge waits up to 1 s for room).
    ///
    /// `max_spans_per_request` is the most spans one request may carry (the app passes
    /// the distributor's `max_spans_per_request`): requests are counted on the wire before
    /// decoding and refused over it with [`crate::ReceiveError::TooManySpans`] (413 /
    /// RESOURCE_EXHAUSTED without a retry hint), so they never decode. 0 is read as 1.
    pub fn new(
        sink: Arc<dyn SpanSink>,
        config: ReceiverConfig,
        max_spans_per_request: u64,
    ) -> Self {
        let budget = InflightBudget::new(config.max_inflight_bytes, inflight::DEFAULT_WAIT);
        ReceiverContext {
            sink,
            config,
            max_spans_per_request: max_spans_per_request.max(1),
            budget,
            logs: None,
        }
    }

    /// The same context drawing from `budget` instead (to share one budget between
    /// contexts, or to wait a different time).
    pub fn with_budget(mut self, budget: InflightBudget) -> Self {
        self.budget = budget;
        self
    }

    /// The same context sending OTLP log records (`/v1/logs`, `LogsService/Export`) to
    /// `sink`; without one those answer that logs are off.
    pub fn with_logs_sink(mut self, sink: Arc<dyn LogsSink>) -> Self {
        self.logs = Some(sink);
        self
    }

    /// Where OTLP log records go, when logs are on.
    pub fn logs_sink(&self) -> Option<&Arc<dyn LogsSink>> {
        self.logs.as_ref()
    }

    /// The sink batches go to.
    pub fn sink(&self) -> &Arc<dyn SpanSink> {
        &self.sink
    }

    /// The settings.
    pub fn config(&self) -> &ReceiverConfig {
        &self.config
    }

    /// The most spans one request may carry (at least 1).
    pub fn max_spans_per_request(&self) -> u64 {
        self.max_spans_per_request
    }

    /// The in-flight budget every listener built from this context shares.
    pub fn budget(&self) -> &InflightBudget {
        &self.budget
    }
}
