//! Jaeger remote sampling for weft: tells SDKs how to sample, per service and per
//! operation, the way Jaeger's collector does.
//!
//! SDKs (Jaeger clients, OpenTelemetry's `jaeger_remote` samplers) poll
//! `GET /sampling?service=X` (JSON) or call `jaeger.api_v2.SamplingManager/GetSamplingStrategy`
//! (gRPC) every minute or so and sample new traces with what they get back: a
//! [`SamplingStrategyResponse`] holding a service-wide probability or rate limit and,
//! optionally, per-operation probabilities (`operationSampling`) that newer clients prefer.
//!
//! Where the answer comes from:
//!
//! - [`strategies`]: a Jaeger strategies file (`default_strategy`, `service_strategies`,
//!   `operation_strategies`), resolved per service exactly as Jaeger's file provider does.
//!   Without a file every service gets probabilistic 0.001
//!   ([`DEFAULT_SAMPLING_PROBABILITY`], Jaeger's default).
//! - [`adaptive`]: per-operation probabilities recomputed each interval from the root spans
//!   the backend receives, aiming at a target of sampled traces per second per operation
//!   (Jaeger's adaptive sampling), overlaid on the file by the [`SamplingProvider`].
//!
//! Serving: [`http::router`] (axum) for the JSON endpoint, [`proto::get_sampling_strategy`]
//! for the gRPC method body. Both ask one shared [`SamplingProvider`], whose strategies can
//! be reloaded ([`SamplingProvider::reload_strategies`], the old ones stay on error) and
//! whose adaptive overlay can be replaced ([`SamplingProvider::set_adaptive`]) while
//! serving.

pub mod adaptive;
pub mod http;
pub mod proto;
pub mod provider;
pub mod response;
pub mod strategies;

pub use adaptive::{
    AdaptiveCalculator, AdaptiveOptions, AdaptiveOptionsError, AdaptiveProbabilities,
    AdaptiveState, SamplerType, ThroughputBucket,
};
pub use provider::SamplingProvider;
pub use response::{
    OperationSamplingStrategy, PerOperationSamplingStrategies, ProbabilisticSampling,
    RateLimitingSampling, SamplingStrategyResponse, SamplingStrategyType,
};
pub use strategies::{DEFAULT_SAMPLING_PROBABILITY, Strategies, StrategiesError};
