//! OTLP logs: `POST /v1/logs` on the OTLP/HTTP listener and
//! `opentelemetry.proto.collector.logs.v1.LogsService/Export` on the OTLP/gRPC listener.
//! Records go to the context's [`LogsSink`] (the logs store); decoding and mapping to
//! streams are the sink's.
//!
//! HTTP follows `/v1/traces` (see [`crate::otlp_http`]): protobuf or JSON, gzip, the
//! body held to `max_request_bytes` and charged to the in-flight budget, answers in the
//! request's encoding. Success is 200 with an `ExportLogsServiceResponse`, with
//! `partialSuccess` (`rejectedLogRecords`, `errorMessage`) when the store refused some
//! records; a request it refused whole gets the sink error's status (429 with
//! `Retry-After` for rate limits, 400 for bad input, 503 when storage cannot take it).
//! Without a sink (logs off) both answer 404 / UNIMPLEMENTED naming `--loki.listen`.
//!
//! gRPC accepts gzip-compressed messages up to `max_request_bytes`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use prost::Message;
use weft_model::{PushError, TenantId};

use crate::body::{self, TENANT_HEADER};
use crate::context::ReceiverContext;
use crate::counters::{self, Protocol};
use crate::error::ReceiveError;
use crate::otlp_http::{Encoding, JSON, PROTOBUF, failure, with_content_type};
use crate::rpc_status;

/// The OTLP/HTTP logs path.
pub const LOGS_PATH: &str = "/v1/logs";

/// The message when logs are off in this process.
pub const LOGS_OFF_MESSAGE: &str = "logs are off in this process (--loki.listen=off): OTLP log records are not stored; set --loki.listen to an address to accept them";

/// An OTLP logs export as it arrived.
#[derive(Debug)]
pub enum OtlpLogsPayload {
    /// A protobuf `ExportLogsServiceRequest` body (HTTP).
    Protobuf(Bytes),
    /// An OTLP/JSON body (HTTP).
    Json(Bytes),
    /// A request tonic already decoded (gRPC).
    Decoded(ExportLogsServiceRequest),
}

/// What the sink did with an export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogsPushOutcome {
    /// Records stored.
    pub accepted_records: u64,
    /// Records refused (the client is told in `partialSuccess`).
    pub rejected_records: u64,
    /// Why, when some were refused.
    pub rejection_message: String,
}

/// A boxed, sendable future.
pub type LogsPushFuture = Pin<Box<dyn Future<Output = Result<LogsPushOutcome, PushError>> + Send>>;

/// Where OTLP log records go. Implementations decode `payload`, store its records for
/// `tenant` and resolve only once they are durable; an `Err` means nothing was stored
/// (its variant gives the status: `InvalidInput` 400, `Overloaded` 429 with a retry
/// hint, `Unavailable` 503, `TooLarge` 413).
pub trait LogsSink: Send + Sync + 'static {
    /// Stores the records of one export.
    fn push_otlp_logs(&self, tenant: TenantId, payload: OtlpLogsPayload) -> LogsPushFuture;
}

pub(crate) async fn export_logs_http(
    State(context): State<Arc<ReceiverContext>>,
    request: Request,
) -> Response {
    let (encoding, protocol) = match body::media_type(request.headers()).as_deref() {
        Some(PROTOBUF) => (Encoding::Protobuf, Protocol::OtlpLogsHttpProto),
        Some(JSON) => (Encoding::Json, Protocol::OtlpLogsHttpJson),
        other => {
            let sent = other.map_or_else(|| String::from("no content type"), |t| format!("{t:?}"));
            let error = ReceiveError::UnsupportedMediaType(format!(
                "unsupported content type {sent}; accepted: {PROTOBUF}, {JSON}"
            ));
            return failure(Encoding::Json, Protocol::OtlpLogsHttpJson, &error);
        }
    };
    let Some(sink) = context.logs_sink().cloned() else {
        counters::record_request_rejected(protocol, "logs_off");
        let status =
            rpc_status::rpc_status(tonic::Code::Unimplemented as i32, LOGS_OFF_MESSAGE, None);
        let body = match encoding {
            Encoding::Protobuf => status.encode_to_vec(),
            Encoding::Json => serde_json::json!({
                "code": tonic::Code::Unimplemented as i32,
                "message": LOGS_OFF_MESSAGE,
            })
            .to_string()
            .into_bytes(),
        };
        return with_content_type(StatusCode::NOT_FOUND, encoding, Body::from(body));
    };
    let reservation = context.budget().reservation();
    let (tenant, payload) =
        match crate::text_http::read_request(context.config(), protocol, request, &reservation)
            .await
        {
            Ok(read) => read,
            Err(error) => return failure(encoding, protocol, &error),
        };
    let payload = match encoding {
        Encoding::Protobuf => OtlpLogsPayload::Protobuf(payload),
        Encoding::Json => OtlpLogsPayload::Json(payload),
    };
    match sink.push_otlp_logs(tenant, payload).await {
        Ok(outcome) => success(encoding, &outcome),
        Err(error) => failure(encoding, protocol, &ReceiveError::Push(error)),
    }
}

