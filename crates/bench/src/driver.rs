//! The load driver: pre-encodes requests, then sends them as fast as the server acknowledges.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use prost::Message;
use weft_model::Span;
use weft_receiver::raw_codec::RawCodec;

use crate::generator::{GeneratorSettings, TraceGenerator};

/// The wire protocol to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC `TraceService/Export`, protobuf.
    OtlpGrpc,
    /// OTLP/HTTP `POST /v1/traces`, protobuf.
    OtlpHttp,
    /// Zipkin v2 JSON `POST /api/v2/spans`.
    ZipkinJson,
    /// Zipkin v1 Thrift (`list<zipkincore.Span>`) `POST /api/v1/spans`.
    ZipkinThrift,
    /// Jaeger agent UDP: compact-Thrift `emitBatch` datagrams from one socket, sent as
    /// fast as the socket takes them (no acknowledgement; loss is read from the server's
    /// `/metrics`).
    JaegerUdp,
}

impl Protocol {
    /// Every protocol, in report order.
    pub const ALL: [Protocol; 5] = [
        Protocol::OtlpGrpc,
        Protocol::OtlpHttp,
        Protocol::ZipkinJson,
        Protocol::ZipkinThrift,
        Protocol::JaegerUdp,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::OtlpGrpc => "otlp-grpc",
            Protocol::OtlpHttp => "otlp-http",
            Protocol::ZipkinJson => "zipkin-json",
            Protocol::ZipkinThrift => "zipkin-thrift",
            Protocol::JaegerUdp => "jaeger-udp",
        }
    }

    /// Parses a [`Protocol::name`].
    pub fn parse(text: &str) -> Option<Protocol> {
        Protocol::ALL
            .into_iter()
            .find(|protocol| protocol.name() == text)
    }
}

/// What to send, where, and for how long.
#[derive(Debug, Clone)]
pub struct LoadSettings {
    /// The protocol.
    pub protocol: Protocol,
    /// Base URL of the listener, e.g. `http://127.0.0.1:4317` (gRPC), `http://127.0.0.1:4318`
    /// (OTLP/HTTP), `http://127.0.0.1:9411` (Zipkin), or `udp://127.0.0.1:6831` (Jaeger
    /// agent, compact Thrift).
    pub endpoint: String,
    /// The server's Prometheus endpoint (`http://127.0.0.1:3200/metrics`). Needed for
    /// [`Protocol::JaegerUdp`], whose spans are counted as received only when the server
    /// says so; ignored otherwise.
    pub metrics_url: Option<String>,
    /// Spans per request (whole traces are kept together, so this is approximate). For
    /// [`Protocol::JaegerUdp`] datagrams are packed per process up to 65,000 bytes instead.
    pub spans_per_request: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Longest time to send for.
    pub duration: Duration,
    /// Most spans to pre-generate; the run ends early when they are all sent.
    pub max_spans: usize,
    /// Shape of the corpus.
    pub generator: GeneratorSettings,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// The protocol driven.
    pub protocol: Protocol,
    /// Requests acknowledged with success.
    pub requests_ok: u64,
    /// Requests that failed (any error or non-2xx).
    pub requests_failed: u64,
    /// Spans in acknowledged requests.
    pub spans_acknowledged: u64,
    /// Wall time of the sending phase.
    pub elapsed: Duration,
    /// Median acknowledgement latency.
    pub latency_p50: Duration,
    /// 99th percentile acknowledgement latency.
    pub latency_p99: Duration,
    /// Bytes sent in acknowledged requests.
    pub bytes_acknowledged: u64,
    /// The first failure, if any, for the report.
    pub first_error: Option<String>,
    /// For [`Protocol::JaegerUdp`]: what was sent and what the server kept. There is no
    /// acknowledgement, so `spans_acknowledged` is the server's received count, `elapsed`
    /// runs until that count stopped growing, and the latencies are zero.
    pub udp: Option<crate::udp::UdpOutcome>,
}

