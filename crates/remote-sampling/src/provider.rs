//! The strategy each service is served: the strategies file, optionally overlaid with the
//! adaptive probabilities. Shared by the HTTP and gRPC endpoints.

use crate::adaptive::AdaptiveProbabilities;
use crate::response::SamplingStrategyResponse;
use crate::strategies::{Strategies, StrategiesError};
use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};

/// Serves strategies; cheap to share (`Arc<SamplingProvider>`), thread-safe, and
/// swappable while serving: [`Self::reload_strategies`] and [`Self::set_adaptive`] replace
/// what later requests see, requests in flight keep what they read.
///
/// With adaptive probabilities set, every service is served `operationSampling` built
/// as follows, and keeps the file's service-wide `probabilisticSampling` or
/// `rateLimitingSampling` for clients that ignore `operationSampling`:
///
/// - `perOperationStrategies`: the operations the file lists for the service (explicit or
///   inherited from `default_strategy`) first, pinned to the file's probability, then
///   every adaptively calculated operation the file does not list, in name order;
/// - `defaultSamplingProbability`: the adaptive default (`initial_sampling_probability`),
///   so new operations start low and are measured;
/// - `defaultLowerBoundTracesPerSecond`: the file's when it sets one (non-zero), else
///   the adaptive `min_samples_per_second`; `defaultUpperBoundTracesPerSecond`: the file's.
#[derive(Debug)]
pub struct SamplingProvider {
    default_sampling_probability: f64,
    state: RwLock<ProviderState>,
}

#[derive(Debug, Clone)]
struct ProviderState {
    strategies: Arc<Strategies>,
    adaptive: Option<Arc<AdaptiveProbabilities>>,
}

impl SamplingProvider {
    /// A provider serving `strategies`. `default_sampling_probability` is what later
    /// reloads use for strategies without `type` ([`crate::DEFAULT_SAMPLING_PROBABILITY`]).
    pub fn new(strategies: Strategies, default_sampling_probability: f64) -> Self {
        SamplingProvider {
            default_sampling_probability,
            state: RwLock::new(ProviderState {
                strategies: Arc::new(strategies),
                adaptive: None,
            }),
        }
    }

    /// A provider without a strategies file: probabilistic `default_sampling_probability`
    /// for every service until a file is loaded.
    pub fn without_file(default_sampling_probability: f64) -> Self {
        Self::new(
            Strategies::without_file(default_sampling_probability),
            default_sampling_probability,
        )
    }

    /// A provider serving a strategies file's text.
    pub fn from_json(
        text: &str,
        default_sampling_probability: f64,
    ) -> Result<Self, StrategiesError> {
        Ok(Self::new(
            Strategies::from_json(text, default_sampling_probability)?,
            default_sampling_probability,
        ))
    }

    /// Replaces the strategies with a new version of the file. On error the strategies
    /// served so far stay in place and the error says what is wrong with the new text. On
    /// success returns the file's warnings for the log.
    pub fn reload_strategies(&self, text: &str) -> Result<Vec<String>, StrategiesError> {
        let strategies = Strategies::from_json(text, self.default_sampling_probability)?;
        let warnings = strategies.warnings().to_vec();
        self.set_strategies(strategies);
        Ok(warnings)
    }

    /// Replaces the strategies.
    pub fn set_strategies(&self, strategies: Strategies) {
        self.write().strategies = Arc::new(strategies);
    }

    /// Sets (or with `None` removes) the adaptive probabilities overlaid on the file.
    pub fn set_adaptive(&self, adaptive: Option<AdaptiveProbabilities>) {
        self.write().adaptive = adaptive.map(Arc::new);
    }

    /// The strategies currently served.
    pub fn strategies(&self) -> Arc<Strategies> {
        Arc::clone(&self.read().strategies)
    }

    /// The strategy to serve `service` now.
    pub fn strategy_for(&self, service: &str) -> SamplingStrategyResponse {
        let state = self.read().clone();
        let file_response = state.strategies.resolve(service);
        match &state.adaptive {
            None => file_response.clone(),
            Some(adaptive) => overlay_adaptive(file_response, adaptive, service),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, ProviderState> {
        // The state is replaced whole, never left half-written, so a poisoned lock still
        // holds a consistent value.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, ProviderState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

fn overlay_adaptive(
    file_response: &SamplingStrategyResponse,
    adaptive: &AdaptiveProbabilities,
    service: &str,
) -> SamplingStrategyResponse {
    let mut response = file_response.clone();
    let mut operations = adaptive.operation_sampling(service);
    if let Some(file_operations) = response.operation_sampling.take() {
        let pinned: HashSet<&str> = file_operations
            .per_operation_strategies
            .iter()
            .map(|operation| operation.operation.as_str())
            .collect();
        let adaptive_operations = std::mem::take(&mut operations.per_operation_strategies);
        operations.per_operation_strategies = file_operations.per_operation_strategies.clone();
        operations.per_operation_strategies.extend(
            adaptive_operations
                .into_iter()
                .filter(|operation| !pinned.contains(operation.operation.as_str())),
        );
        if file_operations.default_lower_bound_traces_per_second > 0.0 {
            operations.default_lower_bound_traces_per_second =
                file_operations.default_lower_bound_traces_per_second;
        }
        operations.default_upper_bound_traces_per_second =
            file_operations.default_upper_bound_traces_per_second;
    }
    response.operation_sampling = Some(operations);
    response
}
