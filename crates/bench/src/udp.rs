//! The Jaeger agent UDP load: datagrams from one socket as fast as it takes them, then
//! the server's `/metrics` say how many spans arrived and where the rest were lost.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;

use crate::driver::{LoadReport, LoadSettings};

/// The server's counter of spans stored, by protocol.
const SPANS_RECEIVED: &str = "weft_receiver_spans_received_total";
/// The server's counter of spans not stored, by protocol and reason.
const SPANS_REJECTED: &str = "weft_receiver_spans_rejected_total";
/// The server's counter of refused requests (datagrams), by protocol and reason.
const REQUESTS_REJECTED: &str = "weft_receiver_requests_rejected_total";
/// The kernel's drop counter of the listener's socket.
const KERNEL_DROPS: &str = "weft_receiver_udp_kernel_drops_total";
const PROTOCOL_LABEL: &str = "protocol=\"jaeger_thrift_compact\"";
const LISTENER_LABEL: &str = "listener=\"jaeger_compact\"";

/// How long to wait after sending, at least: the server reads the kernel's drop counter
/// every 2 s.
const MIN_DRAIN: Duration = Duration::from_millis(2_500);
/// How long to wait at most for the received count to stop growing.
const MAX_DRAIN: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// What a UDP run sent and what the server made of it. Counts are differences of the
/// server's counters over the run (so a shared server's earlier traffic is excluded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UdpOutcome {
    /// Datagrams the socket accepted.
    pub datagrams_sent: u64,
    /// Spans in those datagrams.
    pub spans_sent: u64,
    /// Spans the server stored (`weft_receiver_spans_received_total`).
    pub spans_received: u64,
    /// Datagrams the kernel dropped on the server's socket (buffer full).
    pub kernel_dropped_datagrams: u64,
    /// Spans the server dropped itself (its push queue full: reason `overloaded`).
    pub queue_dropped_spans: u64,
    /// Datagrams the server could not decode.
    pub malformed_datagrams: u64,
}

impl UdpOutcome {
    /// Spans sent but not stored.
    pub fn spans_lost(&self) -> u64 {
        self.spans_sent.saturating_sub(self.spans_received)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct ServerCounts {
    spans_received: u64,
    queue_dropped_spans: u64,
    kernel_dropped_datagrams: u64,
    malformed_datagrams: u64,
}

impl ServerCounts {
    fn parse(text: &str) -> ServerCounts {
        ServerCounts {
            spans_received: sample(text, SPANS_RECEIVED, &[PROTOCOL_LABEL]),
            queue_dropped_spans: sample(
                text,
                SPANS_REJECTED,
                &[PROTOCOL_LABEL, "reason=\"overloaded\""],
            ),
            kernel_dropped_datagrams: sample(text, KERNEL_DROPS, &[LISTENER_LABEL]),
            malformed_datagrams: sample(
                text,
                REQUESTS_REJECTED,
                &[PROTOCOL_LABEL, "reason=\"decode_error\""],
            ),
        }
    }
}

/// The value of the first sample of `name` whose labels contain every one of `labels`
/// (Prometheus text format); 0 when there is none yet.
fn sample(text: &str, name: &str, labels: &[&str]) -> u64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (label_text, value) = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once('}')?,
                None if rest.starts_with(' ') => ("", rest),
                None => return None,
            };
            if !labels.iter().all(|label| label_text.contains(label)) {
                return None;
            }
            let value: f64 = value.split_whitespace().next()?.parse().ok()?;
            Some(value as u64)
        })
        .next()
        .unwrap_or(0)
}

async fn read_counts(client: &reqwest::Client, url: &str) -> anyhow::Result<ServerCounts> {
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    if !response.status().is_success() {
        bail!("GET {url} answered {}", response.status());
    }
    let text = response
        .text()
        .await
        .with_context(|| format!("GET {url}"))?;
    Ok(ServerCounts::parse(&text))
}

