//! The strategy a service is told to sample with: `jaeger.api_v2.SamplingStrategyResponse`
//! as plain Rust values, with the JSON encoding Jaeger's `/sampling` endpoint writes.
//!
//! Jaeger renders the protobuf message with gogo `jsonpb` and `EmitDefaults`, then strips
//! the `null` sub-messages. The serde implementation here writes the same shape, key order
//! included:
//!
//! - `strategyType` is always present and always the enum *name* (`"PROBABILISTIC"`,
//!   `"RATE_LIMITING"`), never the number. jaeger-client-python compares it with those
//!   strings; OpenTelemetry's Go `jaegerremote` sampler parses with `jsonpb`, which takes
//!   either; the npm `@opentelemetry/sampler-jaeger-remote` ignores it and looks at which
//!   sub-object is present.
//! - An absent sub-strategy is left out, not written as `null`.
//! - Inside `operationSampling` every field is written, zeros and an empty
//!   `perOperationStrategies` list included (`EmitDefaults`).
//!
//! Numbers are serde_json's shortest round-trip form (`1e-5` where Go writes `0.00001`);
//! every JSON parser reads both the same. Deserialising accepts `strategyType` as a name or
//! as a number (the legacy encoding some old clients and proxies produce) and ignores
//! nothing: unknown keys are an error, as with `jsonpb`.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// `jaeger.api_v2.SamplingStrategyType`. Legacy field: clients that understand
/// `operationSampling` look at that first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SamplingStrategyType {
    /// Sample each trace with a fixed probability (`probabilisticSampling`). Wire value 0.
    #[default]
    Probabilistic,
    /// Sample at most N traces per second (`rateLimitingSampling`). Wire value 1.
    RateLimiting,
}

impl SamplingStrategyType {
    /// The enum name as Jaeger's JSON writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            SamplingStrategyType::Probabilistic => "PROBABILISTIC",
            SamplingStrategyType::RateLimiting => "RATE_LIMITING",
        }
    }

    /// The protobuf enum number.
    pub fn as_i32(self) -> i32 {
        match self {
            SamplingStrategyType::Probabilistic => 0,
            SamplingStrategyType::RateLimiting => 1,
        }
    }

    /// The type for a protobuf enum number; `None` for numbers the proto does not define.
    pub fn from_i32(value: i32) -> Option<Self> {
        match value {
            0 => Some(SamplingStrategyType::Probabilistic),
            1 => Some(SamplingStrategyType::RateLimiting),
            _ => None,
        }
    }
}

impl Serialize for SamplingStrategyType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SamplingStrategyType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TypeVisitor;
        impl Visitor<'_> for TypeVisitor {
            type Value = SamplingStrategyType;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("\"PROBABILISTIC\", \"RATE_LIMITING\", 0 or 1")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                match value {
                    "PROBABILISTIC" => Ok(SamplingStrategyType::Probabilistic),
                    "RATE_LIMITING" => Ok(SamplingStrategyType::RateLimiting),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
                i32::try_from(value)
                    .ok()
                    .and_then(SamplingStrategyType::from_i32)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Unsigned(value), &self))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
                i32::try_from(value)
                    .ok()
                    .and_then(SamplingStrategyType::from_i32)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Signed(value), &self))
            }
        }
        deserializer.deserialize_any(TypeVisitor)
    }
}

/// `jaeger.api_v2.ProbabilisticSamplingStrategy`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbabilisticSampling {
    /// The probability of sampling a trace, 0.0 to 1.0 inclusive.
    #[serde(rename = "samplingRate", default)]
    pub sampling_rate: f64,
}

/// `jaeger.api_v2.RateLimitingSamplingStrategy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitingSampling {
    /// The most traces a client samples per second (an `int32` on the wire).
    #[serde(rename = "maxTracesPerSecond", default)]
    pub max_traces_per_second: i32,
}

/// `jaeger.api_v2.OperationSamplingStrategy`: the probability for one operation (span name
/// of a root span). Only probabilistic strategies exist per operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationSamplingStrategy {
    /// The operation name, compared exactly by clients.
    #[serde(default)]
    pub operation: String,
    /// The probability for this operation.
    #[serde(rename = "probabilisticSampling")]
    pub probabilistic_sampling: ProbabilisticSampling,
}

/// `jaeger.api_v2.PerOperationSamplingStrategies`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerOperationSamplingStrategies {
    /// Probability for operations not listed in `per_operation_strategies`.
    #[serde(rename = "defaultSamplingProbability", default)]
    pub default_sampling_probability: f64,
    /// Each client instance samples at least this many traces per second per operation
    /// (Jaeger SDKs' "guaranteed throughput" lower bound); applies to every operation.
    #[serde(rename = "defaultLowerBoundTracesPerSecond", default)]
    pub default_lower_bound_traces_per_second: f64,
    /// Per-operation probabilities, in the order they were configured or computed.
    #[serde(rename = "perOperationStrategies", default)]
    pub per_operation_strategies: Vec<OperationSamplingStrategy>,
    /// Upper rate bound; almost no SDK honours it. 0 means none.
    #[serde(rename = "defaultUpperBoundTracesPerSecond", default)]
    pub default_upper_bound_traces_per_second: f64,
}

/// `jaeger.api_v2.SamplingStrategyResponse`: what `GET /sampling?service=X` and the gRPC
/// `SamplingManager/GetSamplingStrategy` return.
///
/// Invariant kept by every constructor in this crate: `strategy_type` names the one of
/// `probabilistic_sampling` / `rate_limiting_sampling` that is set (exactly one is), and
/// `operation_sampling`, when set, wins over both for clients that understand it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingStrategyResponse {
    /// Which of the two service-wide strategies is set.
    #[serde(rename = "strategyType", default)]
    pub strategy_type: SamplingStrategyType,
    /// The service-wide probability, when `strategy_type` is probabilistic.
    #[serde(
        rename = "probabilisticSampling",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub probabilistic_sampling: Option<ProbabilisticSampling>,
    /// The service-wide rate limit, when `strategy_type` is rate limiting.
    #[serde(
        rename = "rateLimitingSampling",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rate_limiting_sampling: Option<RateLimitingSampling>,
    /// Per-operation probabilities.
    #[serde(
        rename = "operationSampling",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub operation_sampling: Option<PerOperationSamplingStrategies>,
}

impl SamplingStrategyResponse {
    /// A service-wide probabilistic strategy with no per-operation part.
    pub fn probabilistic(sampling_rate: f64) -> Self {
        SamplingStrategyResponse {
            strategy_type: SamplingStrategyType::Probabilistic,
            probabilistic_sampling: Some(ProbabilisticSampling { sampling_rate }),
            rate_limiting_sampling: None,
            operation_sampling: None,
        }
    }

    /// A service-wide rate-limiting strategy with no per-operation part.
    pub fn rate_limiting(max_traces_per_second: i32) -> Self {
        SamplingStrategyResponse {
            strategy_type: SamplingStrategyType::RateLimiting,
            probabilistic_sampling: None,
            rate_limiting_sampling: Some(RateLimitingSampling {
                max_traces_per_second,
            }),
            operation_sampling: None,
        }
    }

    /// The JSON body Jaeger's `/sampling` endpoint writes for this response.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail: no maps with non-string keys, and
        // non-finite floats become `null` rather than an error.
        serde_json::to_string(self).unwrap_or_default()
    }
}
