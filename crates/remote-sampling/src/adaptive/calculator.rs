//! The probability calculation of adaptive sampling (see the module documentation of
//! [`super`] for the rules).

use super::throughput::{SamplerType, ThroughputBucket, probability_key};
use super::{AdaptiveOptions, AdaptiveOptionsError};
use crate::response::{
    OperationSamplingStrategy, PerOperationSamplingStrategies, ProbabilisticSampling,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Two probabilities closer than this are the same (Jaeger's `FloatEquals`).
const PROBABILITY_EPSILON: f64 = 1e-10;

/// What the last calculation decided for one operation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationState {
    /// The probability to serve, `min_sampling_probability..=1`.
    pub probability: f64,
    /// The weighted sampled rate it was computed from, traces per second.
    pub sampled_traces_per_second: f64,
    /// Whether the operation's clients appeared to follow the served probability.
    pub using_adaptive_sampling: bool,
}

/// Everything the calculator carries from one calculation to the next. Serialisable so the
/// replica that calculates can be replaced by another one resuming from a store.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveState {
    /// Throughput buckets used for the calculation, newest first, at most
    /// `aggregation_buckets`.
    pub buckets: VecDeque<ThroughputBucket>,
    /// Buckets added but not yet old enough to use (`calculation_delay`), oldest first.
    pub pending_buckets: VecDeque<ThroughputBucket>,
    /// service → operation → the last calculation's result.
    pub operations: BTreeMap<String, BTreeMap<String, OperationState>>,
}

/// The per-operation probabilities to serve, with the defaults that go with them.
/// Serialisable: the calculating replica stores it, the others load it and hand it to
/// [`crate::SamplingProvider::set_adaptive`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptiveProbabilities {
    /// `defaultSamplingProbability`: for operations not calculated yet.
    pub default_sampling_probability: f64,
    /// `defaultLowerBoundTracesPerSecond`.
    pub default_lower_bound_traces_per_second: f64,
    /// service → operation → probability.
    pub services: BTreeMap<String, BTreeMap<String, f64>>,
}

impl AdaptiveProbabilities {
    /// The `operationSampling` for `service`: its calculated operations in name order (none
    /// for a service not seen yet, which then samples everything at the default).
    pub fn operation_sampling(&self, service: &str) -> PerOperationSamplingStrategies {
        PerOperationSamplingStrategies {
            default_sampling_probability: self.default_sampling_probability,
            default_lower_bound_traces_per_second: self.default_lower_bound_traces_per_second,
            per_operation_strategies: self
                .services
                .get(service)
                .into_iter()
                .flatten()
                .map(|(operation, probability)| OperationSamplingStrategy {
                    operation: operation.clone(),
                    probabilistic_sampling: ProbabilisticSampling {
                        sampling_rate: *probability,
                    },
                })
                .collect(),
            default_upper_bound_traces_per_second: 0.0,
        }
    }
}

/// Computes per-operation probabilities from root-span throughput. Not thread-safe by
/// itself: wrap it in a mutex to record from several tasks.
#[derive(Clone, Debug)]
pub struct AdaptiveCalculator {
    options: AdaptiveOptions,
    /// The bucket recording now; its end is set when taken.
    current: ThroughputBucket,
    state: AdaptiveState,
}

impl AdaptiveCalculator {
    /// A calculator with no history, recording from `now_unix_millis`.
    pub fn new(
        options: AdaptiveOptions,
        now_unix_millis: u64,
    ) -> Result<Self, AdaptiveOptionsError> {
        Self::from_state(options, AdaptiveState::default(), now_unix_millis)
    }

    /// A calculator resuming from a stored state, recording from `now_unix_millis`.
    pub fn from_state(
        options: AdaptiveOptions,
        state: AdaptiveState,
        now_unix_millis: u64,
    ) -> Result<Self, AdaptiveOptionsError> {
        options.validate()?;
        let mut calculator = AdaptiveCalculator {
            options,
            current: ThroughputBucket::new(now_unix_millis, now_unix_millis),
            state,
        };
        let aggregation_buckets = calculator.options.aggregation_buckets;
        calculator.state.buckets.truncate(aggregation_buckets);
        Ok(calculator)
    }

