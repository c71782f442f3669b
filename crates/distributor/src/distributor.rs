//! The validating [`SpanSink`].

use std::sync::Arc;

use async_trait::async_trait;
use weft_model::{PushError, PushOutcome, SpanBatch, SpanSink, TenantId};

use crate::config::{ConfigError, DistributorConfig};
use crate::limits::{self, Reason};

/// Counter of spans the distributor refused, labelled `reason` (one of
/// `too_many_spans`, `span_name_too_long`, `attribute_key_too_long`,
/// `attribute_value_too_long`, `too_many_attributes`).
pub const SPANS_REJECTED_TOTAL: &str = "weft_distributor_spans_rejected_total";

/// Validates batches against [`DistributorConfig`] and forwards what passes to an inner
/// sink.
///
/// - A batch with more than `max_spans_per_request` spans is rejected whole with
///   [`PushError::TooLarge`]; the inner sink never sees it.
/// - A span that breaks a per-span limit is dropped; the rest of the batch is forwarded
///   in its original order. The returned [`PushOutcome`] adds the dropped spans to the
///   inner sink's `rejected_spans`, and its `rejection_message` names how many were
///   dropped and the first one's trace id, span id, reason and attribute key.
/// - An empty batch, or one whose every span was dropped, is not forwarded.
/// - Errors from the inner sink are returned unchanged.
///
/// Safe to share between tasks; it holds no mutable state.
pub struct Distributor {
    config: DistributorConfig,
    inner: Arc<dyn SpanSink>,
}

impl Distributor {
    /// Wraps `inner`. Errors when `config` fails [`DistributorConfig::validate`].
    pub fn new(config: DistributorConfig, inner: Arc<dyn SpanSink>) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Distributor { config, inner })
    }

    /// The limits in force.
    pub fn config(&self) -> &DistributorConfig {
        &self.config
    }
}

impl std::fmt::Debug for Distributor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Distributor")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What the distributor itself dropped from one batch.
struct OwnRejections {
    rejected_spans: u64,
    message: String,
}

impl OwnRejections {
    /// Adds the distributor's rejections to the inner sink's outcome.
    fn add_to(self, mut outcome: PushOutcome) -> PushOutcome {
        outcome.rejected_spans += self.rejected_spans;
        outcome.rejection_message = match (
            self.message.is_empty(),
            outcome.rejection_message.is_empty(),
        ) {
            (true, _) => outcome.rejection_message,
            (false, true) => self.message,
            (false, false) => format!("{}; {}", self.message, outcome.rejection_message),
        };
        outcome
    }
}

impl Distributor {
    /// Applies the request limit to `batch` (an error refuses it whole) and drops the
    /// spans over per-span limits from it.
    fn admit(&self, tenant: &TenantId, batch: &mut SpanBatch) -> Result<OwnRejections, PushError> {
        let total_spans = batch.len() as u64;
        if total_spans > self.config.max_spans_per_request {
            metrics::counter!(SPANS_REJECTED_TOTAL, "reason" => "too_many_spans")
                .increment(total_spans);
            return Err(PushError::TooLarge(format!(
                "request has {total_spans} spans, over the limit of {} spans per request",
                self.config.max_spans_per_request
            )));
        }

        let report = limits::filter_spans(&self.config, &mut batch.spans);
        for reason in Reason::ALL {
            let count = report.rejected_by_reason[reason.index()];
            if count > 0 {
                metrics::counter!(SPANS_REJECTED_TOTAL, "reason" => reason.as_str())
                    .increment(count);
            }
        }
        let message = if report.rejected_spans == 0 {
            String::new()
        } else {
            tracing::debug!(
                tenant = %tenant,
                rejected_spans = report.rejected_spans,
                first_reason = %report.first_reason,
                "spans over per-span limits dropped"
            );
            format!(
                "{} of {total_spans} spans over limits were dropped; first: {}",
                report.rejected_spans, report.first_reason
            )
        };
        Ok(OwnRejections {
            rejected_spans: report.rejected_spans,
            message,
        })
    }
}

#[async_trait]
impl SpanSink for Distributor {
    async fn push(
        &self,
        tenant: &TenantId,
        mut batch: SpanBatch,
    ) -> Result<PushOutcome, PushError> {
        let own = self.admit(tenant, &mut batch)?;
        if batch.is_empty() {
            return Ok(own.add_to(PushOutcome::default()));
        }
        let outcome = self.inner.push(tenant, batch).await?;
        Ok(own.add_to(outcome))
    }

