//! [`SamplingSink`]: head sampling at ingest and the observations adaptive sampling
//! learns from.
//!
//! - **Head sampling** ([`weft_sampling::HeadSampler`]): every span of a trace gets the
//!   same decision, consistent with OpenTelemetry's probability sampling (the trace id's
//!   randomness against a threshold per tenant and service); Zipkin `debug` spans are
//!   always kept. Spans the sender explicitly marked unsampled are not stored: OTLP spans
//!   whose flags say the W3C flags are set (bit 8, "has is_remote", written by current
//!   SDKs) but the sampled bit is not. Older SDKs leave the flags 0, and Zipkin and
//!   Jaeger senders only report sampled spans, so a 0 means nothing there.
//!   Sampled-out spans are acknowledged (the sender must not retry them) and counted in
//!   `weft_head_sampling_spans_total{decision="dropped"}`. A span kept by weft's own
//!   ratio records it as OpenTelemetry does, as the `th` of the `ot` entry of its
//!   `tracestate` (its adjusted count is 1 / the probability that threshold means).
//! - **Adaptive sampling**: root spans carrying Jaeger's `sampler.type` and
//!   `sampler.param` tags are counted per service and operation, before head sampling, in
//!   the calculator that sets the probabilities served to Jaeger and OpenTelemetry
//!   remote samplers.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use weft_model::{AttributeValue, PushError, PushOutcome, Span, SpanBatch, SpanSink, TenantId};
use weft_remote_sampling::adaptive::parse_sampler_param;
use weft_remote_sampling::{AdaptiveCalculator, SamplerType};
use weft_sampling::head::KeepReason;
use weft_sampling::{HeadDecision, HeadSampler, with_ot_threshold};

/// OTLP span flags bit 8: the flags carry the W3C trace flags and the remote bit.
const FLAGS_CONTEXT_HAS_IS_REMOTE: u32 = 0x100;
/// The W3C sampled flag.
const FLAGS_SAMPLED: u32 = 0x01;

/// Head-samples batches and feeds adaptive sampling, in front of `inner`.
pub struct SamplingSink {
    head: Option<HeadSampler>,
    adaptive: Option<Arc<Mutex<AdaptiveCalculator>>>,
    inner: Arc<dyn SpanSink>,
}

impl SamplingSink {
    /// Wraps `inner`; `head` decides per span (none keeps everything the sender sampled),
    /// `adaptive` counts root spans.
    pub fn new(
        head: Option<HeadSampler>,
        adaptive: Option<Arc<Mutex<AdaptiveCalculator>>>,
        inner: Arc<dyn SpanSink>,
    ) -> SamplingSink {
        SamplingSink {
            head,
            adaptive,
            inner,
        }
    }

    fn observe_roots(&self, spans: &[Span]) {
        let Some(adaptive) = &self.adaptive else {
            return;
        };
        let mut calculator = adaptive.lock().unwrap_or_else(PoisonError::into_inner);
        for span in spans.iter().filter(|span| span.parent_span_id.is_none()) {
            let Some(sampler_type) =
                text(span, "sampler.type").and_then(|t| SamplerType::from_tag(&t))
            else {
                continue;
            };
            let Some(param) = text(span, "sampler.param").and_then(|p| parse_sampler_param(&p))
            else {
                continue;
            };
            let service = span.service_name().unwrap_or_default();
            calculator.record_root_span(service, &span.name, sampler_type, param);
        }
    }
}

/// A span attribute as text (SDKs write `sampler.param` as a number or a string).
fn text(span: &Span, key: &str) -> Option<String> {
    span.attribute(key).map(AttributeValue::to_text)
}

/// True when the sender says the span was not sampled.
fn explicitly_unsampled(span: &Span) -> bool {
    !span.debug && span.flags & FLAGS_CONTEXT_HAS_IS_REMOTE != 0 && span.flags & FLAGS_SAMPLED == 0
}

