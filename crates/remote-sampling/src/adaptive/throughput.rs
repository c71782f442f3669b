//! Throughput: how many root spans each service/operation produced in an interval, and
//! with which probabilities its clients sampled them.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// At most this many distinct probabilities are kept per operation and bucket (Jaeger's
/// limit); more are ignored. They only serve to tell whether a client follows the served
/// probability.
pub const MAX_PROBABILITIES_PER_OPERATION: usize = 10;

/// The `sampler.type` tag a Jaeger SDK puts on a root span: how the trace was sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SamplerType {
    /// Sampled by a probabilistic decision with probability `sampler.param`. The only
    /// kind counted as throughput.
    Probabilistic,
    /// Sampled by the per-operation lower-bound rate limiter, not by probability. Makes the
    /// operation known (count 0) without counting.
    LowerBound,
    /// Sampled by a rate limiter (`sampler.param` traces per second). Not counted.
    RateLimiting,
    /// Sampled by a constant sampler (`sampler.param` 1 or 0). Not counted.
    Const,
}

impl SamplerType {
    /// Reads a `sampler.type` tag value; `None` for anything else ("unrecognized" too),
    /// which means the root span is ignored.
    pub fn from_tag(value: &str) -> Option<SamplerType> {
        match value {
            "probabilistic" => Some(SamplerType::Probabilistic),
            "lowerbound" => Some(SamplerType::LowerBound),
            "ratelimiting" => Some(SamplerType::RateLimiting),
            "const" => Some(SamplerType::Const),
            _ => None,
        }
    }
}

/// Reads a `sampler.param` tag written as a string (SDKs write it as a float, an integer or
/// a string); `None` when it is not a finite number, which means the root span is ignored.
pub fn parse_sampler_param(value: &str) -> Option<f64> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|param| param.is_finite())
}

/// The key probabilities are kept under: 6 decimals, as Jaeger stores them, so that
/// `0.1` and `0.1000000001` are the same probability.
pub fn probability_key(probability: f64) -> String {
    format!("{probability:.6}")
}

/// One operation's throughput in one bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationThroughput {
    /// Root spans sampled probabilistically in the interval (the sampled traces).
    pub probabilistic_root_spans: u64,
    /// The probabilities (as [`probability_key`]) seen in their `sampler.param`, at most
    /// [`MAX_PROBABILITIES_PER_OPERATION`].
    pub probabilities: BTreeSet<String>,
}

impl OperationThroughput {
    fn add_probability(&mut self, probability: f64) {
        if self.probabilities.len() < MAX_PROBABILITIES_PER_OPERATION {
            self.probabilities.insert(probability_key(probability));
        }
    }

    fn merge(&mut self, other: &OperationThroughput) {
        self.probabilistic_root_spans = self
            .probabilistic_root_spans
            .saturating_add(other.probabilistic_root_spans);
        for probability in &other.probabilities {
            if self.probabilities.len() >= MAX_PROBABILITIES_PER_OPERATION {
                break;
            }
            self.probabilities.insert(probability.clone());
        }
    }
}

/// Root-span throughput of every service/operation over one interval, as seen by one
/// replica or merged from several. Serialisable so replicas can hand it to the one that
/// calculates through a store.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThroughputBucket {
    /// Start of the interval, Unix milliseconds, inclusive.
    pub start_unix_millis: u64,
    /// End of the interval, Unix milliseconds, exclusive.
    pub end_unix_millis: u64,
    /// service → operation → throughput.
    pub services: BTreeMap<String, BTreeMap<String, OperationThroughput>>,
}

impl ThroughputBucket {
    /// An empty bucket for `[start_unix_millis, end_unix_millis)`; the end may be set later
    /// (the calculator closes its open bucket when it takes it).
    pub fn new(start_unix_millis: u64, end_unix_millis: u64) -> Self {
        ThroughputBucket {
            start_unix_millis,
            end_unix_millis,
            services: BTreeMap::new(),
        }
    }

    /// Records one root span by its `sampler.type` and `sampler.param` tags, as Jaeger's
    /// aggregator does: every recognised type records the probability, only
    /// [`SamplerType::Probabilistic`] counts. Empty service or operation names are ignored.
    pub fn record_root_span(
        &mut self,
        service: &str,
        operation: &str,
        sampler_type: SamplerType,
        sampler_param: f64,
    ) {
        let probabilistic_root_spans = u64::from(sampler_type == SamplerType::Probabilistic);
        self.observe(service, operation, probabilistic_root_spans, sampler_param);
    }

    /// Adds `probabilistic_root_spans` sampled root spans of one operation, sampled with
    /// `probability` (the `sampler.param` they carry). A count of 0 still makes the
    /// operation known. Empty names and non-finite probabilities are ignored.
    pub fn observe(
        &mut self,
        service: &str,
        operation: &str,
        probabilistic_root_spans: u64,
        probability: f64,
    ) {
        if service.is_empty() || operation.is_empty() || !probability.is_finite() {
            return;
        }
        let operations = match self.services.get_mut(service) {
            Some(operations) => operations,
            None => self.services.entry(service.to_owned()).or_default(),
        };
        let throughput = match operations.get_mut(operation) {
            Some(throughput) => throughput,
            None => operations.entry(operation.to_owned()).or_default(),
        };
        throughput.probabilistic_root_spans = throughput
            .probabilistic_root_spans
            .saturating_add(probabilistic_root_spans);
        throughput.add_probability(probability);
    }

    /// Adds another replica's throughput: counts are summed, probability sets united, and
    /// the interval widened to cover both. Replicas should close their buckets on the same
    /// boundaries (multiples of the calculation interval, see
    /// [`super::aligned_interval_end`]) so the merged interval is the same length as each;
    /// otherwise the rate is computed over the widened interval.
    pub fn merge(&mut self, other: &ThroughputBucket) {
        if self.services.is_empty() && self.start_unix_millis == self.end_unix_millis {
            self.start_unix_millis = other.start_unix_millis;
            self.end_unix_millis = other.end_unix_millis;
        } else {
            self.start_unix_millis = self.start_unix_millis.min(other.start_unix_millis);
            self.end_unix_millis = self.end_unix_millis.max(other.end_unix_millis);
        }
        for (service, operations) in &other.services {
            let merged_operations = self.services.entry(service.clone()).or_default();
            for (operation, throughput) in operations {
                merged_operations
                    .entry(operation.clone())
                    .or_default()
                    .merge(throughput);
            }
        }
    }

    /// Length of the interval in seconds (0 for an empty or inverted interval).
    pub fn interval_seconds(&self) -> f64 {
        self.end_unix_millis.saturating_sub(self.start_unix_millis) as f64 / 1000.0
    }

    /// The throughput of one operation, if it was seen.
    pub fn operation(&self, service: &str, operation: &str) -> Option<&OperationThroughput> {
        self.services.get(service)?.get(operation)
    }
}
