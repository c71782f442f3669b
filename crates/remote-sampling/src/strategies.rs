//! Jaeger's sampling strategies file (`--sampling.strategies-file`, the `file` provider of
//! Jaeger v2's `remote_sampling` extension): parsing, validation and resolution of the
//! strategy served to each service.
//!
//! The file is JSON (Jaeger reads it with `json.Unmarshal`; it does not accept YAML):
//!
//! ```json
//! {
//!   "default_strategy": {
//!     "type": "probabilistic", "param": 0.5,
//!     "operation_strategies": [
//!       { "operation": "/health", "type": "probabilistic", "param": 0.0 }
//!     ]
//!   },
//!   "service_strategies": [
//!     { "service": "foo", "type": "probabilistic", "param": 0.8,
//!       "operation_strategies": [
//!         { "operation": "op1", "type": "probabilistic", "param": 0.2 }
//!       ] },
//!     { "service": "bar", "type": "ratelimiting", "param": 5 }
//!   ]
//! }
//! ```
//!
//! Resolution, as Jaeger's file provider does it:
//!
//! - A service listed in `service_strategies` gets its own `type`/`param`; any other service
//!   gets `default_strategy`; with no `default_strategy`, probabilistic
//!   [`DEFAULT_SAMPLING_PROBABILITY`] (0.001, Jaeger's `--sampling.default-sampling-probability`).
//! - `operation_strategies` become `operationSampling.perOperationStrategies`. Their
//!   `defaultSamplingProbability` is the service's probability when the service is
//!   probabilistic, else the configured default probability (0.001).
//! - When `default_strategy` has operation strategies, a service without its own inherits
//!   them (with `defaultSamplingProbability` replaced by the service's probability when the
//!   service is probabilistic), and a service with its own gets the default's operations
//!   appended after its own, its own winning for an operation listed in both.
//! - Only probabilistic operation strategies exist in the protocol: a `ratelimiting`
//!   operation strategy is left out, with a warning ([`Strategies::warnings`]).
//! - A strategy with no `type` (and no `param`) is probabilistic with the default
//!   probability (0.001), not the `default_strategy` (Jaeger's `missing-service-types`
//!   behaviour): useful for a service that only lists operation strategies.
//! - A `ratelimiting` `param` is truncated to a whole number of traces per second
//!   (`int32` on the wire), with a warning when that changes it.
//!
//! Stricter than Jaeger, to catch mistakes at load: unknown keys, an unknown `type`, a
//! `param` out of range (probability outside 0..=1, negative or non-finite rate), a `param`
//! without `type` or a `type` without `param`, a missing or duplicate `service`, a missing
//! or duplicate `operation` are errors naming the field (Jaeger logs some of these and
//! serves 0.001, and silently takes the last of duplicates).
//!
//! Extension (not in Jaeger's file format, only in its response):
//! `default_lower_bound_traces_per_second` and `default_upper_bound_traces_per_second` on
//! a service or the default strategy set the fields of the same name in
//! `operationSampling`. A service that sets neither takes the default strategy's. Setting
//! either makes the response carry `operationSampling` even with no operation strategies,
//! since clients only read the bounds there.

use crate::response::{
    OperationSamplingStrategy, PerOperationSamplingStrategies, ProbabilisticSampling,
    SamplingStrategyResponse,
};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

/// The probability served when nothing else applies: no strategies file, no
/// `default_strategy`, or a strategy without `type`. Jaeger's default, 1 trace in 1000.
pub const DEFAULT_SAMPLING_PROBABILITY: f64 = 0.001;

