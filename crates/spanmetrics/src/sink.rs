//! [`SpanMetricsSink`]: counts every batch a sink accepts.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use weft_model::{PushError, PushOutcome, SpanBatch, SpanSink, TenantId};

use crate::metrics::SpanMetrics;

/// Computes span and service-graph metrics of the batches `inner` accepts.
///
/// The numbers are taken before `inner` sees the batch (so sampling or storage behind
/// it changes nothing) and added once it answers `Ok`: a refused push that the client
/// retries is counted once. A batch whose spans were partly refused by a per-span
/// limit is counted whole.
pub struct SpanMetricsSink {
    metrics: Arc<SpanMetrics>,
    inner: Arc<dyn SpanSink>,
}

impl SpanMetricsSink {
    /// Wraps `inner`.
    pub fn new(metrics: Arc<SpanMetrics>, inner: Arc<dyn SpanSink>) -> SpanMetricsSink {
        SpanMetricsSink { metrics, inner }
    }
}

impl std::fmt::Debug for SpanMetricsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanMetricsSink").finish_non_exhaustive()
    }
}

#[async_trait]
impl SpanSink for SpanMetricsSink {
    async fn push(&self, tenant: &TenantId, batch: SpanBatch) -> Result<PushOutcome, PushError> {
        let observation = self.metrics.observe(tenant, &batch.spans);
        let outcome = self.inner.push(tenant, batch).await?;
        self.metrics.commit(observation, Instant::now());
        Ok(outcome)
    }

    /// Each batch is observed on its own and counted once its answer is `Ok`.
    async fn push_batches(
        &self,
        tenant: &TenantId,
        batches: Vec<SpanBatch>,
    ) -> Vec<Result<PushOutcome, PushError>> {
        let observations: Vec<_> = batches
            .iter()
            .map(|batch| self.metrics.observe(tenant, &batch.spans))
            .collect();
        let answers = self.inner.push_batches(tenant, batches).await;
        let now = Instant::now();
        for (observation, answer) in observations.into_iter().zip(&answers) {
            if answer.is_ok() {
                self.metrics.commit(observation, now);
            }
        }
        answers
    }
}
