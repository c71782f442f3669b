//! Jaeger remote sampling over gRPC: `jaeger.api_v2.SamplingManager/GetSamplingStrategy`,
//! as Jaeger SDKs and OpenTelemetry's `jaeger_remote` samplers call it on the collector's
//! gRPC port.
//!
//! The service is written without generated code: the request message bytes go through a
//! pass-through codec to a method body given by the caller (in weft,
//! `weft_remote_sampling::proto::get_sampling_strategy` over the process's sampling
//! provider), and its bytes are the answer. This crate does not depend on where the
//! strategies come from.
//!
//! - A request that the method body cannot decode is INVALID_ARGUMENT with the body's
//!   description of the problem.
//! - Requests over [`MAX_REQUEST_BYTES`] on the wire are refused by tonic (OUT_OF_RANGE);
//!   a real request is a service name.
//! - gzip-compressed requests (`grpc-encoding: gzip`) are accepted; answers are not
//!   compressed.
//! - Any other method of the service is UNIMPLEMENTED.

use std::convert::Infallible;
use std::fmt::Display;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tonic::codec::CompressionEncoding;
use tonic::codegen::{Body, StdError};
use tonic::server::NamedService;

use crate::grpc_unary::{BoxFuture, UnaryResult};
use crate::raw_codec::RawCodec;

/// The fully qualified gRPC service name.
pub const SERVICE_NAME: &str = "jaeger.api_v2.SamplingManager";
/// The HTTP/2 path of `GetSamplingStrategy`.
pub const GET_SAMPLING_STRATEGY_PATH: &str = "/jaeger.api_v2.SamplingManager/GetSamplingStrategy";
/// The largest request message accepted, in bytes on the wire (a
/// `SamplingStrategyParameters` holds one service name).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The body of `GetSamplingStrategy`: `SamplingStrategyParameters` protobuf bytes in,
/// `SamplingStrategyResponse` protobuf bytes out, or a description of why the request
/// does not decode.
type GetSamplingStrategyFn = dyn Fn(&[u8]) -> Result<Vec<u8>, String> + Send + Sync;

/// The `jaeger.api_v2.SamplingManager` gRPC service, ready to add to a
/// `tonic::transport::Server`. Build it with [`jaeger_sampling_grpc_service`]; cloning is
/// cheap and shares the method body.
#[derive(Clone)]
pub struct JaegerSamplingService {
    get_sampling_strategy: Arc<GetSamplingStrategyFn>,
}

impl std::fmt::Debug for JaegerSamplingService {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("JaegerSamplingService")
            .finish_non_exhaustive()
    }
}

/// The Jaeger sampling gRPC service answering `GetSamplingStrategy` with
/// `get_sampling_strategy`, which gets the request message bytes and gives the response
/// message bytes, or an error (shown to the client as INVALID_ARGUMENT) when the request
/// does not decode. It is called on the serving task, so it should not block.
pub fn jaeger_sampling_grpc_service<F, E>(get_sampling_strategy: F) -> JaegerSamplingService
where
    F: Fn(&[u8]) -> Result<Vec<u8>, E> + Send + Sync + 'static,
    E: Display,
{
    JaegerSamplingService {
        get_sampling_strategy: Arc::new(move |request: &[u8]| {
            get_sampling_strategy(request).map_err(|error| error.to_string())
        }),
    }
}

impl NamedService for JaegerSamplingService {
    const NAME: &'static str = SERVICE_NAME;
}

impl<B> tower_service::Service<http::Request<B>> for JaegerSamplingService
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != GET_SAMPLING_STRATEGY_PATH {
            let status =
                tonic::Status::unimplemented(format!("unknown method {}", request.uri().path()));
            return Box::pin(async move { Ok(status.into_http()) });
        }
        let method = GetSamplingStrategy {
            get_sampling_strategy: Arc::clone(&self.get_sampling_strategy),
        };
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(MAX_REQUEST_BYTES);
            Ok(grpc.unary(method, request).await)
        })
    }
}

/// One call of `GetSamplingStrategy`.
struct GetSamplingStrategy {
    get_sampling_strategy: Arc<GetSamplingStrategyFn>,
}

