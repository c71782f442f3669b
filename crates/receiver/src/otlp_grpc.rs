//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
//!
//! - gzip-compressed requests are accepted; messages over `max_request_bytes` (before or
//!   after decompression) are refused with RESOURCE_EXHAUSTED without a retry hint, which
//!   OTLP clients do not retry (see [`crate::grpc_limit`]).
//! - The tenant comes from the `x-scope-orgid` metadata when multi-tenancy is on;
//!   without a valid one the call fails with UNAUTHENTICATED.
//! - Success carries `partial_success` only when spans were refused (invalid spans
//!   skipped by the decoder or spans over a sink limit); a request whose every span is
//!   invalid fails with INVALID_ARGUMENT. Other failures follow [`ReceiveError::class`].

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::CompressionEncoding;
use weft_model::{PushOutcome, SpanSink};

use crate::body::{self, TENANT_HEADER};
use crate::config::ReceiverConfig;
use crate::counters::{self, Protocol};
use crate::error::ReceiveError;
use crate::grpc_limit::OversizeAsResourceExhausted;
use crate::ingest::{self, Decoded};

struct OtlpGrpcService {
    sink: Arc<dyn SpanSink>,
    multitenancy_enabled: bool,
}

/// The OTLP/gRPC trace service, ready to add to a `tonic::transport::Server`. Spans go
/// to `sink` for the call's tenant; answers are described in the module documentation.
pub fn otlp_grpc_service(
    sink: Arc<dyn SpanSink>,
    config: ReceiverConfig,
) -> OversizeAsResourceExhausted<TraceServiceServer<impl TraceService>> {
    let max_request_bytes = config.max_request_bytes_usize();
    OversizeAsResourceExhausted::new(
        TraceServiceServer::new(OtlpGrpcService {
            sink,
            multitenancy_enabled: config.multitenancy_enabled,
        })
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_request_bytes),
        Protocol::OtlpGrpc,
    )
}

impl OtlpGrpcService {
    async fn receive(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<PushOutcome, ReceiveError> {
        let protocol = Protocol::OtlpGrpc;
        let tenant_value = request
            .metadata()
            .get(TENANT_HEADER)
            .map(|value| value.as_encoded_bytes());
        let tenant = body::resolve_tenant(self.multitenancy_enabled, tenant_value)?;
        let message = request.into_inner();
        counters::record_bytes_received(protocol, message.encoded_len());
        let decoded = weft_codec::otlp::from_request(message);
        ingest::store(
            self.sink.as_ref(),
            &tenant,
            protocol,
            Decoded::from(decoded),
        )
        .await
    }
}

#[tonic::async_trait]
impl TraceService for OtlpGrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        match self.receive(request).await {
            Ok(outcome) => {
                let partial_success =
                    (outcome.rejected_spans > 0).then(|| ExportTracePartialSuccess {
                        rejected_spans: i64::try_from(outcome.rejected_spans).unwrap_or(i64::MAX),
                        error_message: outcome.rejection_message,
                    });
                Ok(tonic::Response::new(ExportTraceServiceResponse {
                    partial_success,
                }))
            }
            Err(error) => {
                let reason = error.class().reason;
                counters::record_request_rejected(Protocol::OtlpGrpc, reason);
                tracing::debug!(protocol = "otlp_grpc", reason, %error, "otlp grpc request rejected");
                Err(error.to_grpc_status())
            }
        }
    }
}