fn success(encoding: Encoding, outcome: &LogsPushOutcome) -> Response {
    let partial = outcome.rejected_records > 0;
    let body = match encoding {
        Encoding::Protobuf => response_message(outcome).encode_to_vec(),
        Encoding::Json if partial => serde_json::json!({
            "partialSuccess": {
                // OTLP/JSON writes int64 as a decimal string.
                "rejectedLogRecords": outcome.rejected_records.to_string(),
                "errorMessage": outcome.rejection_message,
            }
        })
        .to_string()
        .into_bytes(),
        Encoding::Json => b"{}".to_vec(),
    };
    with_content_type(StatusCode::OK, encoding, Body::from(body))
}

fn response_message(outcome: &LogsPushOutcome) -> ExportLogsServiceResponse {
    ExportLogsServiceResponse {
        partial_success: (outcome.rejected_records > 0).then(|| ExportLogsPartialSuccess {
            rejected_log_records: i64::try_from(outcome.rejected_records).unwrap_or(i64::MAX),
            error_message: outcome.rejection_message.clone(),
        }),
    }
}

/// The gRPC `LogsService` over a context (see [`otlp_logs_grpc_service`]).
#[derive(Debug, Clone)]
pub struct OtlpLogsGrpc {
    context: Arc<ReceiverContext>,
}

/// `LogsService/Export` for the OTLP/gRPC listener: gzip accepted, messages up to
/// `max_request_bytes`, records to the context's logs sink (UNIMPLEMENTED naming
/// `--loki.listen` when logs are off).
pub fn otlp_logs_grpc_service(context: &ReceiverContext) -> LogsServiceServer<OtlpLogsGrpc> {
    let max_bytes = context.config().max_request_bytes_usize();
    LogsServiceServer::new(OtlpLogsGrpc {
        context: Arc::new(context.clone()),
    })
    .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
    .max_decoding_message_size(max_bytes)
}

#[tonic::async_trait]
impl LogsService for OtlpLogsGrpc {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let protocol = Protocol::OtlpLogsGrpc;
        let Some(sink) = self.context.logs_sink().cloned() else {
            counters::record_request_rejected(protocol, "logs_off");
            return Err(tonic::Status::unimplemented(LOGS_OFF_MESSAGE));
        };
        let tenant_value = request
            .metadata()
            .get(TENANT_HEADER)
            .map(|value| value.as_encoded_bytes());
        let tenant = body::resolve_tenant(self.context.config().multitenancy_enabled, tenant_value)
            .map_err(|error| refuse(protocol, &ReceiveError::from(error)))?;
        let message = request.into_inner();
        counters::record_bytes_received(protocol, message.encoded_len());
        match sink
            .push_otlp_logs(tenant, OtlpLogsPayload::Decoded(message))
            .await
        {
            Ok(outcome) => Ok(tonic::Response::new(response_message(&outcome))),
            Err(error) => Err(refuse(protocol, &ReceiveError::Push(error))),
        }
    }
}

fn refuse(protocol: Protocol, error: &ReceiveError) -> tonic::Status {
    let reason = error.class().reason;
    counters::record_request_rejected(protocol, reason);
    tracing::debug!(protocol = protocol.as_str(), reason, %error, "otlp logs request rejected");
    error.to_grpc_status()
}
