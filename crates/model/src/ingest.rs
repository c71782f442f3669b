//! The seam between receivers and storage.
//!
//! Receivers decode a request into a [`SpanBatch`] and hand it to a [`SpanSink`]. The
//! sink answers only once the batch is durable (in the write-ahead log) or rejected, so a
//! receiver that acknowledges on `Ok` never acknowledges a span that could be lost.

use async_trait::async_trait;

use crate::span::SpanBatch;
use crate::tenant::TenantId;

/// What happened to an accepted batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushOutcome {
    /// Spans stored durably.
    pub accepted_spans: u64,
    /// Spans dropped by a per-span rule (a limit) while the rest were stored.
    pub rejected_spans: u64,
    /// Why spans were rejected; empty when none were.
    pub rejection_message: String,
}

/// Why a whole batch was not stored. Each variant maps to one HTTP status and one gRPC
/// code in `weft-api`'s error table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The input is wrong; retrying will not help (HTTP 400, gRPC INVALID_ARGUMENT).
    #[error("{0}")]
    InvalidInput(String),
    /// The request is over a size limit (HTTP 413, gRPC RESOURCE_EXHAUSTED without a
    /// retry delay, which OTLP clients do not retry).
    #[error("{0}")]
    TooLarge(String),
    /// A rate or memory limit is reached; retry later (HTTP 429, gRPC RESOURCE_EXHAUSTED
    /// with a retry delay).
    #[error("{message}")]
    Overloaded {
        /// What limit was hit.
        message: String,
        /// How long the client should wait before retrying.
        retry_after_seconds: u32,
    },
    /// The server is shutting down or storage is failing; retry (HTTP 503, gRPC UNAVAILABLE).
    #[error("{0}")]
    Unavailable(String),
}

/// Takes batches of spans and stores them durably.
///
/// Implementations must be safe to call from many tasks at once and must not return
/// `Ok` before the batch would survive a crash.
#[async_trait]
pub trait SpanSink: Send + Sync + 'static {
    /// Stores `batch` for `tenant`. Returns once it is durable, or why it was not stored.
    async fn push(&self, tenant: &TenantId, batch: SpanBatch) -> Result<PushOutcome, PushError>;

    /// Stores several batches for `tenant`, each judged as if it had been pushed on its
    /// own (request limits, per-span rejections), and answers for each one, in order:
    /// the returned vector has one entry per batch. Returns once every batch is durable
    /// or refused, as [`SpanSink::push`] does.
    ///
    /// The default makes one [`SpanSink::push`] per batch, all at once, as separate
    /// callers would. A sink that can store them together (one write-ahead log record,
    /// one memory check) overrides it; that is what lets a caller gathering many small
    /// batches (the scraper) pay the per-push costs once. An error that concerns the
    /// combined write (overload, shutdown) is then the answer of every batch in it.
    async fn push_batches(
        &self,
        tenant: &TenantId,
        batches: Vec<SpanBatch>,
    ) -> Vec<Result<PushOutcome, PushError>> {
        futures_util::future::join_all(batches.into_iter().map(|batch| self.push(tenant, batch)))
            .await
    }
}