    /// The options in use.
    pub fn options(&self) -> &AdaptiveOptions {
        &self.options
    }

    /// The state to store so that another replica can resume ([`Self::from_state`]).
    pub fn state(&self) -> &AdaptiveState {
        &self.state
    }

    /// Records one root span into the current bucket; see
    /// [`ThroughputBucket::record_root_span`].
    pub fn record_root_span(
        &mut self,
        service: &str,
        operation: &str,
        sampler_type: SamplerType,
        sampler_param: f64,
    ) {
        self.current
            .record_root_span(service, operation, sampler_type, sampler_param);
    }

    /// Adds sampled root spans of one operation to the current bucket; see
    /// [`ThroughputBucket::observe`].
    pub fn observe(
        &mut self,
        service: &str,
        operation: &str,
        probabilistic_root_spans: u64,
        probability: f64,
    ) {
        self.current
            .observe(service, operation, probabilistic_root_spans, probability);
    }

    /// Closes the current bucket at `now_unix_millis` and returns it; recording continues
    /// in a new bucket from there. A replica stores what this returns.
    pub fn take_throughput(&mut self, now_unix_millis: u64) -> ThroughputBucket {
        let start_unix_millis = self.current.start_unix_millis;
        let end_unix_millis = now_unix_millis.max(start_unix_millis);
        let mut taken = std::mem::replace(
            &mut self.current,
            ThroughputBucket::new(end_unix_millis, end_unix_millis),
        );
        taken.end_unix_millis = end_unix_millis;
        taken
    }

    /// Adds one interval's throughput (merged from every replica) for a later
    /// [`Self::calculate`]. Buckets are expected in time order.
    pub fn add_throughput(&mut self, bucket: ThroughputBucket) {
        self.state.pending_buckets.push_back(bucket);
    }

    /// Single-process step, to call once per calculation interval: takes the current
    /// bucket, adds it and calculates. Returns whether probabilities were recalculated.
    pub fn recalculate(&mut self, now_unix_millis: u64) -> bool {
        let bucket = self.take_throughput(now_unix_millis);
        self.add_throughput(bucket);
        self.calculate(now_unix_millis)
    }

    /// Moves the added buckets that ended at least `calculation_delay` before
    /// `now_unix_millis` into the history (several ready at once are merged into one) and,
    /// if there was one, recalculates every operation's probability. Returns whether it
    /// recalculated.
    pub fn calculate(&mut self, now_unix_millis: u64) -> bool {
        let delay_millis =
            u64::try_from(self.options.calculation_delay.as_millis()).unwrap_or(u64::MAX);
        let ready_before = now_unix_millis.saturating_sub(delay_millis);
        let mut ready: Option<ThroughputBucket> = None;
        while let Some(bucket) = self.state.pending_buckets.front() {
            if bucket.end_unix_millis > ready_before {
                break;
            }
            let Some(bucket) = self.state.pending_buckets.pop_front() else {
                break;
            };
            match &mut ready {
                Some(merged) => merged.merge(&bucket),
                None => ready = Some(bucket),
            }
        }
        let Some(bucket) = ready else {
            return false;
        };
        self.state.buckets.push_front(bucket);
        self.state
            .buckets
            .truncate(self.options.aggregation_buckets);
        self.calculate_probabilities();
        true
    }

    /// The probabilities to serve.
    pub fn probabilities(&self) -> AdaptiveProbabilities {
        AdaptiveProbabilities {
            default_sampling_probability: self.options.initial_sampling_probability,
            default_lower_bound_traces_per_second: self.options.min_samples_per_second,
            services: self
                .state
                .operations
                .iter()
                .map(|(service, operations)| {
                    let probabilities = operations
                        .iter()
                        .map(|(operation, state)| (operation.clone(), state.probability))
                        .collect();
                    (service.clone(), probabilities)
                })
                .collect(),
        }
    }

    /// The probability currently computed for one operation, if any.
    pub fn probability(&self, service: &str, operation: &str) -> Option<f64> {
        Some(
            self.state
                .operations
                .get(service)?
                .get(operation)?
                .probability,
        )
    }

