//! Adaptive sampling: per-operation probabilities computed from observed traffic so that
//! each operation of each service is sampled at about `target_samples_per_second`, the
//! model of Jaeger's adaptive sampling (`internal/sampling/samplingstrategy/adaptive`).
//!
//! The backend does not sample; the SDKs do, with the probabilities served by
//! `GET /sampling`. The loop:
//!
//! 1. **Throughput.** Every root span that reaches the backend carries, from Jaeger SDKs,
//!    `sampler.type` and `sampler.param` tags. Each `probabilistic` root span is one sampled
//!    trace of its service/operation; `lowerbound`, `ratelimiting` and `const` ones make the
//!    operation known without counting. The probabilities seen are kept (at most 10 per
//!    operation, 6 decimals). Recorded into a [`ThroughputBucket`] per calculation
//!    interval (default 1 minute) by [`AdaptiveCalculator::record_root_span`] or
//!    [`AdaptiveCalculator::observe`].
//! 2. **Rate.** The sampled rate of an operation is its count divided by the bucket's
//!    length, averaged over the last `calculation_buckets` buckets that saw it with weights
//!    `i^4` (newest heaviest; default 1 bucket). The last `aggregation_buckets` (10)
//!    buckets are kept; an operation seen in none of them is forgotten.
//! 3. **Probability.** With `p` the probability last computed (or
//!    `initial_sampling_probability`, 0.001, for a new operation) and `r` the sampled rate:
//!    - if `|r - target| / target < delta_tolerance` (0.3), `p` is kept;
//!    - if the operation does not appear to follow adaptive sampling (its clients did not
//!      report `p` in the latest bucket, e.g. a pinned or rate-limited operation), `p` is
//!      kept;
//!    - if `r` is 0, `p` doubles;
//!    - if `r > target`, `p` becomes `p * target / r` at once (oversampling is cut
//!      immediately);
//!    - if `r < target`, `p` grows towards `p * target / r` by at most
//!      `max_probability_increase` (1.0 = it at most doubles per interval), which damps
//!      the response to noise and to traffic that has not yet picked up the new value;
//!    - the result is clamped to `min_sampling_probability..=1` (1e-5..=1).
//!
//!    Operations whose true rate is below the target climb to probability 1; the
//!    `defaultLowerBoundTracesPerSecond` served with them (`min_samples_per_second`, one a
//!    minute) lets SDKs sample rare operations regardless.
//! 4. **Serving.** [`AdaptiveCalculator::probabilities`] gives an
//!    [`AdaptiveProbabilities`] to [`crate::SamplingProvider::set_adaptive`], which serves
//!    them as `operationSampling` with `defaultSamplingProbability =
//!    initial_sampling_probability` and the lower bound above.
//!
//! **Replicas.** Every replica records the root spans it receives and, at each interval
//! boundary ([`aligned_interval_end`]), hands its bucket
//! ([`AdaptiveCalculator::take_throughput`]) to a shared store. One replica (the leader)
//! merges the buckets of an interval ([`ThroughputBucket::merge`]: counts summed,
//! probability sets united), feeds the result to [`AdaptiveCalculator::add_throughput`],
//! calls [`AdaptiveCalculator::calculate`] and stores the [`AdaptiveProbabilities`] for all
//! replicas to serve. [`AdaptiveState`] (buckets, probabilities, rates) is serialisable so
//! a new leader can resume. A single process calls [`AdaptiveCalculator::recalculate`]
//! each interval, which does all of this locally.
//!
//! `calculation_delay` (default 2 minutes) holds a bucket back until it ended that long
//! ago: SDKs poll every minute or so, so the newest traffic was partly sampled with older
//! probabilities. Set it to about the SDKs' polling period.

mod calculator;
mod throughput;