    /// Each batch is checked and filtered as [`Distributor::push`] does (a batch over
    /// `max_spans_per_request` is refused alone); the rest go to the inner sink's
    /// `push_batches` together.
    async fn push_batches(
        &self,
        tenant: &TenantId,
        batches: Vec<SpanBatch>,
    ) -> Vec<Result<PushOutcome, PushError>> {
        let mut answers: Vec<Result<PushOutcome, PushError>> = Vec::with_capacity(batches.len());
        let mut forwarded = Vec::with_capacity(batches.len());
        // (index in `answers`, what the distributor dropped) of each forwarded batch.
        let mut forwarded_from = Vec::with_capacity(batches.len());
        for (index, mut batch) in batches.into_iter().enumerate() {
            match self.admit(tenant, &mut batch) {
                Err(error) => answers.push(Err(error)),
                Ok(own) if batch.is_empty() => answers.push(Ok(own.add_to(PushOutcome::default()))),
                Ok(own) => {
                    answers.push(Ok(PushOutcome::default()));
                    forwarded.push(batch);
                    forwarded_from.push((index, own));
                }
            }
        }
        if forwarded.is_empty() {
            return answers;
        }
        let inner_answers = self.inner.push_batches(tenant, forwarded).await;
        for ((index, own), answer) in forwarded_from.into_iter().zip(inner_answers) {
            answers[index] = answer.map(|outcome| own.add_to(outcome));
        }
        answers
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use weft_model::{KeyValue, Span, SpanId, TraceId};

    use super::*;

    /// Records every batch and answers with a canned result.
    #[derive(Default)]
    struct RecordingSink {
        batches: Mutex<Vec<SpanBatch>>,
        answer: Mutex<Option<Result<PushOutcome, PushError>>>,
    }

    impl RecordingSink {
        fn answering(answer: Result<PushOutcome, PushError>) -> Self {
            RecordingSink {
                batches: Mutex::new(Vec::new()),
                answer: Mutex::new(Some(answer)),
            }
        }

        fn batches(&self) -> Vec<SpanBatch> {
            self.batches.lock().map(|b| b.clone()).unwrap_or_default()
        }
    }

    #[async_trait]
    impl SpanSink for RecordingSink {
        async fn push(
            &self,
            _tenant: &TenantId,
            batch: SpanBatch,
        ) -> Result<PushOutcome, PushError> {
            let spans = batch.len() as u64;
            if let Ok(mut batches) = self.batches.lock() {
                batches.push(batch);
            }
            let canned = self.answer.lock().ok().and_then(|answer| answer.clone());
            canned.unwrap_or(Ok(PushOutcome {
                accepted_spans: spans,
                ..PushOutcome::default()
            }))
        }
    }

    fn span(low: u64) -> Span {
        Span::new(TraceId::from_halves(7, low), SpanId::from_u64(low), "op")
    }

    fn distributor(config: DistributorConfig, sink: &Arc<RecordingSink>) -> Distributor {
        let inner: Arc<dyn SpanSink> = Arc::clone(sink) as Arc<dyn SpanSink>;
        Distributor::new(config, inner).expect("valid config")
    }

    #[tokio::test]
    async fn valid_batch_is_forwarded_unchanged() {
        let sink = Arc::new(RecordingSink::default());
        let distributor = distributor(DistributorConfig::default(), &sink);
        let batch = SpanBatch::from(vec![span(1), span(2)]);
        let outcome = distributor
            .push(&TenantId::single(), batch.clone())
            .await
            .expect("accepted");
        assert_eq!(outcome.accepted_spans, 2);
        assert_eq!(outcome.rejected_spans, 0);
        assert!(outcome.rejection_message.is_empty());
        assert_eq!(sink.batches(), vec![batch]);
    }

    #[tokio::test]
    async fn too_many_spans_rejects_whole_batch_without_forwarding() {
        let sink = Arc::new(RecordingSink::default());
        let config = DistributorConfig {
            max_spans_per_request: 2,
            ..DistributorConfig::default()
        };
        let distributor = distributor(config, &sink);
        let batch = SpanBatch::from(vec![span(1), span(2), span(3)]);
        let error = distributor
            .push(&TenantId::single(), batch)
            .await
            .expect_err("too large");
        assert_eq!(
            error,
            PushError::TooLarge(
                "request has 3 spans, over the limit of 2 spans per request".into()
            )
        );
        assert!(sink.batches().is_empty());
    }

    #[tokio::test]
    async fn over_limit_span_is_dropped_and_counts_merge_with_inner_outcome() {
        let sink = Arc::new(RecordingSink::answering(Ok(PushOutcome {
            accepted_spans: 1,
            rejected_spans: 1,
            rejection_message: "ingester: trace too large".into(),
        })));
        let config = DistributorConfig {
            max_attribute_value_bytes: 4,
            ..DistributorConfig::default()
        };
        let distributor = distributor(config, &sink);
        let mut bad = span(2);
        bad.attributes
            .push(KeyValue::new("db.statement", "select 1"));
        let batch = SpanBatch::from(vec![span(1), bad, span(3)]);
        let outcome = distributor
            .push(&TenantId::single(), batch)
            .await
            .expect("partially accepted");
        assert_eq!(outcome.accepted_spans, 1);
        assert_eq!(outcome.rejected_spans, 2);
        let message = &outcome.rejection_message;
        assert!(
            message.starts_with("1 of 3 spans over limits were dropped; first: trace "),
            "{message}"
        );
        assert!(
            message.contains(&SpanId::from_u64(2).to_string()),
            "{message}"
        );
        assert!(
            message.contains(r#"attribute "db.statement" value is 8 bytes"#),
            "{message}"
        );
        assert!(
            message.ends_with("; ingester: trace too large"),
            "{message}"
        );
        let forwarded = sink.batches();
        assert_eq!(forwarded.len(), 1);
        let ids: Vec<u64> = forwarded[0]
            .spans
            .iter()
            .map(|s| s.span_id.as_u64())
            .collect();
        assert_eq!(ids, vec![1, 3]);
    }

    #[tokio::test]
    async fn batch_with_every_span_dropped_is_not_forwarded() {
        let sink = Arc::new(RecordingSink::default());
        let config = DistributorConfig {
            max_span_name_bytes: 1,
            ..DistributorConfig::default()
        };
        let distributor = distributor(config, &sink);
        let outcome = distributor
            .push(&TenantId::single(), SpanBatch::from(vec![span(1), span(2)]))
            .await
            .expect("answered");
        assert_eq!(outcome.accepted_spans, 0);
        assert_eq!(outcome.rejected_spans, 2);
        assert!(outcome.rejection_message.contains("span name is 2 bytes"));
        assert!(sink.batches().is_empty());
    }

    #[tokio::test]
    async fn empty_batch_is_answered_without_forwarding() {
        let sink = Arc::new(RecordingSink::default());
        let distributor = distributor(DistributorConfig::default(), &sink);
        let outcome = distributor
            .push(&TenantId::single(), SpanBatch::default())
            .await
            .expect("answered");
        assert_eq!(outcome, PushOutcome::default());
        assert!(sink.batches().is_empty());
    }

    #[tokio::test]
    async fn spans_without_start_time_are_forwarded() {
        let sink = Arc::new(RecordingSink::default());
        let distributor = distributor(DistributorConfig::default(), &sink);
        let mut late_fragment = span(1);
        late_fragment.start_unix_nanos = 0;
        let outcome = distributor
            .push(&TenantId::single(), SpanBatch::from(vec![late_fragment]))
            .await
            .expect("accepted");
        assert_eq!(outcome.accepted_spans, 1);
        assert_eq!(sink.batches()[0].spans[0].start_unix_nanos, 0);
    }

    #[tokio::test]
    async fn inner_errors_pass_through() {
        let overloaded = PushError::Overloaded {
            message: "ingester memory limit reached".into(),
            retry_after_seconds: 5,
        };
        let sink = Arc::new(RecordingSink::answering(Err(overloaded.clone())));
        let distributor = distributor(DistributorConfig::default(), &sink);
        let error = distributor
            .push(&TenantId::single(), SpanBatch::from(vec![span(1)]))
            .await
            .expect_err("overloaded");
        assert_eq!(error, overloaded);
    }

    #[tokio::test]
    async fn batches_pushed_together_are_each_judged_and_answered_alone() {
        let sink = Arc::new(RecordingSink::default());
        let config = DistributorConfig {
            max_spans_per_request: 2,
            max_span_name_bytes: 4,
            ..DistributorConfig::default()
        };
        let distributor = distributor(config, &sink);
        let long_name = Span::new(TraceId::from_halves(7, 9), SpanId::from_u64(9), "too long");
        let answers = distributor
            .push_batches(
                &TenantId::single(),
                vec![
                    SpanBatch::from(vec![span(1), span(2), span(3)]),
                    SpanBatch::from(vec![long_name.clone()]),
                    SpanBatch::from(vec![span(4), long_name]),
                    SpanBatch::from(vec![span(5), span(6)]),
                ],
            )
            .await;
        assert_eq!(answers.len(), 4);
        assert!(
            matches!(answers[0], Err(PushError::TooLarge(_))),
            "{answers:?}"
        );
        let partly = [&answers[1], &answers[2], &answers[3]].map(|answer| {
            let outcome = answer.as_ref().expect("stored");
            (outcome.accepted_spans, outcome.rejected_spans)
        });
        assert_eq!(partly, [(0, 1), (1, 1), (2, 0)]);
        assert!(
            answers[2]
                .as_ref()
                .is_ok_and(|outcome| outcome.rejection_message.starts_with("1 of 2 spans")),
            "{answers:?}"
        );
        // Only what passed reached the inner sink, batch by batch.
        assert_eq!(
            sink.batches(),
            vec![
                SpanBatch::from(vec![span(4)]),
                SpanBatch::from(vec![span(5), span(6)])
            ]
        );
    }

    #[test]
    fn invalid_config_is_refused() {
        let sink: Arc<dyn SpanSink> = Arc::new(RecordingSink::default());
        let config = DistributorConfig {
            max_spans_per_request: 0,
            ..DistributorConfig::default()
        };
        let error = Distributor::new(config, sink).expect_err("zero limit");
        assert_eq!(
            error.to_string(),
            "distributor.max_spans_per_request must be greater than 0"
        );
    }
}
