//! Against weft's own OTLP/gRPC receiver on a loopback port, in front of a sink that
//! records what arrives and answers as told.

use std::sync::{Arc, Mutex};

use weft_model::{AttributeValue, KeyValue, Resource, Span, SpanId, TraceId};
use weft_receiver::{ReceiverConfig, ReceiverContext, otlp_grpc_service};

use super::*;

struct Recorder {
    received: Mutex<Vec<(TenantId, Vec<Span>)>>,
    answer: Mutex<Result<u64, PushError>>,
}

#[async_trait]
impl SpanSink for Recorder {
    async fn push(&self, tenant: &TenantId, batch: SpanBatch) -> Result<PushOutcome, PushError> {
        let answer = self.answer.lock().expect("answer").clone();
        let rejected = answer?;
        let spans = batch.len() as u64;
        self.received
            .lock()
            .expect("received")
            .push((tenant.clone(), batch.spans));
        Ok(PushOutcome {
            accepted_spans: spans - rejected,
            rejected_spans: rejected,
            rejection_message: if rejected > 0 {
                String::from("attribute_too_long: 1 span")
            } else {
                String::new()
            },
        })
    }
}

async fn receiver(multitenancy_enabled: bool) -> (Arc<Recorder>, String) {
    let recorder = Arc::new(Recorder {
        received: Mutex::default(),
        answer: Mutex::new(Ok(0)),
    });
    let sink: Arc<dyn SpanSink> = recorder.clone();
    let config = ReceiverConfig {
        multitenancy_enabled,
        ..ReceiverConfig::default()
    };
    let service = otlp_grpc_service(&ReceiverContext::new(sink, config, 100_000));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("address");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_routes(tonic::service::Routes::new(service))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (recorder, format!("http://{address}"))
}

fn spans() -> Vec<Span> {
    let resource = Arc::new(Resource::for_service("checkout"));
    (1..=3)
        .map(|id| {
            let mut span = Span::new(TraceId::from_halves(7, 9), SpanId::from_u64(id), "charge");
            span.parent_span_id = (id > 1).then(|| SpanId::from_u64(1));
            span.start_unix_nanos = 1_000 * id;
            span.duration_nanos = 5_000;
            span.resource = resource.clone();
            span.attributes.push(KeyValue::new(
                "card",
                AttributeValue::String(String::from("visa")),
            ));
            span
        })
        .collect()
}

fn forwarder(endpoint: &str, compression: &str) -> OtlpForwarder {
    OtlpForwarder::new(&ForwardConfig {
        endpoint: endpoint.to_owned(),
        timeout: Duration::from_secs(5),
        compression: compression.to_owned(),
    })
    .expect("valid config")
}

#[tokio::test]
async fn spans_and_their_tenant_arrive_unchanged_with_or_without_gzip() {
    let (recorder, endpoint) = receiver(true).await;
    let tenant = TenantId::parse("team-a").expect("tenant");
    for compression in ["none", "gzip"] {
        let outcome = forwarder(&endpoint, compression)
            .push(&tenant, SpanBatch::from(spans()))
            .await
            .expect("forwarded");
        assert_eq!((outcome.accepted_spans, outcome.rejected_spans), (3, 0));
    }
    let received = recorder.received.lock().expect("received");
    assert_eq!(received.len(), 2);
    for (received_tenant, received_spans) in received.iter() {
        assert_eq!(received_tenant, &tenant);
        assert_eq!(received_spans, &spans());
    }
}

#[tokio::test]
async fn the_single_tenant_sends_no_header() {
    // With multi-tenancy on, a request without X-Scope-OrgID is refused: the forwarder
    // sent none for the single tenant, and the refusal comes back as retryable.
    let (recorder, endpoint) = receiver(true).await;
    let refused = forwarder(&endpoint, "none")
        .push(&TenantId::single(), SpanBatch::from(spans()))
        .await;
    assert!(
        matches!(&refused, Err(PushError::Unavailable(message)) if message.contains("Unauthenticated")),
        "{refused:?}"
    );
    assert!(recorder.received.lock().expect("received").is_empty());
}

#[tokio::test]
async fn refusals_come_back_as_the_push_error_they_stand_for() {
    let (recorder, endpoint) = receiver(false).await;
    let forwarder = forwarder(&endpoint, "none");
    let tenant = TenantId::single();

    *recorder.answer.lock().expect("answer") = Err(PushError::Overloaded {
        message: String::from("the ingester is full"),
        retry_after_seconds: 3,
    });
    let overloaded = forwarder.push(&tenant, SpanBatch::from(spans())).await;
    assert!(
        matches!(&overloaded, Err(PushError::Overloaded { retry_after_seconds: 3, message }) if message.contains("the ingester is full")),
        "{overloaded:?}"
    );

    *recorder.answer.lock().expect("answer") =
        Err(PushError::TooLarge(String::from("too many spans")));
    let too_large = forwarder.push(&tenant, SpanBatch::from(spans())).await;
    assert!(
        matches!(too_large, Err(PushError::TooLarge(_))),
        "{too_large:?}"
    );

    *recorder.answer.lock().expect("answer") =
        Err(PushError::Unavailable(String::from("shutting down")));
    let unavailable = forwarder.push(&tenant, SpanBatch::from(spans())).await;
    assert!(
        matches!(unavailable, Err(PushError::Unavailable(_))),
        "{unavailable:?}"
    );

    *recorder.answer.lock().expect("answer") = Ok(1);
    let partial = forwarder
        .push(&tenant, SpanBatch::from(spans()))
        .await
        .expect("partly stored");
    assert_eq!((partial.accepted_spans, partial.rejected_spans), (2, 1));
    assert!(partial.rejection_message.contains("attribute_too_long"));
}

#[tokio::test]
async fn an_unreachable_receiver_is_unavailable_not_a_hang() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let started = std::time::Instant::now();
    let refused = forwarder(&format!("http://{address}"), "none")
        .push(&TenantId::single(), SpanBatch::from(spans()))
        .await;
    assert!(
        matches!(refused, Err(PushError::Unavailable(_))),
        "{refused:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn invalid_configs_are_refused_naming_the_key() {
    let refused = |config: ForwardConfig| {
        OtlpForwarder::new(&config)
            .expect_err("refused")
            .to_string()
    };
    let defaults = ForwardConfig::default();
    assert!(
        refused(ForwardConfig {
            endpoint: String::from("https://tempo:4317"),
            ..defaults.clone()
        })
        .contains("TLS is not supported")
    );
    assert!(
        refused(ForwardConfig {
            endpoint: String::from("tempo:4317"),
            ..defaults.clone()
        })
        .starts_with("forward.endpoint")
    );
    assert!(
        refused(ForwardConfig {
            compression: String::from("zstd"),
            ..defaults.clone()
        })
        .contains("forward.compression")
    );
    assert!(
        refused(ForwardConfig {
            timeout: Duration::ZERO,
            ..defaults
        })
        .contains("forward.timeout")
    );
}
