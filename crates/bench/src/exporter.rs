//! Sends one encoded request the way a real exporter does and says what the server made
//! of it: stored (with the spans it rejected under partial success), refused for
//! overload with a retry hint, or failed.
//!
//! - OTLP gRPC: `RESOURCE_EXHAUSTED` with a `google.rpc.RetryInfo` is a refusal (OTLP's
//!   retryable throttling); without one it is a failure (a size limit, not retried by
//!   OTLP clients). Partial success is read from `ExportTraceServiceResponse`.
//! - OTLP HTTP: 429 is a refusal after `Retry-After` seconds (1 s when absent); a 2xx
//!   body's `partial_success.rejected_spans` counts rejected spans.
//! - Zipkin: 429 is a refusal; 400 `stored N of M spans; rejected ...` (weft's partial
//!   answer) is a success with `M - N` rejected; 202 stored everything.

use std::time::Duration;

use anyhow::bail;
use bytes::Bytes;
use prost::Message;
use weft_receiver::raw_codec::RawCodec;

use crate::driver::Protocol;

/// Retry hint used when a refusal carries none.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// What the server answered to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportOutcome {
    /// Acknowledged; `rejected_spans` of the request's spans were dropped by a per-span
    /// rule (partial success) and the rest stored.
    Stored {
        /// Spans the server said it rejected.
        rejected_spans: u64,
    },
    /// Refused for overload (HTTP 429, gRPC `RESOURCE_EXHAUSTED` with `RetryInfo`).
    Refused {
        /// How long the server asked the client to wait.
        retry_after: Duration,
    },
    /// Any other failure; retrying is not expected to help.
    Failed {
        /// What went wrong.
        message: String,
    },
}

/// A connection pool for one protocol, cheap to clone.
#[derive(Clone)]
pub struct Exporter {
    protocol: Protocol,
    kind: Kind,
    tenant: Option<String>,
}

#[derive(Clone)]
enum Kind {
    Grpc(tonic::client::Grpc<tonic::transport::Channel>),
    Http {
        client: reqwest::Client,
        url: String,
        content_type: &'static str,
    },
}

impl Exporter {
    /// Connects to `endpoint` (base URL of the listener) for `protocol`, sending
    /// `X-Scope-OrgID: tenant` when a tenant is given. Jaeger UDP has no answers and is
    /// an error here.
    pub async fn connect(
        protocol: Protocol,
        endpoint: &str,
        tenant: Option<String>,
    ) -> anyhow::Result<Exporter> {
        let base = endpoint.trim_end_matches('/').to_owned();
        let http = |path: &str, content_type| Kind::Http {
            client: reqwest::Client::new(),
            url: format!("{base}{path}"),
            content_type,
        };
        let kind = match protocol {
            Protocol::OtlpGrpc => Kind::Grpc(crate::driver::connect_grpc(&base).await?),
            Protocol::OtlpHttp => http("/v1/traces", "application/x-protobuf"),
            Protocol::ZipkinJson => http("/api/v2/spans", "application/json"),
            Protocol::ZipkinThrift => http("/api/v1/spans", "application/x-thrift"),
            Protocol::JaegerUdp => bail!("jaeger-udp has no acknowledgement to pace or count"),
        };
        Ok(Exporter {
            protocol,
            kind,
            tenant,
        })
    }

    /// The protocol this exporter speaks.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Sends `body` (a request of `span_count` spans) once.
    pub async fn export(&self, body: Bytes, span_count: u64) -> ExportOutcome {
        match &self.kind {
            Kind::Grpc(grpc) => self.export_grpc(grpc.clone(), body).await,
            Kind::Http {
                client,
                url,
                content_type,
            } => {
                let mut request = client
                    .post(url)
                    .header("Content-Type", *content_type)
                    .body(body);
                if let Some(tenant) = &self.tenant {
                    request = request.header("X-Scope-OrgID", tenant);
                }
                let response = match request.send().await {
                    Ok(response) => response,
                    Err(error) => {
                        return ExportOutcome::Failed {
                            message: format!("POST {url}: {error}"),
                        };
                    }
                };
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|value| value.to_str().ok())
                    .and_then(|text| text.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let answer = response.bytes().await.unwrap_or_default();
                http_outcome(
                    self.protocol,
                    status.as_u16(),
                    retry_after,
                    &answer,
                    span_count,
                )
            }
        }
    }

    async fn export_grpc(
        &self,
        mut grpc: tonic::client::Grpc<tonic::transport::Channel>,
        body: Bytes,
    ) -> ExportOutcome {
        if let Err(error) = grpc.ready().await {
            return ExportOutcome::Failed {
                message: format!("grpc channel not ready: {error}"),
            };
        }
        let mut request = tonic::Request::new(body);
        if let Some(tenant) = &self.tenant
            && let Ok(value) = tenant.parse()
        {
            request.metadata_mut().insert("x-scope-orgid", value);
        }
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        );
        match grpc.unary(request, path, RawCodec).await {
            Ok(response) => ExportOutcome::Stored {
                rejected_spans: otlp_rejected_spans(response.get_ref()),
            },
            Err(status) => grpc_failure(status.code(), status.message(), status.details()),
        }
    }
}

/// Spans rejected according to an OTLP `ExportTraceServiceResponse` (0 when the body is
/// empty or not one).
fn otlp_rejected_spans(body: &[u8]) -> u64 {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
    ExportTraceServiceResponse::decode(body)
        .ok()
        .and_then(|response| response.partial_success)
        .map(|partial| u64::try_from(partial.rejected_spans).unwrap_or(0))
        .unwrap_or(0)
}

