//! A gRPC client that sends and receives raw message bytes, to call services without
//! generated client code.

use bytes::Bytes;
use tonic::codec::CompressionEncoding;
use weft_receiver::raw_codec::RawCodec;

/// Calls `path` on `address` with `message` (and `metadata`), gzip-compressed when asked.
pub async fn call(
    address: std::net::SocketAddr,
    path: &'static str,
    message: Vec<u8>,
    metadata: &[(&'static str, &'static str)],
    gzip: bool,
) -> Result<Bytes, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .map_err(|error| tonic::Status::internal(error.to_string()))?
        .connect()
        .await
        .map_err(|error| tonic::Status::unavailable(error.to_string()))?;
    let mut grpc = tonic::client::Grpc::new(channel);
    if gzip {
        grpc = grpc.send_compressed(CompressionEncoding::Gzip);
    }
    grpc.ready()
        .await
        .map_err(|error| tonic::Status::unavailable(error.to_string()))?;
    let mut request = tonic::Request::new(Bytes::from(message));
    for (key, value) in metadata {
        if let Ok(value) = value.parse() {
            request.metadata_mut().insert(*key, value);
        }
    }
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    grpc.unary(request, path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
}
