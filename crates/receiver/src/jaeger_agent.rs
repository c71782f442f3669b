//! Jaeger agent UDP: one `Agent.emitBatch` call per datagram, in compact Thrift (port
//! 6831, what jaeger-client libraries send) or binary Thrift (port 6832).
//!
//! Each listener is a receive loop and a push task joined by a bounded queue:
//!
//! - The loop reads a datagram (up to [`MAX_DATAGRAM_BYTES`]), decodes it and queues the
//!   batch. A malformed datagram is counted (`weft_receiver_requests_rejected_total`,
//!   reason `decode_error`) and dropped; it never stops the listener.
//! - When the queue is full (the sink is slower than the senders) the datagram is dropped
//!   and counted: requests and spans rejected with reason `overloaded`. So a slow sink
//!   never stalls the loop, and memory stays bounded by
//!   [`JaegerAgentConfig::queue_datagrams`].
//! - The push task takes everything queued as one batch, up to 10,000 spans or the
//!   context's `max_spans_per_request` if lower (a datagram that would take the batch past
//!   that waits for the next one), so a burst of small datagrams costs one sink call
//!   instead of one each without the merged batch tripping the per-request limit. UDP has no acknowledgement:
//!   spans the sink refuses are counted in `weft_receiver_spans_rejected_total` under the
//!   sink's reason and are gone.
//! - Loss before the listener sees a datagram happens in the kernel when the socket's
//!   receive buffer is full. The socket asks for
//!   [`JaegerAgentConfig::socket_receive_buffer_bytes`], and the kernel's drop counter for
//!   the socket is exported as `weft_receiver_udp_kernel_drops_total{listener}` (with the
//!   buffer fill as `weft_receiver_udp_receive_queue_bytes{listener}`), read every
//!   two seconds on Linux.
//!
//! Datagrams carry no tenant: spans are stored under [`JaegerAgentConfig::tenant`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use weft_codec::DecodeError;
use weft_model::{SpanBatch, SpanSink, TenantId};

use crate::config::{ConfigError, JaegerAgentConfig};
use crate::context::ReceiverContext;
use crate::counters::{self, Protocol};
use crate::ingest::{self, Decoded};
use crate::udp_kernel_stats::KernelUdpStats;

/// The largest datagram read, in bytes: the most a UDP payload can be. Jaeger clients keep
/// their datagrams under 65,000 bytes.
pub const MAX_DATAGRAM_BYTES: usize = 65_535;

/// Most spans handed to the sink in one call when several datagrams are queued (lowered
/// to the context's `max_spans_per_request` when that is smaller).
const MAX_SPANS_PER_PUSH: usize = 10_000;

/// How often the kernel's counters for the socket are read.
const KERNEL_STATS_INTERVAL: Duration = Duration::from_secs(2);

/// The Thrift protocol an agent listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentProtocol {
    /// TCompactProtocol, Jaeger's port 6831.
    Compact,
    /// TBinaryProtocol, Jaeger's port 6832.
    Binary,
}

impl AgentProtocol {
    /// The `listener` label of the kernel counters: `jaeger_compact` or `jaeger_binary`.
    pub fn listener_name(self) -> &'static str {
        match self {
            AgentProtocol::Compact => "jaeger_compact",
            AgentProtocol::Binary => "jaeger_binary",
        }
    }

    /// The `protocol` label of the request and span counters.
    pub fn protocol(self) -> Protocol {
        match self {
            AgentProtocol::Compact => Protocol::JaegerThriftCompact,
            AgentProtocol::Binary => Protocol::JaegerThriftBinary,
        }
    }

    fn decode(self, datagram: &[u8]) -> Result<SpanBatch, DecodeError> {
        match self {
            AgentProtocol::Compact => weft_codec::jaeger::decode_agent_compact(datagram),
            AgentProtocol::Binary => weft_codec::jaeger::decode_agent_binary(datagram),
        }
    }
}