    fn calculate_probabilities(&mut self) {
        let rates = self.weighted_sampled_rates();
        let mut operations: BTreeMap<String, BTreeMap<String, OperationState>> = BTreeMap::new();
        for ((service, operation), sampled_traces_per_second) in rates {
            let previous = self
                .state
                .operations
                .get(&service)
                .and_then(|operations| operations.get(&operation))
                .copied();
            let old_probability = previous
                .map_or(self.options.initial_sampling_probability, |previous| {
                    previous.probability
                });
            let using_adaptive_sampling =
                self.is_using_adaptive_sampling(old_probability, &service, &operation, previous);
            let probability = if using_adaptive_sampling {
                self.next_probability(old_probability, sampled_traces_per_second)
            } else {
                old_probability
            };
            operations.entry(service).or_default().insert(
                operation,
                OperationState {
                    probability,
                    sampled_traces_per_second,
                    using_adaptive_sampling,
                },
            );
        }
        self.state.operations = operations;
    }

    /// service/operation → weighted sampled rate over the newest `calculation_buckets`
    /// buckets that saw the operation (the newest weighted most, `i^4`).
    fn weighted_sampled_rates(&self) -> BTreeMap<(String, String), f64> {
        let mut rates_newest_first: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
        for bucket in &self.state.buckets {
            let interval_seconds = bucket.interval_seconds();
            for (service, operations) in &bucket.services {
                for (operation, throughput) in operations {
                    let rates = rates_newest_first
                        .entry((service.clone(), operation.clone()))
                        .or_default();
                    if rates.len() >= self.options.calculation_buckets {
                        continue;
                    }
                    let rate = if interval_seconds > 0.0 {
                        throughput.probabilistic_root_spans as f64 / interval_seconds
                    } else {
                        0.0
                    };
                    rates.push(rate);
                }
            }
        }
        rates_newest_first
            .into_iter()
            .map(|(key, rates)| (key, weighted_average_newest_first(&rates)))
            .collect()
    }

    /// Whether an operation's clients follow the probability we serve it, so that
    /// changing it has an effect (Jaeger's `isUsingAdaptiveSampling`).
    fn is_using_adaptive_sampling(
        &self,
        probability: f64,
        service: &str,
        operation: &str,
        previous: Option<OperationState>,
    ) -> bool {
        // A new operation is assumed adaptive; if it is not, the next round sees that its
        // reported probability differs from the one computed now.
        if same_probability(probability, self.options.initial_sampling_probability) {
            return true;
        }
        let newest = self.state.buckets.front();
        if let Some(throughput) = newest.and_then(|bucket| bucket.operation(service, operation)) {
            return throughput
                .probabilities
                .contains(&probability_key(probability));
        }
        // Not seen in the newest bucket: keep the previous verdict.
        previous.is_some_and(|previous| {
            previous.using_adaptive_sampling
                && !same_probability(
                    previous.probability,
                    self.options.initial_sampling_probability,
                )
        })
    }

    fn next_probability(&self, old_probability: f64, sampled_traces_per_second: f64) -> f64 {
        let target = self.options.target_samples_per_second;
        if (sampled_traces_per_second - target).abs() / target < self.options.delta_tolerance {
            return old_probability;
        }
        let new_probability = if sampled_traces_per_second.abs() < PROBABILITY_EPSILON {
            // Nothing sampled: double so the operation gets sampled at all.
            old_probability * 2.0
        } else {
            let wanted = old_probability * target / sampled_traces_per_second;
            // Cut oversampling at once; raise slowly, at most by max_probability_increase.
            let ceiling = old_probability * (1.0 + self.options.max_probability_increase);
            wanted.min(ceiling)
        };
        new_probability.clamp(self.options.min_sampling_probability, 1.0)
    }
}

fn same_probability(left: f64, right: f64) -> bool {
    (left - right).abs() < PROBABILITY_EPSILON
}

/// Weighted average with weights `i^4`, `i = n..1`, the first value the newest and
/// heaviest.
fn weighted_average_newest_first(values: &[f64]) -> f64 {
    let count = values.len();
    let mut weighted_sum = 0.0;
    let mut weight_sum = 0.0;
    for (index, value) in values.iter().enumerate() {
        let weight = ((count - index) as f64).powi(4);
        weighted_sum += value * weight;
        weight_sum += weight;
    }
    if weight_sum > 0.0 {
        weighted_sum / weight_sum
    } else {
        0.0
    }
}