impl LoadReport {
    /// Acknowledged spans per second of wall time.
    pub fn spans_per_second(&self) -> f64 {
        self.spans_acknowledged as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Generates the corpus and encodes it into request bodies for `settings.protocol`.
/// Traces start at `first_start_unix_nanos` and are 100 µs apart.
pub fn prepare_requests(settings: &LoadSettings, first_start_unix_nanos: u64) -> Vec<(Bytes, u64)> {
    let mut generator = TraceGenerator::new(settings.generator.clone());
    let mut requests = Vec::new();
    // Datagrams hold one process each; encoding many traces at once fills them as a
    // long-running client's sender would.
    let spans_per_encode = match settings.protocol {
        Protocol::JaegerUdp => settings.spans_per_request.max(UDP_SPANS_PER_ENCODE),
        _ => settings.spans_per_request,
    };
    let mut pending: Vec<Span> = Vec::with_capacity(spans_per_encode + 64);
    let mut total = 0usize;
    let mut trace_number = 0u64;
    while total < settings.max_spans {
        let trace = generator.next_trace(first_start_unix_nanos + trace_number * 100_000);
        trace_number += 1;
        total += trace.len();
        pending.extend(trace);
        if pending.len() >= spans_per_encode {
            requests.extend(encode(settings.protocol, &pending));
            pending.clear();
        }
    }
    if !pending.is_empty() {
        requests.extend(encode(settings.protocol, &pending));
    }
    requests
}

/// Spans encoded together into Jaeger datagrams.
const UDP_SPANS_PER_ENCODE: usize = 50_000;

/// Encodes `spans` as one request body (or, for UDP, as many datagrams), each with its
/// span count.
pub(crate) fn encode(protocol: Protocol, spans: &[Span]) -> Vec<(Bytes, u64)> {
    let body = match protocol {
        Protocol::OtlpGrpc | Protocol::OtlpHttp => {
            let request =
                opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
                    resource_spans: weft_codec::otlp::to_resource_spans(spans),
                };
            request.encode_to_vec()
        }
        Protocol::ZipkinJson => weft_codec::zipkin::encode_v2_json(spans),
        Protocol::ZipkinThrift => crate::zipkin_thrift_encode::encode_v1_thrift(spans),
        Protocol::JaegerUdp => {
            return crate::jaeger_encode::encode_agent_datagrams(spans)
                .into_iter()
                .map(|(datagram, count)| (Bytes::from(datagram), count))
                .collect();
        }
    };
    vec![(Bytes::from(body), spans.len() as u64)]
}

/// Sends `requests` per `settings` and measures. Stops at the deadline or when every
/// request was sent once.
pub async fn run(
    settings: &LoadSettings,
    requests: Vec<(Bytes, u64)>,
) -> anyhow::Result<LoadReport> {
    if settings.protocol == Protocol::JaegerUdp {
        return crate::udp::run(settings, requests).await;
    }
    let sender = Sender::connect(settings).await?;
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + settings.duration;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..settings.concurrency.max(1) {
        let sender = sender.clone();
        let requests = requests.clone();
        let next = next.clone();
        workers.spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < deadline {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some((body, spans)) = requests.get(index) else {
                    break;
                };
                let sent = Instant::now();
                match sender.send(body.clone()).await {
                    Ok(()) => {
                        tally
                            .latencies_micros
                            .push(sent.elapsed().as_micros() as u64);
                        tally.requests_ok += 1;
                        tally.spans += spans;
                        tally.bytes += body.len() as u64;
                    }
                    Err(error) => {
                        tally.requests_failed += 1;
                        tally.first_error.get_or_insert(format!("{error:#}"));
                    }
                }
            }
            tally
        });
    }
    let mut total = Tally::default();
    while let Some(result) = workers.join_next().await {
        let tally = result.context("a load worker panicked")?;
        total.merge(tally);
    }
    let elapsed = started.elapsed();
    total.latencies_micros.sort_unstable();
    Ok(LoadReport {
        protocol: settings.protocol,
        requests_ok: total.requests_ok,
        requests_failed: total.requests_failed,
        spans_acknowledged: total.spans,
        bytes_acknowledged: total.bytes,
        elapsed,
        latency_p50: percentile(&total.latencies_micros, 0.50),
        latency_p99: percentile(&total.latencies_micros, 0.99),
        first_error: total.first_error,
        udp: None,
    })
}