pub use calculator::{AdaptiveCalculator, AdaptiveProbabilities, AdaptiveState, OperationState};
pub use throughput::{
    MAX_PROBABILITIES_PER_OPERATION, OperationThroughput, SamplerType, ThroughputBucket,
    parse_sampler_param, probability_key,
};

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Adaptive sampling settings; the defaults are Jaeger's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveOptions {
    /// Sampled traces per second wanted for each operation of each service. Default 1.
    pub target_samples_per_second: f64,
    /// Relative deviation from the target within which a probability is left alone:
    /// 0.3 means a sampled rate within 30% of the target is close enough. Default 0.3.
    pub delta_tolerance: f64,
    /// Length of a throughput bucket and period of the calculation. Default 1 minute.
    #[serde(with = "humantime_serde")]
    pub calculation_interval: Duration,
    /// How many buckets are kept; an operation absent from all of them is forgotten.
    /// Default 10.
    pub aggregation_buckets: usize,
    /// How many of the newest buckets that saw an operation its rate averages, weighted
    /// towards the newest. Default 1.
    pub calculation_buckets: usize,
    /// How long after its end a bucket is used, so that clients have picked up the
    /// probabilities it was sampled with. Default 2 minutes.
    #[serde(with = "humantime_serde")]
    pub calculation_delay: Duration,
    /// Probability of an operation not calculated yet (served as
    /// `defaultSamplingProbability`). Default 0.001.
    pub initial_sampling_probability: f64,
    /// Smallest probability ever computed. Default 1e-5 (one in 100,000).
    pub min_sampling_probability: f64,
    /// Lower bound served to SDKs (`defaultLowerBoundTracesPerSecond`): each client
    /// instance samples at least this many traces per second per operation. Default 1/60.
    pub min_samples_per_second: f64,
    /// Largest relative increase of a probability per calculation: 1.0 lets it at most
    /// double. Default 1.0 (the value Jaeger uses).
    pub max_probability_increase: f64,
}

impl Default for AdaptiveOptions {
    fn default() -> Self {
        AdaptiveOptions {
            target_samples_per_second: 1.0,
            delta_tolerance: 0.3,
            calculation_interval: Duration::from_secs(60),
            aggregation_buckets: 10,
            calculation_buckets: 1,
            calculation_delay: Duration::from_secs(120),
            initial_sampling_probability: 0.001,
            min_sampling_probability: 1e-5,
            min_samples_per_second: 1.0 / 60.0,
            max_probability_increase: 1.0,
        }
    }
}

/// Adaptive options that cannot work, naming the option.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("adaptive sampling: {option}: {message}")]
pub struct AdaptiveOptionsError {
    /// The option at fault.
    pub option: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl AdaptiveOptions {
    /// Checks every option's range.
    pub fn validate(&self) -> Result<(), AdaptiveOptionsError> {
        let error =
            |option: &'static str, message: String| Err(AdaptiveOptionsError { option, message });
        let positive = |value: f64| value.is_finite() && value > 0.0;
        if !positive(self.target_samples_per_second) {
            return error(
                "target_samples_per_second",
                format!(
                    "{} must be a positive number",
                    self.target_samples_per_second
                ),
            );
        }
        if !(self.delta_tolerance.is_finite() && self.delta_tolerance >= 0.0) {
            return error(
                "delta_tolerance",
                format!("{} must be a number of at least 0", self.delta_tolerance),
            );
        }
        if self.calculation_interval.as_millis() == 0 {
            return error("calculation_interval", "must be at least 1ms".to_owned());
        }
        if self.aggregation_buckets == 0 {
            return error("aggregation_buckets", "must be at least 1".to_owned());
        }
        if self.calculation_buckets == 0 || self.calculation_buckets > self.aggregation_buckets {
            return error(
                "calculation_buckets",
                format!(
                    "{} must be within 1..=aggregation_buckets ({})",
                    self.calculation_buckets, self.aggregation_buckets
                ),
            );
        }
        for (option, probability) in [
            (
                "initial_sampling_probability",
                self.initial_sampling_probability,
            ),
            ("min_sampling_probability", self.min_sampling_probability),
        ] {
            if !(probability > 0.0 && probability <= 1.0) {
                return error(option, format!("{probability} must be within (0, 1]"));
            }
        }
        if !(self.min_samples_per_second.is_finite() && self.min_samples_per_second >= 0.0) {
            return error(
                "min_samples_per_second",
                format!(
                    "{} must be a number of at least 0",
                    self.min_samples_per_second
                ),
            );
        }
        if !positive(self.max_probability_increase) {
            return error(
                "max_probability_increase",
                format!(
                    "{} must be a positive number",
                    self.max_probability_increase
                ),
            );
        }
        Ok(())
    }
}

/// The end of the calculation interval containing `now_unix_millis`, Unix milliseconds:
/// the next multiple of `calculation_interval` after it. Replicas that close their buckets
/// at these instants produce buckets with identical intervals, which merge exactly.
pub fn aligned_interval_end(now_unix_millis: u64, calculation_interval: Duration) -> u64 {
    let interval_millis = u64::try_from(calculation_interval.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    (now_unix_millis / interval_millis)
        .saturating_add(1)
        .saturating_mul(interval_millis)
}

#[cfg(test)]
mod tests;
