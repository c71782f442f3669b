//! The `jaeger.api_v2` messages of `sampling.proto` (service `SamplingManager`, method
//! `GetSamplingStrategy`), written by hand with prost's derive. Field numbers and types
//! match the `.proto` file of jaeger-idl; the gRPC method path is
//! [`GET_SAMPLING_STRATEGY_PATH`].
//!
//! [`get_sampling_strategy`] is the whole gRPC method body as bytes in, bytes out, so the
//! integrator can mount it on any gRPC server (a tonic unary service with a bytes codec)
//! without this crate depending on tonic.

use crate::provider::SamplingProvider;
use crate::response;
use prost::Message;

/// The full gRPC method path clients call.
pub const GET_SAMPLING_STRATEGY_PATH: &str = "/jaeger.api_v2.SamplingManager/GetSamplingStrategy";

/// `jaeger.api_v2.SamplingStrategyType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SamplingStrategyType {
    /// `PROBABILISTIC`.
    Probabilistic = 0,
    /// `RATE_LIMITING`.
    RateLimiting = 1,
}

/// `jaeger.api_v2.ProbabilisticSamplingStrategy`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct ProbabilisticSamplingStrategy {
    /// Probability of sampling, 0.0 to 1.0.
    #[prost(double, tag = "1")]
    pub sampling_rate: f64,
}

/// `jaeger.api_v2.RateLimitingSamplingStrategy`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct RateLimitingSamplingStrategy {
    /// Most traces sampled per second.
    #[prost(int32, tag = "1")]
    pub max_traces_per_second: i32,
}

/// `jaeger.api_v2.OperationSamplingStrategy`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OperationSamplingStrategy {
    /// The operation (root span name).
    #[prost(string, tag = "1")]
    pub operation: String,
    /// Its probability.
    #[prost(message, optional, tag = "2")]
    pub probabilistic_sampling: Option<ProbabilisticSamplingStrategy>,
}

/// `jaeger.api_v2.PerOperationSamplingStrategies`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PerOperationSamplingStrategies {
    /// Probability for operations not listed.
    #[prost(double, tag = "1")]
    pub default_sampling_probability: f64,
    /// Guaranteed traces per second per operation and client instance.
    #[prost(double, tag = "2")]
    pub default_lower_bound_traces_per_second: f64,
    /// The listed operations.
    #[prost(message, repeated, tag = "3")]
    pub per_operation_strategies: Vec<OperationSamplingStrategy>,
    /// Upper rate bound, 0 for none.
    #[prost(double, tag = "4")]
    pub default_upper_bound_traces_per_second: f64,
}

/// `jaeger.api_v2.SamplingStrategyResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SamplingStrategyResponse {
    /// [`SamplingStrategyType`] as its number.
    #[prost(enumeration = "SamplingStrategyType", tag = "1")]
    pub strategy_type: i32,
    /// Service-wide probability.
    #[prost(message, optional, tag = "2")]
    pub probabilistic_sampling: Option<ProbabilisticSamplingStrategy>,
    /// Service-wide rate limit.
    #[prost(message, optional, tag = "3")]
    pub rate_limiting_sampling: Option<RateLimitingSamplingStrategy>,
    /// Per-operation probabilities.
    #[prost(message, optional, tag = "4")]
    pub operation_sampling: Option<PerOperationSamplingStrategies>,
}

/// `jaeger.api_v2.SamplingStrategyParameters`: the request.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct SamplingStrategyParameters {
    /// The service asking; required (an empty name gets the default strategy).
    #[prost(string, tag = "1")]
    pub service_name: String,
}