/// A strategies file that cannot be used, with the path of the offending field
/// (`service_strategies[1].param`) or `.` for the document itself.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("sampling strategies: {field}: {message}")]
pub struct StrategiesError {
    /// Path of the field at fault, as `service_strategies[0].operation_strategies[2].type`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl StrategiesError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        StrategiesError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The document as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDocument {
    #[serde(default)]
    default_strategy: Option<FileServiceStrategy>,
    #[serde(default)]
    service_strategies: Option<Vec<FileServiceStrategy>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileServiceStrategy {
    #[serde(default)]
    service: Option<String>,
    #[serde(rename = "type", default)]
    strategy_type: Option<String>,
    #[serde(default)]
    param: Option<f64>,
    #[serde(default)]
    operation_strategies: Option<Vec<FileOperationStrategy>>,
    #[serde(default)]
    default_lower_bound_traces_per_second: Option<f64>,
    #[serde(default)]
    default_upper_bound_traces_per_second: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOperationStrategy {
    #[serde(default)]
    operation: Option<String>,
    #[serde(rename = "type", default)]
    strategy_type: Option<String>,
    #[serde(default)]
    param: Option<f64>,
}

/// One validated `type`/`param` pair.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Strategy {
    Probabilistic(f64),
    RateLimiting(i32),
}

/// The resolved strategies: one response per listed service and one for everyone else.
/// Cheap to query; build a new one to change it.
#[derive(Debug, Clone, PartialEq)]
pub struct Strategies {
    default_response: SamplingStrategyResponse,
    service_responses: HashMap<String, SamplingStrategyResponse>,
    warnings: Vec<String>,
}

impl Strategies {
    /// The strategies used without a file: every service gets probabilistic
    /// `default_sampling_probability` (Jaeger: 0.001).
    pub fn without_file(default_sampling_probability: f64) -> Self {
        Strategies {
            default_response: SamplingStrategyResponse::probabilistic(default_sampling_probability),
            service_responses: HashMap::new(),
            warnings: Vec::new(),
        }
    }

    /// Parses and resolves a strategies file. `default_sampling_probability` is what a
    /// strategy without `type` and a missing `default_strategy` mean
    /// ([`DEFAULT_SAMPLING_PROBABILITY`] unless configured otherwise); it must be within
    /// 0..=1.
    pub fn from_json(
        text: &str,
        default_sampling_probability: f64,
    ) -> Result<Strategies, StrategiesError> {
        check_probability(".", default_sampling_probability)?;
        let deserializer = &mut serde_json::Deserializer::from_str(text);
        let document: FileDocument =
            serde_path_to_error::deserialize(deserializer).map_err(|error| {
                let path = error.path().to_string();
                StrategiesError::new(path, error.into_inner().to_string())
            })?;
        Resolver {
            default_sampling_probability,
            warnings: Vec::new(),
        }
        .resolve(document)
    }

    /// The strategy for `service`: its own if listed, else the default one.
    pub fn resolve(&self, service: &str) -> &SamplingStrategyResponse {
        self.service_responses
            .get(service)
            .unwrap_or(&self.default_response)
    }

    /// The strategy served to services not listed in the file.
    pub fn default_response(&self) -> &SamplingStrategyResponse {
        &self.default_response
    }

    /// Whether `service` has its own entry in `service_strategies`.
    pub fn has_service(&self, service: &str) -> bool {
        self.service_responses.contains_key(service)
    }

    /// The services with their own entry, in name order.
    pub fn services(&self) -> Vec<&str> {
        let mut services: Vec<&str> = self.service_responses.keys().map(String::as_str).collect();
        services.sort_unstable();
        services
    }

    /// Things in the file that were accepted but changed or left out (rate-limiting
    /// operation strategies, fractional rate limits), one sentence each, for the log.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

struct Resolver {
    default_sampling_probability: f64,
    warnings: Vec<String>,
}

/// A service's strategy before the default strategy's operations are merged in.
struct ParsedService {
    response: SamplingStrategyResponse,
    has_own_bounds: bool,
}

impl Resolver {
    fn resolve(mut self, document: FileDocument) -> Result<Strategies, StrategiesError> {
        let default_response = match &document.default_strategy {
            Some(default_strategy) => {
                if default_strategy.service.is_some() {
                    return Err(StrategiesError::new(
                        "default_strategy.service",
                        "the default strategy applies to every service and takes no `service`",
                    ));
                }
                self.parse_service("default_strategy", default_strategy)?
                    .response
            }
            None => SamplingStrategyResponse::probabilistic(self.default_sampling_probability),
        };

        let mut service_responses = HashMap::new();
        for (index, file_service) in document.service_strategies.iter().flatten().enumerate() {
            let field = format!("service_strategies[{index}]");
            let service = required_name(
                format!("{field}.service"),
                file_service.service.as_deref(),
                "each entry of service_strategies names its service",
            )?
            .to_owned();
            let parsed = self.parse_service(&field, file_service)?;
            let response = inherit_default_operations(parsed, &default_response);
            if service_responses
                .insert(service.clone(), response)
                .is_some()
            {
                return Err(StrategiesError::new(
                    format!("{field}.service"),
                    format!("service `{service}` is listed twice"),
                ));
            }
        }
        Ok(Strategies {
            default_response,
            service_responses,
            warnings: self.warnings,
        })
    }

