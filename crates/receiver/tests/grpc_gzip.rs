//! gzip-compressed gRPC messages are inflated under the in-flight budget: a small message
//! that inflates to a lot is refused before that memory is used, never after (and the
//! HTTP listeners do the same with a gzip body).
//!
//! Calls go straight into the services, without a network or a client that would have to
//! hold the plain message, so the memory this test process uses is the services' own. The
//! memory test reads the process's peak resident set (Linux `VmHWM`, reset through
//! `/proc/self/clear_refs`); the other tests here move little memory, so running beside
//! it does not disturb it.

mod common;

use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{Answer, RecordingSink, otlp_request, otlp_span, refused};
use http_body_util::{BodyExt, Full};
use prost::Message;
use tower::ServiceExt;
use weft_model::SpanSink;
use weft_receiver::jaeger_grpc::POST_SPANS_PATH;
use weft_receiver::otlp_grpc::EXPORT_PATH;
use weft_receiver::{
    InflightBudget, ReceiverConfig, ReceiverContext, jaeger_grpc_service, otlp_grpc_service,
    otlp_http_router,
};

const MIB: usize = 1024 * 1024;

/// The metadata of a call whose messages may be gzip-compressed.
const GZIP: &[(&str, &str)] = &[("grpc-encoding", "gzip")];

/// gzip of `inflated_bytes` zero bytes, written in pieces so that the plain bytes are
/// never held.
fn gzip_zeros(inflated_bytes: usize) -> Vec<u8> {
    let piece = vec![0u8; 64 * 1024];
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut written = 0;
    while written < inflated_bytes {
        let length = piece.len().min(inflated_bytes - written);
        encoder
            .write_all(&piece[..length])
            .expect("in-memory write");
        written += length;
    }
    encoder.finish().expect("in-memory finish")
}

/// One length-prefixed gRPC message.
fn grpc_frame(compressed: bool, message: &[u8]) -> Vec<u8> {
    let mut framed = vec![u8::from(compressed)];
    framed.extend_from_slice(&u32::try_from(message.len()).expect("small").to_be_bytes());
    framed.extend_from_slice(message);
    framed
}

/// Calls `service` with `body` (framed messages) and `headers` besides the gRPC content
/// type; the response message (unframed), or the status it failed with.
async fn call<S>(
    service: S,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Bytes, tonic::Status>
where
    S: tower::Service<
            http::Request<Full<Bytes>>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        >,
{
    let mut request = http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(Bytes::from(body))).expect("request");
    let response = match service.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let failure = |headers: &http::HeaderMap| {
        tonic::Status::from_header_map(headers).filter(|status| status.code() != tonic::Code::Ok)
    };
    // A trailers-only answer carries the status in its headers.
    if let Some(status) = failure(response.headers()) {
        return Err(status);
    }
    let collected = response.into_body().collect().await?;
    if let Some(status) = collected.trailers().and_then(failure) {
        return Err(status);
    }
    Ok(collected.to_bytes().slice(5..))
}

/// A context with a budget of `budget_bytes` (a charge waits 50 ms), `held_bytes` of
/// which another request holds for as long as the returned reservation lives.
async fn context_with_held_budget(
    sink: &Arc<RecordingSink>,
    config: ReceiverConfig,
    budget_bytes: u64,
    held_bytes: u64,
) -> (ReceiverContext, weft_receiver::Reservation) {
    let budget = InflightBudget::new(budget_bytes, Duration::from_millis(50));
    let held = budget.reservation();
    held.grow_to(held_bytes).await.expect("room");
    let sink: Arc<dyn SpanSink> = sink.clone();
    (common::context(sink, config).with_budget(budget), held)
}

/// Asserts that nothing is held of the context's budget: every call gave back its charge.
fn assert_all_given_back(context: &ReceiverContext) {
    let budget = context.budget();
    assert_eq!(
        budget.available_bytes(),
        budget.capacity_bytes(),
        "all given back"
    );
}

/// The process's resident set now and at its peak since the last reset, in bytes; `None`
/// where `/proc/self/status` does not say.
fn resident_bytes() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        let line = status.lines().find(|line| line.starts_with(name))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// How much the process's peak resident set rose while `work` ran, in bytes; `None`
/// where the kernel does not let the peak be reset.
async fn peak_rise<T>(work: impl Future<Output = T>) -> (T, Option<u64>) {
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let before = resident_bytes().filter(|_| reset);
    let output = work.await;
    let rise = before
        .zip(resident_bytes())
        .map(|((resident, _), (_, peak))| peak.saturating_sub(resident));
    (output, rise)
}

