//! Jaeger agent UDP listener tests on real loopback sockets. They run on the
//! current-thread runtime, so the listener records into the test's local metrics recorder.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::metrics_probe::Totals;
use common::{Answer, RecordingSink, thrift};
use metrics_util::debugging::DebuggingRecorder;
use tokio::net::UdpSocket;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;
use weft_model::{PushError, PushOutcome, SpanBatch, SpanSink, TenantId};
use weft_receiver::{AgentProtocol, ConfigError, JaegerAgentConfig, serve_jaeger_agent_udp};

const REQUESTS_REJECTED: &str = "weft_receiver_requests_rejected_total";
const SPANS_RECEIVED: &str = "weft_receiver_spans_received_total";
const SPANS_REJECTED: &str = "weft_receiver_spans_rejected_total";

struct Listener {
    address: SocketAddr,
    stop: oneshot::Sender<()>,
    served: JoinHandle<Result<(), ConfigError>>,
}

async fn start(
    protocol: AgentProtocol,
    sink: Arc<dyn SpanSink>,
    config: JaegerAgentConfig,
) -> Listener {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind loopback");
    let address = socket.local_addr().expect("local address");
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(serve_jaeger_agent_udp(
        socket,
        protocol,
        weft_receiver::ReceiverContext::new(
            sink,
            weft_receiver::ReceiverConfig::default(),
            100_000,
        ),
        config,
        async move {
            let _ = stopped.await;
        },
    ));
    Listener {
        address,
        stop,
        served,
    }
}

async fn send_all(address: SocketAddr, datagrams: &[Vec<u8>]) {
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind client");
    for datagram in datagrams {
        client.send_to(datagram, address).await.expect("send");
    }
}

async fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

fn compact_datagram(first_span_id: i64, spans: usize) -> Vec<u8> {
    let spans: Vec<(i64, i64, &str)> = (0..spans as i64)
        .map(|n| (first_span_id + n, 0, "GET /cart"))
        .collect();
    thrift::emit_batch_compact(&thrift::jaeger_batch("checkout", 0x0c0d, &spans))
}

fn binary_datagram(first_span_id: i64, spans: usize) -> Vec<u8> {
    let spans: Vec<(i64, i64, &str)> = (0..spans as i64)
        .map(|n| (first_span_id + n, 0, "GET /cart"))
        .collect();
    thrift::emit_batch_binary(&thrift::jaeger_batch("checkout", 0x0c0d, &spans))
}

async fn stop(listener: Listener) {
    let _ = listener.stop.send(());
    let result = tokio::time::timeout(Duration::from_secs(5), listener.served)
        .await
        .expect("stops within 5 s")
        .expect("task did not panic");
    assert_eq!(result, Ok(()));
}

// --- without valid datagrams ---

#[tokio::test]
async fn invalid_tenant_fails_before_serving() {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind loopback");
    let config = JaegerAgentConfig {
        tenant: String::from("no/slashes"),
        ..JaegerAgentConfig::default()
    };
    let sink: Arc<dyn SpanSink> = RecordingSink::new(Answer::AcceptAll);
    let result = serve_jaeger_agent_udp(
        socket,
        AgentProtocol::Compact,
        weft_receiver::ReceiverContext::new(
            sink,
            weft_receiver::ReceiverConfig::default(),
            100_000,
        ),
        config,
        std::future::pending(),
    )
    .await;
    let message = result.map_err(|e| e.to_string()).expect_err("bad tenant");
    assert!(message.starts_with("jaeger.agent.tenant: "), "{message}");
}

#[tokio::test]
async fn malformed_datagrams_are_counted_and_dropped_and_the_listener_keeps_running() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let mut totals = Totals::new(&snapshotter);
    for (protocol, label) in [
        (AgentProtocol::Compact, "jaeger_thrift_compact"),
        (AgentProtocol::Binary, "jaeger_thrift_binary"),
    ] {
        let sink = RecordingSink::new(Answer::AcceptAll);
        let listener = start(protocol, sink.clone(), JaegerAgentConfig::default()).await;
        let garbage = vec![
            b"\xff\xff\xff\xff".to_vec(),
            Vec::new(),
            vec![0x82, 0x81, 0x01, 0x09],
            vec![0u8; 60_000],
        ];
        send_all(listener.address, &garbage).await;
        let labels = [("protocol", label), ("reason", "decode_error")];
        let rejected = totals
            .wait_for(REQUESTS_REJECTED, &labels, garbage.len() as u64)
            .await;
        assert_eq!(rejected, garbage.len() as u64, "{label}");
        assert!(sink.pushes().is_empty());
        // Still serving: one more malformed datagram is counted too.
        send_all(listener.address, &[b"again".to_vec()]).await;
        let again = totals
            .wait_for(REQUESTS_REJECTED, &labels, garbage.len() as u64 + 1)
            .await;
        assert_eq!(again, garbage.len() as u64 + 1, "{label}");
        stop(listener).await;
    }
}