impl tonic::server::UnaryService<Bytes> for GetSamplingStrategy {
    type Response = Bytes;
    type Future = BoxFuture<UnaryResult>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let answer = match (self.get_sampling_strategy)(request.get_ref()) {
            Ok(response) => Ok(tonic::Response::new(Bytes::from(response))),
            Err(problem) => {
                tracing::debug!(%problem, "GetSamplingStrategy request refused");
                Err(tonic::Status::invalid_argument(problem))
            }
        };
        Box::pin(std::future::ready(answer))
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use tonic::codegen::http::uri::PathAndQuery;

    use super::*;

    /// `jaeger.api_v2.SamplingStrategyParameters`.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Parameters {
        #[prost(string, tag = "1")]
        service_name: String,
    }

    /// The service with a method body that answers a probability per service (as a
    /// protobuf double in field 1): 0.25 for `checkout`, 0.001 otherwise.
    fn service() -> JaegerSamplingService {
        jaeger_sampling_grpc_service(|request: &[u8]| {
            let parameters = Parameters::decode(request)
                .map_err(|error| format!("invalid SamplingStrategyParameters message: {error}"))?;
            let probability: f64 = if parameters.service_name == "checkout" {
                0.25
            } else {
                0.001
            };
            let mut response = vec![0x09];
            response.extend_from_slice(&probability.to_le_bytes());
            Ok::<_, String>(response)
        })
    }

    /// Calls `path` of the service through tonic's client (framing, compression and
    /// status handling as on the wire) with `message`, gzip-compressed when asked.
    async fn call(
        path: &'static str,
        message: Vec<u8>,
        gzip: bool,
    ) -> Result<Bytes, tonic::Status> {
        let mut client = tonic::client::Grpc::new(service());
        if gzip {
            client = client.send_compressed(CompressionEncoding::Gzip);
        }
        client
            .ready()
            .await
            .map_err(|error| tonic::Status::unavailable(error.to_string()))?;
        let request = tonic::Request::new(Bytes::from(message));
        client
            .unary(request, PathAndQuery::from_static(path), RawCodec)
            .await
            .map(tonic::Response::into_inner)
    }

    fn probability(response: &[u8]) -> f64 {
        assert_eq!(response.len(), 9, "response {response:?}");
        assert_eq!(response[0], 0x09);
        f64::from_le_bytes(response[1..].try_into().expect("8 bytes"))
    }

    fn request(service_name: &str) -> Vec<u8> {
        Parameters {
            service_name: service_name.to_owned(),
        }
        .encode_to_vec()
    }

    #[tokio::test]
    async fn request_bytes_go_to_the_method_body_and_its_bytes_are_the_answer() {
        for (service_name, expected) in [("checkout", 0.25), ("cart", 0.001)] {
            let answer = call(GET_SAMPLING_STRATEGY_PATH, request(service_name), false)
                .await
                .expect(service_name);
            assert_eq!(probability(&answer), expected, "{service_name}");
        }
    }

    #[tokio::test]
    async fn gzip_requests_are_accepted() {
        let answer = call(GET_SAMPLING_STRATEGY_PATH, request("checkout"), true)
            .await
            .expect("gzip request");
        assert_eq!(probability(&answer), 0.25);
    }

    #[tokio::test]
    async fn undecodable_request_is_invalid_argument_naming_the_problem() {
        // Field 1 says 16 bytes of string follow, and there are 2.
        let status = call(
            GET_SAMPLING_STRATEGY_PATH,
            vec![0x0a, 0x10, b'a', b'b'],
            false,
        )
        .await
        .expect_err("truncated request");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status
                .message()
                .starts_with("invalid SamplingStrategyParameters message: "),
            "{}",
            status.message()
        );
    }

    #[tokio::test]
    async fn oversize_request_is_refused_before_the_method_body() {
        let oversize = request(&"x".repeat(MAX_REQUEST_BYTES));
        let status = call(GET_SAMPLING_STRATEGY_PATH, oversize, false)
            .await
            .expect_err("oversize request");
        assert_eq!(status.code(), tonic::Code::OutOfRange);
    }

    #[tokio::test]
    async fn other_methods_are_unimplemented() {
        let path = "/jaeger.api_v2.SamplingManager/GetSamplingStrategies";
        let status = call(path, request("checkout"), false)
            .await
            .expect_err("unknown method");
        assert_eq!(status.code(), tonic::Code::Unimplemented);
        assert_eq!(status.message(), format!("unknown method {path}"));
    }
}