/// Serves one Jaeger agent UDP listener on `socket` until `stop` completes, as described
/// in the module documentation. Spans go to the context's sink; its in-flight budget is
/// not used (the queue bounds memory). Sets the socket's receive buffer first. On stop,
/// datagrams already queued are still pushed to the sink before this returns.
///
/// Fails only when `config` is invalid (see [`JaegerAgentConfig::validate`]), before
/// reading anything; errors while receiving are logged and the loop goes on.
pub async fn serve_jaeger_agent_udp(
    socket: UdpSocket,
    protocol: AgentProtocol,
    context: ReceiverContext,
    config: JaegerAgentConfig,
    stop: impl Future<Output = ()>,
) -> Result<(), ConfigError> {
    config.validate("jaeger.agent")?;
    let tenant = TenantId::parse(&config.tenant).map_err(|error| ConfigError::Tenant {
        key: String::from("jaeger.agent.tenant"),
        message: error.to_string(),
    })?;
    let listener = protocol.listener_name();
    set_receive_buffer(&socket, config.socket_receive_buffer_bytes, listener);
    let queue_datagrams = usize::try_from(config.queue_datagrams).unwrap_or(usize::MAX);
    let (sender, receiver) = mpsc::channel(queue_datagrams);
    let max_spans_per_push = usize::try_from(context.max_spans_per_request())
        .unwrap_or(usize::MAX)
        .min(MAX_SPANS_PER_PUSH);
    let pusher = tokio::spawn(push_loop(
        receiver,
        Arc::clone(context.sink()),
        tenant,
        protocol.protocol(),
        max_spans_per_push,
    ));
    let kernel_stats = KernelUdpStats::for_socket(&socket, listener);

    let mut buffer = vec![0u8; MAX_DATAGRAM_BYTES];
    let mut kernel_stats_timer = tokio::time::interval(KERNEL_STATS_INTERVAL);
    kernel_stats_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            biased;
            () = &mut stop => break,
            _ = kernel_stats_timer.tick() => {
                if let Some(stats) = &kernel_stats {
                    stats.refresh();
                }
            }
            received = socket.recv(&mut buffer) => match received {
                Ok(length) => handle_datagram(&buffer[..length], protocol, &sender),
                Err(error) => {
                    tracing::warn!(listener, %error, "udp receive failed");
                    // Whatever went wrong, do not spin on it.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
    drop(sender);
    if let Err(error) = pusher.await {
        tracing::warn!(listener, %error, "udp push task failed");
    }
    if let Some(stats) = &kernel_stats {
        stats.refresh();
    }
    Ok(())
}

/// Decodes and queues one datagram, counting whatever is dropped.
fn handle_datagram(datagram: &[u8], protocol: AgentProtocol, sender: &mpsc::Sender<SpanBatch>) {
    let label = protocol.protocol();
    counters::record_bytes_received(label, datagram.len());
    let batch = match protocol.decode(datagram) {
        Ok(batch) => batch,
        Err(error) => {
            counters::record_request_rejected(label, "decode_error");
            tracing::debug!(protocol = label.as_str(), bytes = datagram.len(), %error, "malformed datagram dropped");
            return;
        }
    };
    if batch.is_empty() {
        return;
    }
    let (reason, batch) = match sender.try_send(batch) {
        Ok(()) => return,
        Err(TrySendError::Full(batch)) => ("overloaded", batch),
        // The push task is gone, which happens only if it panicked.
        Err(TrySendError::Closed(batch)) => ("unavailable", batch),
    };
    counters::record_request_rejected(label, reason);
    counters::record_spans_rejected(label, reason, batch.len() as u64);
}

/// Pushes queued batches to the sink, merging whatever is waiting into one call of at
/// most `max_spans_per_push` spans (see [`merge_queued`]).
async fn push_loop(
    mut receiver: mpsc::Receiver<SpanBatch>,
    sink: Arc<dyn SpanSink>,
    tenant: TenantId,
    protocol: Protocol,
    max_spans_per_push: usize,
) {
    let mut held_back = None;
    loop {
        let first = match held_back.take() {
            Some(batch) => batch,
            None => match receiver.recv().await {
                Some(batch) => batch,
                None => break,
            },
        };
        let (batch, next) = merge_queued(first, &mut receiver, max_spans_per_push);
        held_back = next;
        // The counters are moved inside `store`, including spans the sink refused.
        if let Err(error) =
            ingest::store(sink.as_ref(), &tenant, protocol, Decoded::from(batch)).await
        {
            tracing::debug!(protocol = protocol.as_str(), %error, "udp spans refused by the sink");
        }
    }
}

/// Appends batches already queued to `batch` while the result stays within
/// `max_spans` spans. The first queued batch that would go over is returned beside the
/// merged one, to start the next push. A first batch over `max_spans` on its own is
/// returned unchanged (the sink's limit decides about it).
fn merge_queued(
    mut batch: SpanBatch,
    receiver: &mut mpsc::Receiver<SpanBatch>,
    max_spans: usize,
) -> (SpanBatch, Option<SpanBatch>) {
    while batch.len() < max_spans {
        match receiver.try_recv() {
            Ok(more) if batch.len().saturating_add(more.len()) <= max_spans => {
                batch.spans.extend(more.spans);
            }
            Ok(more) => return (batch, Some(more)),
            Err(_) => break,
        }
    }
    (batch, None)
}

/// Asks for an `SO_RCVBUF` of `bytes` (0: leave the default) and logs what was obtained.
fn set_receive_buffer(socket: &UdpSocket, bytes: u64, listener: &'static str) {
    let socket = socket2::SockRef::from(socket);
    if bytes > 0 {
        let wanted = usize::try_from(bytes).unwrap_or(usize::MAX);
        if let Err(error) = socket.set_recv_buffer_size(wanted) {
            tracing::warn!(listener, wanted, %error, "cannot set the udp receive buffer size");
        }
    }
    // Linux reports twice the size granted for payload (it counts bookkeeping too).
    let reported_per_byte = if cfg!(target_os = "linux") { 2 } else { 1 };
    match socket.recv_buffer_size() {
        Ok(obtained)
            if bytes > 0 && (obtained as u64) < bytes.saturating_mul(reported_per_byte) =>
        {
            tracing::info!(
                listener,
                wanted = bytes,
                obtained = obtained as u64 / reported_per_byte,
                "udp receive buffer is smaller than asked; raise net.core.rmem_max for more"
            )
        }
        Ok(obtained) => tracing::debug!(
            listener,
            obtained = obtained as u64 / reported_per_byte,
            "udp receive buffer"
        ),
        Err(error) => tracing::debug!(listener, %error, "cannot read the udp receive buffer size"),
    }
}

#[cfg(test)]
mod tests {
    use weft_model::{Span, SpanId, TraceId};

    use super::*;

    fn batch(spans: u64) -> SpanBatch {
        SpanBatch {
            spans: (1..=spans)
                .map(|id| Span::new(TraceId::from_halves(0, 1), SpanId::from_u64(id), "op"))
                .collect(),
        }
    }

    #[test]
    fn merging_never_goes_past_the_span_limit() {
        let (sender, mut receiver) = mpsc::channel(8);
        for spans in [3, 4, 2, 1] {
            sender.try_send(batch(spans)).expect("room");
        }
        // 1 + 3 + 4 fit in 9; 2 more would make 10, so they wait for the next push.
        let (merged, held_back) = merge_queued(batch(1), &mut receiver, 9);
        assert_eq!(merged.len(), 8);
        let held_back = held_back.expect("held back");
        assert_eq!(held_back.len(), 2);
        let (merged, held_back) = merge_queued(held_back, &mut receiver, 9);
        assert_eq!(merged.len(), 3);
        assert!(held_back.is_none());
    }

    #[test]
    fn a_single_batch_over_the_limit_is_pushed_alone() {
        let (sender, mut receiver) = mpsc::channel(8);
        sender.try_send(batch(1)).expect("room");
        let (merged, held_back) = merge_queued(batch(5), &mut receiver, 4);
        assert_eq!(merged.len(), 5);
        assert!(held_back.is_none());
        assert_eq!(receiver.try_recv().map(|b| b.len()).ok(), Some(1));
    }
}