    fn parse_service(
        &mut self,
        field: &str,
        file_service: &FileServiceStrategy,
    ) -> Result<ParsedService, StrategiesError> {
        let strategy = self.parse_strategy(
            field,
            file_service.strategy_type.as_deref(),
            file_service.param,
        )?;
        let mut response = match strategy {
            Strategy::Probabilistic(probability) => {
                SamplingStrategyResponse::probabilistic(probability)
            }
            Strategy::RateLimiting(rate) => SamplingStrategyResponse::rate_limiting(rate),
        };
        let lower_bound = check_bound(
            &format!("{field}.default_lower_bound_traces_per_second"),
            file_service.default_lower_bound_traces_per_second,
        )?;
        let upper_bound = check_bound(
            &format!("{field}.default_upper_bound_traces_per_second"),
            file_service.default_upper_bound_traces_per_second,
        )?;
        let has_own_bounds = lower_bound.is_some() || upper_bound.is_some();
        if file_service.operation_strategies.is_none() && !has_own_bounds {
            return Ok(ParsedService {
                response,
                has_own_bounds,
            });
        }
        let mut operations = PerOperationSamplingStrategies {
            default_sampling_probability: match strategy {
                Strategy::Probabilistic(probability) => probability,
                Strategy::RateLimiting(_) => self.default_sampling_probability,
            },
            default_lower_bound_traces_per_second: lower_bound.unwrap_or(0.0),
            per_operation_strategies: Vec::new(),
            default_upper_bound_traces_per_second: upper_bound.unwrap_or(0.0),
        };
        let mut seen_operations = HashSet::new();
        for (index, file_operation) in file_service
            .operation_strategies
            .iter()
            .flatten()
            .enumerate()
        {
            let operation_field = format!("{field}.operation_strategies[{index}]");
            let operation = required_name(
                format!("{operation_field}.operation"),
                file_operation.operation.as_deref(),
                "each operation strategy names its operation",
            )?;
            if !seen_operations.insert(operation) {
                return Err(StrategiesError::new(
                    format!("{operation_field}.operation"),
                    format!("operation `{operation}` is listed twice"),
                ));
            }
            match self.parse_strategy(
                &operation_field,
                file_operation.strategy_type.as_deref(),
                file_operation.param,
            )? {
                Strategy::Probabilistic(sampling_rate) => {
                    operations
                        .per_operation_strategies
                        .push(OperationSamplingStrategy {
                            operation: operation.to_owned(),
                            probabilistic_sampling: ProbabilisticSampling { sampling_rate },
                        });
                }
                Strategy::RateLimiting(_) => self.warnings.push(format!(
                    "{operation_field}: operation strategies can only be probabilistic; \
                     operation `{operation}` is left out and sampled with the service's \
                     default probability {}",
                    operations.default_sampling_probability
                )),
            }
        }
        response.operation_sampling = Some(operations);
        Ok(ParsedService {
            response,
            has_own_bounds,
        })
    }