// --- with valid datagrams (need the weft-codec decoders) ---

#[tokio::test]
async fn compact_and_binary_datagrams_are_stored_for_the_configured_tenant() {
    let config = JaegerAgentConfig {
        tenant: String::from("udp-tenant"),
        ..JaegerAgentConfig::default()
    };
    for (protocol, datagram) in [
        (AgentProtocol::Compact, compact_datagram(1, 3)),
        (AgentProtocol::Binary, binary_datagram(1, 3)),
    ] {
        let sink = RecordingSink::new(Answer::AcceptAll);
        let listener = start(protocol, sink.clone(), config.clone()).await;
        send_all(listener.address, &[datagram.clone(), datagram]).await;
        assert!(
            wait_until(|| sink.span_count() == 6).await,
            "{protocol:?}: {} spans",
            sink.span_count()
        );
        let pushes = sink.pushes();
        assert_eq!(pushes[0].0, TenantId::parse("udp-tenant").expect("valid"));
        let span = &pushes[0].1.spans[0];
        assert_eq!(span.trace_id.low_u64(), 0x0c0d);
        assert_eq!(span.span_id.as_u64(), 1);
        assert_eq!(span.service_name(), Some("checkout"));
        stop(listener).await;
    }
}

#[tokio::test]
async fn a_datagram_near_the_udp_limit_is_stored_whole() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let listener = start(
        AgentProtocol::Compact,
        sink.clone(),
        JaegerAgentConfig::default(),
    )
    .await;
    let datagram = compact_datagram(1, 1_050);
    assert!(
        (50_000..=65_000).contains(&datagram.len()),
        "{} bytes",
        datagram.len()
    );
    send_all(listener.address, &[datagram]).await;
    assert!(wait_until(|| sink.span_count() == 1_050).await);
    stop(listener).await;
}

/// A sink whose pushes wait for a permit, to hold the push task busy.
struct GatedSink {
    gate: Semaphore,
    inner: Arc<RecordingSink>,
}

#[async_trait]
impl SpanSink for GatedSink {
    async fn push(&self, tenant: &TenantId, batch: SpanBatch) -> Result<PushOutcome, PushError> {
        let permit = self
            .gate
            .acquire()
            .await
            .map_err(|_| PushError::Unavailable("gate closed".into()))?;
        permit.forget();
        self.inner.push(tenant, batch).await
    }
}

#[tokio::test]
async fn a_full_queue_drops_datagrams_and_counts_them_as_overloaded() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let recording = RecordingSink::new(Answer::AcceptAll);
    let sink = Arc::new(GatedSink {
        gate: Semaphore::new(0),
        inner: recording.clone(),
    });
    let config = JaegerAgentConfig {
        queue_datagrams: 1,
        ..JaegerAgentConfig::default()
    };
    let listener = start(AgentProtocol::Compact, sink.clone(), config).await;
    let label = ("protocol", "jaeger_thrift_compact");
    // The first datagram is taken by the (blocked) push task, the second waits in the
    // one-slot queue; every later one is dropped.
    send_all(listener.address, &[compact_datagram(1, 2)]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let later: Vec<Vec<u8>> = (0..5).map(|n| compact_datagram(10 + n * 2, 2)).collect();
    send_all(listener.address, &later).await;
    let mut totals = Totals::new(&snapshotter);
    let overloaded = [label, ("reason", "overloaded")];
    assert_eq!(totals.wait_for(REQUESTS_REJECTED, &overloaded, 4).await, 4);
    assert_eq!(totals.get(SPANS_REJECTED, &overloaded), 8);
    sink.gate.add_permits(10);
    let received = totals.wait_for(SPANS_RECEIVED, &[label], 4).await;
    assert_eq!(received, 4, "the first and the queued datagram are stored");
    stop(listener).await;
    assert_eq!(recording.span_count(), 4);
}

#[tokio::test]
async fn stopping_pushes_what_was_already_queued() {
    let recording = RecordingSink::new(Answer::AcceptAll);
    let sink = Arc::new(GatedSink {
        gate: Semaphore::new(0),
        inner: recording.clone(),
    });
    let listener = start(
        AgentProtocol::Compact,
        sink.clone(),
        JaegerAgentConfig::default(),
    )
    .await;
    send_all(
        listener.address,
        &[compact_datagram(1, 1), compact_datagram(2, 1)],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = listener.stop.send(());
    sink.gate.add_permits(10);
    let result = tokio::time::timeout(Duration::from_secs(5), listener.served)
        .await
        .expect("stops")
        .expect("no panic");
    assert_eq!(result, Ok(()));
    assert_eq!(recording.span_count(), 2);
}
