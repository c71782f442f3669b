//! Tail sampling: the OpenTelemetry Collector's `tail_sampling` processor policies,
//! evaluated on one whole trace.
//!
//! Load a [`TailConfig`] from the Collector's YAML, build a [`TailSampler`], and call
//! [`TailSampler::decide`] with all the spans of a trace once its `decision_wait` has
//! passed. Buffering spans, the wait and the decision caches belong to the caller; the
//! config carries their settings.
//!
//! # Combining policy decisions
//!
//! Drop policies are evaluated first, then the others in the order written. A `Dropped`
//! decision ends evaluation (as in the Collector); with `sample_on_first_match` so does
//! the first `Sampled`. Putting drops first does not change which decision wins, since
//! `Dropped` beats everything; it means a drop also beats `sample_on_first_match`, and a
//! dropped trace takes no tokens from rate limiters written after the drop policy. Then,
//! as the Collector combines them:
//!
//! 1. any `Dropped`: not sampled;
//! 2. else any `InvertNotSampled`: not sampled;
//! 3. else any `Sampled`: sampled (the first such policy decided);
//! 4. else any `InvertSampled` and no `NotSampled`: sampled;
//! 5. else not sampled.
//!
//! Inside `and`, `drop` and `composite`, inverted decisions count as plain ones.

mod check;
mod config;
mod limiter;
mod policy;
mod raw;
mod size;

use std::sync::Arc;
use std::time::Instant;

pub use config::{
    DEFAULT_DECISION_WAIT, DEFAULT_NUM_TRACES, DecisionCacheConfig, PolicyConfig, PolicyKind,
    StringMatcher, TailConfig,
};
pub use policy::PolicyDecision;
pub use size::trace_size_bytes;
use weft_model::Span;

use policy::{Evaluator, TraceView};

/// The outcome of evaluating every policy on a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FinalDecision {
    /// Keep the trace.
    Sampled,
    /// Do not keep the trace: no policy wanted it, or an inverted match vetoed it.
    NotSampled,
    /// A drop policy vetoed the trace.
    Dropped,
}

/// One evaluated policy's decision, for per-policy counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyOutcome {
    /// The top-level policy's name.
    pub policy: Arc<str>,
    /// What it decided.
    pub decision: PolicyDecision,
}

/// The decision on one trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailDecision {
    /// The combined decision.
    pub decision: FinalDecision,
    /// The policy that decided: the first `Dropped`, `InvertNotSampled`, `Sampled` or
    /// `InvertSampled` policy behind `decision`; `None` when nothing matched.
    pub deciding_policy: Option<Arc<str>>,
    /// Every policy evaluated, in evaluation order (drop policies first). Policies
    /// after an early stop are absent.
    pub outcomes: Vec<PolicyOutcome>,
}

impl TailDecision {
    /// True when the trace is kept.
    pub fn is_sampled(&self) -> bool {
        self.decision == FinalDecision::Sampled
    }
}

/// Evaluates a [`TailConfig`]'s policies. Thread-safe: [`TailSampler::decide`] takes
/// `&self`; rate and byte limiters and composite budgets sit behind mutexes and advance
/// with the `now` the caller passes, so results are deterministic in tests.
#[derive(Debug)]
pub struct TailSampler {
    policies: Vec<(Arc<str>, Evaluator)>,
    sample_on_first_match: bool,
}

impl TailSampler {
    /// Builds the sampler; limiters start with full buckets.
    pub fn new(config: &TailConfig) -> TailSampler {
        let is_drop = |policy: &&PolicyConfig| matches!(policy.kind, PolicyKind::Drop(_));
        let drops = config.policies.iter().filter(is_drop);
        let others = config.policies.iter().filter(|policy| !is_drop(policy));
        TailSampler {
            policies: drops
                .chain(others)
                .map(|policy| (Arc::from(policy.name.as_str()), Evaluator::new(policy)))
                .collect(),
            sample_on_first_match: config.sample_on_first_match,
        }
    }

    /// The top-level policy names, in evaluation order.
    pub fn policy_names(&self) -> impl Iterator<Item = &str> {
        self.policies.iter().map(|(name, _)| name.as_ref())
    }

    /// Decides on a whole trace (all its spans, any order) at time `now`.
    pub fn decide(&self, trace: &[Span], now: Instant) -> TailDecision {
        let view = TraceView::new(trace);
        let mut outcomes = Vec::with_capacity(self.policies.len());
        for (name, evaluator) in &self.policies {
            let decision = evaluator.evaluate(&view, now);
            outcomes.push(PolicyOutcome {
                policy: Arc::clone(name),
                decision,
            });
            if decision == PolicyDecision::Dropped
                || (self.sample_on_first_match && decision == PolicyDecision::Sampled)
            {
                break;
            }
        }
        let first = |wanted: PolicyDecision| {
            outcomes
                .iter()
                .find(|outcome| outcome.decision == wanted)
                .map(|outcome| Arc::clone(&outcome.policy))
        };
        let (decision, deciding_policy) = if let Some(policy) = first(PolicyDecision::Dropped) {
            (FinalDecision::Dropped, Some(policy))
        } else if let Some(policy) = first(PolicyDecision::InvertNotSampled) {
            (FinalDecision::NotSampled, Some(policy))
        } else if let Some(policy) = first(PolicyDecision::Sampled) {
            (FinalDecision::Sampled, Some(policy))
        } else if let Some(policy) = first(PolicyDecision::InvertSampled)
            && first(PolicyDecision::NotSampled).is_none()
        {
            (FinalDecision::Sampled, Some(policy))
        } else {
            (FinalDecision::NotSampled, None)
        };
        TailDecision {
            decision,
            deciding_policy,
            outcomes,
        }
    }
}