fn http_outcome(
    protocol: Protocol,
    status: u16,
    retry_after: Option<Duration>,
    answer: &[u8],
    span_count: u64,
) -> ExportOutcome {
    match status {
        200..=299 => ExportOutcome::Stored {
            rejected_spans: match protocol {
                Protocol::OtlpHttp => otlp_rejected_spans(answer),
                _ => 0,
            },
        },
        429 => ExportOutcome::Refused {
            retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
        },
        _ => {
            let text = String::from_utf8_lossy(answer);
            if status == 400
                && let Some(stored) = zipkin_stored_spans(&text)
            {
                return ExportOutcome::Stored {
                    rejected_spans: span_count.saturating_sub(stored),
                };
            }
            ExportOutcome::Failed {
                message: format!("answered {status}: {}", text.trim()),
            }
        }
    }
}

/// `N` of weft's Zipkin partial answer `stored N of M spans; rejected ...`.
fn zipkin_stored_spans(text: &str) -> Option<u64> {
    let rest = text.trim().strip_prefix("stored ")?;
    let (stored, rest) = rest.split_once(' ')?;
    rest.starts_with("of ").then_some(())?;
    stored.parse().ok()
}

fn grpc_failure(code: tonic::Code, message: &str, details: &[u8]) -> ExportOutcome {
    if code == tonic::Code::ResourceExhausted
        && let Some(retry_after) = retry_delay(details)
    {
        return ExportOutcome::Refused { retry_after };
    }
    ExportOutcome::Failed {
        message: format!("grpc {code:?}: {message}"),
    }
}

/// `google.rpc.Status`, `google.protobuf.Any`, `google.rpc.RetryInfo` and
/// `google.protobuf.Duration`: just the fields a retry hint needs.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(message, repeated, tag = "3")]
    details: Vec<ProtoAny>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtoAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// The `RetryInfo` delay in a `grpc-status-details-bin` payload; `None` when there is
/// none. Negative parts count as zero.
fn retry_delay(details: &[u8]) -> Option<Duration> {
    let status = RpcStatus::decode(details).ok()?;
    let info = status
        .details
        .iter()
        .find(|any| any.type_url == RETRY_INFO_TYPE_URL)?;
    let delay = RetryInfo::decode(info.value.as_slice()).ok()?.retry_delay?;
    let seconds = u64::try_from(delay.seconds).unwrap_or(0);
    let nanos = u32::try_from(delay.nanos).unwrap_or(0).min(999_999_999);
    Some(Duration::new(seconds, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_throttling_needs_a_retry_info_to_be_a_refusal() {
        let details = RpcStatus {
            details: vec![ProtoAny {
                type_url: RETRY_INFO_TYPE_URL.to_owned(),
                value: RetryInfo {
                    retry_delay: Some(ProtoDuration {
                        seconds: 3,
                        nanos: 0,
                    }),
                }
                .encode_to_vec(),
            }],
        }
        .encode_to_vec();
        assert_eq!(
            grpc_failure(tonic::Code::ResourceExhausted, "busy", &details),
            ExportOutcome::Refused {
                retry_after: Duration::from_secs(3)
            }
        );
        assert!(matches!(
            grpc_failure(tonic::Code::ResourceExhausted, "too large", &[]),
            ExportOutcome::Failed { .. }
        ));
        assert!(matches!(
            grpc_failure(tonic::Code::Unavailable, "down", &details),
            ExportOutcome::Failed { .. }
        ));
        assert_eq!(retry_delay(b"\xff\xff garbage"), None);
    }

    #[test]
    fn http_answers_map_to_outcomes() {
        use opentelemetry_proto::tonic::collector::trace::v1::{
            ExportTracePartialSuccess, ExportTraceServiceResponse,
        };
        let partial = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 7,
                error_message: String::from("trace too large"),
            }),
        }
        .encode_to_vec();
        assert_eq!(
            http_outcome(Protocol::OtlpHttp, 200, None, &partial, 10),
            ExportOutcome::Stored { rejected_spans: 7 }
        );
        assert_eq!(
            http_outcome(Protocol::OtlpHttp, 200, None, b"", 10),
            ExportOutcome::Stored { rejected_spans: 0 }
        );
        assert_eq!(
            http_outcome(Protocol::ZipkinJson, 429, None, b"busy", 10),
            ExportOutcome::Refused {
                retry_after: DEFAULT_RETRY_AFTER
            }
        );
        assert_eq!(
            http_outcome(
                Protocol::ZipkinJson,
                429,
                Some(Duration::from_secs(4)),
                b"",
                10
            ),
            ExportOutcome::Refused {
                retry_after: Duration::from_secs(4)
            }
        );
        assert_eq!(
            http_outcome(
                Protocol::ZipkinJson,
                400,
                None,
                b"stored 6 of 10 spans; rejected 4: too many spans in trace",
                10
            ),
            ExportOutcome::Stored { rejected_spans: 4 }
        );
        assert!(matches!(
            http_outcome(Protocol::ZipkinJson, 400, None, b"bad json", 10),
            ExportOutcome::Failed { .. }
        ));
        assert!(matches!(
            http_outcome(Protocol::OtlpHttp, 503, None, b"", 10),
            ExportOutcome::Failed { .. }
        ));
    }
}