    fn parse_strategy(
        &mut self,
        field: &str,
        strategy_type: Option<&str>,
        param: Option<f64>,
    ) -> Result<Strategy, StrategiesError> {
        match (strategy_type, param) {
            (None, None) => Ok(Strategy::Probabilistic(self.default_sampling_probability)),
            (None, Some(_)) => Err(StrategiesError::new(
                format!("{field}.type"),
                "missing: `param` is given, so `type` must say what it means \
                 (\"probabilistic\" or \"ratelimiting\")",
            )),
            (Some(_), None) => Err(StrategiesError::new(
                format!("{field}.param"),
                "missing: a strategy with a `type` needs a `param`",
            )),
            (Some("probabilistic"), Some(probability)) => {
                check_probability(&format!("{field}.param"), probability)?;
                Ok(Strategy::Probabilistic(probability))
            }
            (Some("ratelimiting"), Some(rate)) => {
                if !rate.is_finite() || rate < 0.0 || rate > f64::from(i32::MAX) {
                    return Err(StrategiesError::new(
                        format!("{field}.param"),
                        format!(
                            "{rate} is not a rate limit: traces per second must be within 0..={}",
                            i32::MAX
                        ),
                    ));
                }
                // The protocol carries an int32; Jaeger truncates the same way.
                let whole_rate = rate.trunc() as i32;
                if f64::from(whole_rate) != rate {
                    self.warnings.push(format!(
                        "{field}.param: rate limit {rate} is served as {whole_rate} traces per \
                         second (the protocol carries whole numbers)"
                    ));
                }
                Ok(Strategy::RateLimiting(whole_rate))
            }
            (Some(other), Some(_)) => Err(StrategiesError::new(
                format!("{field}.type"),
                format!(
                    "unknown strategy type `{other}`: expected \"probabilistic\" or \"ratelimiting\""
                ),
            )),
        }
    }
}

/// Applies the default strategy's operations to a service, as described in the module
/// documentation.
fn inherit_default_operations(
    parsed: ParsedService,
    default_response: &SamplingStrategyResponse,
) -> SamplingStrategyResponse {
    let mut response = parsed.response;
    let Some(default_operations) = &default_response.operation_sampling else {
        return response;
    };
    match &mut response.operation_sampling {
        None => {
            let mut inherited = default_operations.clone();
            if let Some(probabilistic) = response.probabilistic_sampling {
                inherited.default_sampling_probability = probabilistic.sampling_rate;
            }
            response.operation_sampling = Some(inherited);
        }
        Some(own) => {
            let own_names: HashSet<String> = own
                .per_operation_strategies
                .iter()
                .map(|operation| operation.operation.clone())
                .collect();
            own.per_operation_strategies.extend(
                default_operations
                    .per_operation_strategies
                    .iter()
                    .filter(|operation| !own_names.contains(&operation.operation))
                    .cloned(),
            );
            if !parsed.has_own_bounds {
                own.default_lower_bound_traces_per_second =
                    default_operations.default_lower_bound_traces_per_second;
                own.default_upper_bound_traces_per_second =
                    default_operations.default_upper_bound_traces_per_second;
            }
        }
    }
    response
}

/// A `service` or `operation` that must be present and not empty; `why` explains it when
/// missing.
fn required_name<'name>(
    field: String,
    name: Option<&'name str>,
    why: &str,
) -> Result<&'name str, StrategiesError> {
    match name {
        Some(name) if !name.is_empty() => Ok(name),
        Some(_) => Err(StrategiesError::new(field, "must not be empty")),
        None => Err(StrategiesError::new(field, format!("missing: {why}"))),
    }
}

fn check_probability(field: &str, probability: f64) -> Result<(), StrategiesError> {
    if (0.0..=1.0).contains(&probability) {
        Ok(())
    } else {
        Err(StrategiesError::new(
            field,
            format!("{probability} is not a probability: must be within 0..=1"),
        ))
    }
}

fn check_bound(field: &str, bound: Option<f64>) -> Result<Option<f64>, StrategiesError> {
    match bound {
        Some(traces_per_second) if !traces_per_second.is_finite() || traces_per_second < 0.0 => {
            Err(StrategiesError::new(
                field,
                format!("{traces_per_second} traces per second: must be finite and not negative"),
            ))
        }
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests;