impl std::fmt::Debug for SamplingSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamplingSink")
            .field("head", &self.head)
            .field("adaptive", &self.adaptive.is_some())
            .finish_non_exhaustive()
    }
}

impl SamplingSink {
    /// Removes the spans head sampling drops from `batch`; returns how many it removed.
    fn sample(&self, tenant: &TenantId, batch: &mut SpanBatch) -> u64 {
        self.observe_roots(&batch.spans);
        let before = batch.spans.len();
        batch.spans.retain_mut(|span| {
            if explicitly_unsampled(span) {
                return false;
            }
            let Some(head) = &self.head else {
                return true;
            };
            match head.decide(span, tenant.as_str()) {
                HeadDecision::Drop => false,
                HeadDecision::Keep {
                    threshold, reason, ..
                } => {
                    // The adjusted count goes with the span, as OpenTelemetry records it.
                    if reason == KeepReason::Ratio
                        && threshold.unsigned() > 0
                        && let Some(th) = threshold.to_th()
                    {
                        span.trace_state = with_ot_threshold(&span.trace_state, &th);
                    }
                    true
                }
            }
        });
        let dropped = (before - batch.spans.len()) as u64;
        if dropped > 0 {
            metrics::counter!("weft_head_sampling_spans_total", "decision" => "dropped")
                .increment(dropped);
        }
        if self.head.is_some() && !batch.spans.is_empty() {
            metrics::counter!("weft_head_sampling_spans_total", "decision" => "kept")
                .increment(batch.spans.len() as u64);
        }
        dropped
    }
}

#[async_trait]
impl SpanSink for SamplingSink {
    async fn push(
        &self,
        tenant: &TenantId,
        mut batch: SpanBatch,
    ) -> Result<PushOutcome, PushError> {
        let dropped = self.sample(tenant, &mut batch);
        let mut outcome = if batch.spans.is_empty() {
            PushOutcome::default()
        } else {
            self.inner.push(tenant, batch).await?
        };
        // Sampled-out spans are taken: the sender must not send them again.
        outcome.accepted_spans += dropped;
        Ok(outcome)
    }