fn percentile(sorted_micros: &[u64], quantile: f64) -> Duration {
    Duration::from_micros(crate::stats::nearest_rank(sorted_micros, quantile).unwrap_or(0))
}

#[derive(Default)]
struct Tally {
    requests_ok: u64,
    requests_failed: u64,
    spans: u64,
    bytes: u64,
    latencies_micros: Vec<u64>,
    first_error: Option<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.requests_ok += other.requests_ok;
        self.requests_failed += other.requests_failed;
        self.spans += other.spans;
        self.bytes += other.bytes;
        self.latencies_micros.extend(other.latencies_micros);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// One connection pool per protocol, cheap to clone.
#[derive(Clone)]
enum Sender {
    Grpc(tonic::client::Grpc<tonic::transport::Channel>),
    Http {
        client: reqwest::Client,
        url: String,
        content_type: &'static str,
    },
}

impl Sender {
    async fn connect(settings: &LoadSettings) -> anyhow::Result<Sender> {
        let base = settings.endpoint.trim_end_matches('/').to_owned();
        Ok(match settings.protocol {
            Protocol::OtlpGrpc => Sender::Grpc(connect_grpc(&base).await?),
            Protocol::OtlpHttp => Sender::Http {
                client: reqwest::Client::new(),
                url: format!("{base}/v1/traces"),
                content_type: "application/x-protobuf",
            },
            Protocol::ZipkinJson => Sender::Http {
                client: reqwest::Client::new(),
                url: format!("{base}/api/v2/spans"),
                content_type: "application/json",
            },
            Protocol::ZipkinThrift => Sender::Http {
                client: reqwest::Client::new(),
                url: format!("{base}/api/v1/spans"),
                content_type: "application/x-thrift",
            },
            Protocol::JaegerUdp => bail!("jaeger-udp is sent by the udp driver"),
        })
    }

    async fn send(&self, body: Bytes) -> anyhow::Result<()> {
        match self {
            Sender::Grpc(grpc) => {
                let mut grpc = grpc.clone();
                grpc.ready().await.context("grpc channel not ready")?;
                let path = tonic::codegen::http::uri::PathAndQuery::from_static(
                    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                );
                grpc.unary(tonic::Request::new(body), path, RawCodec)
                    .await
                    .map(|_| ())
                    .map_err(|status| {
                        anyhow::anyhow!("grpc {:?}: {}", status.code(), status.message())
                    })
            }
            Sender::Http {
                client,
                url,
                content_type,
            } => {
                let response = client
                    .post(url)
                    .header("Content-Type", *content_type)
                    .body(body)
                    .send()
                    .await
                    .with_context(|| format!("POST {url}"))?;
                let status = response.status();
                if !status.is_success() {
                    let text = response.text().await.unwrap_or_default();
                    bail!("POST {url} answered {status}: {text}");
                }
                // Drain the body so the connection goes back to the pool.
                let _ = response.bytes().await;
                Ok(())
            }
        }
    }
}

/// A raw gRPC client connected to `base` (`http://host:port`).
pub(crate) async fn connect_grpc(
    base: &str,
) -> anyhow::Result<tonic::client::Grpc<tonic::transport::Channel>> {
    let channel = tonic::transport::Endpoint::from_shared(base.to_owned())
        .with_context(|| format!("invalid endpoint {base}"))?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {base}"))?;
    Ok(tonic::client::Grpc::new(channel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 0.5), Duration::from_micros(50));
        assert_eq!(percentile(&values, 0.99), Duration::from_micros(99));
        assert_eq!(percentile(&[], 0.99), Duration::ZERO);
    }

    #[test]
    fn protocol_names_round_trip() {
        for protocol in Protocol::ALL {
            assert_eq!(Protocol::parse(protocol.name()), Some(protocol));
        }
    }
}
