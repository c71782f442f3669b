//! Tail sampling in the ingester: whole traces are kept or dropped when the head is cut.
//!
//! Every acknowledged span is in the WAL and the head as usual. When a head is cut, each
//! of its traces is
//! - **decided** when its last span arrived at least `decision_wait` ago, or when an
//!   earlier cut already decided it (late spans follow the decision while it is in the
//!   bounded decision cache): kept traces go into the block, dropped ones are left out;
//! - **carried** otherwise: its spans are appended to the WAL again and put in the new
//!   head with their original arrival time, so they are decided at a later cut, before
//!   the segments holding their first copy are deleted. A crash at any point replays
//!   them (duplicates a crash may leave are removed at query time and by compaction);
//!   replayed traces wait a whole `decision_wait` again.
//! - **decided early** when the traces to carry would take more than half of
//!   `max_head_bytes`: the oldest are decided at once (counted in
//!   `weft_tail_sampling_early_decisions_total`), so waiting traces never hold more than
//!   the head's budget.
//!
//! A head is also cut once it is `decision_wait` twice old (at least 30 s) so that
//! decisions are not held up by a quiet head.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use foldhash::{HashMap, HashSet};
use weft_model::{Span, TenantId, TraceId};

/// The shortest age at which a head is cut for tail sampling.
const MIN_DECISION_CUT_AGE: Duration = Duration::from_secs(30);

/// Whether a trace is stored, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailVerdict {
    /// Store the trace.
    pub keep: bool,
    /// What decided (a policy name), for the per-policy counters.
    pub policy: Arc<str>,
}

/// Decides on whole traces; implemented over the tail-sampling policies by the app.
pub trait TraceDecider: Send + Sync + 'static {
    /// Decides on `spans`, every span of one trace of `tenant` seen so far.
    fn decide(&self, tenant: &TenantId, spans: &[Span], now: Instant) -> TailVerdict;
}

/// Tail sampling settings of an ingester.
#[derive(Clone)]
pub struct TailSampling {
    /// Decides on traces.
    pub decider: Arc<dyn TraceDecider>,
    /// How long after its last span a trace is decided.
    pub decision_wait: Duration,
    /// Most decisions remembered for late spans, kept and dropped each.
    pub decision_cache_size: usize,
}

impl std::fmt::Debug for TailSampling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TailSampling")
            .field("decision_wait", &self.decision_wait)
            .field("decision_cache_size", &self.decision_cache_size)
            .finish_non_exhaustive()
    }
}

impl TailSampling {
    /// The head age at which a cut is due so that waiting traces get decided.
    pub(crate) fn cut_age(&self) -> Duration {
        (self.decision_wait * 2).max(MIN_DECISION_CUT_AGE)
    }
}

/// Recent decisions, first in first out, per outcome.
#[derive(Debug, Default)]
struct Remembered {
    set: HashSet<(TenantId, TraceId)>,
    order: VecDeque<(TenantId, TraceId)>,
}

impl Remembered {
    fn insert(&mut self, key: (TenantId, TraceId), capacity: usize) {
        if capacity == 0 || !self.set.insert(key.clone()) {
            return;
        }
        self.order.push_back(key);
        while self.order.len() > capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
    }
}

/// The runtime side of tail sampling: settings and the decision cache.
#[derive(Debug)]
pub(crate) struct TailState {
    pub settings: TailSampling,
    kept: Mutex<Remembered>,
    dropped: Mutex<Remembered>,
}

/// How one trace of a cut head is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Keep,
    Drop,
    Carry,
}

/// Which traces of one cut head are carried or decided early, fixed at the first
/// attempt to write it so a retried write does the same.
#[derive(Debug, Default)]
pub(crate) struct TailPlan {
    /// Traces to carry, with when their latest span arrived.
    pub carry: HashMap<TraceId, Instant>,
    pub early: HashSet<TraceId>,
}

impl TailState {
    pub fn new(settings: TailSampling) -> TailState {
        TailState {
            settings,
            kept: Mutex::default(),
            dropped: Mutex::default(),
        }
    }

    /// Plans a cut head: traces that arrived within `decision_wait` of `now` are carried,
    /// newest first, while they fit in `carry_budget` bytes; the older rest is decided
    /// early. `traces` gives each trace's last arrival and estimated bytes.
    pub fn plan(
        &self,
        tenant: &TenantId,
        traces: Vec<(TraceId, Instant, u64)>,
        now: Instant,
        carry_budget: &mut u64,
    ) -> TailPlan {
        let wait = self.settings.decision_wait;
        let mut waiting: Vec<(TraceId, Instant, u64)> = traces
            .into_iter()
            .filter(|(trace_id, arrival, _)| {
                now.saturating_duration_since(*arrival) < wait
                    && self.remembered(tenant, *trace_id).is_none()
            })
            .collect();
        waiting.sort_by_key(|&(_, arrival, _)| std::cmp::Reverse(arrival));
        let mut plan = TailPlan::default();
        for (trace_id, arrival, bytes) in waiting {
            if bytes <= *carry_budget {
                *carry_budget -= bytes;
                plan.carry.insert(trace_id, arrival);
            } else {
                plan.early.insert(trace_id);
            }
        }
        if !plan.early.is_empty() {
            metrics::counter!("weft_tail_sampling_early_decisions_total")
                .increment(plan.early.len() as u64);
        }
        plan
    }

    /// Decides on one trace of a cut head (`spans` decoded) following `plan`.
    pub fn fate(&self, tenant: &TenantId, spans: &[Span], plan: &TailPlan) -> Fate {
        let Some(trace_id) = spans.first().map(|span| span.trace_id) else {
            return Fate::Drop;
        };
        if let Some(keep) = self.remembered(tenant, trace_id) {
            let decision = if keep { "kept" } else { "dropped" };
            metrics::counter!("weft_tail_sampling_late_spans_total", "decision" => decision)
                .increment(spans.len() as u64);
            return if keep { Fate::Keep } else { Fate::Drop };
        }
        if plan.carry.contains_key(&trace_id) {
            return Fate::Carry;
        }
        let verdict = self.settings.decider.decide(tenant, spans, Instant::now());
        let decision = if verdict.keep { "kept" } else { "dropped" };
        metrics::counter!(
            "weft_tail_sampling_traces_total",
            "tenant" => tenant.as_str().to_owned(),
            "policy" => verdict.policy.to_string(),
            "decision" => decision
        )
        .increment(1);
        let capacity = self.settings.decision_cache_size;
        let key = (tenant.clone(), trace_id);
        if verdict.keep {
            self.kept
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key, capacity);
            Fate::Keep
        } else {
            self.dropped
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key, capacity);
            Fate::Drop
        }
    }

    /// The remembered decision on a trace: `Some(true)` kept, `Some(false)` dropped.
    fn remembered(&self, tenant: &TenantId, trace_id: TraceId) -> Option<bool> {
        let key = (tenant.clone(), trace_id);
        if self
            .kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .set
            .contains(&key)
        {
            return Some(true);
        }
        self.dropped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .set
            .contains(&key)
            .then_some(false)
    }
}

/// Spans of traces to carry into the next head, sent from the block writer's thread.
#[derive(Debug)]
pub(crate) struct CarryBatch {
    pub spans: Vec<Span>,
    /// When each trace's latest span arrived.
    pub arrivals: HashMap<TraceId, Instant>,
}
