//! [`OtlpForwarder`]: a [`SpanSink`] that sends each batch as one OTLP/gRPC
//! `TraceService/Export` to another process (a weft serving the OTLP port, or any OTLP
//! receiver), so a role that collects spans (the scraper in `weft scraper`) can run apart
//! from the one that stores them.
//!
//! A push returns `Ok` only once the receiver answered OK, which weft does after its WAL
//! write: the scraper advances a target's cursor only then, so a receiver that is down,
//! slow or refusing costs a retry, never a span. Failures map back to [`PushError`] by
//! gRPC code: `RESOURCE_EXHAUSTED` with a `RetryInfo` is [`PushError::Overloaded`] with
//! its delay (without one it is [`PushError::TooLarge`], as OTLP clients read it),
//! `INVALID_ARGUMENT` is [`PushError::InvalidInput`], anything else (unreachable,
//! deadline, shutting down) is [`PushError::Unavailable`]. A partial success's rejected
//! spans are reported in the outcome as the receiver counted them.
//!
//! The tenant travels as `X-Scope-OrgID` metadata unless it is the single tenant.

use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use serde::{Deserialize, Serialize};
use tonic::Code;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use weft_model::{PushError, PushOutcome, SpanBatch, SpanSink, TenantId};

/// Where and how to forward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardConfig {
    /// The receiver's OTLP/gRPC address, `http://host:port` (plaintext HTTP/2).
    pub endpoint: String,
    /// How long one export may take, connecting included, before it counts as failed.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// `gzip` or `none`: compression of the requests.
    pub compression: String,
}

impl Default for ForwardConfig {
    fn default() -> Self {
        ForwardConfig {
            endpoint: String::from("http://127.0.0.1:4317"),
            timeout: Duration::from_secs(10),
            compression: String::from("none"),
        }
    }
}

/// Why a [`ForwardConfig`] is refused; the message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardConfigError {
    /// The endpoint is not an `http://host:port` URL.
    #[error("forward.endpoint {endpoint:?}: {reason}")]
    Endpoint {
        /// The value given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The compression is neither `gzip` nor `none`.
    #[error("forward.compression {0:?}: must be gzip or none")]
    Compression(String),
    /// A zero timeout.
    #[error("forward.timeout must be more than 0")]
    Timeout,
}

/// Forwards batches over OTLP/gRPC; cheap to clone, safe to share.
#[derive(Debug, Clone)]
pub struct OtlpForwarder {
    client: TraceServiceClient<Channel>,
    endpoint: String,
    timeout: Duration,
}

impl OtlpForwarder {
    /// A forwarder to `config.endpoint`. Connects lazily: a receiver that is not up yet
    /// fails pushes (retried by the caller), not the start. Call within a Tokio runtime.
    pub fn new(config: &ForwardConfig) -> Result<OtlpForwarder, ForwardConfigError> {
        let refuse = |reason: &str| ForwardConfigError::Endpoint {
            endpoint: config.endpoint.clone(),
            reason: reason.to_owned(),
        };
        if config.timeout.is_zero() {
            return Err(ForwardConfigError::Timeout);
        }
        if config.endpoint.starts_with("https://") {
            return Err(refuse(
                "TLS is not supported; forward over plaintext http:// on a trusted network",
            ));
        }
        if !config.endpoint.starts_with("http://") {
            return Err(refuse("must start with http://"));
        }
        let endpoint = Endpoint::from_shared(config.endpoint.clone())
            .map_err(|error| refuse(&error.to_string()))?
            .connect_timeout(config.timeout)
            .timeout(config.timeout)
            .tcp_nodelay(true);
        let gzip = match config.compression.as_str() {
            "none" => false,
            "gzip" => true,
            other => return Err(ForwardConfigError::Compression(other.to_owned())),
        };
        let mut client = TraceServiceClient::new(endpoint.connect_lazy())
            .max_encoding_message_size(usize::MAX)
            .max_decoding_message_size(4 * 1024 * 1024);
        if gzip {
            client = client.send_compressed(CompressionEncoding::Gzip);
        }
        Ok(OtlpForwarder {
            client,
            endpoint: config.endpoint.clone(),
            timeout: config.timeout,
        })
    }

    /// The receiver's address.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

#[async_trait]
impl SpanSink for OtlpForwarder {
    async fn push(&self, tenant: &TenantId, batch: SpanBatch) -> Result<PushOutcome, PushError> {
        if batch.is_empty() {
            return Ok(PushOutcome::default());
        }
        let spans = batch.len() as u64;
        let mut request = tonic::Request::new(ExportTraceServiceRequest {
            resource_spans: weft_codec::otlp::to_resource_spans(&batch.spans),
        });
        drop(batch);
        request.set_timeout(self.timeout);
        if *tenant != TenantId::single() {
            let value = MetadataValue::try_from(tenant.as_str()).map_err(|_| {
                PushError::InvalidInput(format!(
                    "tenant {:?} cannot be sent as X-Scope-OrgID",
                    tenant.as_str()
                ))
            })?;
            request.metadata_mut().insert("x-scope-orgid", value);
        }
        let answer = self.client.clone().export(request).await;
        let result = match answer {
            Ok(response) => {
                let rejected = response.into_inner().partial_success.filter(|partial| {
                    partial.rejected_spans > 0 || !partial.error_message.is_empty()
                });
                let mut outcome = PushOutcome::default();
                match rejected {
                    Some(partial) => {
                        let rejected = u64::try_from(partial.rejected_spans)
                            .unwrap_or(0)
                            .min(spans);
                        outcome.accepted_spans = spans - rejected;
                        outcome.rejected_spans = rejected;
                        outcome.rejection_message = partial.error_message;
                    }
                    None => outcome.accepted_spans = spans,
                }
                Ok(outcome)
            }
            Err(status) => Err(push_error(&self.endpoint, &status)),
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(PushError::Overloaded { .. }) => "overloaded",
            Err(PushError::Unavailable(_)) => "unavailable",
            Err(PushError::TooLarge(_) | PushError::InvalidInput(_)) => "refused",
        };
        metrics::counter!("weft_forward_requests_total", "outcome" => outcome).increment(1);
        if result.is_ok() {
            metrics::counter!("weft_forward_spans_total").increment(spans);
        }
        result
    }
}

/// The [`PushError`] a failed export stands for.
fn push_error(endpoint: &str, status: &tonic::Status) -> PushError {
    let message = format!(
        "forwarding to {endpoint} failed: {:?}: {}",
        status.code(),
        status.message()
    );
    match status.code() {
        Code::ResourceExhausted => match weft_codec::rpc_status::retry_delay(status.details()) {
            Some(delay) => PushError::Overloaded {
                message,
                retry_after_seconds: u32::try_from(delay.as_secs_f64().ceil() as u64)
                    .unwrap_or(u32::MAX)
                    .max(1),
            },
            None => PushError::TooLarge(message),
        },
        Code::InvalidArgument => PushError::InvalidInput(message),
        _ => PushError::Unavailable(message),
    }
}

#[cfg(test)]
mod tests;