#[tokio::test]
async fn gzip_bomb_over_the_budget_is_refused_before_it_inflates() {
    // 96 MiB of zeros in about 100 KiB: within max_request_bytes, far over what the
    // budget has free.
    let inflated_bytes = 96 * MIB;
    let bomb = gzip_zeros(inflated_bytes);
    assert!(bomb.len() < 256 * 1024, "{}", bomb.len());
    let framed = grpc_frame(true, &bomb);
    let config = ReceiverConfig {
        max_request_bytes: 128 * MIB as u64,
        ..ReceiverConfig::default()
    };
    let sink = RecordingSink::new(Answer::AcceptAll);
    // Another request holds half of the budget, so this one cannot be admitted alone
    // (a lone request's charge is clamped to the whole budget).
    let budget_bytes = 16 * MIB as u64;
    let held_bytes = 8 * MIB as u64;
    let (context, held) = context_with_held_budget(&sink, config, budget_bytes, held_bytes).await;

    let otlp = call(
        otlp_grpc_service(&context),
        EXPORT_PATH,
        GZIP,
        framed.clone(),
    );
    let otlp = peak_rise(otlp).await;
    let jaeger = call(jaeger_grpc_service(&context), POST_SPANS_PATH, GZIP, framed);
    let jaeger = peak_rise(jaeger).await;
    for (name, (answer, rise)) in [("otlp", otlp), ("jaeger", jaeger)] {
        let status = refused(answer, tonic::Code::ResourceExhausted, &sink);
        assert!(!status.details().is_empty(), "{name}: RetryInfo, retryable");
        assert!(status.message().contains("in-flight limit"), "{status:?}");
        eprintln!("{name}: peak resident set rose {rise:?} bytes");
        if let Some(rise) = rise {
            assert!(
                rise < (inflated_bytes / 4) as u64,
                "{name}: peak resident set rose {rise} bytes; the message was inflated"
            );
        }
    }
    // Everything the calls held is given back.
    assert_eq!(
        context.budget().available_bytes(),
        budget_bytes - held_bytes
    );

    // The HTTP listeners inflate the same way.
    let request = http::Request::builder()
        .method("POST")
        .uri("/v1/traces")
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(axum::body::Body::from(bomb.clone()))
        .expect("request");
    let (answered, rise) = peak_rise(common::send(otlp_http_router(&context), request)).await;
    assert_eq!(answered.status, http::StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answered.header("retry-after"), Some("1"));
    eprintln!("http: peak resident set rose {rise:?} bytes");
    if let Some(rise) = rise {
        assert!(
            rise < (inflated_bytes / 4) as u64,
            "http: rose {rise} bytes"
        );
    }
    assert!(sink.pushes().is_empty());
    drop(held);
    assert_all_given_back(&context);
}

#[tokio::test]
async fn gzip_message_inflating_past_max_request_bytes_is_too_large() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let config = ReceiverConfig {
        max_request_bytes: MIB as u64,
        ..ReceiverConfig::default()
    };
    let context = common::context(sink.clone(), config);
    let bomb = grpc_frame(true, &gzip_zeros(8 * MIB));
    let answers = [
        call(otlp_grpc_service(&context), EXPORT_PATH, GZIP, bomb.clone()).await,
        call(jaeger_grpc_service(&context), POST_SPANS_PATH, GZIP, bomb).await,
    ];
    for answer in answers {
        let status = refused(answer, tonic::Code::ResourceExhausted, &sink);
        assert!(status.details().is_empty(), "no RetryInfo: not retryable");
        assert_eq!(
            status.message(),
            "request body is larger than the limit of 1048576 bytes"
        );
    }
    assert_all_given_back(&context);
}

#[tokio::test]
async fn gzip_and_plain_messages_of_a_gzip_call_are_stored() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let context = common::context(sink.clone(), ReceiverConfig::default());
    let message = otlp_request(vec![otlp_span(1, "a"), otlp_span(2, "b")]).encode_to_vec();
    let compressed = grpc_frame(true, &common::gzip(&message));
    let answer = call(otlp_grpc_service(&context), EXPORT_PATH, GZIP, compressed).await;
    assert_eq!(answer.expect("stored"), Bytes::new(), "full success");
    // A message may go uncompressed in a call that declared gzip.
    let plain = grpc_frame(false, &message);
    call(otlp_grpc_service(&context), EXPORT_PATH, GZIP, plain)
        .await
        .expect("stored");
    let identity = [("grpc-encoding", "identity")];
    let plain = grpc_frame(false, &message);
    call(otlp_grpc_service(&context), EXPORT_PATH, &identity, plain)
        .await
        .expect("stored");
    assert_eq!(sink.span_count(), 6);
    assert_all_given_back(&context);
}

#[tokio::test]
async fn bad_gzip_is_invalid_argument_and_other_encodings_unimplemented() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let context = common::context(sink.clone(), ReceiverConfig::default());
    let answer = call(
        jaeger_grpc_service(&context),
        POST_SPANS_PATH,
        GZIP,
        grpc_frame(true, b"not gzip"),
    )
    .await;
    let status = refused(answer, tonic::Code::InvalidArgument, &sink);
    assert!(status.message().starts_with("cannot gunzip request body: "));
    // A compressed message without a declared encoding is tonic's protocol error.
    let answer = call(
        jaeger_grpc_service(&context),
        POST_SPANS_PATH,
        &[],
        grpc_frame(true, &common::gzip(b"x")),
    )
    .await;
    refused(answer, tonic::Code::Internal, &sink);
    let answer = call(
        otlp_grpc_service(&context),
        EXPORT_PATH,
        &[("grpc-encoding", "deflate")],
        grpc_frame(true, b"x"),
    )
    .await;
    let status = refused(answer, tonic::Code::Unimplemented, &sink);
    assert_eq!(
        status
            .metadata()
            .get("grpc-accept-encoding")
            .map(|value| value.to_str().ok()),
        Some(Some("gzip"))
    );
}
