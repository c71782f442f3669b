//! Validation and limits in front of the ingester.
//!
//! [`Distributor`] is a [`weft_model::SpanSink`] that sits between the receivers and the
//! sink that stores spans (the ingester in one process, a ring client when scaled out).
//! It checks every batch against [`DistributorConfig`]:
//!
//! - per-request limits (spans per request) reject the whole batch with
//!   [`weft_model::PushError::TooLarge`];
//! - per-span limits (name length, attribute key and value length, attributes per span)
//!   drop only the offending spans; the rest are forwarded and the
//!   [`weft_model::PushOutcome`] says how many were dropped and why.
//!
//! Spans without a start time (`start_unix_nanos == 0`: Zipkin late fragments, OTLP
//! senders that omit it) are valid and forwarded.

pub mod config;
pub mod distributor;
mod limits;
pub mod sampling;

pub use config::{ConfigError, DistributorConfig};
pub use distributor::Distributor;
pub use sampling::SamplingSink;