/// Sends every datagram once (or until the deadline) to `settings.endpoint`
/// (`udp://host:port` or `host:port`), then polls `settings.metrics_url` until the
/// server's received count stops growing.
pub async fn run(
    settings: &LoadSettings,
    datagrams: Vec<(Bytes, u64)>,
) -> anyhow::Result<LoadReport> {
    let metrics_url = settings
        .metrics_url
        .clone()
        .context("jaeger-udp needs the server's metrics url to count what arrived")?;
    let target = settings
        .endpoint
        .trim_start_matches("udp://")
        .trim_end_matches('/')
        .to_owned();
    let client = reqwest::Client::new();
    let before = read_counts(&client, &metrics_url).await?;
    let socket = tokio::net::UdpSocket::bind("0.0.0.0:0")
        .await
        .context("cannot open a udp socket")?;
    socket
        .connect(&target)
        .await
        .with_context(|| format!("cannot reach udp {target}"))?;

    let started = Instant::now();
    let deadline = started + settings.duration;
    let mut outcome = UdpOutcome::default();
    let mut failed = 0u64;
    let mut first_error = None;
    let mut bytes_sent = 0u64;
    for (datagram, spans) in &datagrams {
        if Instant::now() >= deadline {
            break;
        }
        match socket.send(datagram).await {
            Ok(_) => {
                outcome.datagrams_sent += 1;
                outcome.spans_sent += spans;
                bytes_sent += datagram.len() as u64;
            }
            Err(error) => {
                failed += 1;
                first_error.get_or_insert_with(|| format!("udp send to {target}: {error}"));
            }
        }
    }
    let sending_ended = Instant::now();

    // Drain: wait until the received count stops moving (and at least MIN_DRAIN).
    let mut last = read_counts(&client, &metrics_url).await?;
    let mut last_change = Instant::now();
    loop {
        tokio::time::sleep(POLL_INTERVAL).await;
        let now = read_counts(&client, &metrics_url).await?;
        if now.spans_received != last.spans_received {
            last_change = Instant::now();
        }
        last = now;
        let quiet = last_change.elapsed() >= POLL_INTERVAL * 2;
        if (quiet && sending_ended.elapsed() >= MIN_DRAIN) || sending_ended.elapsed() > MAX_DRAIN {
            break;
        }
    }
    outcome.spans_received = last.spans_received.saturating_sub(before.spans_received);
    outcome.queue_dropped_spans = last
        .queue_dropped_spans
        .saturating_sub(before.queue_dropped_spans);
    outcome.kernel_dropped_datagrams = last
        .kernel_dropped_datagrams
        .saturating_sub(before.kernel_dropped_datagrams);
    outcome.malformed_datagrams = last
        .malformed_datagrams
        .saturating_sub(before.malformed_datagrams);

    let elapsed = last_change.max(sending_ended).duration_since(started);
    Ok(LoadReport {
        protocol: settings.protocol,
        requests_ok: outcome.datagrams_sent,
        requests_failed: failed,
        spans_acknowledged: outcome.spans_received,
        elapsed,
        latency_p50: Duration::ZERO,
        latency_p99: Duration::ZERO,
        bytes_acknowledged: bytes_sent,
        first_error,
        udp: Some(outcome),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = "# TYPE weft_receiver_spans_received_total counter
weft_receiver_spans_received_total{protocol=\"otlp_grpc\"} 5
weft_receiver_spans_received_total{protocol=\"jaeger_thrift_compact\"} 1234
weft_receiver_spans_rejected_total{protocol=\"jaeger_thrift_compact\",reason=\"overloaded\"} 56
weft_receiver_spans_rejected_total{protocol=\"jaeger_thrift_compact\",reason=\"limit\"} 7
weft_receiver_udp_kernel_drops_total{listener=\"jaeger_compact\"} 89
";

    #[test]
    fn counts_are_read_by_name_and_labels() {
        let counts = ServerCounts::parse(METRICS);
        assert_eq!(counts.spans_received, 1234);
        assert_eq!(counts.queue_dropped_spans, 56);
        assert_eq!(counts.kernel_dropped_datagrams, 89);
        assert_eq!(counts.malformed_datagrams, 0);
    }

    #[test]
    fn a_name_that_only_starts_the_same_does_not_match() {
        let text =
            "weft_receiver_spans_received_total_extra{protocol=\"jaeger_thrift_compact\"} 9\n";
        assert_eq!(sample(text, SPANS_RECEIVED, &[PROTOCOL_LABEL]), 0);
        assert_eq!(
            sample("metric_total_x 3\nmetric_total 4\n", "metric_total", &[]),
            4
        );
    }
}