    /// Each batch is sampled as [`SamplingSink::push`] does; what is kept goes to the
    /// inner sink's `push_batches` together.
    async fn push_batches(
        &self,
        tenant: &TenantId,
        mut batches: Vec<SpanBatch>,
    ) -> Vec<Result<PushOutcome, PushError>> {
        let dropped: Vec<u64> = batches
            .iter_mut()
            .map(|batch| self.sample(tenant, batch))
            .collect();
        let answers = if batches.iter().all(SpanBatch::is_empty) {
            vec![Ok(PushOutcome::default()); batches.len()]
        } else {
            self.inner.push_batches(tenant, batches).await
        };
        answers
            .into_iter()
            .zip(dropped)
            .map(|(answer, dropped)| {
                answer.map(|mut outcome| {
                    outcome.accepted_spans += dropped;
                    outcome
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use weft_model::{KeyValue, Resource, SpanId, TraceId};
    use weft_remote_sampling::AdaptiveOptions;
    use weft_sampling::HeadConfig;

    use super::*;

    /// Counts the spans it is given.
    #[derive(Default)]
    struct Counting(Mutex<Vec<Span>>);

    #[async_trait]
    impl SpanSink for Counting {
        async fn push(&self, _: &TenantId, batch: SpanBatch) -> Result<PushOutcome, PushError> {
            let accepted = batch.len() as u64;
            self.0.lock().expect("not poisoned").extend(batch.spans);
            Ok(PushOutcome {
                accepted_spans: accepted,
                ..PushOutcome::default()
            })
        }
    }

    fn span(trace: u64, id: u64) -> Span {
        let mut span = Span::new(
            TraceId::from_halves(trace, trace.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            SpanId::from_u64(id),
            "GET /cart",
        );
        span.resource = Arc::new(Resource::for_service("checkout"));
        span
    }

    #[tokio::test]
    async fn head_sampling_keeps_whole_traces_at_the_ratio_and_acknowledges_the_rest() {
        let config = HeadConfig {
            default_ratio: 0.1,
            ..HeadConfig::default()
        };
        let inner = Arc::new(Counting::default());
        let sink = SamplingSink::new(
            Some(HeadSampler::new(&config).expect("valid ratio")),
            None,
            inner.clone(),
        );
        let mut spans = Vec::new();
        for trace in 0..10_000u64 {
            spans.push(span(trace, 1));
            spans.push(span(trace, 2));
        }
        let mut debug = span(99_999, 1);
        debug.debug = true;
        spans.push(debug);
        let outcome = sink
            .push(&TenantId::single(), SpanBatch::from(spans))
            .await
            .expect("push");
        assert_eq!(outcome.accepted_spans, 20_001);
        let stored = inner.0.lock().expect("not poisoned");
        assert!(stored.iter().any(|span| span.debug), "debug spans are kept");
        let mut per_trace = std::collections::HashMap::new();
        for span in stored.iter().filter(|span| !span.debug) {
            *per_trace.entry(span.trace_id).or_insert(0) += 1;
        }
        assert!(per_trace.values().all(|&count| count == 2), "whole traces");
        assert!(
            stored
                .iter()
                .filter(|span| !span.debug)
                .all(|span| span.trace_state == "ot=th:e666"),
            "the 10% threshold is recorded: {:?}",
            stored.first().map(|span| &span.trace_state)
        );
        let kept = per_trace.len();
        assert!(
            (850..=1150).contains(&kept),
            "about 10% of 10,000 traces: {kept}"
        );
    }

    #[tokio::test]
    async fn spans_marked_unsampled_are_dropped_only_when_the_flags_say_so() {
        let inner = Arc::new(Counting::default());
        let sink = SamplingSink::new(None, None, inner.clone());
        let mut unsampled = span(1, 1);
        unsampled.flags = FLAGS_CONTEXT_HAS_IS_REMOTE;
        let mut sampled = span(2, 1);
        sampled.flags = FLAGS_CONTEXT_HAS_IS_REMOTE | FLAGS_SAMPLED;
        let old_sdk = span(3, 1);
        let outcome = sink
            .push(
                &TenantId::single(),
                SpanBatch::from(vec![unsampled, sampled, old_sdk]),
            )
            .await
            .expect("push");
        assert_eq!(outcome.accepted_spans, 3);
        assert_eq!(inner.0.lock().expect("not poisoned").len(), 2);
    }

    #[tokio::test]
    async fn root_spans_with_sampler_tags_feed_adaptive_sampling() {
        let calculator = Arc::new(Mutex::new(
            AdaptiveCalculator::new(AdaptiveOptions::default(), 0).expect("valid options"),
        ));
        let sink = SamplingSink::new(
            None,
            Some(calculator.clone()),
            Arc::new(Counting::default()),
        );
        let mut spans = Vec::new();
        for trace in 0..50u64 {
            let mut root = span(trace, 1);
            root.attributes
                .push(KeyValue::new("sampler.type", "probabilistic"));
            root.attributes
                .push(KeyValue::new("sampler.param", AttributeValue::Double(0.5)));
            spans.push(root);
            let mut child = span(trace, 2);
            child.parent_span_id = Some(SpanId::from_u64(1));
            spans.push(child);
        }
        sink.push(&TenantId::single(), SpanBatch::from(spans))
            .await
            .expect("push");
        let bucket = calculator
            .lock()
            .expect("not poisoned")
            .take_throughput(60_000);
        let json = serde_json::to_string(&bucket).expect("serialises");
        assert!(
            json.contains("checkout") && json.contains("GET /cart"),
            "{json}"
        );
        assert!(json.contains("50"), "50 root spans counted: {json}");
    }
}