/// A `SamplingStrategyParameters` request that is not valid protobuf.
#[derive(Debug, thiserror::Error)]
#[error("invalid SamplingStrategyParameters message: {0}")]
pub struct DecodeError(#[from] prost::DecodeError);

/// Decodes a `SamplingStrategyParameters` request body (the gRPC message without its
/// 5-byte frame header).
pub fn decode_parameters(bytes: &[u8]) -> Result<SamplingStrategyParameters, DecodeError> {
    Ok(SamplingStrategyParameters::decode(bytes)?)
}

/// Encodes a response as `SamplingStrategyResponse` protobuf bytes.
pub fn encode_response(response: &response::SamplingStrategyResponse) -> Vec<u8> {
    SamplingStrategyResponse::from(response).encode_to_vec()
}

/// The `GetSamplingStrategy` method: decodes the request, asks `provider` for the
/// service's strategy and returns the encoded response. Errors only on an undecodable
/// request (gRPC `INVALID_ARGUMENT`).
pub fn get_sampling_strategy(
    provider: &SamplingProvider,
    request: &[u8],
) -> Result<Vec<u8>, DecodeError> {
    let parameters = decode_parameters(request)?;
    Ok(encode_response(
        &provider.strategy_for(&parameters.service_name),
    ))
}

impl From<&response::SamplingStrategyResponse> for SamplingStrategyResponse {
    fn from(value: &response::SamplingStrategyResponse) -> Self {
        SamplingStrategyResponse {
            strategy_type: value.strategy_type.as_i32(),
            probabilistic_sampling: value.probabilistic_sampling.map(|probabilistic| {
                ProbabilisticSamplingStrategy {
                    sampling_rate: probabilistic.sampling_rate,
                }
            }),
            rate_limiting_sampling: value.rate_limiting_sampling.map(|rate_limiting| {
                RateLimitingSamplingStrategy {
                    max_traces_per_second: rate_limiting.max_traces_per_second,
                }
            }),
            operation_sampling: value.operation_sampling.as_ref().map(|operations| {
                PerOperationSamplingStrategies {
                    default_sampling_probability: operations.default_sampling_probability,
                    default_lower_bound_traces_per_second: operations
                        .default_lower_bound_traces_per_second,
                    per_operation_strategies: operations
                        .per_operation_strategies
                        .iter()
                        .map(|operation| OperationSamplingStrategy {
                            operation: operation.operation.clone(),
                            probabilistic_sampling: Some(ProbabilisticSamplingStrategy {
                                sampling_rate: operation.probabilistic_sampling.sampling_rate,
                            }),
                        })
                        .collect(),
                    default_upper_bound_traces_per_second: operations
                        .default_upper_bound_traces_per_second,
                }
            }),
        }
    }
}

impl From<&SamplingStrategyResponse> for response::SamplingStrategyResponse {
    /// Unknown enum numbers read as probabilistic (proto3 open enums: 0 is the default);
    /// an operation without `probabilisticSampling` reads as probability 0, as the
    /// generated Go getters do.
    fn from(value: &SamplingStrategyResponse) -> Self {
        response::SamplingStrategyResponse {
            strategy_type: response::SamplingStrategyType::from_i32(value.strategy_type)
                .unwrap_or_default(),
            probabilistic_sampling: value.probabilistic_sampling.map(|probabilistic| {
                response::ProbabilisticSampling {
                    sampling_rate: probabilistic.sampling_rate,
                }
            }),
            rate_limiting_sampling: value.rate_limiting_sampling.map(|rate_limiting| {
                response::RateLimitingSampling {
                    max_traces_per_second: rate_limiting.max_traces_per_second,
                }
            }),
            operation_sampling: value.operation_sampling.as_ref().map(|operations| {
                response::PerOperationSamplingStrategies {
                    default_sampling_probability: operations.default_sampling_probability,
                    default_lower_bound_traces_per_second: operations
                        .default_lower_bound_traces_per_second,
                    per_operation_strategies: operations
                        .per_operation_strategies
                        .iter()
                        .map(|operation| response::OperationSamplingStrategy {
                            operation: operation.operation.clone(),
                            probabilistic_sampling: response::ProbabilisticSampling {
                                sampling_rate: operation
                                    .probabilistic_sampling
                                    .map_or(0.0, |probabilistic| probabilistic.sampling_rate),
                            },
                        })
                        .collect(),
                    default_upper_bound_traces_per_second: operations
                        .default_upper_bound_traces_per_second,
                }
            }),
        }
    }
}
